//! A rule group's evaluation: its rules in order at one timestamp, each result written back
//! before the next rule runs (so a rule can use a series recorded just above it), series
//! that disappeared from a rule's output marked stale, as Prometheus's `rules/group.go`.
//!
//! Pure apart from the [`RuleStore`] it is handed: time comes in as an argument.

use super::alerting::{AlertState, AlertingRule};
use super::file::{GroupSpec, RuleKind, RuleSpec};
use crate::promql::{self, Limits, Value};
use crate::store::{Labels, STALE_NAN, Sample};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Where rules read from and write to.
pub trait RuleStore {
    /// Evaluate an expression at `t_ms`.
    fn query(
        &self,
        expr: &promql::Expr,
        t_ms: i64,
        limits: &Limits,
    ) -> Result<Value, promql::EvalError>;
    /// Write samples (recording rule results, `ALERTS`).
    fn write(&self, samples: &[(Labels, Sample)]);
}

impl RuleStore for crate::store::Store {
    fn query(
        &self,
        expr: &promql::Expr,
        t_ms: i64,
        limits: &Limits,
    ) -> Result<Value, promql::EvalError> {
        let set = self.read();
        promql::instant(&*set, expr, t_ms, limits)
    }

    fn write(&self, samples: &[(Labels, Sample)]) {
        for (l, s) in samples {
            self.append(l, *s);
        }
    }
}

/// Whether a rule's last evaluation worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation worked.
    Ok,
    /// Last evaluation failed (see `last_error`).
    Err,
}

/// A rule and what it did last time.
#[derive(Debug, Clone)]
pub struct RuleState {
    /// The rule as written.
    pub spec: RuleSpec,
    /// Alert state (alerting rules only).
    pub alerting: Option<AlertingRule>,
    /// Health of the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// When it was last evaluated (ms).
    pub last_eval: Option<i64>,
    /// How long that took.
    pub eval_duration: Duration,
    emitted: HashSet<Labels>,
}

/// A group of rules evaluated together, in order.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// The group as written.
    pub spec: GroupSpec,
    /// Interval in force (`interval:` or the global default).
    pub interval: Duration,
    /// Its rules.
    pub rules: Vec<RuleState>,
    /// When it was last evaluated (ms).
    pub last_eval: Option<i64>,
    /// How long that took.
    pub eval_duration: Duration,
    /// `$externalURL` for its alert templates.
    pub external_url: String,
}

/// What one evaluation of a group did.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    /// Rules that failed, with their error.
    pub failures: Vec<(String, String)>,
    /// Rules evaluated.
    pub evaluated: usize,
}

impl RuleGroup {
    /// A group ready to evaluate.
    pub fn new(spec: GroupSpec, default_interval: Duration) -> RuleGroup {
        let rules = spec
            .rules
            .iter()
            .map(|r| RuleState {
                alerting: match &r.kind {
                    RuleKind::Alert {
                        hold,
                        keep_firing_for,
                        annotations,
                    } => Some(AlertingRule::new(
                        r.name.clone(),
                        r.expr.clone(),
                        *hold,
                        *keep_firing_for,
                        r.labels.clone(),
                        annotations.clone(),
                    )),
                    RuleKind::Record => None,
                },
                spec: r.clone(),
                health: Health::Unknown,
                last_error: None,
                last_eval: None,
                eval_duration: Duration::ZERO,
                emitted: HashSet::new(),
            })
            .collect();
        RuleGroup {
            interval: spec.interval.unwrap_or(default_interval),
            spec,
            rules,
            last_eval: None,
            eval_duration: Duration::ZERO,
            external_url: String::new(),
        }
    }

    /// Key identifying a group across reloads.
    pub fn key(&self) -> (std::path::PathBuf, String) {
        (self.spec.file.clone(), self.spec.name.clone())
    }

    /// Carry alert state over from the same group before a reload: a rule with the same
    /// name, labels and expression keeps its pending/firing alerts (as Prometheus does).
    pub fn adopt_state(&mut self, old: &RuleGroup) {
        for rule in &mut self.rules {
            if let Some(prev) = old.rules.iter().find(|o| {
                o.spec.name == rule.spec.name
                    && o.spec.expr == rule.spec.expr
                    && o.spec.labels == rule.spec.labels
            }) {
                if let (Some(new), Some(old)) = (&mut rule.alerting, &prev.alerting) {
                    new.active = old.active.clone();
                }
                rule.emitted = prev.emitted.clone();
                rule.health = prev.health;
                rule.last_error = prev.last_error.clone();
                rule.last_eval = prev.last_eval;
            }
        }
    }

