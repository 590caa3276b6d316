//! Alert delivery: what each notifier must be told after a rule evaluation ([`plan`]), the
//! payloads ([`payload`]), the durable outbox, alert state and history in
//! `state_dir/alerts.db` ([`db`]), and one delivery worker per notifier URL ([`sender`]).
//!
//! The promise is at-least-once: a notification is committed to the outbox in the same
//! transaction as the alert state that caused it, and deleted only after the receiver
//! answered 2xx. A crash between "accepted" and "deleted" means that one notification is
//! sent again after the restart; nothing is lost. Each URL's queue is delivered in order
//! (head-of-line retry), so a "resolved" never overtakes its "firing".

pub mod db;
pub mod notice;
pub mod payload;
pub mod plan;
pub mod sender;

use crate::config::{Config, NotifierConfig, NotifierKind};
use crate::rules::alerting::Alert;
use crate::rules::group::RuleGroup;
use crate::store::Labels;
use crate::telemetry::{Encoder, Histogram, Kind};
use db::{AlertDb, Commit, HistoryQuery, HistoryRow, NewItem};
use plan::{Notified, Settings, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use db::DbError;

/// Notifications sent in one request to an Alertmanager (its API takes an array).
const AM_BATCH: usize = 64;

/// Latency buckets (seconds) of `vigil_notification_latency_seconds`.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A queue: one notifier URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct QueueKey {
    notifier: String,
    /// Hash of the URL (URLs may carry secrets, e.g. Slack's).
    target: String,
}

struct Queue {
    wake: Notify,
    cancel: CancellationToken,
    /// Queued ids and when each was decided (ms), mirrored from the outbox for /metrics.
    queued: Mutex<BTreeMap<i64, i64>>,
}

#[derive(Default)]
struct NotifierStats {
    results: BTreeMap<&'static str, u64>,
    latency: Option<Histogram>,
}

/// Saved state of one alerting rule.
#[derive(Debug, Serialize, Deserialize)]
struct SavedRule {
    name: String,
    expr: String,
    labels: BTreeMap<String, String>,
    alerts: Vec<Alert>,
}

/// Alert delivery for the daemon.
pub struct Delivery {
    db: AlertDb,
    client: sender::HttpClient,
    notifiers: RwLock<Arc<Vec<NotifierConfig>>>,
    settings: RwLock<(String, BTreeMap<String, String>, Duration)>,
    notified: Mutex<Notified>,
    queues: Mutex<HashMap<QueueKey, Arc<Queue>>>,
    stats: Mutex<BTreeMap<String, NotifierStats>>,
    /// Last saved state of each group, with values zeroed, to skip unchanged writes.
    saved: Mutex<HashMap<(String, String), String>>,
}

/// The hash that names a URL in the outbox.
fn target_of(url: &str) -> String {
    notice::fingerprint(&BTreeMap::from([(String::new(), url.to_string())]))
}

fn now_ms() -> i64 {
    crate::store::millis(SystemTime::now())
}

impl Delivery {
    /// Open `state_dir/alerts.db` and load what notifiers were told.
    pub fn open(state_dir: &Path) -> Result<Delivery, DbError> {
        let db = AlertDb::open(state_dir)?;
        let notified = Notified::from_entries(db.notified()?);
        Ok(Delivery {
            db,
            client: sender::client(),
            notifiers: RwLock::new(Arc::new(Vec::new())),
            settings: RwLock::new((String::new(), BTreeMap::new(), Duration::from_secs(60))),
            notified: Mutex::new(notified),
            queues: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            saved: Mutex::new(HashMap::new()),
        })
    }

