use super::*;
use crate::config::{Location, NotifierConfig, NotifierKind};
use crate::promql::Limits;
use crate::store::{Labels, Sample, Store};

const S: i64 = 1000;

fn group(hold: &str) -> RuleGroup {
    let text = format!(
        "groups:\n  - name: g\n    interval: 10s\n    rules:\n      - alert: ProbeDown\n        expr: probe_success == 0\n        for: {hold}\n        labels: {{ severity: page }}\n        annotations: {{ summary: \"{{{{ $labels.probe }}}} is down\" }}\n"
    );
    let (mut groups, _) = crate::rules::file::parse(std::path::Path::new("r.yml"), &text).unwrap();
    RuleGroup::new(groups.remove(0), Duration::from_secs(10))
}

fn notifier(kind: NotifierKind, name: &str, matchers: &[(&str, &str)]) -> NotifierConfig {
    NotifierConfig {
        kind,
        name: name.into(),
        urls: vec!["http://127.0.0.1:1/".into()],
        matchers: matchers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Duration::from_secs(5),
        repeat_interval: Duration::from_secs(3600),
        bearer_token: None,
        basic_auth: None,
        routing_key: None,
        channel: None,
        location: Location {
            file: "vigil.yaml".into(),
            line: 1,
            column: 1,
        },
    }
}

struct World {
    store: Store,
    group: RuleGroup,
    notifiers: Vec<NotifierConfig>,
    notified: Notified,
    ext: BTreeMap<String, String>,
}

impl World {
    fn new(hold: &str, notifiers: Vec<NotifierConfig>) -> World {
        World {
            store: Store::in_memory(Duration::from_secs(3600)),
            group: group(hold),
            notifiers,
            notified: Notified::default(),
            ext: BTreeMap::from([("site".to_string(), "eu1".to_string())]),
        }
    }

    /// The probe reports `up` at `t`, then the group is evaluated at `t`.
    fn step(&mut self, t: i64, up: bool) -> (Vec<Transition>, Vec<Outgoing>) {
        self.store.append(
            &Labels::from_pairs("probe_success", [("probe", "shop")]),
            Sample {
                t,
                v: if up { 1.0 } else { 0.0 },
            },
        );
        let before = snapshot(&self.group);
        self.group
            .eval(t, &self.store, &self.ext, &Limits::default());
        let tr = transitions(&before, &self.group, t, &self.ext);
        let settings = Settings {
            notifiers: &self.notifiers,
            resend_delay: Duration::from_secs(60),
            external_url: "http://vigil:9464",
            external_labels: &self.ext,
        };
        let out = plan(&mut self.group, t, &settings, &mut self.notified);
        (tr, out)
    }
}

fn statuses(out: &[Outgoing], notifier: usize) -> Vec<&'static str> {
    out.iter()
        .filter(|o| o.notifier == notifier)
        .flat_map(|o| o.notices.iter().map(|n| n.status.as_str()))
        .collect()
}

