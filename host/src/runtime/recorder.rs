//! Collects what happens during one run (steps, logs, metrics, HTTP exchanges, the first
//! sandbox violation) and turns it into a [`ProbeRun`] at the end.
//!
//! The recorder is shared (`Arc<Mutex<_>>`) because parts of a run live outside the store:
//! captured stdio streams and spawned HTTP tasks hold it too. The lock is never held across
//! an `.await`, so contention is limited to the few microseconds of a push.

use crate::record::{
    HttpExchange, LogLevel, LogLine, LogSource, Metric, Outcome, ProbeRun, Reason, Step,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// A handle to the recorder of one run.
#[derive(Clone)]
pub(crate) struct SharedRecorder(Arc<Mutex<Recorder>>);

impl SharedRecorder {
    pub(crate) fn new(log_cap: usize) -> Self {
        SharedRecorder(Arc::new(Mutex::new(Recorder::new(log_cap))))
    }

    /// Lock the recorder. A poisoned lock only means another task panicked mid-push; the
    /// data is still the best record we have, so keep going with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An open step.
struct OpenStep {
    name: String,
    index: usize,
    started: Instant,
}

/// The sandbox violation that ends a run, whatever the guest does afterwards.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub reason: Reason,
    pub message: String,
}

/// Mutable state of one run.
pub(crate) struct Recorder {
    started: Instant,
    steps: Vec<Step>,
    open: Vec<OpenStep>,
    logs: Vec<LogLine>,
    log_bytes: usize,
    log_cap: usize,
    metrics: Vec<Metric>,
    http: Vec<HttpExchange>,
    degraded: Option<String>,
    violation: Option<Violation>,
    memory_denied: Option<String>,
    partial_lines: [Vec<u8>; 2],
}

impl Recorder {
    fn new(log_cap: usize) -> Self {
        Recorder {
            started: Instant::now(),
            steps: Vec::new(),
            open: Vec::new(),
            logs: Vec::new(),
            log_bytes: 0,
            log_cap,
            metrics: Vec::new(),
            http: Vec::new(),
            degraded: None,
            violation: None,
            memory_denied: None,
            partial_lines: [Vec::new(), Vec::new()],
        }
    }

    /// Restart the clock: the run begins when the guest is about to be called.
    pub(crate) fn start_clock(&mut self) {
        self.started = Instant::now();
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Record the first violation; later ones are consequences of the first.
    pub(crate) fn violate(&mut self, reason: Reason, message: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { reason, message });
        }
    }

    pub(crate) fn deny_memory(&mut self, message: String) {
        self.memory_denied.get_or_insert(message);
    }

    /// Append a log line. Returns `false` once the log cap is exceeded; the caller stops the
    /// guest then.
    pub(crate) fn log(&mut self, level: LogLevel, source: LogSource, message: String) -> bool {
        if self.violation.is_some() && self.log_bytes > self.log_cap {
            return false;
        }
        self.log_bytes += message.len();
        if self.log_bytes > self.log_cap {
            let cap = self.log_cap;
            self.logs.push(LogLine {
                at: self.elapsed(),
                level: LogLevel::Error,
                source: LogSource::Host,
                message: format!("log cap of {} reached; further output dropped", bytes(cap)),
            });
            self.violate(
                Reason::LimitExceeded,
                format!("log cap exceeded: the probe wrote more than {}", bytes(cap)),
            );
            return false;
        }
        self.logs.push(LogLine {
            at: self.elapsed(),
            level,
            source,
            message,
        });
        true
    }

    /// Feed raw stdout (`stream` 0) or stderr (1) bytes; complete lines become log lines.
    pub(crate) fn output(&mut self, stream: usize, data: &[u8]) -> bool {
        let (level, source) = stream_kind(stream);
        // Count the bytes against the cap before buffering, so a flood without newlines
        // is stopped too.
        if self.log_bytes + self.partial_lines[stream].len() + data.len() > self.log_cap {
            let mut pending = std::mem::take(&mut self.partial_lines[stream]);
            pending.extend_from_slice(data);
            let text = String::from_utf8_lossy(&pending).into_owned();
            return self.log(level, source, text);
        }
        self.partial_lines[stream].extend_from_slice(data);
        while let Some(pos) = self.partial_lines[stream].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial_lines[stream].drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            if !self.log(level, source, text) {
                return false;
            }
        }
        true
    }

    /// Log what is left of unterminated stdout/stderr lines.
    fn flush_output(&mut self) {
        for stream in 0..2 {
            let rest = std::mem::take(&mut self.partial_lines[stream]);
            if !rest.is_empty() {
                let (level, source) = stream_kind(stream);
                self.log(level, source, String::from_utf8_lossy(&rest).into_owned());
            }
        }
    }

    pub(crate) fn step_start(&mut self, name: String) {
        let name = self.unique_step_name(name);
        let index = self.steps.len();
        self.steps.push(Step {
            name: name.clone(),
            success: false,
            duration: Duration::ZERO,
            detail: String::new(),
        });
        self.open.push(OpenStep {
            name,
            index,
            started: Instant::now(),
        });
    }

    fn unique_step_name(&self, name: String) -> String {
        if !self.steps.iter().any(|s| s.name == name) {
            return name;
        }
        (2..)
            .map(|n| format!("{name}#{n}"))
            .find(|candidate| !self.steps.iter().any(|s| &s.name == candidate))
            .expect("an unused suffix exists")
    }

    pub(crate) fn step_end(&mut self, ok: bool, detail: String) {
        if let Some(open) = self.open.pop() {
            let step = &mut self.steps[open.index];
            step.success = ok;
            step.duration = open.started.elapsed();
            step.detail = detail;
        }
    }

    /// The innermost open step, to attribute HTTP exchanges to.
    pub(crate) fn current_step(&self) -> Option<String> {
        self.open.last().map(|s| s.name.clone())
    }

    pub(crate) fn metric(&mut self, name: String, value: f64, labels: Vec<(String, String)>) {
        if !valid_metric_name(&name) {
            self.log(
                LogLevel::Warn,
                LogSource::Host,
                format!("metric {name:?} dropped: not a valid Prometheus metric name"),
            );
            return;
        }
        if let Some((bad, _)) = labels.iter().find(|(k, _)| !valid_label_name(k)) {
            self.log(
                LogLevel::Warn,
                LogSource::Host,
                format!("metric {name:?} dropped: {bad:?} is not a valid label name"),
            );
            return;
        }
        let mut labels = labels;
        labels.sort();
        if let Some(existing) = self
            .metrics
            .iter_mut()
            .find(|m| m.name == name && m.labels == labels)
        {
            existing.value = value;
        } else {
            self.metrics.push(Metric {
                name,
                value,
                labels,
            });
        }
    }

    pub(crate) fn degraded(&mut self, reason: String) {
        self.degraded = Some(reason);
    }

    /// Start recording an HTTP exchange; returns its index for later updates.
    pub(crate) fn http_start(&mut self, method: String, url: String) -> usize {
        let step = self.current_step();
        self.http.push(HttpExchange {
            step,
            method,
            url,
            ..Default::default()
        });
        self.http.len() - 1
    }

    pub(crate) fn http_mut(&mut self, index: usize) -> Option<&mut HttpExchange> {
        self.http.get_mut(index)
    }

    pub(crate) fn http_count(&self) -> usize {
        self.http.len()
    }

    /// Close the run: end open steps, decide outcome and reason.
    ///
    /// `ended` is what the guest call came to: `Ok(Ok)` returned ok, `Ok(Err(msg))` returned
    /// err, `Err(failure)` was stopped by the host or trapped.
    pub(crate) fn finish(
        &mut self,
        probe: String,
        started_at: SystemTime,
        ended: Result<Result<(), String>, (Reason, String)>,
    ) -> ProbeRun {
        self.flush_output();
        let duration = self.elapsed();
        let (mut outcome, mut reason, mut message) = match ended {
            Ok(Ok(())) => match self.degraded.take() {
                Some(why) => (Outcome::Degraded, Some(Reason::Degraded), Some(why)),
                None => (Outcome::Success, None, None),
            },
            Ok(Err(msg)) => (Outcome::Failure, Some(Reason::GuestError), Some(msg)),
            Err((Reason::Trap, msg)) if self.memory_denied.is_some() => {
                let denied = self.memory_denied.take().unwrap_or_default();
                (
                    Outcome::Failure,
                    Some(Reason::MemoryLimit),
                    Some(format!("{denied} ({msg})")),
                )
            }
            Err((why, msg)) => (Outcome::Failure, Some(why), Some(msg)),
        };
        // A sandbox violation decides the run even when the guest handled the error it got
        // (a probe must not be able to hide that it hit a cap or a forbidden host).
        if let Some(v) = self.violation.take()
            && !matches!(reason, Some(Reason::Timeout | Reason::CpuLimit))
        {
            if let (Some(Reason::GuestError | Reason::Trap), Some(msg)) = (reason, &message) {
                message = Some(format!("{}; the probe said: {msg}", v.message));
            } else {
                message = Some(v.message);
            }
            outcome = Outcome::Failure;
            reason = Some(v.reason);
        }
        let run_ok = outcome.is_ok();
        while let Some(open) = self.open.pop() {
            let step = &mut self.steps[open.index];
            step.success = run_ok;
            step.duration = open.started.elapsed();
            if !run_ok {
                step.detail = message.clone().unwrap_or_default();
            }
        }
        ProbeRun {
            probe,
            started_at,
            duration,
            outcome,
            reason,
            message,
            steps: std::mem::take(&mut self.steps),
            metrics: std::mem::take(&mut self.metrics),
            logs: std::mem::take(&mut self.logs),
            http: std::mem::take(&mut self.http),
            attempts: Vec::new(),
        }
    }

    /// The last lines the guest wrote to stderr, for explaining a trap (a Rust panic prints
    /// its message there before aborting).
    pub(crate) fn panic_message(&mut self) -> Option<String> {
        self.flush_output();
        let stderr: Vec<&LogLine> = self
            .logs
            .iter()
            .filter(|l| l.source == LogSource::Stderr)
            .collect();
        let at = stderr
            .iter()
            .rposition(|l| l.message.contains("panicked"))?;
        let mut msg = stderr[at + 1..]
            .iter()
            .map(|l| l.message.as_str())
            .take_while(|m| !m.starts_with("note:"))
            .collect::<Vec<_>>()
            .join(" ");
        if msg.is_empty() {
            msg = stderr[at].message.clone();
        }
        Some(msg)
    }
}