    /// The notifiers in force.
    pub fn notifiers(&self) -> Arc<Vec<NotifierConfig>> {
        self.notifiers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Install the notifiers of `config`: start a worker per URL (draining what an earlier
    /// life left queued), stop the workers and drop the queues of notifiers that are gone.
    pub fn configure(
        self: &Arc<Self>,
        config: &Config,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let g = &config.global;
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = (
            g.external_url.clone(),
            g.external_labels.clone(),
            g.resend_delay,
        );
        let notifiers = Arc::new(config.notifiers.clone());
        *self.notifiers.write().unwrap_or_else(|e| e.into_inner()) = notifiers.clone();
        let mut wanted: HashMap<QueueKey, ()> = HashMap::new();
        for n in notifiers.iter().filter(|n| n.kind != NotifierKind::Console) {
            for u in &n.urls {
                wanted.insert(
                    QueueKey {
                        notifier: n.name.clone(),
                        target: target_of(u),
                    },
                    (),
                );
            }
        }
        let leftover = self.db.queues().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the notification outbox");
            Vec::new()
        });
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.retain(|k, q| {
            let keep = wanted.contains_key(k);
            if !keep {
                q.cancel.cancel();
            }
            keep
        });
        for (notifier, target, items) in leftover {
            let key = QueueKey { notifier, target };
            if !wanted.contains_key(&key) {
                match self.db.drop_queue(&key.notifier, &key.target) {
                    Ok(n) if n > 0 => tracing::warn!(
                        notifier = %key.notifier, dropped = n,
                        "notifier (or this URL of it) is no longer configured: its queued notifications are dropped"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot drop a stale queue"),
                }
                continue;
            }
            if let Some(q) = queues.get(&key) {
                q.queued
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(items);
                continue;
            }
            let q = self.spawn_queue(&key, tasks, shutdown);
            q.queued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(items);
            queues.insert(key, q);
        }
        for key in wanted.into_keys() {
            if let std::collections::hash_map::Entry::Vacant(e) = queues.entry(key) {
                let q = self.spawn_queue(e.key(), tasks, shutdown);
                e.insert(q);
            }
        }
        drop(queues);
        let names: Vec<String> = notifiers.iter().map(|n| n.name.clone()).collect();
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        notified.retain_notifiers(&|n| names.iter().any(|x| x == n));
        let gone = notified.take_changes();
        drop(notified);
        if !gone.is_empty()
            && let Err(e) = self.db.commit(&Commit {
                notified: gone,
                ..Commit::default()
            })
        {
            tracing::error!(error = %e, "cannot save notifier state");
        }
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.retain(|n, _| names.contains(n));
        for n in &names {
            stats.entry(n.clone()).or_default();
        }
    }

    fn spawn_queue(
        self: &Arc<Self>,
        key: &QueueKey,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Arc<Queue> {
        let q = Arc::new(Queue {
            wake: Notify::new(),
            cancel: shutdown.child_token(),
            queued: Mutex::new(BTreeMap::new()),
        });
        let me = self.clone();
        let key = key.clone();
        let q2 = q.clone();
        tasks.spawn(async move { me.worker(key, q2).await });
        q
    }

    /// Restore a group's alert state saved by an earlier life (a rule keeps its alerts when
    /// its name, expression and labels are unchanged), so `for` timers carry on.
    pub fn restore(&self, group: &mut RuleGroup) {
        let file = group.spec.file.display().to_string();
        let saved = match self.db.group_state(&file, &group.spec.name) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, group = %group.spec.name, "cannot read saved alert state");
                return;
            }
        };
        let rules: Vec<SavedRule> = match serde_json::from_str(&saved) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, group = %group.spec.name, "saved alert state unreadable; starting fresh");
                return;
            }
        };
        let mut restored = 0;
        for rule in &mut group.rules {
            let Some(a) = &mut rule.alerting else {
                continue;
            };
            if let Some(s) = rules.iter().find(|s| {
                s.name == rule.spec.name && s.expr == rule.spec.expr && s.labels == rule.spec.labels
            }) {
                for alert in &s.alerts {
                    let key = Labels::from_vec(
                        alert
                            .labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    );
                    a.active.insert(key, alert.clone());
                    restored += 1;
                }
            }
        }
        if restored > 0 {
            tracing::info!(group = %group.spec.name, alerts = restored, "alert state restored");
        }
    }

    /// After `group` was evaluated at `ts`: record state changes in the history, decide the
    /// notifications, and commit all of it with the group's new state in one transaction;
    /// then wake the queues. `last_run` names the probe run behind an alert's `probe` label.
    pub fn after_eval(
        &self,
        group: &mut RuleGroup,
        before: &Snapshot,
        ts: i64,
        last_run: &dyn Fn(&str) -> Option<serde_json::Value>,
    ) {
        let notifiers = self.notifiers();
        let (external_url, external_labels, resend_delay) = self
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let transitions = plan::transitions(before, group, ts, &external_labels);
        let settings = Settings {
            notifiers: &notifiers,
            resend_delay,
            external_url: &external_url,
            external_labels: &external_labels,
        };
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        let outgoing = plan::plan(group, ts, &settings, &mut notified);
        let mut commit = Commit {
            notified: notified.take_changes(),
            ..Commit::default()
        };
        drop(notified);
        let file = group.spec.file.display().to_string();
        let group_name = format!("{file}:{}", group.spec.name);
        for t in &transitions {
            commit.history.push(HistoryRow {
                id: 0,
                at: t.at,
                group: group_name.clone(),
                rule: t.rule.clone(),
                fingerprint: t.fingerprint.clone(),
                labels: serde_json::to_string(&t.labels).unwrap_or_default(),
                from: t.from.as_str().to_string(),
                to: t.to.as_str().to_string(),
                value: t.value,
                probe_run: t
                    .labels
                    .get("probe")
                    .and_then(|p| last_run(p))
                    .map(|v| v.to_string()),
            });
            tracing::info!(
                alert = %t.rule, fingerprint = %t.fingerprint,
                from = t.from.as_str(), to = t.to.as_str(), "alert state changed"
            );
        }
        let mut wake: Vec<QueueKey> = Vec::new();
        for o in &outgoing {
            let cfg = &notifiers[o.notifier];
            let bodies: Vec<String> = match cfg.kind {
                NotifierKind::Console => {
                    // A closed stdout (`vigil demo | head`) must not take the daemon down.
                    let mut out = std::io::stdout().lock();
                    for n in &o.notices {
                        let _ = writeln!(out, "{}", payload::console_line(n));
                    }
                    let _ = out.flush();
                    self.count(&cfg.name, "success", o.notices.len() as u64);
                    continue;
                }
                NotifierKind::Alertmanager => vec![payload::alertmanager(&o.notices).to_string()],
                NotifierKind::Webhook => {
                    vec![payload::webhook(&cfg.name, &external_url, &o.notices).to_string()]
                }
                NotifierKind::Slack => {
                    vec![payload::slack(cfg.channel.as_deref(), &o.notices).to_string()]
                }
                NotifierKind::Pagerduty => o
                    .notices
                    .iter()
                    .map(|n| payload::pagerduty(&external_url, n).to_string())
                    .collect(),
            };
            for url in &cfg.urls {
                let target = target_of(url);
                for body in &bodies {
                    commit.outbox.push(NewItem {
                        notifier: cfg.name.clone(),
                        target: target.clone(),
                        body: body.clone(),
                        created_at: ts,
                    });
                }
                wake.push(QueueKey {
                    notifier: cfg.name.clone(),
                    target,
                });
            }
        }
        commit.group_state = self.state_if_changed(group);
        if commit.is_empty() {
            return;
        }
        let ids = match self.db.commit(&commit) {
            Ok(ids) => ids,
            Err(e) => {
                // The in-memory state moved on; the next evaluation's commit carries the
                // group state again, and Alertmanager alerts are re-sent by resend_delay.
                tracing::error!(error = %e, "cannot write alert state and notifications");
                self.saved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(file, group.spec.name.clone()));
                return;
            }
        };
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for (item, id) in commit.outbox.iter().zip(&ids) {
            let key = QueueKey {
                notifier: item.notifier.clone(),
                target: item.target.clone(),
            };
            if let Some(q) = queues.get(&key) {
                q.queued
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(*id, item.created_at);
            }
        }
        wake.dedup();
        for k in wake {
            if let Some(q) = queues.get(&k) {
                q.wake.notify_one();
            }
        }
    }

    /// The group's alert state as JSON when it differs from what was saved last (values
    /// aside: they change every evaluation and are not needed to resume).
    fn state_if_changed(&self, group: &RuleGroup) -> Option<((String, String), String)> {
        let rules: Vec<SavedRule> = group
            .rules
            .iter()
            .filter_map(|r| {
                let a = r.alerting.as_ref()?;
                let mut alerts: Vec<Alert> = a.active.values().cloned().collect();
                alerts.sort_by(|x, y| x.labels.cmp(&y.labels));
                Some(SavedRule {
                    name: r.spec.name.clone(),
                    expr: r.spec.expr.clone(),
                    labels: r.spec.labels.clone(),
                    alerts,
                })
            })
            .collect();
        let zeroed: Vec<SavedRule> = rules
            .iter()
            .map(|r| SavedRule {
                alerts: r
                    .alerts
                    .iter()
                    .map(|a| Alert {
                        value: 0.0,
                        annotations: BTreeMap::new(),
                        ..a.clone()
                    })
                    .collect(),
                name: r.name.clone(),
                expr: r.expr.clone(),
                labels: r.labels.clone(),
            })
            .collect();
        let signature = serde_json::to_string(&zeroed).ok()?;
        let key = (
            group.spec.file.display().to_string(),
            group.spec.name.clone(),
        );
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if saved.get(&key) == Some(&signature) {
            return None;
        }
        saved.insert(key.clone(), signature);
        Some((key, serde_json::to_string(&rules).ok()?))
    }

    fn count(&self, notifier: &str, result: &'static str, n: u64) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *stats
            .entry(notifier.to_string())
            .or_default()
            .results
            .entry(result)
            .or_default() += n;
    }

    fn observe_latency(&self, notifier: &str, d: Duration) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats
            .entry(notifier.to_string())
            .or_default()
            .latency
            .get_or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(d);
    }

    /// Deliver one queue, in order, until cancelled.
    async fn worker(self: Arc<Self>, key: QueueKey, q: Arc<Queue>) {
        loop {
            if q.cancel.is_cancelled() {
                return;
            }
            let Some(cfg) = self
                .notifiers()
                .iter()
                .find(|n| n.name == key.notifier)
                .cloned()
            else {
                return;
            };
            let Some(url) = cfg
                .urls
                .iter()
                .find(|u| target_of(u) == key.target)
                .cloned()
            else {
                return;
            };
            let limit = if cfg.kind == NotifierKind::Alertmanager {
                AM_BATCH
            } else {
                1
            };
            let me = self.clone();
            let (n, t) = (key.notifier.clone(), key.target.clone());
            let items = match tokio::task::spawn_blocking(move || me.db.head(&n, &t, limit)).await {
                Ok(Ok(items)) => items,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, notifier = %key.notifier, "cannot read the outbox");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
            let Some(head) = items.first() else {
                tokio::select! {
                    _ = q.wake.notified() => continue,
                    _ = q.cancel.cancelled() => return,
                }
            };
            let now = now_ms();
            if head.next_at > now {
                let wait = Duration::from_millis((head.next_at - now) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = q.cancel.cancelled() => return,
                }
                continue;
            }
            // Items retried together stay together; a batch never mixes in fresher items
            // that would be delayed by an older item's backoff.
            let batch: Vec<&db::Item> = items
                .iter()
                .take_while(|i| i.attempts == head.attempts && i.next_at <= now)
                .collect();
            let bodies: Vec<&str> = batch.iter().map(|i| i.body.as_str()).collect();
            let body = sender::request_body(&cfg, &bodies);
            let verdict = tokio::select! {
                v = sender::send(&self.client, &cfg, &url, body) => v,
                // An in-flight send is abandoned: the row stays and is sent after restart.
                _ = q.cancel.cancelled() => return,
            };
            let ids: Vec<i64> = batch.iter().map(|i| i.id).collect();
            let done = match &verdict {
                sender::Verdict::Accepted => {
                    let now = now_ms();
                    for i in &batch {
                        self.observe_latency(
                            &key.notifier,
                            Duration::from_millis((now - i.created_at).max(0) as u64),
                        );
                    }
                    self.count(&key.notifier, "success", ids.len() as u64);
                    tracing::debug!(notifier = %key.notifier, n = ids.len(), "notifications delivered");
                    true
                }
                sender::Verdict::Rejected(why) => {
                    self.count(&key.notifier, "rejected", ids.len() as u64);
                    tracing::error!(
                        notifier = %key.notifier, kind = cfg.kind.as_str(), n = ids.len(),
                        answer = %why,
                        "notification rejected by the receiver; not retried"
                    );
                    true
                }
                sender::Verdict::Retry(why) => {
                    self.count(&key.notifier, "retried", ids.len() as u64);
                    let wait = sender::backoff(head.attempts);
                    tracing::warn!(
                        notifier = %key.notifier, kind = cfg.kind.as_str(), n = ids.len(),
                        attempt = head.attempts + 1, error = %why,
                        retry_in = %crate::units::format_duration(wait),
                        "notification failed; will retry"
                    );
                    let me = self.clone();
                    let why = why.clone();
                    let ids2 = ids.clone();
                    let next = now_ms() + wait.as_millis() as i64;
                    let r =
                        tokio::task::spawn_blocking(move || me.db.retry(&ids2, next, &why)).await;
                    if let Ok(Err(e)) = r {
                        tracing::error!(error = %e, "cannot record a retry");
                    }
                    false
                }
            };
            if done {
                let me = self.clone();
                let ids2 = ids.clone();
                let r = tokio::task::spawn_blocking(move || me.db.delete(&ids2)).await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "cannot remove delivered notifications");
                }
                let mut queued = q.queued.lock().unwrap_or_else(|e| e.into_inner());
                for id in &ids {
                    queued.remove(id);
                }
            }
        }
    }

    /// Alert state changes, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, DbError> {
        self.db.history(q)
    }

    /// Notifications waiting, over all queues.
    pub fn queued(&self) -> usize {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|q| q.queued.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// vigil's notification metrics.
    pub fn encode(&self, enc: &mut Encoder) {
        let now = now_ms();
        let mut per: BTreeMap<String, (usize, Option<i64>)> = BTreeMap::new();
        for n in self.notifiers().iter() {
            per.entry(n.name.clone()).or_default();
        }
        for (k, q) in self.queues.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let queued = q.queued.lock().unwrap_or_else(|e| e.into_inner());
            let e = per.entry(k.notifier.clone()).or_default();
            e.0 += queued.len();
            let oldest = queued.values().min().copied();
            e.1 = match (e.1, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        enc.family(
            "vigil_notifications_total",
            Kind::Counter,
            "Notifications by notifier and result: success, retried (an attempt failed and will be retried), rejected (4xx, not retried).",
        );
        for (name, s) in stats.iter() {
            for result in ["success", "retried", "rejected"] {
                enc.sample(
                    "vigil_notifications_total",
                    [("notifier", name.as_str()), ("result", result)],
                    s.results.get(result).copied().unwrap_or(0) as f64,
                );
            }
        }
        enc.family(
            "vigil_notification_queue_length",
            Kind::Gauge,
            "Notifications in the outbox waiting for delivery.",
        );
        for (name, (len, _)) in &per {
            enc.sample(
                "vigil_notification_queue_length",
                [("notifier", name.as_str())],
                *len as f64,
            );
        }
        enc.family(
            "vigil_notification_oldest_queued_seconds",
            Kind::Gauge,
            "Age of the oldest notification waiting for delivery (0 when none).",
        );
        for (name, (_, oldest)) in &per {
            let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
            enc.sample(
                "vigil_notification_oldest_queued_seconds",
                [("notifier", name.as_str())],
                age,
            );
        }
        enc.histogram_family(
            "vigil_notification_latency_seconds",
            "From the evaluation that decided a notification to the receiver accepting it.",
        );
        for (name, s) in stats.iter() {
            if let Some(h) = &s.latency {
                h.encode_samples(
                    enc,
                    "vigil_notification_latency_seconds",
                    &[("notifier", name.as_str())],
                );
            }
        }
    }
}

/// The run record an alert's history entry points to.
pub fn run_summary(run: &crate::record::ProbeRun) -> serde_json::Value {
    serde_json::json!({
        "probe": run.probe,
        "started_at": humantime::format_rfc3339_millis(run.started_at).to_string(),
        "duration_seconds": run.duration.as_secs_f64(),
        "outcome": run.outcome.as_str(),
        "reason": run.reason.map(|r| r.as_str()),
        "message": run.message,
    })
}