    /// Evaluate every rule at `ts` (ms). A failing rule fails alone; the others go on.
    pub fn eval(
        &mut self,
        ts: i64,
        store: &dyn RuleStore,
        external_labels: &BTreeMap<String, String>,
        limits: &Limits,
    ) -> GroupOutcome {
        let started = Instant::now();
        let query_ts = ts - self.spec.query_offset.as_millis() as i64;
        let limit = self.spec.limit;
        let mut outcome = GroupOutcome::default();
        for rule in &mut self.rules {
            if let Some(a) = &mut rule.alerting
                && a.external_url != self.external_url
            {
                a.external_url.clone_from(&self.external_url);
            }
            let t = Instant::now();
            let result = eval_rule(rule, ts, query_ts, store, external_labels, limits, limit);
            rule.eval_duration = t.elapsed();
            rule.last_eval = Some(ts);
            outcome.evaluated += 1;
            match result {
                Ok(samples) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                    let now: HashSet<Labels> = samples.iter().map(|(l, _)| l.clone()).collect();
                    let mut writes: Vec<(Labels, Sample)> = samples
                        .into_iter()
                        .map(|(l, v)| (l, Sample { t: ts, v }))
                        .collect();
                    // Series this rule produced last time but not now go stale at once.
                    for gone in rule.emitted.difference(&now) {
                        writes.push((
                            gone.clone(),
                            Sample {
                                t: ts,
                                v: f64::from_bits(STALE_NAN),
                            },
                        ));
                    }
                    store.write(&writes);
                    rule.emitted = now;
                }
                Err(e) => {
                    rule.health = Health::Err;
                    rule.last_error = Some(e.clone());
                    outcome.failures.push((rule.spec.name.clone(), e));
                }
            }
        }
        self.last_eval = Some(ts);
        self.eval_duration = started.elapsed();
        outcome
    }

    /// Alerts of every rule that are pending or firing.
    pub fn alerts(&self) -> impl Iterator<Item = &super::alerting::Alert> {
        self.rules
            .iter()
            .filter_map(|r| r.alerting.as_ref())
            .flat_map(|a| a.alerts())
    }
}

