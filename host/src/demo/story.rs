//! The story `vigil demo` tells: the shop is healthy, a fault is switched on, the alert
//! goes pending, then fires, the fault is healed, the alert resolves.
//!
//! An [`Observer`] polls the running daemon (probe runs, alert states) and the shop's
//! switches, and announces every change, whoever caused it; the story drives the switches
//! and waits for what the observer saw. If someone switches faults by hand while the
//! story runs, the story steps aside rather than undo their change.

use super::narrator::{Narrator, Tag};
use super::setup::{PROBES, SCENARIO_PROBE, STORY_ALERT, Timings, say_duration};
use super::shop::{Endpoint, Faults, Shop};
use crate::daemon::Daemon;
use crate::record::{Outcome, ProbeRun};
use crate::rules::alerting::AlertState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// The alert the rule engine generates for SLOs.
pub const SLO_ALERT: &str = "SLOErrorBudgetBurn";

/// How often the observer looks.
pub const POLL: Duration = Duration::from_millis(200);

/// A change of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    /// Its condition became true; it waits out `for`.
    Pending,
    /// It fired.
    Firing,
    /// It was firing and is not any more.
    Resolved,
    /// It was pending and went away before it fired.
    Cleared,
}

/// The event between two observed states of one alert (`None` = not active).
pub fn alert_event(before: Option<AlertState>, now: Option<AlertState>) -> Option<AlertEvent> {
    let active = |s: Option<AlertState>| s.filter(|s| *s != AlertState::Inactive);
    match (active(before), active(now)) {
        (None, Some(AlertState::Pending)) => Some(AlertEvent::Pending),
        (None | Some(AlertState::Pending), Some(AlertState::Firing)) => Some(AlertEvent::Firing),
        (Some(AlertState::Firing), None) => Some(AlertEvent::Resolved),
        (Some(AlertState::Pending), None) => Some(AlertEvent::Cleared),
        _ => None,
    }
}

/// What the observer knows of one alert.
#[derive(Debug, Clone)]
struct SeenAlert {
    name: String,
    state: AlertState,
    since: Instant,
}

/// An alert as read from the daemon.
struct AlertNow {
    key: String,
    name: String,
    state: AlertState,
    summary: Option<String>,
    runbook: Option<String>,
    hold: Duration,
}

/// What the observer knows of one probe.
#[derive(Debug, Clone)]
struct SeenProbe {
    started_at: SystemTime,
    outcome: Outcome,
    ok_streak: u32,
}

/// Watches the daemon and the shop, and says what changes.
pub struct Observer {
    daemon: Arc<Daemon>,
    faults: watch::Receiver<Faults>,
    probes: BTreeMap<String, SeenProbe>,
    alerts: BTreeMap<String, SeenAlert>,
    /// Every alert change seen, in order: (alert name, event).
    pub events: Vec<(String, AlertEvent)>,
    /// Whether the SLO's burn-rate alerts were explained already.
    explained_slo: bool,
}

impl Observer {
    /// Start watching.
    pub fn new(daemon: Arc<Daemon>, shop: &Shop) -> Observer {
        let mut faults = shop.watch_faults();
        faults.mark_unchanged();
        Observer {
            daemon,
            faults,
            probes: BTreeMap::new(),
            alerts: BTreeMap::new(),
            events: Vec::new(),
            explained_slo: false,
        }
    }

    /// Look once and announce what changed since the last look.
    pub fn poll(&mut self, n: &Narrator) {
        self.poll_faults(n);
        self.poll_probes(n);
        self.poll_alerts(n);
    }

    fn poll_faults(&mut self, n: &Narrator) {
        if !self.faults.has_changed().unwrap_or(false) {
            return;
        }
        let faults = self.faults.borrow_and_update().clone();
        if faults.is_healthy() {
            n.say(Tag::Healed, "every fault switched off");
        } else {
            n.say(Tag::Fault, faults.to_string());
        }
    }

    fn poll_probes(&mut self, n: &Narrator) {
        let active = self.daemon.active();
        for name in active.probes.keys() {
            let Some(run) = self.daemon.store.last_run(name) else {
                continue;
            };
            let before = self.probes.get(name).cloned();
            if before
                .as_ref()
                .is_some_and(|b| b.started_at == run.started_at)
            {
                continue;
            }
            let ok_streak = match (&before, run.outcome) {
                (Some(b), Outcome::Success) => b.ok_streak + 1,
                (None, Outcome::Success) => 1,
                _ => 0,
            };
            self.probes.insert(
                name.clone(),
                SeenProbe {
                    started_at: run.started_at,
                    outcome: run.outcome,
                    ok_streak,
                },
            );
            let changed = match &before {
                Some(b) => b.outcome != run.outcome,
                None => run.outcome != Outcome::Success,
            };
            if changed {
                announce_run(n, name, &run);
            }
        }
    }

