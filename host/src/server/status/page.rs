//! The status page's HTML: the overview at `/` (alerts, SLOs, probes) and a probe's page
//! (its last run in detail and its history), rendered from plain view values.
//!
//! Pure: the handlers gather a snapshot of the daemon's state and the time into the view
//! structs below; rendering reads nothing else. Every piece of user-controlled text goes
//! through [`Esc`], every followed link through [`safe_href`]; the page references only
//! vigil's own `/static/` assets.

use super::chart::{self, Point, Stats, outcome_class};
use super::text::{Esc, compact, from_millis, iso, objective, percent, relative, safe_href};
use crate::record::{HttpExchange, Outcome, ProbeRun};
use crate::rules::alerting::AlertState;
use crate::units::{format_duration, format_size};
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Seconds between refreshes (in place with JavaScript, a meta refresh without).
pub const REFRESH_SECS: u32 = 5;

/// What the header shows.
#[derive(Debug, Clone)]
pub struct Header {
    /// vigil's version.
    pub version: &'static str,
    /// The config file in force.
    pub config_path: String,
    /// How long vigil has been up.
    pub uptime: Duration,
    /// The time the snapshot was taken.
    pub now: SystemTime,
    /// Cache-busting suffix of the asset URLs.
    pub asset_version: String,
}

/// A probe as the overview lists it.
#[derive(Debug, Clone)]
pub struct ProbeRow {
    /// Name.
    pub name: String,
    /// `builtin:NAME` or the component path.
    pub source: String,
    /// Schedule as written.
    pub schedule: String,
    /// Labels from the config.
    pub labels: BTreeMap<String, String>,
    /// A run is in flight.
    pub running: bool,
    /// When the next tick fires.
    pub next_run: Option<SystemTime>,
    /// The last run.
    pub last: Option<Arc<ProbeRun>>,
    /// Recent runs, oldest first.
    pub history: Vec<Point>,
    /// Ticks skipped because a run was still going.
    pub skipped_ticks: u64,
}

/// A pending or firing alert.
#[derive(Debug, Clone)]
pub struct AlertRow {
    /// Its labels (`alertname` among them).
    pub labels: BTreeMap<String, String>,
    /// Its annotations, templates expanded.
    pub annotations: BTreeMap<String, String>,
    /// Pending or firing.
    pub state: AlertState,
    /// When the condition became true (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// The rule group it belongs to.
    pub group: String,
}

impl AlertRow {
    fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// Order alerts for people: firing before pending, pages before tickets, oldest first.
pub fn sort_alerts(alerts: &mut [AlertRow]) {
    let severity = |a: &AlertRow| match a.labels.get("severity").map(String::as_str) {
        Some("critical" | "page") => 0,
        Some("error" | "high") => 1,
        Some("warning" | "ticket") => 2,
        _ => 3,
    };
    alerts.sort_by(|a, b| {
        let state = |a: &AlertRow| u8::from(a.state != AlertState::Firing);
        (state(a), severity(a), a.active_at, a.name()).cmp(&(
            state(b),
            severity(b),
            b.active_at,
            b.name(),
        ))
    });
}

/// How the rules are doing.
#[derive(Debug, Clone, Default)]
pub struct RuleHealth {
    /// Rule groups.
    pub groups: usize,
    /// Alerting rules.
    pub alerting: usize,
    /// Recording rules.
    pub recording: usize,
    /// Rules whose last evaluation failed: (group, rule, error).
    pub failing: Vec<(String, String, String)>,
}

/// An SLO and where its error budget stands.
#[derive(Debug, Clone)]
pub struct SloRow {
    /// Name.
    pub name: String,
    /// Objective in percent (`99.9`).
    pub objective: f64,
    /// The SLO window.
    pub window: Duration,
    /// The probe name or expression.
    pub sli: String,
    /// `slo:error_budget_remaining:ratio` now.
    pub budget_remaining: Option<f64>,
    /// Error ratio over the whole window.
    pub error_ratio: Option<f64>,
    /// Error ratio over 1h and 6h (the page alerts' long windows).
    pub error_1h: Option<f64>,
    /// Error ratio over 6h.
    pub error_6h: Option<f64>,
}

impl SloRow {
    fn budget(&self) -> f64 {
        1.0 - self.objective / 100.0
    }

    fn burn(&self, error: Option<f64>) -> Option<f64> {
        let b = self.budget();
        error.filter(|_| b > 0.0).map(|e| e / b)
    }
}

/// Everything the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Header facts.
    pub header: Header,
    /// Probes.
    pub probes: Vec<ProbeRow>,
    /// Firing and pending alerts, in display order.
    pub alerts: Vec<AlertRow>,
    /// Rule health.
    pub rules: RuleHealth,
    /// SLOs.
    pub slos: Vec<SloRow>,
}

/// Everything a probe's page shows.
#[derive(Debug, Clone)]
pub struct ProbeDetail {
    /// Header facts.
    pub header: Header,
    /// The probe, with its in-memory history (the retention window).
    pub probe: ProbeRow,
    /// Recent runs from the state directory, newest first, or why they could not be read.
    pub runs: Result<Vec<ProbeRun>, String>,
    /// Alerts that carry this probe's label.
    pub alerts: Vec<AlertRow>,
}

/// Render into a String (writing to one cannot fail).
fn render(f: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::with_capacity(32 * 1024);
    f(&mut out).expect("writing to a String cannot fail");
    out
}

/// The overview page.
pub fn overview(o: &Overview) -> String {
    render(|out| {
        let firing = o
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .count();
        let title = if firing > 0 {
            format!("({firing} firing) vigil status")
        } else {
            "vigil status".to_string()
        };
        layout_start(out, &title, &o.header, "overview")?;
        summary(out, o)?;
        alerts_section(out, &o.alerts, &o.rules, o.header.now, true)?;
        probes_section(out, &o.probes, o.header.now)?;
        if !o.slos.is_empty() {
            slos_section(out, &o.slos)?;
        }
        layout_end(out)
    })
}

