//! The samples a run becomes. Names follow blackbox_exporter where one exists, so existing
//! dashboards and alerts work unchanged.
//!
//! Every sample carries `probe="NAME"` plus the probe's labels from the config; custom
//! metrics keep their own labels, but the probe's labels win a conflict (a probe cannot
//! relabel itself as another probe).

use super::labels::Labels;
use crate::record::ProbeRun;
use std::collections::BTreeMap;

/// (labels, value) pairs for one run, all at the run's end time.
pub fn run_samples(run: &ProbeRun, probe_labels: &BTreeMap<String, String>) -> Vec<(Labels, f64)> {
    let mut base: Vec<(String, String)> = probe_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    base.push(("probe".into(), run.probe.clone()));
    let make = |name: &str, extra: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.extend(base.iter().cloned());
        v.push(("__name__".into(), name.into()));
        Labels::from_vec(v)
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut out = vec![
        (make("probe_success", &[]), flag(run.outcome.is_ok())),
        (
            make("probe_duration_seconds", &[]),
            run.duration.as_secs_f64(),
        ),
        (
            make("probe_degraded", &[]),
            flag(run.outcome == crate::record::Outcome::Degraded),
        ),
        (make("probe_attempts", &[]), (run.attempts.len() + 1) as f64),
        (
            make("probe_first_attempt_success", &[]),
            flag(run.first_outcome().is_ok()),
        ),
    ];
    for step in &run.steps {
        let l = [("step", step.name.as_str())];
        out.push((make("probe_step_success", &l), flag(step.success)));
        out.push((
            make("probe_step_duration_seconds", &l),
            step.duration.as_secs_f64(),
        ));
    }
    // The last response of each step decides its status code (a redirect chain ends on the
    // page that was served).
    let mut status: BTreeMap<&str, u16> = BTreeMap::new();
    for x in &run.http {
        if let Some(code) = x.status {
            status.insert(x.step.as_deref().unwrap_or(""), code);
        }
    }
    for (step, code) in status {
        out.push((
            make("probe_http_status_code", &[("step", step)]),
            code as f64,
        ));
    }
    for m in &run.metrics {
        let mut v: Vec<(String, String)> = m.labels.clone();
        v.extend(base.iter().cloned());
        v.push(("__name__".into(), m.name.clone()));
        out.push((Labels::from_vec(v), m.value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Attempt, HttpExchange, Metric, Outcome, Reason, Step};
    use std::time::{Duration, SystemTime};

    fn run() -> ProbeRun {
        ProbeRun {
            probe: "checkout".into(),
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(250),
            outcome: Outcome::Degraded,
            reason: Some(Reason::Degraded),
            message: Some("slow".into()),
            steps: vec![Step {
                name: "login".into(),
                success: true,
                duration: Duration::from_millis(100),
                detail: String::new(),
            }],
            metrics: vec![Metric {
                name: "cart_items".into(),
                value: 3.0,
                labels: vec![
                    ("shop".into(), "eu".into()),
                    ("probe".into(), "evil".into()),
                ],
            }],
            logs: vec![],
            http: vec![
                HttpExchange {
                    step: Some("login".into()),
                    status: Some(302),
                    ..Default::default()
                },
                HttpExchange {
                    step: Some("login".into()),
                    status: Some(200),
                    ..Default::default()
                },
            ],
            attempts: vec![Attempt {
                outcome: Outcome::Failure,
                reason: Some(Reason::Timeout),
                message: None,
                duration: Duration::from_secs(1),
            }],
        }
    }

    #[test]
    fn a_run_becomes_blackbox_compatible_samples() {
        let labels = BTreeMap::from([("team".to_string(), "payments".to_string())]);
        let samples: BTreeMap<String, f64> = run_samples(&run(), &labels)
            .into_iter()
            .map(|(l, v)| (l.to_string(), v))
            .collect();
        let get = |k: &str| {
            *samples
                .get(k)
                .unwrap_or_else(|| panic!("{k} in {samples:#?}"))
        };
        assert_eq!(
            get(r#"probe_success{probe="checkout", team="payments"}"#),
            1.0
        );
        assert_eq!(
            get(r#"probe_degraded{probe="checkout", team="payments"}"#),
            1.0
        );
        assert_eq!(
            get(r#"probe_duration_seconds{probe="checkout", team="payments"}"#),
            0.25
        );
        assert_eq!(
            get(r#"probe_attempts{probe="checkout", team="payments"}"#),
            2.0
        );
        assert_eq!(
            get(r#"probe_first_attempt_success{probe="checkout", team="payments"}"#),
            0.0
        );
        assert_eq!(
            get(r#"probe_step_success{probe="checkout", step="login", team="payments"}"#),
            1.0
        );
        assert_eq!(
            get(r#"probe_http_status_code{probe="checkout", step="login", team="payments"}"#),
            200.0
        );
        assert_eq!(
            get(r#"cart_items{probe="checkout", shop="eu", team="payments"}"#),
            3.0,
            "the probe's own labels win over a custom metric's"
        );
    }
}
