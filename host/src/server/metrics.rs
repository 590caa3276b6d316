//! `/metrics`: the latest sample of every live series, then vigil's own metrics.
//!
//! No timestamps are written: the scraping Prometheus stamps samples with its scrape time,
//! which keeps its staleness handling working (as blackbox_exporter does).

use crate::daemon::Daemon;
use crate::store::labels::NAME;
use crate::store::{Series, is_stale};
use crate::telemetry::{Encoder, Format, Kind};
use std::collections::BTreeMap;

/// Help text of the series vigil itself derives from runs.
fn help(name: &str) -> Option<&'static str> {
    Some(match name {
        "probe_success" => "Whether the probe's last run succeeded (degraded counts as success).",
        "probe_duration_seconds" => "How long the probe's last run took.",
        "probe_degraded" => "Whether the probe's last run was degraded.",
        "probe_attempts" => "Attempts the last tick took (1 + retries used).",
        "probe_first_attempt_success" => "Whether the first attempt of the last tick succeeded.",
        "probe_step_success" => "Whether each step of the last run succeeded.",
        "probe_step_duration_seconds" => "How long each step of the last run took.",
        "probe_http_status_code" => "Status code of the last HTTP response of each step.",
        _ => return None,
    })
}

/// Render the exposition.
pub(super) fn render(d: &Daemon, format: Format) -> String {
    let mut enc = Encoder::new(format);
    let (series_count, sample_count) = {
        let set = d.store.read();
        // Group by metric name: the format wants each family's samples together.
        let mut families: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
        for s in set.iter() {
            if s.latest().is_some_and(|l| !is_stale(l.v)) {
                families.entry(s.labels.name()).or_default().push(s);
            }
        }
        for (name, mut series) in families {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            match help(name) {
                Some(h) => enc.family(name, Kind::Gauge, h),
                None => enc.family(
                    name,
                    Kind::Unknown,
                    "Recorded by a probe with metric(), or by a rule.",
                ),
            }
            for s in series {
                let labels = s.labels.iter().filter(|(k, _)| *k != NAME);
                enc.sample(name, labels, s.latest().map(|l| l.v).unwrap_or(f64::NAN));
            }
        }
        (set.len(), set.sample_count())
    };
    d.telemetry.encode(&mut enc);
    d.alerts.encode(&mut enc);
    enc.family("vigil_probes", Kind::Gauge, "Probes configured.");
    enc.sample("vigil_probes", [], d.active().probes.len() as f64);
    enc.family("vigil_store_series", Kind::Gauge, "Series held in memory.");
    enc.sample("vigil_store_series", [], series_count as f64);
    enc.family(
        "vigil_store_samples",
        Kind::Gauge,
        "Samples held in memory.",
    );
    enc.sample("vigil_store_samples", [], sample_count as f64);
    enc.finish()
}