    fn alerts_now(&self) -> Vec<AlertNow> {
        let mut out = Vec::new();
        for slot in &self.daemon.active().groups {
            let group = slot.group.lock().unwrap_or_else(|e| e.into_inner());
            for rule in group.rules.iter().filter_map(|r| r.alerting.as_ref()) {
                for a in rule.alerts() {
                    let key = a
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    out.push(AlertNow {
                        key,
                        name: rule.name.clone(),
                        state: a.state,
                        summary: a.annotations.get("summary").cloned(),
                        runbook: a.annotations.get("runbook_url").cloned(),
                        hold: rule.hold,
                    });
                }
            }
        }
        out
    }

    fn poll_alerts(&mut self, n: &Narrator) {
        let now = self.alerts_now();
        let mut gone: Vec<String> = self.alerts.keys().cloned().collect();
        for a in &now {
            gone.retain(|k| *k != a.key);
            let before = self.alerts.get(&a.key).map(|s| s.state);
            let Some(event) = alert_event(before, Some(a.state)) else {
                continue;
            };
            self.alerts.insert(
                a.key.clone(),
                SeenAlert {
                    name: a.name.clone(),
                    state: a.state,
                    since: Instant::now(),
                },
            );
            self.events.push((a.name.clone(), event));
            let summary = a.summary.as_deref().unwrap_or("");
            match event {
                AlertEvent::Pending => {
                    n.say(Tag::Pending, format!("{}  {summary}", n.bold(&a.name)));
                    n.more(format!(
                        "it fires if this is still true in {} (for: {})",
                        say_duration(a.hold),
                        say_duration(a.hold)
                    ));
                }
                AlertEvent::Firing => {
                    n.say(Tag::Firing, format!("{}  {summary}", n.bold(&a.name)));
                    if let Some(url) = &a.runbook {
                        n.more(format!("runbook: {url}"));
                    }
                    if a.name == SLO_ALERT && !self.explained_slo {
                        self.explained_slo = true;
                        n.more("burn-rate alerts have no for: they compare error ratios over two");
                        n.more("windows; with seconds of history, one failed run burns a lot");
                    }
                }
                AlertEvent::Resolved | AlertEvent::Cleared => {}
            }
        }
        for key in gone {
            let Some(seen) = self.alerts.remove(&key) else {
                continue;
            };
            let Some(event) = alert_event(Some(seen.state), None) else {
                continue;
            };
            self.events.push((seen.name.clone(), event));
            let took = say_duration(Duration::from_secs(seen.since.elapsed().as_secs().max(1)));
            match event {
                AlertEvent::Resolved => n.say(
                    Tag::Resolved,
                    format!("{}  after firing for {took}", n.bold(&seen.name)),
                ),
                _ => n.say(
                    Tag::Cleared,
                    format!("{}  went away before it fired", seen.name),
                ),
            }
        }
    }

    /// Whether `alert` had `event` among the events from index `since` on.
    fn saw(&self, since: usize, alert: &str, event: AlertEvent) -> bool {
        self.events[since.min(self.events.len())..]
            .iter()
            .any(|(a, e)| a == alert && *e == event)
    }

    /// Names of the alerts firing now.
    pub fn firing(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .alerts
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| a.name.clone())
            .collect();
        names.dedup();
        names
    }

    fn healthy(&self, runs_needed: u32) -> bool {
        PROBES.iter().all(|p| {
            self.probes
                .get(*p)
                .is_some_and(|s| s.outcome == Outcome::Success)
        }) && self
            .probes
            .get(SCENARIO_PROBE)
            .is_some_and(|s| s.ok_streak >= runs_needed)
            && self.alerts.is_empty()
    }
}

/// `checkout  failure: checkout: POST …: expected status 200, got 500 (…)`
fn announce_run(n: &Narrator, name: &str, run: &ProbeRun) {
    let message = run.message.as_deref().unwrap_or("");
    match run.outcome {
        Outcome::Success => n.say(
            Tag::Probe,
            format!(
                "{name}  ok again ({})",
                crate::units::format_duration(run.duration)
            ),
        ),
        Outcome::Degraded => n.say(Tag::Probe, format!("{name}  degraded: {message}")),
        Outcome::Failure => n.say(Tag::Probe, format!("{name}  failed: {message}")),
    }
}