/// A probe's page.
pub fn probe_page(p: &ProbeDetail) -> String {
    render(|out| {
        let now = p.header.now;
        let probe = &p.probe;
        layout_start(out, &format!("{} · vigil", probe.name), &p.header, "probe")?;
        write!(
            out,
            r#"<nav class="crumbs"><a href="/">← All probes</a></nav><section class="probe-head"><h1>{}"#,
            Esc(&probe.name)
        )?;
        badge(out, probe.last.as_ref().map(|r| r.outcome), probe.running)?;
        out.write_str("</h1>")?;
        write!(
            out,
            r#"<form method="post" action="/probes/{}/run" class="run-now"><button type="submit">Run now</button></form></section>"#,
            Esc(&probe.name)
        )?;
        out.write_str(r#"<dl class="facts">"#)?;
        fact(out, "Probe", &probe.source)?;
        fact(out, "Schedule", &probe.schedule)?;
        if let Some(next) = probe.next_run {
            write!(out, "<div><dt>Next run</dt><dd>")?;
            next_el(out, now, next)?;
            out.write_str("</dd></div>")?;
        }
        if probe.skipped_ticks > 0 {
            fact(
                out,
                "Skipped ticks",
                &format!("{} (a run was still going)", probe.skipped_ticks),
            )?;
        }
        if !probe.labels.is_empty() {
            out.write_str("<div><dt>Labels</dt><dd>")?;
            labels(out, &probe.labels, &[])?;
            out.write_str("</dd></div>")?;
        }
        out.write_str("</dl>")?;

        if !p.alerts.is_empty() {
            alerts_section(out, &p.alerts, &RuleHealth::default(), now, false)?;
        }

        let st = Stats::of(&probe.history);
        out.write_str(
            r#"<section class="card"><div class="card-head"><h2>Latency and outcome</h2>"#,
        )?;
        if let Some(r) = st.ok_ratio() {
            write!(
                out,
                r#"<p class="muted">{} runs in memory · {} worked · median {} · p95 {} · max {}</p>"#,
                st.runs,
                percent(r),
                format_duration(Duration::from_secs_f64(st.p50)),
                format_duration(Duration::from_secs_f64(st.p95)),
                format_duration(Duration::from_secs_f64(st.max)),
            )?;
        }
        out.write_str("</div>")?;
        out.write_str(&chart::latency_chart(
            &probe.history,
            crate::store::millis(now),
        ))?;
        legend(out)?;
        out.write_str("</section>")?;

        match &probe.last {
            Some(run) => last_run(out, run, now)?,
            None => out.write_str(
                r#"<section class="card"><h2>Last run</h2><p class="muted">No run yet: the first one is scheduled.</p></section>"#,
            )?,
        }
        runs_table(out, &p.runs, now)?;
        layout_end(out)
    })
}

/// The page for a probe that is not configured.
pub fn not_found(header: &Header, name: &str) -> String {
    render(|out| {
        layout_start(out, "Not found · vigil", header, "missing")?;
        write!(
            out,
            r#"<section class="card"><h1>No probe named “{}”</h1><p>It is not in the configuration in force. <a href="/">See all probes</a>.</p></section>"#,
            Esc(name)
        )?;
        layout_end(out)
    })
}

fn layout_start(out: &mut String, title: &str, h: &Header, page: &str) -> fmt::Result {
    let v = Esc(&h.asset_version);
    write!(
        out,
        r#"<!doctype html>
<html lang="en" data-refresh="{REFRESH_SECS}" data-page="{page}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{}</title>
<link rel="icon" type="image/svg+xml" href="/static/favicon.svg?v={v}">
<link rel="stylesheet" href="/static/style.css?v={v}">
<script src="/static/status.js?v={v}" defer></script>
<noscript><meta http-equiv="refresh" content="{}"></noscript>
</head>
<body>
<div id="page">
<header class="top"><a class="brand" href="/"><img src="/static/favicon.svg?v={v}" alt="" width="24" height="24"><span>vigil</span></a><span class="version">v{}</span>"#,
        Esc(title),
        REFRESH_SECS * 2,
        Esc(h.version),
    )?;
    write!(
        out,
        r#"<dl class="meta"><div><dt>config</dt><dd><code>{}</code></dd></div><div><dt>up</dt><dd>{}</dd></div><div><dt>updated</dt><dd><time datetime="{}" data-rel>just now</time></dd></div></dl><span id="live" class="live" role="status" aria-live="polite"></span></header>
<main>"#,
        Esc(&h.config_path),
        compact(Duration::from_secs(h.uptime.as_secs())),
        iso(h.now),
    )
}

fn layout_end(out: &mut String) -> fmt::Result {
    out.write_str(
        r#"</main>
<footer><span>Machine-readable:</span> <a href="/metrics">/metrics</a> <a href="/api/v1/probes">/api/v1/probes</a> <a href="/api/v1/alerts">/api/v1/alerts</a> <a href="/api/v1/rules">/api/v1/rules</a></footer>
</div>
</body>
</html>
"#,
    )
}

fn fact(out: &mut String, name: &str, value: &str) -> fmt::Result {
    write!(
        out,
        "<div><dt>{}</dt><dd>{}</dd></div>",
        Esc(name),
        Esc(value)
    )
}

fn time_el(out: &mut String, now: SystemTime, t: SystemTime) -> fmt::Result {
    let at = iso(t);
    write!(
        out,
        r#"<time datetime="{at}" title="{at}" data-rel>{}</time>"#,
        relative(now, t)
    )
}

/// When a tick is due: "in 3s", or "due" once that moment has passed (the run is queued
/// behind others or starting).
fn next_el(out: &mut String, now: SystemTime, t: SystemTime) -> fmt::Result {
    let at = iso(t);
    let text = if t <= now {
        "due".to_string()
    } else {
        relative(now, t)
    };
    write!(
        out,
        r#"<time datetime="{at}" title="{at}" data-rel="next">{text}</time>"#
    )
}

fn badge(out: &mut String, outcome: Option<Outcome>, running: bool) -> fmt::Result {
    let (class, text) = match outcome {
        Some(o) => (outcome_class(o), o.as_str()),
        None if running => ("o-running", "running"),
        None => ("o-none", "no runs yet"),
    };
    write!(out, r#"<span class="badge {class}">{text}</span>"#)
}

fn state_badge(out: &mut String, state: AlertState) -> fmt::Result {
    write!(
        out,
        r#"<span class="badge a-{0}">{0}</span>"#,
        state.as_str()
    )
}

fn labels(out: &mut String, labels: &BTreeMap<String, String>, skip: &[&str]) -> fmt::Result {
    out.write_str(r#"<ul class="labels">"#)?;
    for (k, v) in labels {
        if skip.contains(&k.as_str()) {
            continue;
        }
        write!(
            out,
            r#"<li><span class="k">{}</span>=<span class="v">{}</span></li>"#,
            Esc(k),
            Esc(v)
        )?;
    }
    out.write_str("</ul>")
}

fn legend(out: &mut String) -> fmt::Result {
    out.write_str(
        r#"<p class="legend"><span class="key o-success"></span>success <span class="key o-degraded"></span>degraded <span class="key o-failure"></span>failure</p>"#,
    )
}

fn summary(out: &mut String, o: &Overview) -> fmt::Result {
    let count = |outcome| {
        o.probes
            .iter()
            .filter(|p| p.last.as_ref().map(|r| r.outcome) == Some(outcome))
            .count()
    };
    let (failing, degraded, ok) = (
        count(Outcome::Failure),
        count(Outcome::Degraded),
        count(Outcome::Success),
    );
    let firing = o
        .alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let pending = o.alerts.len() - firing;
    let slo_out = o
        .slos
        .iter()
        .filter(|s| s.budget_remaining.is_some_and(|b| b <= 0.0))
        .count();
    let (level, headline) = if firing > 0 || failing > 0 {
        let mut parts = Vec::new();
        if firing > 0 {
            parts.push(plural(firing, "alert firing", "alerts firing"));
        }
        if failing > 0 {
            parts.push(plural(failing, "probe failing", "probes failing"));
        }
        ("bad", parts.join(", "))
    } else if pending > 0 || degraded > 0 || slo_out > 0 {
        ("warn", "Degraded: something needs a look".to_string())
    } else if o.probes.iter().all(|p| p.last.is_none()) && !o.probes.is_empty() {
        ("none", "Waiting for the first runs".to_string())
    } else {
        ("ok", "All probes passing, no alerts".to_string())
    };
    write!(
        out,
        r#"<section class="summary {level}"><h1>{}</h1><ul class="tiles">"#,
        Esc(&headline)
    )?;
    tile(
        out,
        "#probes",
        &o.probes.len().to_string(),
        "probes",
        &[
            (ok, "ok", "o-success"),
            (degraded, "degraded", "o-degraded"),
            (failing, "failing", "o-failure"),
        ],
    )?;
    tile(
        out,
        "#alerts",
        &firing.to_string(),
        "firing",
        &[(pending, "pending", "a-pending")],
    )?;
    if !o.slos.is_empty() {
        let within = o.slos.len() - slo_out;
        tile(
            out,
            "#slos",
            &format!("{within}/{}", o.slos.len()),
            "SLOs within budget",
            &[],
        )?;
    }
    tile(
        out,
        if o.rules.failing.is_empty() {
            "#alerts"
        } else {
            "#rules"
        },
        &(o.rules.alerting + o.rules.recording).to_string(),
        "rules",
        &[(o.rules.failing.len(), "failing to evaluate", "o-failure")],
    )?;
    out.write_str("</ul></section>")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn tile(
    out: &mut String,
    href: &str,
    big: &str,
    what: &str,
    parts: &[(usize, &str, &str)],
) -> fmt::Result {
    write!(
        out,
        r#"<li><a href="{href}"><span class="big">{}</span><span class="what">{}</span>"#,
        Esc(big),
        Esc(what)
    )?;
    for (n, name, class) in parts {
        if *n > 0 {
            write!(
                out,
                r#"<span class="part {class}">{n} {}</span>"#,
                Esc(name)
            )?;
        }
    }
    out.write_str("</a></li>")
}

fn alerts_section(
    out: &mut String,
    alerts: &[AlertRow],
    rules: &RuleHealth,
    now: SystemTime,
    overview: bool,
) -> fmt::Result {
    out.write_str(r#"<section class="card" id="alerts"><div class="card-head"><h2>Alerts</h2>"#)?;
    if overview {
        write!(
            out,
            r#"<p class="muted">{} in {}</p>"#,
            plural(rules.alerting, "alerting rule", "alerting rules"),
            plural(rules.groups, "group", "groups")
        )?;
    }
    out.write_str("</div>")?;
    if alerts.is_empty() {
        out.write_str(r#"<p class="quiet">No alerts pending or firing.</p>"#)?;
    } else {
        out.write_str(r#"<ul class="alerts">"#)?;
        for card in group_alerts(alerts) {
            alert_card(out, &card, now, overview)?;
        }
        out.write_str("</ul>")?;
    }
    if !rules.failing.is_empty() {
        out.write_str(
            r#"<div class="rule-errors" id="rules"><h3>Rules failing to evaluate</h3><ul>"#,
        )?;
        for (group, rule, error) in &rules.failing {
            write!(
                out,
                "<li><code>{}</code> in group <code>{}</code>: {}</li>",
                Esc(rule),
                Esc(group),
                Esc(error)
            )?;
        }
        out.write_str("</ul></div>")?;
    }
    out.write_str("</section>")
}

/// Alerts of the same rule, state and severity share a card (twenty probes down are one
/// card of twenty lines, not twenty cards), in the order of their first member.
fn group_alerts(alerts: &[AlertRow]) -> Vec<Vec<&AlertRow>> {
    let mut cards: Vec<Vec<&AlertRow>> = Vec::new();
    let key = |a: &AlertRow| {
        (
            a.group.clone(),
            a.name().to_string(),
            a.state,
            a.labels.get("severity").cloned(),
        )
    };
    for a in alerts {
        match cards.iter_mut().find(|c| key(c[0]) == key(a)) {
            Some(card) => card.push(a),
            None => cards.push(vec![a]),
        }
    }
    cards
}

fn since(out: &mut String, a: &AlertRow, now: SystemTime) -> fmt::Result {
    out.write_str(r#"<span class="since">"#)?;
    match (a.state, a.fired_at) {
        (AlertState::Firing, Some(f)) => {
            out.write_str("firing since ")?;
            time_el(out, now, from_millis(f))?;
        }
        _ => {
            out.write_str("pending since ")?;
            time_el(out, now, from_millis(a.active_at))?;
        }
    }
    out.write_str("</span>")
}

fn runbook(out: &mut String, url: &str) -> fmt::Result {
    match safe_href(url) {
        Some(href) => write!(
            out,
            r#"<a class="runbook" href="{}" rel="noopener noreferrer" target="_blank">Runbook ↗</a>"#,
            Esc(href)
        ),
        None => write!(
            out,
            r#"<span class="runbook-text">Runbook: <code>{}</code></span>"#,
            Esc(url)
        ),
    }
}

/// Summary, description and any other annotations of one alert.
fn alert_text(out: &mut String, a: &AlertRow) -> fmt::Result {
    let summary = a.annotations.get("summary");
    let description = a.annotations.get("description");
    if summary.is_some() || description.is_some() {
        out.write_str(r#"<p class="alert-text">"#)?;
        if let Some(s) = summary {
            write!(out, r#"<span class="summary-text">{}</span> "#, Esc(s))?;
        }
        if let Some(d) = description {
            write!(out, r#"<span class="description">{}</span>"#, Esc(d))?;
        }
        out.write_str("</p>")?;
    }
    let others: Vec<_> = a
        .annotations
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "summary" | "description" | "runbook_url"))
        .collect();
    if !others.is_empty() {
        out.write_str(r#"<dl class="annotations">"#)?;
        for (k, v) in others {
            write!(out, "<div><dt>{}</dt><dd>", Esc(k))?;
            link_or_text(out, v, "")?;
            out.write_str("</dd></div>")?;
        }
        out.write_str("</dl>")?;
    }
    Ok(())
}

fn alert_card(
    out: &mut String,
    items: &[&AlertRow],
    now: SystemTime,
    link_probe: bool,
) -> fmt::Result {
    let first = items[0];
    write!(
        out,
        r#"<li class="alert a-{}"><div class="alert-head"><strong class="alertname">{}</strong>"#,
        first.state.as_str(),
        Esc(first.name())
    )?;
    state_badge(out, first.state)?;
    if let Some(sev) = first.labels.get("severity") {
        write!(out, r#"<span class="sev">{}</span>"#, Esc(sev))?;
    }
    if items.len() > 1 {
        write!(out, r#"<span class="count">×{}</span>"#, items.len())?;
    }
    // The card is as old as its oldest alert.
    let oldest = items
        .iter()
        .min_by_key(|a| a.fired_at.unwrap_or(a.active_at))
        .unwrap_or(&first);
    since(out, oldest, now)?;
    out.write_str("</div>")?;

    // What all members share is said once; what tells them apart, per line.
    let skip = ["alertname", "severity"];
    let common: BTreeMap<String, String> = first
        .labels
        .iter()
        .filter(|(k, v)| {
            !skip.contains(&k.as_str()) && items.iter().all(|a| a.labels.get(*k) == Some(*v))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let shared_runbook = first.annotations.get("runbook_url").filter(|u| {
        items
            .iter()
            .all(|a| a.annotations.get("runbook_url") == Some(*u))
    });
    let probe_link = |out: &mut String, a: &AlertRow| -> fmt::Result {
        match a.labels.get("probe") {
            Some(probe) if link_probe => write!(
                out,
                r#"<a class="to-probe" href="/probes/{}">Probe {} →</a>"#,
                Esc(&path_segment(probe)),
                Esc(probe)
            ),
            _ => Ok(()),
        }
    };

    if let [a] = items {
        alert_text(out, a)?;
    } else {
        out.write_str(r#"<ul class="instances">"#)?;
        for a in items {
            out.write_str("<li>")?;
            alert_text(out, a)?;
            out.write_str(r#"<div class="alert-foot">"#)?;
            if shared_runbook.is_none()
                && let Some(url) = a.annotations.get("runbook_url")
            {
                runbook(out, url)?;
            }
            if !common.contains_key("probe") {
                probe_link(out, a)?;
            }
            let own: BTreeMap<String, String> = a
                .labels
                .iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()) && !common.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !own.is_empty() {
                labels(out, &own, &[])?;
            }
            if a.fired_at.unwrap_or(a.active_at) != oldest.fired_at.unwrap_or(oldest.active_at) {
                since(out, a, now)?;
            }
            out.write_str("</div></li>")?;
        }
        out.write_str("</ul>")?;
    }
    out.write_str(r#"<div class="alert-foot">"#)?;
    if let Some(url) = shared_runbook {
        runbook(out, url)?;
    }
    if items.len() == 1 || common.contains_key("probe") {
        probe_link(out, first)?;
    }
    if !common.is_empty() {
        labels(out, &common, &[])?;
    }
    write!(
        out,
        r#"<span class="group">group {}</span></div></li>"#,
        Esc(&first.group)
    )
}

/// A link when `text` is a followable URL, else the text.
fn link_or_text(out: &mut String, text: &str, class: &str) -> fmt::Result {
    match safe_href(text) {
        Some(href) if href.contains("://") => write!(
            out,
            r#"<a class="{class}" href="{}" rel="noopener noreferrer">{}</a>"#,
            Esc(href),
            Esc(text)
        ),
        _ => write!(out, "{}", Esc(text)),
    }
}

/// Percent-encode what a probe name could contain that is not safe in a path segment.
/// (Probe names are restricted to letters, digits, `_`, `-` and `.`, but alert labels can
/// name anything.)
pub(super) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn slos_section(out: &mut String, slos: &[SloRow]) -> fmt::Result {
    out.write_str(r#"<section class="card" id="slos"><div class="card-head"><h2>Service level objectives</h2><p class="muted">error budget remaining over each SLO's window</p></div><ul class="slos">"#)?;
    for s in slos {
        let level = match s.budget_remaining {
            None => "none",
            Some(b) if b <= 0.0 => "bad",
            Some(b) if b < 0.25 => "warn",
            Some(_) => "ok",
        };
        write!(
            out,
            r#"<li class="slo {level}"><div class="slo-head"><strong>{}</strong><span class="muted">{} over {}</span></div>"#,
            Esc(&s.name),
            objective(s.objective),
            compact(s.window)
        )?;
        match s.budget_remaining {
            Some(b) => {
                if b > 0.0 {
                    write!(
                        out,
                        r#"<p class="budget"><span class="big">{}</span> <span class="muted">of error budget left</span></p>"#,
                        percent(b)
                    )?;
                } else {
                    // Below zero the remaining "budget" (-99900%) says little; how many
                    // budgets the errors used up does.
                    write!(
                        out,
                        r#"<p class="budget"><span class="big">0%</span> <span class="muted">budget exhausted: errors used {} of it</span></p>"#,
                        times(1.0 - b)
                    )?;
                }
                // The bar: a fixed-width SVG, so no inline styles are needed.
                let w = (b.clamp(0.0, 1.0) * 300.0).round();
                write!(
                    out,
                    r#"<svg class="bar" viewBox="0 0 300 8" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="300" height="8" rx="4"/><rect class="fill" width="{w}" height="8" rx="4"/></svg>"#
                )?;
            }
            None => out.write_str(
                r#"<p class="budget"><span class="big">–</span> <span class="muted">no data yet (the SLO rules have not recorded a value)</span></p>"#,
            )?,
        }
        out.write_str(r#"<dl class="slo-facts">"#)?;
        if let Some(e) = s.error_ratio {
            fact(out, "SLI over window", &percent(1.0 - e))?;
        }
        for (name, e) in [("Burn rate 1h", s.error_1h), ("Burn rate 6h", s.error_6h)] {
            if let Some(burn) = s.burn(e) {
                write!(
                    out,
                    r#"<div><dt>{name}</dt><dd class="{}">{}</dd></div>"#,
                    if burn >= 14.4 {
                        "hot"
                    } else if burn >= 1.0 {
                        "warm"
                    } else {
                        ""
                    },
                    times(burn)
                )?;
            }
        }
        write!(
            out,
            "<div><dt>SLI</dt><dd><code>{}</code></dd></div>",
            Esc(&s.sli)
        )?;
        out.write_str("</dl></li>")?;
    }
    out.write_str("</ul></section>")
}

/// A multiple such as a burn rate: `0.4×`, `6.0×`, `14×`, `1000×`.
fn times(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.0}×")
    }
}

fn probes_section(out: &mut String, probes: &[ProbeRow], now: SystemTime) -> fmt::Result {
    out.write_str(r#"<section class="card" id="probes"><div class="card-head"><h2>Probes</h2>"#)?;
    out.write_str(r#"<p class="muted">latency and outcome of the recent runs</p></div>"#)?;
    if probes.is_empty() {
        return out.write_str(
            r#"<p class="quiet">No probes configured. Add some under <code>probes:</code> in the config.</p></section>"#,
        );
    }
    out.write_str(
        r#"<div class="table-wrap"><table class="probes"><thead><tr><th scope="col">Probe</th><th scope="col">State</th><th scope="col">Last run</th><th scope="col">Duration</th><th scope="col">History</th><th scope="col" class="num">Worked</th><th scope="col">Next run</th></tr></thead><tbody>"#,
    )?;
    for p in probes {
        let outcome = p.last.as_ref().map(|r| r.outcome);
        write!(
            out,
            r#"<tr class="{}"><th scope="row"><a href="/probes/{}">{}</a><span class="src">{}</span>"#,
            outcome.map_or("o-none", outcome_class),
            Esc(&path_segment(&p.name)),
            Esc(&p.name),
            Esc(&p.source)
        )?;
        if !p.labels.is_empty() {
            labels(out, &p.labels, &[])?;
        }
        out.write_str("</th><td>")?;
        badge(out, outcome, p.running)?;
        if let Some(r) = &p.last
            && let Some(msg) = &r.message
        {
            write!(
                out,
                r#"<p class="msg" title="{}">{}</p>"#,
                Esc(msg),
                Esc(&ellipsis(msg, 140))
            )?;
        }
        out.write_str("</td><td>")?;
        match &p.last {
            Some(r) => time_el(out, now, r.ended_at())?,
            None => out.write_str("–")?,
        }
        out.write_str("</td><td class=\"num\">")?;
        match &p.last {
            Some(r) => out.write_str(&format_duration(r.duration))?,
            None => out.write_str("–")?,
        }
        out.write_str("</td><td>")?;
        if p.history.is_empty() {
            out.write_str(r#"<span class="muted">no runs yet</span>"#)?;
        } else {
            out.write_str(&chart::sparkline(&p.history))?;
        }
        let st = Stats::of(&p.history);
        write!(
            out,
            r#"</td><td class="num">{}</td><td>"#,
            st.ok_ratio().map_or("–".into(), percent)
        )?;
        match p.next_run {
            Some(t) if p.running => {
                out.write_str(r#"<span class="running">running…</span> "#)?;
                next_el(out, now, t)?;
            }
            Some(t) => next_el(out, now, t)?,
            None => out.write_str("–")?,
        }
        write!(
            out,
            r#"<span class="sched">{}</span></td></tr>"#,
            Esc(&p.schedule)
        )?;
    }
    out.write_str("</tbody></table></div>")?;
    legend(out)?;
    out.write_str("</section>")
}

fn ellipsis(s: &str, max_chars: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max_chars && line.len() == s.len() {
        return s.to_string();
    }
    let mut cut: String = line.chars().take(max_chars).collect();
    cut.push('…');
    cut
}

fn last_run(out: &mut String, run: &ProbeRun, now: SystemTime) -> fmt::Result {
    out.write_str(r#"<section class="card" id="last-run"><div class="card-head"><h2>Last run</h2><p class="muted">"#)?;
    out.write_str("started ")?;
    time_el(out, now, run.started_at)?;
    write!(out, " · took {}", format_duration(run.duration))?;
    if !run.attempts.is_empty() {
        write!(out, " · {} attempts", run.attempts.len() + 1)?;
    }
    out.write_str("</p></div>")?;
    write!(
        out,
        r#"<div class="outcome {}">"#,
        outcome_class(run.outcome)
    )?;
    badge(out, Some(run.outcome), false)?;
    if let Some(reason) = run.reason {
        write!(out, r#" <code class="reason">{}</code>"#, reason.as_str())?;
    }
    if let Some(msg) = &run.message {
        write!(out, r#"<pre class="message">{}</pre>"#, Esc(msg))?;
    }
    out.write_str("</div>")?;
    if !run.attempts.is_empty() {
        out.write_str(r#"<h3>Earlier attempts of this tick</h3><ol class="attempts">"#)?;
        for a in &run.attempts {
            write!(
                out,
                "<li>{} after {}{}{}</li>",
                a.outcome.as_str(),
                format_duration(a.duration),
                a.reason
                    .map(|r| format!(" ({})", r.as_str()))
                    .unwrap_or_default(),
                a.message
                    .as_deref()
                    .map(|m| format!(": {}", Esc(m)))
                    .unwrap_or_default()
            )?;
        }
        out.write_str("</ol>")?;
    }

    out.write_str("<h3>Steps</h3>")?;
    if run.steps.is_empty() {
        out.write_str(r#"<p class="quiet">The probe recorded no steps.</p>"#)?;
    } else {
        let total = run.duration.as_secs_f64().max(1e-9);
        out.write_str(r#"<table class="steps"><thead><tr><th scope="col">Step</th><th scope="col">Result</th><th scope="col" class="num">Duration</th><th scope="col" class="bar-col">Share of the run</th></tr></thead><tbody>"#)?;
        for s in &run.steps {
            let share = (s.duration.as_secs_f64() / total).clamp(0.0, 1.0);
            write!(
                out,
                r#"<tr><th scope="row">{}</th><td><span class="badge {}">{}</span>{}</td><td class="num">{}</td><td class="bar-col"><svg class="bar" viewBox="0 0 300 8" preserveAspectRatio="none" aria-label="{}"><rect class="track" width="300" height="8" rx="4"/><rect class="fill {}" width="{:.1}" height="8" rx="4"/></svg></td></tr>"#,
                Esc(&s.name),
                if s.success { "o-success" } else { "o-failure" },
                if s.success { "ok" } else { "failed" },
                if s.detail.is_empty() {
                    String::new()
                } else {
                    format!(r#"<p class="msg">{}</p>"#, Esc(&s.detail))
                },
                format_duration(s.duration),
                percent(share),
                if s.success { "o-success" } else { "o-failure" },
                share * 300.0
            )?;
        }
        out.write_str("</tbody></table>")?;
    }

    out.write_str("<h3>HTTP requests</h3>")?;
    if run.http.is_empty() {
        out.write_str(r#"<p class="quiet">No HTTP requests.</p>"#)?;
    } else {
        http_table(out, &run.http)?;
    }

    write!(
        out,
        "<h3>Logs <span class=\"muted\">({})</span></h3>",
        plural(run.logs.len(), "line", "lines")
    )?;
    if run.logs.is_empty() {
        out.write_str(r#"<p class="quiet">No log lines.</p>"#)?;
    } else {
        out.write_str(r#"<div class="logs" role="log"><table><tbody>"#)?;
        for l in &run.logs {
            write!(
                out,
                r#"<tr class="lv-{}"><td class="at">+{}</td><td class="lv">{}</td><td class="srcl">{}</td><td class="line">{}</td></tr>"#,
                l.level.as_str().to_ascii_lowercase(),
                format_duration(l.at),
                l.level.as_str(),
                match l.source {
                    crate::record::LogSource::Log => "log",
                    crate::record::LogSource::Stdout => "stdout",
                    crate::record::LogSource::Stderr => "stderr",
                    crate::record::LogSource::Host => "vigil",
                },
                Esc(&l.message)
            )?;
        }
        out.write_str("</tbody></table></div>")?;
    }
    if !run.metrics.is_empty() {
        out.write_str(r#"<h3>Custom metrics</h3><table class="metrics"><tbody>"#)?;
        for m in &run.metrics {
            let labels: Vec<String> = m
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let name = if labels.is_empty() {
                m.name.clone()
            } else {
                format!("{}{{{}}}", m.name, labels.join(","))
            };
            write!(
                out,
                r#"<tr><th scope="row"><code>{}</code></th><td class="num">{}</td></tr>"#,
                Esc(&name),
                crate::promql::format_value(m.value)
            )?;
        }
        out.write_str("</tbody></table>")?;
    }
    out.write_str("</section>")
}

fn http_table(out: &mut String, http: &[HttpExchange]) -> fmt::Result {
    let ms = |d: Option<Duration>| d.map_or("–".to_string(), format_duration);
    out.write_str(r#"<div class="table-wrap"><table class="http"><thead><tr><th scope="col">Request</th><th scope="col">Status</th><th scope="col" class="num">DNS</th><th scope="col" class="num">Connect</th><th scope="col" class="num">TLS</th><th scope="col" class="num">First byte</th><th scope="col" class="num">Total</th><th scope="col" class="num">Body</th><th scope="col" class="bar-col">Timeline</th></tr></thead><tbody>"#)?;
    let longest = http
        .iter()
        .filter_map(|x| x.total)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1e-9);
    for x in http {
        let status_class = match x.status {
            Some(s) if s < 400 => "o-success",
            Some(_) => "o-failure",
            None => "o-failure",
        };
        write!(
            out,
            r#"<tr><th scope="row"><span class="method">{}</span> <span class="url">{}</span>{}{}</th><td><span class="badge {status_class}">{}</span></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="bar-col">"#,
            Esc(&x.method),
            Esc(&x.url),
            x.step
                .as_deref()
                .map(|s| format!(r#"<span class="step">step {}</span>"#, Esc(s)))
                .unwrap_or_default(),
            x.error
                .as_deref()
                .map(|e| format!(r#"<p class="msg">{}</p>"#, Esc(e)))
                .unwrap_or_default(),
            x.status.map_or("no response".into(), |s| s.to_string()),
            ms(x.dns),
            ms(x.connect),
            ms(x.tls),
            ms(x.first_byte),
            ms(x.total),
            format_size(x.body_bytes),
        )?;
        waterfall(out, x, longest)?;
        out.write_str("</td></tr>")?;
    }
    out.write_str("</tbody></table></div>")?;
    out.write_str(r#"<p class="legend"><span class="key ph-dns"></span>DNS <span class="key ph-connect"></span>connect <span class="key ph-tls"></span>TLS <span class="key ph-wait"></span>waiting <span class="key ph-body"></span>body</p>"#)
}

/// The phases of one request as a bar: the timings are cumulative from its start.
fn waterfall(out: &mut String, x: &HttpExchange, longest: f64) -> fmt::Result {
    const W: f64 = 300.0;
    let scale = |d: Duration| (d.as_secs_f64() / longest * W).clamp(0.0, W);
    let mut phases = Vec::new();
    let mut at = 0.0;
    for (class, end) in [
        ("ph-dns", x.dns),
        ("ph-connect", x.connect),
        ("ph-tls", x.tls),
        ("ph-wait", x.first_byte),
        ("ph-body", x.total),
    ] {
        if let Some(end) = end {
            let e = scale(end);
            if e > at {
                phases.push((class, at, e - at));
                at = e;
            }
        }
    }
    write!(
        out,
        r#"<svg class="bar waterfall" viewBox="0 0 {W} 10" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="{W}" height="10" rx="2"/>"#
    )?;
    for (class, x0, w) in phases {
        write!(
            out,
            r#"<rect class="{class}" x="{x0:.1}" width="{:.1}" height="10"/>"#,
            w.max(1.0)
        )?;
    }
    out.write_str("</svg>")
}

fn runs_table(
    out: &mut String,
    runs: &Result<Vec<ProbeRun>, String>,
    now: SystemTime,
) -> fmt::Result {
    out.write_str(r#"<section class="card" id="runs"><div class="card-head"><h2>Recent runs</h2><p class="muted">from the state directory, newest first</p></div>"#)?;
    match runs {
        Err(e) => write!(
            out,
            r#"<p class="error">Could not read the recent runs: {}</p>"#,
            Esc(e)
        )?,
        Ok(runs) if runs.is_empty() => {
            out.write_str(r#"<p class="quiet">No runs recorded yet.</p>"#)?
        }
        Ok(runs) => {
            out.write_str(r#"<div class="table-wrap"><table class="runs"><thead><tr><th scope="col">Started</th><th scope="col">Outcome</th><th scope="col" class="num">Duration</th><th scope="col">Steps</th><th scope="col">Message</th></tr></thead><tbody>"#)?;
            for r in runs {
                out.write_str("<tr><td>")?;
                time_el(out, now, r.started_at)?;
                out.write_str("</td><td>")?;
                badge(out, Some(r.outcome), false)?;
                if !r.attempts.is_empty() {
                    write!(
                        out,
                        r#" <span class="muted">after {} attempts</span>"#,
                        r.attempts.len() + 1
                    )?;
                }
                write!(
                    out,
                    r#"</td><td class="num">{}</td><td>"#,
                    format_duration(r.duration)
                )?;
                for s in &r.steps {
                    write!(
                        out,
                        r#"<span class="step-chip {}" title="{} {}">{} {}</span>"#,
                        if s.success { "o-success" } else { "o-failure" },
                        Esc(&s.name),
                        format_duration(s.duration),
                        Esc(&s.name),
                        format_duration(s.duration)
                    )?;
                }
                out.write_str("</td><td>")?;
                if let Some(m) = &r.message {
                    write!(
                        out,
                        r#"<span class="msg" title="{}">{}</span>"#,
                        Esc(m),
                        Esc(&ellipsis(m, 160))
                    )?;
                }
                out.write_str("</td></tr>")?;
            }
            out.write_str("</tbody></table></div>")?;
        }
    }
    out.write_str("</section>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LogLevel, LogLine, LogSource, Reason, Step};

    const EVIL: &str = r#"<script>alert("x")</script>"#;

    fn header() -> Header {
        Header {
            version: "0.1.0",
            config_path: "/etc/vigil/vigil.yaml".into(),
            uptime: Duration::from_secs(3725),
            now: from_millis(1_700_000_100_000),
            asset_version: "abc".into(),
        }
    }

    fn run(outcome: Outcome) -> ProbeRun {
        ProbeRun {
            probe: "shop".into(),
            started_at: from_millis(1_700_000_090_000),
            duration: Duration::from_millis(120),
            outcome,
            reason: (outcome == Outcome::Failure).then_some(Reason::GuestError),
            message: (outcome == Outcome::Failure).then(|| format!("broken {EVIL}")),
            steps: vec![Step {
                name: "http".into(),
                success: outcome != Outcome::Failure,
                duration: Duration::from_millis(100),
                detail: String::new(),
            }],
            metrics: vec![],
            logs: vec![LogLine {
                at: Duration::from_millis(5),
                level: LogLevel::Info,
                source: LogSource::Log,
                message: format!("got {EVIL}"),
            }],
            http: vec![HttpExchange {
                step: Some("http".into()),
                method: "GET".into(),
                url: "http://127.0.0.1:1/<x>".into(),
                status: Some(500),
                dns: Some(Duration::from_millis(1)),
                connect: Some(Duration::from_millis(2)),
                tls: None,
                first_byte: Some(Duration::from_millis(50)),
                total: Some(Duration::from_millis(60)),
                body_bytes: 42,
                error: None,
            }],
            attempts: vec![],
        }
    }

    fn row(name: &str, outcome: Option<Outcome>) -> ProbeRow {
        ProbeRow {
            name: name.into(),
            source: "builtin:http".into(),
            schedule: "@every 1s".into(),
            labels: BTreeMap::from([("team".into(), EVIL.into())]),
            running: false,
            next_run: Some(from_millis(1_700_000_101_000)),
            last: outcome.map(|o| Arc::new(run(o))),
            history: vec![Point {
                t: 1_700_000_090_120,
                seconds: 0.12,
                outcome: outcome.unwrap_or(Outcome::Success),
            }],
            skipped_ticks: 0,
        }
    }

    fn alert(state: AlertState, name: &str, severity: &str, active_at: i64) -> AlertRow {
        AlertRow {
            labels: BTreeMap::from([
                ("alertname".into(), name.into()),
                ("severity".into(), severity.into()),
                ("probe".into(), "shop".into()),
            ]),
            annotations: BTreeMap::from([
                ("summary".into(), format!("shop down {EVIL}")),
                ("runbook_url".into(), "https://runbooks.example/shop".into()),
            ]),
            state,
            active_at,
            fired_at: (state == AlertState::Firing).then_some(active_at + 1000),
            group: "shop".into(),
        }
    }

    fn assert_no_raw_markup(html: &str) {
        assert!(
            !html.contains("<script>alert"),
            "unescaped script in:\n{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    }

    #[test]
    fn alerts_sort_firing_first_then_by_severity_and_age() {
        let mut a = vec![
            alert(AlertState::Pending, "P", "page", 1),
            alert(AlertState::Firing, "F2", "ticket", 1),
            alert(AlertState::Firing, "F1", "page", 5),
            alert(AlertState::Firing, "F0", "page", 2),
        ];
        sort_alerts(&mut a);
        let names: Vec<_> = a.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["F0", "F1", "F2", "P"]);
    }

    #[test]
    fn the_overview_shows_probes_alerts_and_slos_escaped() {
        let o = Overview {
            header: header(),
            probes: vec![
                row("shop", Some(Outcome::Failure)),
                row("api", Some(Outcome::Success)),
                row("new", None),
            ],
            alerts: vec![alert(
                AlertState::Firing,
                "ShopDown",
                "page",
                1_700_000_000_000,
            )],
            rules: RuleHealth {
                groups: 1,
                alerting: 1,
                recording: 0,
                failing: vec![("g".into(), "r".into(), format!("bad {EVIL}"))],
            },
            slos: vec![SloRow {
                name: "shop-availability".into(),
                objective: 99.9,
                window: Duration::from_secs(30 * 86400),
                sli: "shop".into(),
                budget_remaining: Some(-4.5),
                error_ratio: Some(0.0055),
                error_1h: Some(0.0144),
                error_6h: None,
            }],
        };
        let html = overview(&o);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<title>(1 firing) vigil status</title>"));
        assert!(html.contains(r#"<a href="/probes/shop">shop</a>"#));
        assert!(html.contains(r#"<span class="badge o-failure">failure</span>"#));
        assert!(html.contains(r#"<span class="badge o-none">no runs yet</span>"#));
        assert!(html.contains(r#"<strong class="alertname">ShopDown</strong>"#));
        assert!(html.contains(r#"<a class="runbook" href="https://runbooks.example/shop""#));
        assert!(html.contains("budget exhausted"));
        assert!(html.contains("14×"));
        assert!(html.contains("errors used 5.5× of it"));
        assert!(html.contains("1 alert firing, 1 probe failing"));
        assert!(html.contains("<svg class=\"spark\""));
        assert!(html.contains("/etc/vigil/vigil.yaml"));
        assert!(html.contains("1h 2m"));
        assert_no_raw_markup(&html);
    }

    #[test]
    fn alerts_of_one_rule_share_a_card_saying_what_differs() {
        let mut a = alert(AlertState::Firing, "ProbeFailing", "page", 1);
        let mut b = alert(AlertState::Firing, "ProbeFailing", "page", 2);
        b.labels.insert("probe".into(), "checkout".into());
        let c = alert(AlertState::Pending, "ProbeFailing", "page", 3);
        a.labels.insert("team".into(), "web".into());
        b.labels.insert("team".into(), "web".into());
        let rows = [a, b, c];
        let cards = group_alerts(&rows);
        assert_eq!(cards.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        let mut out = String::new();
        alert_card(&mut out, &cards[0], from_millis(10_000), true).unwrap();
        assert!(out.contains(r#"<span class="count">×2</span>"#), "{out}");
        // The shared label and runbook once, the differing probe on each line.
        assert_eq!(out.matches(r#"<span class="k">team</span>"#).count(), 1);
        assert_eq!(out.matches(r#"class="runbook""#).count(), 1);
        assert!(out.contains(r#"<a class="to-probe" href="/probes/checkout">"#));
        assert!(out.contains(r#"<a class="to-probe" href="/probes/shop">"#));
    }

    #[test]
    fn a_dangerous_runbook_url_is_not_a_link() {
        let mut a = alert(AlertState::Firing, "X", "page", 1);
        a.annotations
            .insert("runbook_url".into(), "javascript:alert(1)".into());
        let mut out = String::new();
        alert_card(&mut out, &[&a], from_millis(2), true).unwrap();
        assert!(!out.contains("href=\"javascript"), "{out}");
        assert!(out.contains("Runbook: <code>javascript:alert(1)</code>"));
    }

    #[test]
    fn the_probe_page_shows_steps_timings_logs_and_runs() {
        let d = ProbeDetail {
            header: header(),
            probe: row("shop", Some(Outcome::Failure)),
            runs: Ok(vec![run(Outcome::Failure), run(Outcome::Success)]),
            alerts: vec![],
        };
        let html = probe_page(&d);
        assert!(html.contains("<h3>Steps</h3>"));
        assert!(html.contains("First byte"));
        assert!(html.contains("50.0ms"));
        assert!(html.contains("42 B"));
        assert!(html.contains("guest_error"));
        assert!(html.contains(r#"<td class="lv">INFO</td>"#));
        assert!(html.contains("http://127.0.0.1:1/&lt;x&gt;"));
        assert_eq!(html.matches("<tr><td><time").count(), 2);
        assert!(html.contains(r#"action="/probes/shop/run""#));
        assert_no_raw_markup(&html);
        let err = probe_page(&ProbeDetail {
            runs: Err("disk on fire".into()),
            ..d
        });
        assert!(err.contains("Could not read the recent runs: disk on fire"));
    }

    #[test]
    fn every_resource_is_served_by_vigil() {
        let html = overview(&Overview {
            header: header(),
            probes: vec![row("shop", Some(Outcome::Success))],
            alerts: vec![],
            rules: RuleHealth::default(),
            slos: vec![],
        });
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let v = &html[i + attr.len()..];
                let local = v.starts_with('#') || (v.starts_with('/') && !v.starts_with("//"));
                assert!(local, "{}", &v[..40]);
            }
        }
    }

    #[test]
    fn odd_names_are_encoded_in_paths() {
        assert_eq!(path_segment("shop-1.a_b"), "shop-1.a_b");
        assert_eq!(path_segment("a b/\"<"), "a%20b%2F%22%3C");
    }
}
