//! The alert state machine of one alerting rule, as Prometheus's `rules/alerting.go`:
//! inactive → pending (`for`) → firing → resolved (`keep_firing_for`), alerts keyed by
//! their label set, resolved alerts kept for [`RESOLVED_RETENTION`] so they can be re-sent.
//!
//! Pure: [`AlertingRule::eval`] takes the query result and the evaluation time and returns
//! the `ALERTS` / `ALERTS_FOR_STATE` samples; nothing here reads a clock.

use super::template::{self, TemplateData};
use crate::store::Labels;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long a resolved alert is kept (and re-sent) after it resolved.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// State of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved (kept for a while to be re-sent).
    Inactive,
    /// Condition true, waiting out `for`.
    Pending,
    /// Condition true for at least `for`.
    Firing,
}

impl AlertState {
    /// Lowercase name, as in `alertstate`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: a label set and its state. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Labels: the series' labels, the rule's labels, `alertname`.
    pub labels: BTreeMap<String, String>,
    /// Annotations, templates expanded.
    pub annotations: BTreeMap<String, String>,
    /// State.
    pub state: AlertState,
    /// The value of the series that triggered it (last evaluation).
    pub value: f64,
    /// When the condition became true.
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// Since when it is kept firing after the condition went away.
    pub keep_firing_since: Option<i64>,
    /// When a notifier last sent it (maintained by the alert delivery stage).
    pub last_sent_at: Option<i64>,
}

/// An alerting rule and its alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// `alert:`
    pub name: String,
    /// `expr:` as written.
    pub expr: String,
    /// `for:`
    pub hold: Duration,
    /// `keep_firing_for:`
    pub keep_firing_for: Duration,
    /// `labels:` (templates allowed in values).
    pub labels: BTreeMap<String, String>,
    /// `annotations:` (templates allowed).
    pub annotations: BTreeMap<String, String>,
    /// Active and recently resolved alerts, by label set.
    pub active: HashMap<Labels, Alert>,
    /// `$externalURL` in templates (set by the group from `global.external_url`).
    pub external_url: String,
}

/// An evaluation problem of one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// Two series became the same alert after the rule's labels were applied.
    #[error("vector contains metrics with the same labelset after applying alert labels: {0}")]
    DuplicateLabelset(String),
}

impl AlertingRule {
    /// A rule with no alerts yet.
    pub fn new(
        name: impl Into<String>,
        expr: impl Into<String>,
        hold: Duration,
        keep_firing_for: Duration,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        AlertingRule {
            name: name.into(),
            expr: expr.into(),
            hold,
            keep_firing_for,
            labels,
            annotations,
            active: HashMap::new(),
            external_url: String::new(),
        }
    }