#[test]
fn alertmanager_gets_firing_resent_every_resend_delay_and_resolved_with_its_time() {
    let mut w = World::new("20s", vec![notifier(NotifierKind::Alertmanager, "am", &[])]);
    let (tr, out) = w.step(0, false);
    assert_eq!(tr.len(), 1);
    assert_eq!(
        (tr[0].from, tr[0].to),
        (AlertState::Inactive, AlertState::Pending)
    );
    assert!(out.is_empty(), "pending alerts are not sent");
    let (tr, out) = w.step(20 * S, false);
    assert_eq!(
        (tr[0].from, tr[0].to),
        (AlertState::Pending, AlertState::Firing)
    );
    assert_eq!(statuses(&out, 0), ["firing"]);
    let n = &out[0].notices[0];
    assert_eq!(n.starts_at, 20 * S);
    // endsAt = now + 4 × max(resend delay 60s, interval 10s).
    assert_eq!(n.ends_at, 20 * S + 4 * 60 * S);
    assert_eq!(n.labels["site"], "eu1", "external labels are added");
    assert_eq!(n.labels["alertname"], "ProbeDown");
    assert_eq!(n.annotations["summary"], "shop is down");
    assert_eq!(n.fingerprint, super::super::notice::fingerprint(&n.labels));
    assert!(
        n.generator_url
            .starts_with("http://vigil:9464/graph?g0.expr=probe_success")
    );
    // Not again before the resend delay, then again.
    assert!(w.step(50 * S, false).1.is_empty());
    assert_eq!(statuses(&w.step(80 * S, false).1, 0), ["firing"]);
    // Resolved: sent at once with endsAt = the resolve time.
    let (tr, out) = w.step(90 * S, true);
    assert_eq!(
        (tr[0].from, tr[0].to),
        (AlertState::Firing, AlertState::Inactive)
    );
    assert_eq!(statuses(&out, 0), ["resolved"]);
    assert_eq!(out[0].notices[0].ends_at, 90 * S);
    // Re-sent while kept, every resend delay, as Prometheus does.
    assert!(w.step(100 * S, true).1.is_empty());
    assert_eq!(statuses(&w.step(150 * S, true).1, 0), ["resolved"]);
}

#[test]
fn webhook_is_told_on_change_and_every_repeat_interval() {
    let mut hook = notifier(NotifierKind::Webhook, "hook", &[]);
    hook.repeat_interval = Duration::from_secs(120);
    let mut w = World::new("0s", vec![hook]);
    assert_eq!(
        statuses(&w.step(0, false).1, 0),
        ["firing"],
        "for: 0s fires at once"
    );
    assert!(w.step(60 * S, false).1.is_empty());
    assert_eq!(statuses(&w.step(120 * S, false).1, 0), ["firing"], "repeat");
    assert_eq!(statuses(&w.step(130 * S, true).1, 0), ["resolved"]);
    assert!(w.step(200 * S, true).1.is_empty(), "resolved is told once");
    // The record of what was told is what gets persisted.
    let changes = w.notified.take_changes();
    assert_eq!(changes.len(), 3);
    assert!(changes.last().unwrap().1.is_none());
}

#[test]
fn a_restored_record_means_no_second_page() {
    let mut w = World::new("0s", vec![notifier(NotifierKind::Pagerduty, "pd", &[])]);
    let out = w.step(0, false).1;
    assert_eq!(statuses(&out, 0), ["firing"]);
    let fp = out[0].notices[0].fingerprint.clone();
    // "Restart": a fresh record from the saved entries, the group's alert state restored.
    let saved: Vec<_> = w.notified.sent.clone().into_iter().collect();
    w.notified = Notified::from_entries(saved);
    assert_eq!(w.notified.get("pd", &fp), Some(0));
    assert!(w.step(10 * S, false).1.is_empty(), "no new page");
    assert_eq!(statuses(&w.step(20 * S, true).1, 0), ["resolved"]);
}

#[test]
fn matchers_route_alerts() {
    let mut w = World::new(
        "0s",
        vec![
            notifier(NotifierKind::Webhook, "pages", &[("severity", "page")]),
            notifier(NotifierKind::Slack, "tickets", &[("severity", "ticket")]),
            notifier(NotifierKind::Console, "site", &[("site", "eu1")]),
        ],
    );
    let out = w.step(0, false).1;
    assert_eq!(statuses(&out, 0), ["firing"]);
    assert!(statuses(&out, 1).is_empty());
    assert_eq!(
        statuses(&out, 2),
        ["firing"],
        "external labels take part in matching"
    );
}

#[test]
fn a_pending_alert_that_goes_away_is_a_transition_but_no_notice() {
    let mut w = World::new("1m", vec![notifier(NotifierKind::Webhook, "hook", &[])]);
    w.step(0, false);
    let (tr, out) = w.step(10 * S, true);
    assert_eq!(tr.len(), 1);
    assert_eq!(
        (tr[0].from, tr[0].to),
        (AlertState::Pending, AlertState::Inactive)
    );
    assert!(out.is_empty());
}
