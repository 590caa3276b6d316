//! The record of one probe run ([`ProbeRun`]): what happened, how long each part took, and
//! why it failed. It is the value the runtime hands to everything downstream (the CLI
//! report, the store, the API), so its JSON shape is part of vigil's public interface.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Everything vigil knows about one execution of a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRun {
    /// The probe's name (from config, or the path / `builtin:NAME` on the command line).
    pub probe: String,
    /// Wall-clock time the run started.
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    /// How long the run took, from instantiation to the end of `run` (seconds).
    #[serde(with = "seconds")]
    pub duration: Duration,
    /// Whether the scenario worked.
    pub outcome: Outcome,
    /// Why the run was not a plain success; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Human-readable explanation: the guest's error, the cap that was hit, the degraded
    /// reason. Absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Named steps in the order they started.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Custom samples recorded with `metric()`.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Log lines from `log()` and captured stdout/stderr.
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Outgoing HTTP requests, timed by the host.
    #[serde(default)]
    pub http: Vec<HttpExchange>,
    /// Earlier attempts of the same tick that failed and were retried (`retries:`), oldest
    /// first. Empty when the first attempt is the one recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

/// Summary of an attempt that was retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its outcome (always a failure: only failures are retried).
    pub outcome: Outcome,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long it took (seconds).
    #[serde(with = "seconds")]
    pub duration: Duration,
}

impl ProbeRun {
    /// The outcome of the first attempt of this tick.
    pub fn first_outcome(&self) -> Outcome {
        self.attempts
            .first()
            .map(|a| a.outcome)
            .unwrap_or(self.outcome)
    }

    /// When the run ended.
    pub fn ended_at(&self) -> SystemTime {
        self.started_at + self.duration
    }
}

/// The three outcomes a run can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The scenario worked.
    Success,
    /// The scenario worked but the probe flagged it as slow or partially broken.
    Degraded,
    /// The scenario did not work, or the probe was stopped.
    Failure,
}

impl Outcome {
    /// The lowercase name used in JSON, labels and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Degraded => "degraded",
            Outcome::Failure => "failure",
        }
    }

    /// Success and degraded both count as "the scenario worked" (`probe_success` 1).
    pub fn is_ok(self) -> bool {
        !matches!(self, Outcome::Failure)
    }
}

/// Why a run did not succeed plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The probe marked the run degraded.
    Degraded,
    /// `run` returned `err(message)`.
    GuestError,
    /// The run went past its wall-clock timeout.
    Timeout,
    /// The probe used more CPU time than its limit.
    CpuLimit,
    /// The probe tried to grow its memory past its limit.
    MemoryLimit,
    /// The probe tried to reach a host:port that is not in its `allow` list.
    Denied,
    /// The guest trapped (a panic, `unreachable`, out-of-bounds access).
    Trap,
    /// The probe hit a cap: log bytes, outgoing requests, response body bytes.
    LimitExceeded,
    /// The component could not be loaded or instantiated.
    LoadError,
}

impl Reason {
    /// The snake_case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Degraded => "degraded",
            Reason::GuestError => "guest_error",
            Reason::Timeout => "timeout",
            Reason::CpuLimit => "cpu_limit",
            Reason::MemoryLimit => "memory_limit",
            Reason::Denied => "denied",
            Reason::Trap => "trap",
            Reason::LimitExceeded => "limit_exceeded",
            Reason::LoadError => "load_error",
        }
    }
}

/// One named phase of a scenario, timed by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Step name, unique within the run.
    pub name: String,
    /// Whether the step achieved what it should.
    pub success: bool,
    /// How long the step took (seconds).
    #[serde(with = "seconds")]
    pub duration: Duration,
    /// Explanation given by the probe (usually the error), empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A custom sample recorded by the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Prometheus metric name.
    pub name: String,
    /// Sample value.
    pub value: f64,
    /// Labels given by the probe (the probe's own labels are added downstream).
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal information.
    Info,
    /// Something unexpected that did not fail the run.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Uppercase name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The host `log` function.
    Log,
    /// The guest's standard output.
    Stdout,
    /// The guest's standard error.
    Stderr,
    /// vigil itself (a dropped metric, a truncation notice).
    Host,
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Time since the run started (seconds).
    #[serde(with = "seconds")]
    pub at: Duration,
    /// Severity.
    pub level: LogLevel,
    /// Origin of the line.
    pub source: LogSource,
    /// The text, without a trailing newline.
    pub message: String,
}

/// One outgoing HTTP request and its timings, as measured by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpExchange {
    /// The step open when the request was sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Request method.
    pub method: String,
    /// Full request URL.
    pub url: String,
    /// Response status, absent when no response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time from the request to the resolved address (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    pub dns: Option<Duration>,
    /// Time to the established TCP connection, from the start of the request.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    pub connect: Option<Duration>,
    /// Time to the completed TLS handshake, from the start (https only).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    pub tls: Option<Duration>,
    /// Time to the response headers, from the start.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    pub first_byte: Option<Duration>,
    /// Time to the end of the response body (or to the failure), from the start.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    pub total: Option<Duration>,
    /// Response body bytes the probe read.
    #[serde(default)]
    pub body_bytes: u64,
    /// What went wrong, when something did (refused, denied, timed out, cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// RFC 3339 timestamps with millisecond precision.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s).map_err(D::Error::custom)
    }
}

/// Durations as fractional seconds, the unit Prometheus uses.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(secs).unwrap_or_default())
    }
}

mod opt_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        Ok(secs.and_then(|s| Duration::try_from_secs_f64(s).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_field() {
        let run = ProbeRun {
            probe: "checkout".into(),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            duration: Duration::from_millis(250),
            outcome: Outcome::Failure,
            reason: Some(Reason::GuestError),
            message: Some("login: expected status 200, got 401".into()),
            steps: vec![Step {
                name: "login".into(),
                success: false,
                duration: Duration::from_millis(120),
                detail: "expected status 200, got 401".into(),
            }],
            metrics: vec![Metric {
                name: "cart_items".into(),
                value: 3.0,
                labels: vec![("shop".into(), "eu".into())],
            }],
            logs: vec![LogLine {
                at: Duration::from_millis(5),
                level: LogLevel::Info,
                source: LogSource::Log,
                message: "hello".into(),
            }],
            http: vec![HttpExchange {
                step: Some("login".into()),
                method: "POST".into(),
                url: "http://127.0.0.1:8080/login".into(),
                status: Some(401),
                connect: Some(Duration::from_micros(300)),
                total: Some(Duration::from_millis(3)),
                body_bytes: 12,
                ..Default::default()
            }],
            attempts: vec![Attempt {
                outcome: Outcome::Failure,
                reason: Some(Reason::Timeout),
                message: Some("timed out after 10s".into()),
                duration: Duration::from_secs(10),
            }],
        };
        let json = serde_json::to_string(&run).unwrap();
        assert!(
            json.contains(r#""started_at":"2023-11-14T22:13:20.123Z""#),
            "{json}"
        );
        assert!(json.contains(r#""reason":"guest_error""#), "{json}");
        assert_eq!(run.first_outcome(), Outcome::Failure);
        let back: ProbeRun = serde_json::from_str(&json).unwrap();
        assert_eq!(back, run);
    }

    #[test]
    fn degraded_counts_as_ok_and_failure_does_not() {
        assert!(Outcome::Success.is_ok());
        assert!(Outcome::Degraded.is_ok());
        assert!(!Outcome::Failure.is_ok());
    }
}