    /// Advance the state machine with the rule's query result at time `ts` (ms).
    /// Returns the `ALERTS` and `ALERTS_FOR_STATE` samples for this evaluation.
    pub fn eval(
        &mut self,
        ts: i64,
        result: &[(Labels, f64)],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<Vec<(Labels, f64)>, AlertError> {
        let mut seen: HashMap<Labels, Alert> = HashMap::new();
        for (series, value) in result {
            // Templates see the series' labels (without the metric name).
            let series_labels: BTreeMap<String, String> = series
                .iter()
                .filter(|(k, _)| *k != crate::store::labels::NAME)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let data = TemplateData {
                labels: &series_labels,
                external_labels,
                value: *value,
                external_url: &self.external_url,
            };
            let mut labels = series_labels.clone();
            for (k, v) in &self.labels {
                let expanded = template::expand(&format!("__alert_{}", self.name), v, &data);
                if expanded.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), expanded);
                }
            }
            labels.insert("alertname".into(), self.name.clone());
            let annotations = self
                .annotations
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        template::expand(&format!("__alert_{}", self.name), v, &data),
                    )
                })
                .collect();
            let key = Labels::from_vec(labels.clone().into_iter().collect());
            if seen.contains_key(&key) {
                return Err(AlertError::DuplicateLabelset(key.to_string()));
            }
            seen.insert(
                key,
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value: *value,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                    last_sent_at: None,
                },
            );
        }

        for (key, fresh) in seen.iter() {
            match self.active.get_mut(key) {
                Some(alert) if alert.state != AlertState::Inactive => {
                    alert.value = fresh.value;
                    alert.annotations = fresh.annotations.clone();
                    alert.keep_firing_since = None;
                }
                // New, or resolved and back: a new alert, active from now.
                _ => {
                    self.active.insert(key.clone(), fresh.clone());
                }
            }
        }

        let hold = self.hold.as_millis() as i64;
        let keep = self.keep_firing_for.as_millis() as i64;
        let retention = RESOLVED_RETENTION.as_millis() as i64;
        let mut samples = Vec::new();
        self.active.retain(|key, alert| {
            if !seen.contains_key(key) {
                // The condition is gone.
                if alert.state == AlertState::Pending {
                    return false;
                }
                if alert.state == AlertState::Inactive {
                    return alert.resolved_at.is_some_and(|r| ts - r <= retention);
                }
                if keep > 0 {
                    let since = *alert.keep_firing_since.get_or_insert(ts);
                    if ts - since < keep {
                        push_samples(&mut samples, alert);
                        return true;
                    }
                }
                alert.state = AlertState::Inactive;
                alert.resolved_at = Some(ts);
                alert.keep_firing_since = None;
                return true;
            }
            if alert.state == AlertState::Pending && ts - alert.active_at >= hold {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(ts);
            }
            push_samples(&mut samples, alert);
            true
        });
        Ok(samples)
    }

    /// Alerts that are pending or firing.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
    }

    /// The most urgent state among its alerts (firing > pending > inactive).
    pub fn state(&self) -> AlertState {
        let mut state = AlertState::Inactive;
        for a in self.alerts() {
            if a.state == AlertState::Firing {
                return AlertState::Firing;
            }
            state = AlertState::Pending;
        }
        state
    }
}

