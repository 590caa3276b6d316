//! Which notifications an evaluation calls for, and which alert state changes it made.
//!
//! Pure: it looks at a rule group right after [`RuleGroup::eval`] and the record of what
//! each notifier was already told, and returns notices. Alertmanager notifiers follow
//! Prometheus's `sendAlerts` exactly (every firing alert re-sent each `resend_delay`, valid
//! until `4 × max(resend_delay, interval)`; resolved alerts sent with `endsAt` = the resolve
//! time, re-sent while kept). The other notifiers are told on change: once when an alert
//! fires, again every `repeat_interval` while it keeps firing, once when it resolves.

use super::notice::{Notice, Status, fingerprint, generator_url};
use crate::config::{NotifierConfig, NotifierKind};
use crate::rules::alerting::{Alert, AlertState};
use crate::rules::group::RuleGroup;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Alert states of a group before an evaluation, by (rule index, alert labels).
#[derive(Debug, Default)]
pub struct Snapshot(HashMap<(usize, BTreeMap<String, String>), AlertState>);

/// Record the alert states of `group` (call before evaluating it).
pub fn snapshot(group: &RuleGroup) -> Snapshot {
    let mut s = HashMap::new();
    for (i, rule) in group.rules.iter().enumerate() {
        if let Some(a) = &rule.alerting {
            for alert in a.active.values() {
                s.insert((i, alert.labels.clone()), alert.state);
            }
        }
    }
    Snapshot(s)
}

/// One change of an alert's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alerting rule.
    pub rule: String,
    /// Fingerprint of the alert's labels (external labels included).
    pub fingerprint: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The state before.
    pub from: AlertState,
    /// The state after (`inactive` = resolved, or a pending alert that went away).
    pub to: AlertState,
    /// The value that drove it.
    pub value: f64,
    /// When (ms).
    pub at: i64,
}

/// What `eval` changed, comparing with the snapshot taken before it.
pub fn transitions(
    before: &Snapshot,
    group: &RuleGroup,
    ts: i64,
    external_labels: &BTreeMap<String, String>,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut still = std::collections::HashSet::new();
    for (i, rule) in group.rules.iter().enumerate() {
        let Some(a) = &rule.alerting else { continue };
        for alert in a.active.values() {
            let key = (i, alert.labels.clone());
            let from = before.0.get(&key).copied().unwrap_or(AlertState::Inactive);
            still.insert(key);
            if from != alert.state {
                let labels = with_external(&alert.labels, external_labels);
                out.push(Transition {
                    rule: rule.spec.name.clone(),
                    fingerprint: fingerprint(&labels),
                    labels,
                    from,
                    to: alert.state,
                    value: alert.value,
                    at: ts,
                });
            }
        }
    }
    // A pending alert whose condition went away is dropped, not resolved: still a change.
    for ((i, labels), from) in &before.0 {
        if *from != AlertState::Inactive && !still.contains(&(*i, labels.clone())) {
            let labels = with_external(labels, external_labels);
            out.push(Transition {
                rule: group
                    .rules
                    .get(*i)
                    .map_or(String::new(), |r| r.spec.name.clone()),
                fingerprint: fingerprint(&labels),
                labels,
                from: *from,
                to: AlertState::Inactive,
                value: f64::NAN,
                at: ts,
            });
        }
    }
    out.sort_by(|a, b| (&a.rule, &a.fingerprint).cmp(&(&b.rule, &b.fingerprint)));
    out
}

/// Which firing alerts each change-notified notifier (webhook, Slack, PagerDuty, console)
/// has been told about, and when last: (notifier name, fingerprint) → ms. Persisted, so a
/// restart does not page again for an alert that was already firing.
#[derive(Debug, Default, Clone)]
pub struct Notified {
    sent: BTreeMap<(String, String), i64>,
    changes: Vec<((String, String), Option<i64>)>,
}

impl Notified {
    /// Restore from saved entries.
    pub fn from_entries(entries: impl IntoIterator<Item = ((String, String), i64)>) -> Self {
        Notified {
            sent: entries.into_iter().collect(),
            changes: Vec::new(),
        }
    }

    /// When `notifier` was last told that alert `fp` fires, if it is still marked firing.
    pub fn get(&self, notifier: &str, fp: &str) -> Option<i64> {
        self.sent
            .get(&(notifier.to_string(), fp.to_string()))
            .copied()
    }

    fn set(&mut self, key: (String, String), v: Option<i64>) {
        match v {
            Some(t) => {
                self.sent.insert(key.clone(), t);
            }
            None => {
                self.sent.remove(&key);
            }
        }
        self.changes.push((key, v));
    }

    /// Changes since the last call, to persist (None = removed).
    pub fn take_changes(&mut self) -> Vec<((String, String), Option<i64>)> {
        std::mem::take(&mut self.changes)
    }

