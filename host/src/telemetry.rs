//! vigil's own metrics (runs, schedule lag, skipped ticks, reloads) and the exposition
//! formats `/metrics` speaks: the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Counters and histograms are updated from many tasks; each family is one small lock or
//! a set of atomics, never held across I/O.

use crate::store::labels::escape_value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    /// Choose from an `Accept` header, as Prometheus negotiates.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up (name ends in `_total`).
    Counter,
    /// A value of unknown kind (custom probe metrics).
    Unknown,
}

/// Writes families in one format.
pub struct Encoder {
    format: Format,
    out: String,
}

impl Encoder {
    /// Start an exposition.
    pub fn new(format: Format) -> Encoder {
        Encoder {
            format,
            out: String::with_capacity(64 * 1024),
        }
    }

    /// Write `# HELP` / `# TYPE` for a family. For counters `name` ends in `_total`;
    /// OpenMetrics names the family without it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let family = match (self.format, kind) {
            (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let kind = match (self.format, kind) {
            (_, Kind::Gauge) => "gauge",
            (_, Kind::Counter) => "counter",
            (Format::Prometheus, Kind::Unknown) => "untyped",
            (Format::OpenMetrics, Kind::Unknown) => "unknown",
        };
        if !help.is_empty() {
            let _ = writeln!(self.out, "# HELP {family} {help}");
        }
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
    }

    /// Write a family header for a histogram.
    pub fn histogram_family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} histogram");
    }

    /// Write one sample line.
    pub fn sample<'a, I>(&mut self, name: &str, labels: I, value: f64)
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        self.out.push_str(name);
        let mut first = true;
        for (k, v) in labels {
            self.out.push(if first { '{' } else { ',' });
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_value(v, &mut self.out);
            self.out.push('"');
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// Finish: OpenMetrics ends with `# EOF`.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// A histogram with the given upper bounds (seconds).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn encode(&self, enc: &mut Encoder, name: &str, help: &str) {
        enc.histogram_family(name, help);
        self.encode_samples(enc, name, &[]);
    }

    /// Write the bucket, sum and count samples with extra labels (the family header is the
    /// caller's, written once for all label sets).
    pub fn encode_samples(&self, enc: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        let with = |extra: Option<(&'static str, &str)>| {
            let mut l: Vec<(&str, String)> =
                labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
            if let Some((k, v)) = extra {
                l.push((k, v.to_string()));
            }
            l
        };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let le = format_bound(*b);
            let l = with(Some(("le", le.as_str())));
            enc.sample(
                &bucket,
                l.iter().map(|(k, v)| (*k, v.as_str())),
                cumulative as f64,
            );
        }
        let count = self.count();
        let l = with(Some(("le", "+Inf")));
        enc.sample(
            &bucket,
            l.iter().map(|(k, v)| (*k, v.as_str())),
            count as f64,
        );
        let l = with(None);
        enc.sample(
            &format!("{name}_sum"),
            l.iter().map(|(k, v)| (*k, v.as_str())),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
        enc.sample(
            &format!("{name}_count"),
            l.iter().map(|(k, v)| (*k, v.as_str())),
            count as f64,
        );
    }
}