/// `login 2.0ms · catalogue 1.1ms · cart 1.3ms · checkout 1.6ms`
fn steps_line(run: &ProbeRun) -> String {
    run.steps
        .iter()
        .map(|s| format!("{} {}", s.name, crate::units::format_duration(s.duration)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// How the story ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryEnd {
    /// Healthy → fault → pending → firing → healed → resolved.
    Told,
    /// Someone switched faults by hand; the story left the shop to them.
    SteppedAside,
}

/// The story did not finish in time.
#[derive(Debug, thiserror::Error)]
#[error("the story did not finish within {}: still waiting for {waiting_for}", say_duration(*.deadline))]
pub struct StoryTimeout {
    /// What the story was waiting for.
    pub waiting_for: String,
    /// The deadline, from the start of the demo.
    pub deadline: Duration,
}

/// Poll until `done` holds (`Ok(true)`) or `aside` does (`Ok(false)`: someone switched
/// faults by hand), or fail once `deadline` has passed.
async fn wait_for(
    obs: &mut Observer,
    n: &Narrator,
    deadline: (Instant, Duration),
    what: &str,
    done: impl Fn(&Observer) -> bool,
    aside: impl Fn() -> bool,
) -> Result<bool, StoryTimeout> {
    loop {
        obs.poll(n);
        if done(obs) {
            return Ok(true);
        }
        if aside() {
            return Ok(false);
        }
        if Instant::now() >= deadline.0 {
            return Err(StoryTimeout {
                waiting_for: what.to_string(),
                deadline: deadline.1,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Keep watching (and announcing) for `d`.
async fn linger(obs: &mut Observer, n: &Narrator, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        obs.poll(n);
        tokio::time::sleep(POLL).await;
    }
}

fn step_aside(n: &Narrator) -> StoryEnd {
    n.more("faults were switched by hand: the story steps aside");
    StoryEnd::SteppedAside
}

/// Tell the story once. `deadline` is the instant the whole story must be over by.
pub async fn tell(
    obs: &mut Observer,
    shop: &Shop,
    n: &Narrator,
    t: &Timings,
    deadline: Instant,
) -> Result<StoryEnd, StoryTimeout> {
    let deadline = (deadline, t.deadline);
    let touched = || !shop.faults().is_healthy();
    let healthy = |o: &Observer| o.healthy(t.healthy_runs);
    if !wait_for(obs, n, deadline, "every probe to pass", healthy, touched).await? {
        return Ok(step_aside(n));
    }
    n.say(Tag::Healthy, "every probe passes");
    if let Some(run) = obs.daemon.store.last_run(SCENARIO_PROBE) {
        n.more(format!(
            "{SCENARIO_PROBE}: {} in {}",
            steps_line(&run),
            crate::units::format_duration(run.duration)
        ));
    }
    linger(obs, n, t.linger).await;
    if touched() {
        return Ok(step_aside(n));
    }

    let fault = Faults {
        endpoint: Some(Endpoint::Checkout),
        error_rate: 1.0,
        ..Faults::default()
    };
    let mark = obs.events.len();
    shop.set_faults(fault.clone());
    obs.poll(n);
    n.more("the payment backend breaks; /healthz and the catalogue still answer fine,");
    n.more("so only the purchase scenario can tell that customers cannot pay");
    let touched = || shop.faults() != fault;
    for (what, event) in [
        ("go pending", AlertEvent::Pending),
        ("fire", AlertEvent::Firing),
    ] {
        let what = format!("{STORY_ALERT} to {what}");
        let seen = |o: &Observer| o.saw(mark, STORY_ALERT, event);
        if !wait_for(obs, n, deadline, &what, seen, touched).await? {
            return Ok(step_aside(n));
        }
    }
    linger(obs, n, t.linger).await;
    if touched() {
        return Ok(step_aside(n));
    }

    shop.set_faults(Faults::default());
    obs.poll(n);
    n.more("the payment backend is back; the next purchase run should pass");
    let what = format!("{STORY_ALERT} to resolve");
    let resolved = |o: &Observer| o.saw(mark, STORY_ALERT, AlertEvent::Resolved);
    if !wait_for(obs, n, deadline, &what, resolved, || {
        !shop.faults().is_healthy()
    })
    .await?
    {
        return Ok(step_aside(n));
    }
    Ok(StoryEnd::Told)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertState::*;

    #[test]
    fn alert_changes_read_like_prometheus() {
        assert_eq!(alert_event(None, Some(Pending)), Some(AlertEvent::Pending));
        assert_eq!(
            alert_event(Some(Inactive), Some(Pending)),
            Some(AlertEvent::Pending)
        );
        assert_eq!(
            alert_event(Some(Pending), Some(Firing)),
            Some(AlertEvent::Firing)
        );
        // `for: 0` fires at once: no pending step.
        assert_eq!(alert_event(None, Some(Firing)), Some(AlertEvent::Firing));
        assert_eq!(alert_event(Some(Firing), None), Some(AlertEvent::Resolved));
        assert_eq!(
            alert_event(Some(Firing), Some(Inactive)),
            Some(AlertEvent::Resolved)
        );
        assert_eq!(alert_event(Some(Pending), None), Some(AlertEvent::Cleared));
        assert_eq!(alert_event(Some(Firing), Some(Firing)), None);
        assert_eq!(alert_event(Some(Pending), Some(Pending)), None);
        assert_eq!(alert_event(None, None), None);
    }
}