    /// Forget notifiers that are no longer configured.
    pub fn retain_notifiers(&mut self, keep: &dyn Fn(&str) -> bool) {
        let gone: Vec<_> = self
            .sent
            .keys()
            .filter(|(n, _)| !keep(n))
            .cloned()
            .collect();
        for k in gone {
            self.set(k, None);
        }
    }
}

/// Notices for one notifier from one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Index into the notifiers the plan was made for.
    pub notifier: usize,
    /// The rule (`alertname`) they are about.
    pub rule: String,
    /// What to tell it.
    pub notices: Vec<Notice>,
}

/// The settings a plan needs.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// Configured notifiers.
    pub notifiers: &'a [NotifierConfig],
    /// Prometheus's resend delay for Alertmanager.
    pub resend_delay: Duration,
    /// Links in alerts.
    pub external_url: &'a str,
    /// Added to every alert's labels (an alert's own label wins).
    pub external_labels: &'a BTreeMap<String, String>,
}

fn with_external(
    labels: &BTreeMap<String, String>,
    external: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    for (k, v) in external {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out
}

fn matches(n: &NotifierConfig, labels: &BTreeMap<String, String>) -> bool {
    n.matchers.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Decide what to send after `group` was evaluated at `ts` (ms). Marks `last_sent_at` on
/// alerts sent to Alertmanager, and records in `notified` what the other notifiers are told.
pub fn plan(
    group: &mut RuleGroup,
    ts: i64,
    settings: &Settings<'_>,
    notified: &mut Notified,
) -> Vec<Outgoing> {
    // Without notifiers there is nothing to decide; skip the per-alert work (labels,
    // fingerprints) that rule-heavy configs would otherwise pay on every evaluation.
    if settings.notifiers.is_empty() {
        return Vec::new();
    }
    let resend = settings.resend_delay.as_millis() as i64;
    let valid_for = 4 * resend.max(group.interval.as_millis() as i64);
    let mut out: Vec<Outgoing> = Vec::new();
    let has_am = settings
        .notifiers
        .iter()
        .any(|n| n.kind == NotifierKind::Alertmanager);
    for rule in &mut group.rules {
        let expr = rule.spec.expr.clone();
        let name = rule.spec.name.clone();
        let Some(a) = &mut rule.alerting else {
            continue;
        };
        let mut per_notifier: BTreeMap<usize, Vec<Notice>> = BTreeMap::new();
        let mut alerts: Vec<&mut Alert> = a.active.values_mut().collect();
        // Stable order: receivers and snapshots see alerts sorted by labels.
        alerts.sort_by(|x, y| x.labels.cmp(&y.labels));
        for alert in alerts {
            if alert.state == AlertState::Pending {
                continue;
            }
            let labels = with_external(&alert.labels, settings.external_labels);
            let fp = fingerprint(&labels);
            let notice = |status: Status, ends_at: i64| Notice {
                fingerprint: fp.clone(),
                status,
                labels: labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at: alert.fired_at.unwrap_or(alert.active_at),
                ends_at,
                generator_url: generator_url(settings.external_url, &expr),
                value: alert.value,
            };
            // Alertmanager: Prometheus's needsSending.
            if has_am {
                let last = alert.last_sent_at;
                let due = match (alert.resolved_at, last) {
                    (_, None) => true,
                    (Some(r), Some(l)) if r > l => true,
                    (_, Some(l)) => l + resend <= ts,
                };
                if due {
                    let n = match alert.resolved_at {
                        Some(r) if alert.state == AlertState::Inactive => {
                            notice(Status::Resolved, r)
                        }
                        _ => notice(Status::Firing, ts + valid_for),
                    };
                    for (i, cfg) in settings.notifiers.iter().enumerate() {
                        if cfg.kind == NotifierKind::Alertmanager && matches(cfg, &labels) {
                            per_notifier.entry(i).or_default().push(n.clone());
                        }
                    }
                    alert.last_sent_at = Some(ts);
                }
            }
            // The others: on change, and every repeat_interval while firing.
            for (i, cfg) in settings.notifiers.iter().enumerate() {
                if cfg.kind == NotifierKind::Alertmanager || !matches(cfg, &labels) {
                    continue;
                }
                let key = (cfg.name.clone(), fp.clone());
                let told = notified.get(&cfg.name, &fp);
                match alert.state {
                    AlertState::Firing => {
                        let repeat = cfg.repeat_interval.as_millis() as i64;
                        if told.is_none_or(|t| t + repeat <= ts) {
                            per_notifier
                                .entry(i)
                                .or_default()
                                .push(notice(Status::Firing, 0));
                            notified.set(key, Some(ts));
                        }
                    }
                    AlertState::Inactive => {
                        if told.is_some() {
                            let r = alert.resolved_at.unwrap_or(ts);
                            per_notifier
                                .entry(i)
                                .or_default()
                                .push(notice(Status::Resolved, r));
                            notified.set(key, None);
                        }
                    }
                    AlertState::Pending => {}
                }
            }
        }
        for (notifier, notices) in per_notifier {
            out.push(Outgoing {
                notifier,
                rule: name.clone(),
                notices,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