fn eval_rule(
    rule: &mut RuleState,
    ts: i64,
    query_ts: i64,
    store: &dyn RuleStore,
    external_labels: &BTreeMap<String, String>,
    limits: &Limits,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let value = store
        .query(&rule.spec.parsed, query_ts, limits)
        .map_err(|e| e.to_string())?;
    let vector: Vec<(Labels, f64)> = match value {
        Value::Vector(v) => v,
        Value::Scalar(s) => vec![(Labels::default(), s)],
        other => {
            return Err(format!(
                "rule result is a {}, not an instant vector or scalar",
                match other {
                    Value::Matrix(_) => "range vector",
                    Value::String(_) => "string",
                    _ => "value",
                }
            ));
        }
    };
    match &mut rule.alerting {
        Some(alerting) => {
            let samples = alerting
                .eval(ts, &vector, external_labels)
                .map_err(|e| e.to_string())?;
            let active = alerting
                .active
                .values()
                .filter(|a| a.state != AlertState::Inactive)
                .count();
            if limit > 0 && active > limit {
                alerting.active.clear();
                return Err(format!("exceeded limit of {limit} with {active} alerts"));
            }
            Ok(samples)
        }
        None => {
            if limit > 0 && vector.len() > limit {
                return Err(format!(
                    "exceeded limit of {limit} with {} series",
                    vector.len()
                ));
            }
            let mut out = Vec::with_capacity(vector.len());
            let mut seen = HashSet::new();
            for (labels, v) in vector {
                let mut pairs = labels.into_vec();
                pairs.retain(|(k, _)| k != crate::store::labels::NAME);
                pairs.extend(rule.spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                pairs.push(("__name__".into(), rule.spec.name.clone()));
                let labels = Labels::from_vec(pairs);
                if !seen.insert(labels.clone()) {
                    return Err(format!(
                        "vector contains metrics with the same labelset after applying rule labels: {labels}"
                    ));
                }
                out.push((labels, v));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn group(text: &str) -> RuleGroup {
        let (mut groups, _) =
            super::super::file::parse(std::path::Path::new("r.yml"), text).unwrap();
        RuleGroup::new(groups.remove(0), Duration::from_secs(15))
    }

    fn value(store: &Store, series: &str) -> Option<f64> {
        store
            .read()
            .iter()
            .find(|s| s.labels.to_string() == series)
            .and_then(|s| s.latest().map(|l| l.v))
    }

    #[test]
    fn rules_run_in_order_and_see_what_was_recorded_above_them() {
        let store = Store::in_memory(Duration::from_secs(3600));
        let down = Labels::from_pairs("probe_success", [("probe", "checkout")]);
        store.append(&down, Sample { t: 0, v: 0.0 });
        let mut g = group(
            r#"groups:
  - name: g
    rules:
      - record: probe:down
        expr: 1 - probe_success
        labels: { team: shop }
      - alert: CheckoutDown
        expr: probe:down > 0
        for: 1m
        annotations: { summary: "{{ $labels.probe }} down" }
"#,
        );
        let ext = BTreeMap::new();
        let out = g.eval(10_000, &store, &ext, &Limits::default());
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(
            value(&store, r#"probe:down{probe="checkout", team="shop"}"#),
            Some(1.0)
        );
        assert_eq!(
            value(
                &store,
                r#"ALERTS{alertname="CheckoutDown", alertstate="pending", probe="checkout", team="shop"}"#
            ),
            Some(1.0)
        );
        store.append(&down, Sample { t: 70_000, v: 0.0 });
        g.eval(80_000, &store, &ext, &Limits::default());
        assert_eq!(g.alerts().next().unwrap().state, AlertState::Firing);
        assert_eq!(
            value(&store, r#"ALERTS{alertname="CheckoutDown", alertstate="pending", probe="checkout", team="shop"}"#).map(|v| v.to_bits()),
            Some(STALE_NAN),
            "the pending series went stale when the alert fired"
        );
    }

    #[test]
    fn a_failing_rule_fails_alone() {
        let store = Store::in_memory(Duration::from_secs(3600));
        store.append(
            &Labels::from_pairs("a", [("x", "1")]),
            Sample { t: 0, v: 1.0 },
        );
        store.append(
            &Labels::from_pairs("b", [("x", "1")]),
            Sample { t: 0, v: 1.0 },
        );
        store.append(
            &Labels::from_pairs("b", [("x", "1"), ("y", "2")]),
            Sample { t: 0, v: 1.0 },
        );
        let mut g = group(
            "groups:\n  - name: g\n    rules:\n      - record: bad\n        expr: a + on(x) b\n      - record: good\n        expr: a * 2\n",
        );
        let out = g.eval(1000, &store, &BTreeMap::new(), &Limits::default());
        assert_eq!(out.failures.len(), 1);
        assert_eq!(out.failures[0].0, "bad");
        assert_eq!(g.rules[0].health, Health::Err);
        assert_eq!(g.rules[1].health, Health::Ok);
        assert_eq!(value(&store, r#"good{x="1"}"#), Some(2.0));
    }

    #[test]
    fn limits_fail_the_rule() {
        let store = Store::in_memory(Duration::from_secs(3600));
        for i in 0..3 {
            store.append(
                &Labels::from_pairs("up", [("i", &*i.to_string())]),
                Sample { t: 0, v: 1.0 },
            );
        }
        let mut g = group(
            "groups:\n  - name: g\n    limit: 2\n    rules:\n      - record: r\n        expr: up\n",
        );
        let out = g.eval(1000, &store, &BTreeMap::new(), &Limits::default());
        assert!(
            out.failures[0]
                .1
                .contains("exceeded limit of 2 with 3 series")
        );
        let tight = Limits {
            max_samples: 1,
            ..Limits::default()
        };
        let mut g =
            group("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(up)\n");
        let out = g.eval(1000, &store, &BTreeMap::new(), &tight);
        assert_eq!(
            out.failures.len(),
            1,
            "query over max_samples fails the rule"
        );
    }
}
