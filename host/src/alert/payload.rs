//! The bodies each kind of receiver expects (pure): Alertmanager API v2, the Alertmanager
//! webhook format (version 4), a Slack incoming-webhook message, PagerDuty Events API v2,
//! and the console line.
//!
//! Secrets are not part of a body: bodies are stored in the outbox, and the sender adds
//! the PagerDuty routing key and the auth headers when it sends.

use super::notice::{Notice, Status, rfc3339};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Alertmanager's "zero" time, which it writes for a firing alert's `endsAt` in webhooks.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `POST /api/v2/alerts`: a JSON array of postable alerts.
pub fn alertmanager(notices: &[Notice]) -> Value {
    Value::Array(
        notices
            .iter()
            .map(|n| {
                json!({
                    "labels": n.labels,
                    "annotations": n.annotations,
                    "startsAt": rfc3339(n.starts_at),
                    "endsAt": rfc3339(n.ends_at),
                    "generatorURL": n.generator_url,
                })
            })
            .collect(),
    )
}

fn common<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out: Option<BTreeMap<String, String>> = None;
    for m in maps {
        out = Some(match out {
            None => m.clone(),
            Some(mut c) => {
                c.retain(|k, v| m.get(k) == Some(v));
                c
            }
        });
    }
    out.unwrap_or_default()
}

/// The Alertmanager webhook payload (version "4"), grouped by `alertname`, so receivers
/// written for Alertmanager work unchanged.
pub fn webhook(receiver: &str, external_url: &str, notices: &[Notice]) -> Value {
    let alertname = notices.first().map_or("", |n| n.alertname());
    let status = if notices.iter().any(|n| n.status == Status::Firing) {
        "firing"
    } else {
        "resolved"
    };
    let group_labels = BTreeMap::from([("alertname".to_string(), alertname.to_string())]);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname={alertname:?}}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common(notices.iter().map(|n| &n.labels)),
        "commonAnnotations": common(notices.iter().map(|n| &n.annotations)),
        "externalURL": external_url,
        "alerts": notices.iter().map(|n| json!({
            "status": n.status.as_str(),
            "labels": n.labels,
            "annotations": n.annotations,
            "startsAt": rfc3339(n.starts_at),
            "endsAt": match n.status {
                Status::Firing => ZERO_TIME.to_string(),
                Status::Resolved => rfc3339(n.ends_at),
            },
            "generatorURL": n.generator_url,
            "fingerprint": n.fingerprint,
        })).collect::<Vec<_>>(),
    })
}

/// The labels worth a glance, without the ones every alert has.
fn label_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary(n: &Notice) -> String {
    n.annotations
        .get("summary")
        .or_else(|| n.annotations.get("description"))
        .cloned()
        .unwrap_or_else(|| format!("{} ({})", n.alertname(), label_text(&n.labels)))
}

/// A Slack incoming-webhook message: a header with the state, one section per alert with
/// its summary, severity and labels, and a "Runbook" button when `runbook_url` is set.
pub fn slack(channel: Option<&str>, notices: &[Notice]) -> Value {
    let alertname = notices.first().map_or("", |n| n.alertname());
    let firing = notices
        .iter()
        .filter(|n| n.status == Status::Firing)
        .count();
    let head = if firing > 0 {
        format!(":red_circle: FIRING: {alertname} ({firing})")
    } else {
        format!(":large_green_circle: RESOLVED: {alertname}")
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": head },
    })];
    for n in notices {
        let severity = n.labels.get("severity").map_or("none", String::as_str);
        let mut text = format!(
            "*{}* {}\n*Severity:* {severity}\n*Labels:* {}",
            n.status.as_str().to_uppercase(),
            summary(n),
            label_text(&n.labels)
        );
        if let Some(d) = n.annotations.get("description")
            && n.annotations.contains_key("summary")
        {
            text.push_str(&format!("\n{d}"));
        }
        let mut section = json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": text },
        });
        if let Some(url) = n.annotations.get("runbook_url") {
            section["accessory"] = json!({
                "type": "button",
                "text": { "type": "plain_text", "text": "Runbook" },
                "url": url,
            });
        }
        blocks.push(section);
    }
    let mut msg = json!({ "text": head, "blocks": blocks });
    if let Some(c) = channel {
        msg["channel"] = json!(c);
    }
    msg
}

/// PagerDuty's severity for an alert's `severity` label.
fn pagerduty_severity(labels: &BTreeMap<String, String>) -> &'static str {
    match labels
        .get("severity")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("critical" | "page" | "fatal") => "critical",
        Some("warning" | "warn" | "ticket") => "warning",
        Some("info" | "informational" | "none") => "info",
        _ => "error",
    }
}

/// PagerDuty Events API v2: one event per alert, `trigger` or `resolve`, with the alert's
/// fingerprint as `dedup_key` so a re-sent trigger is the same incident and the resolve
/// closes it. `routing_key` is added by the sender.
pub fn pagerduty(external_url: &str, n: &Notice) -> Value {
    if n.status == Status::Resolved {
        return json!({ "event_action": "resolve", "dedup_key": n.fingerprint });
    }
    let mut links = Vec::new();
    if let Some(url) = n.annotations.get("runbook_url") {
        links.push(json!({ "href": url, "text": "Runbook" }));
    }
    links.push(json!({ "href": n.generator_url, "text": "Rule expression" }));
    let source = n
        .labels
        .get("probe")
        .or_else(|| n.labels.get("instance"))
        .cloned()
        .unwrap_or_else(|| "vigil".to_string());
    json!({
        "event_action": "trigger",
        "dedup_key": n.fingerprint,
        "payload": {
            "summary": truncate(&format!("{}: {}", n.alertname(), summary(n)), 1024),
            "source": source,
            "severity": pagerduty_severity(&n.labels),
            "timestamp": rfc3339(n.starts_at),
            "component": n.labels.get("probe"),
            "group": n.labels.get("team").or_else(|| n.labels.get("job")),
            "class": n.alertname(),
            "custom_details": {
                "labels": n.labels,
                "annotations": n.annotations,
                "value": n.value,
            },
        },
        "links": links,
        "client": "vigil",
        "client_url": external_url,
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// One line for the terminal.
pub fn console_line(n: &Notice) -> String {
    let state = match n.status {
        Status::Firing => "FIRING  ",
        Status::Resolved => "RESOLVED",
    };
    let mut line = format!(
        "{} {state} {} {{{}}}: {}",
        rfc3339(match n.status {
            Status::Firing => n.starts_at,
            Status::Resolved => n.ends_at,
        }),
        n.alertname(),
        label_text(&n.labels),
        summary(n)
    );
    if let Some(url) = n.annotations.get("runbook_url") {
        line.push_str(&format!(" (runbook: {url})"));
    }
    line
}

#[cfg(test)]
mod tests;