/// Guest stdout is informational; stderr is where panics and warnings go.
fn stream_kind(stream: usize) -> (LogLevel, LogSource) {
    if stream == 0 {
        (LogLevel::Info, LogSource::Stdout)
    } else {
        (LogLevel::Warn, LogSource::Stderr)
    }
}

/// Whether `name` is a valid Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved for Prometheus).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Human byte counts for messages ("64 KiB").
pub(crate) fn bytes(n: usize) -> String {
    crate::units::format_size(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(rec: &mut Recorder, ended: Result<Result<(), String>, (Reason, String)>) -> ProbeRun {
        rec.finish("p".into(), SystemTime::UNIX_EPOCH, ended)
    }

    #[test]
    fn repeated_step_names_get_suffixes_and_nesting_ends_innermost_first() {
        let mut rec = Recorder::new(1024);
        rec.step_start("login".into());
        rec.step_start("token".into());
        rec.step_end(true, String::new());
        rec.step_end(false, "401".into());
        rec.step_start("login".into());
        rec.step_end(true, String::new());
        let run = finish(&mut rec, Ok(Ok(())));
        let names: Vec<_> = run.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["login", "token", "login#2"]);
        assert!(!run.steps[0].success);
        assert_eq!(run.steps[0].detail, "401");
        assert!(run.steps[1].success);
    }

    #[test]
    fn open_steps_take_the_runs_result() {
        let mut rec = Recorder::new(1024);
        rec.step_start("checkout".into());
        let run = finish(&mut rec, Ok(Err("no stock".into())));
        assert_eq!(run.outcome, Outcome::Failure);
        assert_eq!(run.reason, Some(Reason::GuestError));
        assert!(!run.steps[0].success);
        assert_eq!(run.steps[0].detail, "no stock");
    }

    #[test]
    fn degraded_run_keeps_its_reason() {
        let mut rec = Recorder::new(1024);
        rec.degraded("replica lag".into());
        let run = finish(&mut rec, Ok(Ok(())));
        assert_eq!(run.outcome, Outcome::Degraded);
        assert_eq!(run.reason, Some(Reason::Degraded));
        assert_eq!(run.message.as_deref(), Some("replica lag"));
    }

    #[test]
    fn a_violation_fails_the_run_even_if_the_guest_returned_ok() {
        let mut rec = Recorder::new(1024);
        rec.violate(Reason::Denied, "denied: evil.example:443".into());
        let run = finish(&mut rec, Ok(Ok(())));
        assert_eq!(run.outcome, Outcome::Failure);
        assert_eq!(run.reason, Some(Reason::Denied));
        assert_eq!(run.message.as_deref(), Some("denied: evil.example:443"));
    }

    #[test]
    fn log_cap_stops_logging_and_names_the_cap() {
        let mut rec = Recorder::new(10);
        assert!(rec.log(LogLevel::Info, LogSource::Log, "12345".into()));
        assert!(!rec.log(LogLevel::Info, LogSource::Log, "123456".into()));
        let run = finish(&mut rec, Err((Reason::Trap, "stopped".into())));
        assert_eq!(run.reason, Some(Reason::LimitExceeded));
        assert!(run.message.unwrap().contains("log cap exceeded"));
    }

    #[test]
    fn stdout_is_split_into_lines() {
        let mut rec = Recorder::new(1024);
        rec.output(0, b"one\ntw");
        rec.output(0, b"o\nthree");
        let run = finish(&mut rec, Ok(Ok(())));
        let lines: Vec<_> = run.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(lines, ["one", "two", "three"]);
        assert!(run.logs.iter().all(|l| l.source == LogSource::Stdout));
    }

    #[test]
    fn invalid_metric_names_are_dropped_with_a_warning() {
        let mut rec = Recorder::new(1024);
        rec.metric("ok_name".into(), 1.0, vec![]);
        rec.metric("bad-name".into(), 1.0, vec![]);
        rec.metric("x".into(), 1.0, vec![("__reserved".into(), "v".into())]);
        rec.metric("ok_name".into(), 2.0, vec![]);
        let run = finish(&mut rec, Ok(Ok(())));
        assert_eq!(run.metrics.len(), 1);
        assert_eq!(run.metrics[0].value, 2.0);
        assert_eq!(run.logs.len(), 2);
    }

    #[test]
    fn panic_message_is_read_from_stderr() {
        let mut rec = Recorder::new(4096);
        rec.output(
            1,
            b"\nthread '<unnamed>' panicked at src/lib.rs:5:5:\nboom: the cart was empty\nnote: run with `RUST_BACKTRACE=1`\n",
        );
        assert_eq!(
            rec.panic_message().as_deref(),
            Some("boom: the cart was empty")
        );
    }
}