fn format_bound(b: f64) -> String {
    let s = format!("{b}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

const RUN_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
const LAG_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Counters of one rule group.
#[derive(Debug, Default, Clone, Copy)]
struct GroupStats {
    evaluations: u64,
    failures: u64,
    last_ts: f64,
    last_duration: f64,
}

/// A per-group metric family: name, kind, help, and how to read it from the stats.
type GroupFamily = (&'static str, Kind, &'static str, fn(&GroupStats) -> f64);

/// Every metric vigil reports about itself.
pub struct Telemetry {
    runs: Mutex<BTreeMap<(String, &'static str), u64>>,
    skipped: Mutex<BTreeMap<String, u64>>,
    /// Duration of probe runs.
    pub run_duration: Histogram,
    /// Delay between a scheduled tick and the run's start.
    pub schedule_lag: Histogram,
    /// Duration of rule group evaluations.
    pub rule_eval_duration: Histogram,
    rule_groups: Mutex<BTreeMap<String, GroupStats>>,
    reload_ok: AtomicU64,
    reload_ok_at: AtomicU64,
    reloads_failed: AtomicU64,
    started_at: f64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            runs: Mutex::new(BTreeMap::new()),
            skipped: Mutex::new(BTreeMap::new()),
            run_duration: Histogram::new(RUN_BUCKETS),
            schedule_lag: Histogram::new(LAG_BUCKETS),
            rule_eval_duration: Histogram::new(RUN_BUCKETS),
            rule_groups: Mutex::new(BTreeMap::new()),
            reload_ok: AtomicU64::new(0),
            reload_ok_at: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            started_at: unix_now(),
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Telemetry {
    /// Count a finished run.
    pub fn run(&self, probe: &str, outcome: crate::record::Outcome, duration: Duration) {
        *self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((probe.to_string(), outcome.as_str()))
            .or_default() += 1;
        self.run_duration.observe(duration);
    }

    /// Count a tick skipped because the previous run was still going.
    pub fn skipped_tick(&self, probe: &str) {
        *self
            .skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(probe.to_string())
            .or_default() += 1;
    }

    /// Skipped ticks of one probe so far.
    pub fn skipped_ticks(&self, probe: &str) -> u64 {
        self.skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(probe)
            .copied()
            .unwrap_or(0)
    }

    /// Record one evaluation of a rule group.
    pub fn rule_group(
        &self,
        group: &str,
        rules: usize,
        failures: usize,
        took: Duration,
        ts_ms: i64,
    ) {
        self.rule_eval_duration.observe(took);
        let mut groups = self.rule_groups.lock().unwrap_or_else(|e| e.into_inner());
        let g = groups.entry(group.to_string()).or_default();
        g.evaluations += rules as u64;
        g.failures += failures as u64;
        g.last_ts = ts_ms as f64 / 1000.0;
        g.last_duration = took.as_secs_f64();
    }

    /// Record the result of a config (re)load.
    pub fn reload(&self, ok: bool) {
        self.reload_ok.store(ok as u64, Ordering::Relaxed);
        if ok {
            self.reload_ok_at
                .store(unix_now().to_bits(), Ordering::Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forget the counters of probes no longer configured.
    pub fn retain_probes(&self, keep: &dyn Fn(&str) -> bool) {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(p, _), _| keep(p));
        self.skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p, _| keep(p));
    }

    /// Write every family.
    pub fn encode(&self, enc: &mut Encoder) {
        enc.family(
            "vigil_probe_runs_total",
            Kind::Counter,
            "Probe runs by outcome.",
        );
        for ((probe, outcome), n) in self.runs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            enc.sample(
                "vigil_probe_runs_total",
                [("outcome", *outcome), ("probe", probe.as_str())],
                *n as f64,
            );
        }
        enc.family(
            "vigil_schedule_skipped_ticks_total",
            Kind::Counter,
            "Ticks skipped because the probe's previous run was still going.",
        );
        for (probe, n) in self
            .skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            enc.sample(
                "vigil_schedule_skipped_ticks_total",
                [("probe", probe.as_str())],
                *n as f64,
            );
        }
        self.run_duration.encode(
            enc,
            "vigil_probe_run_duration_seconds",
            "Duration of probe runs (all attempts of a tick).",
        );
        self.schedule_lag.encode(
            enc,
            "vigil_schedule_lag_seconds",
            "Delay from a scheduled tick to the start of its run.",
        );
        self.rule_eval_duration.encode(
            enc,
            "vigil_rule_group_evaluation_duration_seconds",
            "Duration of rule group evaluations.",
        );
        let groups = self
            .rule_groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let families: [GroupFamily; 4] = [
            (
                "vigil_rule_evaluations_total",
                Kind::Counter,
                "Rule evaluations.",
                |g| g.evaluations as f64,
            ),
            (
                "vigil_rule_evaluation_failures_total",
                Kind::Counter,
                "Rule evaluations that failed (a failing rule fails alone).",
                |g| g.failures as f64,
            ),
            (
                "vigil_rule_group_last_evaluation_timestamp_seconds",
                Kind::Gauge,
                "When each rule group was last evaluated.",
                |g| g.last_ts,
            ),
            (
                "vigil_rule_group_last_duration_seconds",
                Kind::Gauge,
                "How long the last evaluation of each rule group took.",
                |g| g.last_duration,
            ),
        ];
        for (name, kind, help, value) in families {
            enc.family(name, kind, help);
            for (group, stats) in &groups {
                enc.sample(name, [("rule_group", group.as_str())], value(stats));
            }
        }
        enc.family(
            "vigil_config_last_reload_successful",
            Kind::Gauge,
            "Whether the last configuration reload succeeded.",
        );
        enc.sample(
            "vigil_config_last_reload_successful",
            [],
            self.reload_ok.load(Ordering::Relaxed) as f64,
        );
        enc.family(
            "vigil_config_last_reload_success_timestamp_seconds",
            Kind::Gauge,
            "Timestamp of the last successful configuration reload.",
        );
        enc.sample(
            "vigil_config_last_reload_success_timestamp_seconds",
            [],
            f64::from_bits(self.reload_ok_at.load(Ordering::Relaxed)),
        );
        enc.family(
            "vigil_config_reloads_failed_total",
            Kind::Counter,
            "Configuration reloads that failed.",
        );
        enc.sample(
            "vigil_config_reloads_failed_total",
            [],
            self.reloads_failed.load(Ordering::Relaxed) as f64,
        );
        enc.family(
            "vigil_start_time_seconds",
            Kind::Gauge,
            "When this vigil process started.",
        );
        enc.sample("vigil_start_time_seconds", [], self.started_at);
        enc.family("vigil_build_info", Kind::Gauge, "Version of this vigil.");
        enc.sample(
            "vigil_build_info",
            [("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    #[test]
    fn prometheus_text_format() {
        let t = Telemetry::default();
        t.run("checkout", Outcome::Failure, Duration::from_millis(3));
        t.run("checkout", Outcome::Failure, Duration::from_millis(30));
        t.skipped_tick("checkout");
        t.reload(true);
        let mut enc = Encoder::new(Format::Prometheus);
        t.encode(&mut enc);
        let text = enc.finish();
        assert!(
            text.contains("# TYPE vigil_probe_runs_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("vigil_probe_runs_total{outcome=\"failure\",probe=\"checkout\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("vigil_schedule_skipped_ticks_total{probe=\"checkout\"} 1\n"));
        assert!(
            text.contains("vigil_probe_run_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("vigil_probe_run_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("vigil_probe_run_duration_seconds_count 2\n"));
        assert!(text.contains("vigil_config_last_reload_successful 1\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_drops_total_from_counter_families_and_ends_with_eof() {
        let t = Telemetry::default();
        let mut enc = Encoder::new(Format::OpenMetrics);
        t.encode(&mut enc);
        let text = enc.finish();
        assert!(text.contains("# TYPE vigil_probe_runs counter\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn accept_header_negotiation() {
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
        assert_eq!(Format::from_accept(None), Format::Prometheus);
    }

    #[test]
    fn values_are_written_as_prometheus_expects() {
        let mut enc = Encoder::new(Format::Prometheus);
        enc.sample("a", [("x", "q\"\n\\")], 1.5);
        enc.sample("b", [], f64::NAN);
        enc.sample("c", [], f64::INFINITY);
        enc.sample("d", [], 3.0);
        assert_eq!(
            enc.finish(),
            "a{x=\"q\\\"\\n\\\\\"} 1.5\nb NaN\nc +Inf\nd 3\n"
        );
    }
}