fn push_samples(samples: &mut Vec<(Labels, f64)>, alert: &Alert) {
    let mut alerts: Vec<(String, String)> = alert
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut for_state = alerts.clone();
    alerts.push(("__name__".into(), "ALERTS".into()));
    alerts.push(("alertstate".into(), alert.state.as_str().into()));
    samples.push((Labels::from_vec(alerts), 1.0));
    for_state.push(("__name__".into(), "ALERTS_FOR_STATE".into()));
    samples.push((Labels::from_vec(for_state), (alert.active_at / 1000) as f64));
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn rule(hold: u64, keep: u64) -> AlertingRule {
        AlertingRule::new(
            "ProbeDown",
            "probe_success == 0",
            Duration::from_secs(hold),
            Duration::from_secs(keep),
            BTreeMap::from([("severity".to_string(), "page".to_string())]),
            BTreeMap::from([(
                "summary".to_string(),
                "{{ $labels.probe }} is down ({{ $value }})".to_string(),
            )]),
        )
    }

    fn down(probe: &str) -> Vec<(Labels, f64)> {
        vec![(Labels::from_pairs("probe_success", [("probe", probe)]), 0.0)]
    }

    fn states(samples: &[(Labels, f64)]) -> Vec<String> {
        samples
            .iter()
            .filter(|(l, _)| l.name() == "ALERTS")
            .map(|(l, _)| l.get("alertstate").unwrap().to_string())
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let mut r = rule(60, 0);
        let ext = BTreeMap::new();
        assert_eq!(states(&r.eval(0, &down("a"), &ext).unwrap()), ["pending"]);
        assert_eq!(
            states(&r.eval(30 * S, &down("a"), &ext).unwrap()),
            ["pending"]
        );
        let firing = r.eval(60 * S, &down("a"), &ext).unwrap();
        assert_eq!(states(&firing), ["firing"]);
        let alert = r.alerts().next().unwrap();
        assert_eq!(alert.labels["alertname"], "ProbeDown");
        assert_eq!(alert.labels["severity"], "page");
        assert_eq!(alert.annotations["summary"], "a is down (0)");
        assert_eq!(alert.fired_at, Some(60 * S));
        // ALERTS_FOR_STATE holds when it became active, in seconds.
        let for_state = firing
            .iter()
            .find(|(l, _)| l.name() == "ALERTS_FOR_STATE")
            .unwrap();
        assert_eq!(for_state.1, 0.0);
        assert!(for_state.0.get("alertstate").is_none());

        assert!(r.eval(90 * S, &[], &ext).unwrap().is_empty());
        assert_eq!(r.state(), AlertState::Inactive);
        let resolved = r.active.values().next().unwrap();
        assert_eq!(resolved.resolved_at, Some(90 * S));
        // Kept for re-sending, then dropped.
        r.eval(
            90 * S + RESOLVED_RETENTION.as_millis() as i64 + 1,
            &[],
            &ext,
        )
        .unwrap();
        assert!(r.active.is_empty());
    }

    #[test]
    fn pending_alert_that_goes_away_is_forgotten() {
        let mut r = rule(60, 0);
        let ext = BTreeMap::new();
        r.eval(0, &down("a"), &ext).unwrap();
        r.eval(10 * S, &[], &ext).unwrap();
        assert!(r.active.is_empty());
        // Coming back starts the `for` timer again.
        r.eval(20 * S, &down("a"), &ext).unwrap();
        assert_eq!(
            states(&r.eval(70 * S, &down("a"), &ext).unwrap()),
            ["pending"]
        );
        assert_eq!(
            states(&r.eval(80 * S, &down("a"), &ext).unwrap()),
            ["firing"]
        );
    }

    #[test]
    fn for_zero_fires_at_once() {
        let mut r = rule(0, 0);
        assert_eq!(
            states(&r.eval(0, &down("a"), &BTreeMap::new()).unwrap()),
            ["firing"]
        );
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut r = rule(0, 120);
        let ext = BTreeMap::new();
        r.eval(0, &down("a"), &ext).unwrap();
        assert_eq!(states(&r.eval(60 * S, &[], &ext).unwrap()), ["firing"]);
        assert_eq!(states(&r.eval(170 * S, &[], &ext).unwrap()), ["firing"]);
        assert!(r.eval(180 * S, &[], &ext).unwrap().is_empty());
        assert_eq!(r.state(), AlertState::Inactive);
    }

    #[test]
    fn resolved_alert_that_returns_is_a_new_alert() {
        let mut r = rule(0, 0);
        let ext = BTreeMap::new();
        r.eval(0, &down("a"), &ext).unwrap();
        r.eval(10 * S, &[], &ext).unwrap();
        r.eval(20 * S, &down("a"), &ext).unwrap();
        let a = r.alerts().next().unwrap();
        assert_eq!(a.active_at, 20 * S);
        assert_eq!(a.resolved_at, None);
    }

    #[test]
    fn alerts_are_keyed_by_label_set() {
        let mut r = rule(0, 0);
        let both = [down("a"), down("b")].concat();
        let samples = r.eval(0, &both, &BTreeMap::new()).unwrap();
        assert_eq!(states(&samples).len(), 2);
        r.eval(10 * S, &down("b"), &BTreeMap::new()).unwrap();
        assert_eq!(r.alerts().count(), 1);
    }

    #[test]
    fn duplicate_label_sets_after_rule_labels_are_an_error() {
        let mut r = rule(0, 0);
        r.labels.insert("probe".into(), "same".into());
        let err = r
            .eval(0, &[down("a"), down("b")].concat(), &BTreeMap::new())
            .unwrap_err();
        assert!(err.to_string().contains("same labelset"));
    }
}
