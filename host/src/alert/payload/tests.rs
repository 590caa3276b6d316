//! Snapshot tests: each payload for the same two alerts, compared with the checked-in JSON
//! in `snapshots/`. After an intended change, `VIGIL_UPDATE_SNAPSHOTS=1 cargo test -p vigil
//! --lib payload` rewrites them; review the diff like code.

use super::*;
use crate::alert::notice::fingerprint;
use std::path::PathBuf;

const T0: i64 = 1_764_072_000_000; // 2025-11-25T12:00:00Z

fn notices() -> Vec<Notice> {
    let firing_labels = BTreeMap::from([
        ("alertname".to_string(), "CheckoutDown".to_string()),
        ("probe".to_string(), "checkout".to_string()),
        ("severity".to_string(), "page".to_string()),
        ("team".to_string(), "shop".to_string()),
    ]);
    let mut resolved_labels = firing_labels.clone();
    resolved_labels.insert("probe".into(), "checkout-eu".into());
    let annotations = |p: &str| {
        BTreeMap::from([
            ("summary".to_string(), format!("{p} is failing")),
            (
                "description".to_string(),
                format!("The {p} probe failed its last 3 runs."),
            ),
            (
                "runbook_url".to_string(),
                "https://runbooks.example.com/checkout".to_string(),
            ),
        ])
    };
    vec![
        Notice {
            fingerprint: fingerprint(&firing_labels),
            status: Status::Firing,
            annotations: annotations("checkout"),
            labels: firing_labels,
            starts_at: T0,
            ends_at: T0 + 240_000,
            generator_url:
                "http://vigil.example:9464/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1".into(),
            value: 0.0,
        },
        Notice {
            fingerprint: fingerprint(&resolved_labels),
            status: Status::Resolved,
            annotations: annotations("checkout-eu"),
            labels: resolved_labels,
            starts_at: T0 - 600_000,
            ends_at: T0 - 60_000,
            generator_url:
                "http://vigil.example:9464/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1".into(),
            value: 1.0,
        },
    ]
}

fn check(name: &str, got: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/alert/payload/snapshots")
        .join(format!("{name}.json"));
    let got = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("VIGIL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with VIGIL_UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    assert_eq!(got, want, "payload {name} differs from {}", path.display());
}

#[test]
fn alertmanager_v2_snapshot() {
    check("alertmanager", &alertmanager(&notices()));
}

#[test]
fn webhook_snapshot() {
    let v = webhook("oncall", "http://vigil.example:9464", &notices());
    assert_eq!(v["status"], "firing", "firing when any alert fires");
    assert_eq!(v["commonLabels"]["team"], "shop");
    assert!(v["commonLabels"].get("probe").is_none());
    check("webhook", &v);
}

#[test]
fn slack_snapshot() {
    let v = slack(Some("#oncall"), &notices());
    assert_eq!(
        v["blocks"][1]["accessory"]["url"],
        "https://runbooks.example.com/checkout"
    );
    check("slack", &v);
}

#[test]
fn pagerduty_snapshots() {
    let n = notices();
    let trigger = pagerduty("http://vigil.example:9464", &n[0]);
    assert_eq!(trigger["dedup_key"], n[0].fingerprint.as_str());
    assert_eq!(trigger["payload"]["severity"], "critical");
    check("pagerduty-trigger", &trigger);
    let resolve = pagerduty("http://vigil.example:9464", &n[1]);
    assert_eq!(resolve["event_action"], "resolve");
    check("pagerduty-resolve", &resolve);
}

#[test]
fn console_lines() {
    let n = notices();
    assert_eq!(
        console_line(&n[0]),
        "2025-11-25T12:00:00.000Z FIRING   CheckoutDown {probe=checkout, severity=page, team=shop}: checkout is failing (runbook: https://runbooks.example.com/checkout)"
    );
    assert!(console_line(&n[1]).contains(" RESOLVED CheckoutDown "));
}
