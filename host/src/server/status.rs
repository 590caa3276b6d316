//! The status page at `/`: probes, last runs, history charts, alerts and SLO budgets,
//! server-rendered HTML with its assets served by vigil itself.
//!
//! - `/` the overview, `/probes/{name}` one probe, `POST /probes/{name}/run` runs it now
//!   and returns to its page, `/static/{file}` the stylesheet, script and icon (compiled
//!   in, cached by version).
//! - The pages work without JavaScript (charts are inline SVG, a `<noscript>` meta refresh
//!   keeps them current); the small script refreshes in place and keeps times relative.
//! - A strict Content-Security-Policy: the page can load nothing but vigil's own assets
//!   and can run no inline script, a second line behind the escaping in `page`.
//!
//! Handlers take a snapshot of the daemon's in-memory state (plus, on a probe's page, its
//! recent runs from SQLite) on a blocking thread, since rule groups sit behind mutexes held
//! during evaluation; rendering is pure (`page`, `chart`, `text`).

mod chart;
mod page;
mod text;

use crate::daemon::{Active, Daemon};
use crate::promql::{self, Value};
use crate::record::Outcome;
use crate::rules::group::Health;
use crate::store::{SeriesSet, is_stale};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chart::Point;
use page::{AlertRow, Header, ProbeDetail, ProbeRow, RuleHealth, SloRow};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Instant, SystemTime};

/// Runs per probe in the overview's sparklines.
const SPARK_RUNS: usize = 40;
/// Runs of the retention window shown on a probe's chart, at most.
const CHART_RUNS: usize = 5000;
/// Rows of the recent-runs table.
const RUNS_SHOWN: usize = 50;

/// What the page may load and run: only vigil's own files, no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// When the server was built; uptime counts from here (the router is built at start).
static STARTED: OnceLock<Instant> = OnceLock::new();

/// A file under `/static/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("status/assets/style.css"),
    },
    Asset {
        name: "status.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("status/assets/status.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("status/assets/favicon.svg"),
    },
];

/// A short hash of every asset: the `?v=` of their URLs and their ETag, so a new build's
/// assets are fetched at once while unchanged ones stay cached.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for a in ASSETS {
        a.body.hash(&mut h);
    }
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
});

/// Routes of the status page (merged into the server's router).
pub fn routes() -> Router<Arc<Daemon>> {
    STARTED.get_or_init(Instant::now);
    Router::new()
        .route("/", get(overview))
        .route("/probes/{name}", get(probe))
        .route("/probes/{name}/run", post(run_now))
        .route("/static/{file}", get(asset))
}

fn header(d: &Daemon, now: SystemTime) -> Header {
    Header {
        version: env!("CARGO_PKG_VERSION"),
        config_path: d.config_path().display().to_string(),
        uptime: STARTED.get_or_init(Instant::now).elapsed(),
        now,
        asset_version: ASSET_VERSION.clone(),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "status page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("status page failed: {e}\n"),
    )
        .into_response()
}

async fn overview(State(d): State<Arc<Daemon>>) -> Response {
    match tokio::task::spawn_blocking(move || page::overview(&snapshot(&d))).await {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => internal(e),
    }
}

async fn probe(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let now = SystemTime::now();
        let active = d.active();
        let Some(row) = probe_rows(&d, &active, Some(&name), CHART_RUNS).pop() else {
            return (
                StatusCode::NOT_FOUND,
                page::not_found(&header(&d, now), &name),
            );
        };
        let runs = d.store.runs(&name, RUNS_SHOWN).map_err(|e| e.to_string());
        let (mut alerts, _) = alerts(&active);
        alerts.retain(|a| a.labels.get("probe") == Some(&name));
        let detail = ProbeDetail {
            header: header(&d, now),
            probe: row,
            runs,
            alerts,
        };
        (StatusCode::OK, page::probe_page(&detail))
    })
    .await;
    match result {
        Ok((status, body)) => html(status, body),
        Err(e) => internal(e),
    }
}

/// The "Run now" button. A form post from another site is refused (the browser says where
/// a request comes from in `Sec-Fetch-Site`), so a page elsewhere cannot make vigil run
/// probes on a visitor's behalf.
async fn run_now(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !matches!(site, "same-origin" | "none") {
        return (
            StatusCode::FORBIDDEN,
            "cross-site requests may not run probes\n",
        )
            .into_response();
    }
    match d.run_now(&name).await {
        Some(_) => {
            let to = format!("/probes/{}", page::path_segment(&name));
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => html(
            StatusCode::NOT_FOUND,
            page::not_found(&header(&d, SystemTime::now()), &name),
        ),
    }
}

async fn asset(Path(file): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let etag = format!("\"{}\"", *ASSET_VERSION);
    // A URL carrying the current version never changes; one without may, next build.
    let versioned = q.as_deref() == Some(&format!("v={}", *ASSET_VERSION));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.body.into_response()
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Everything the overview shows, as of now.
fn snapshot(d: &Daemon) -> page::Overview {
    let now = SystemTime::now();
    let active = d.active();
    let mut probes = probe_rows(d, &active, None, SPARK_RUNS);
    // Problems first, so they are on screen without scrolling; then by name.
    let rank = |p: &ProbeRow| match p.last.as_ref().map(|r| r.outcome) {
        Some(Outcome::Failure) => 0,
        Some(Outcome::Degraded) => 1,
        Some(Outcome::Success) => 2,
        None => 3,
    };
    probes.sort_by(|a, b| (rank(a), &a.name).cmp(&(rank(b), &b.name)));
    let (alerts, rules) = alerts(&active);
    let slos = slos(d, &active, now);
    page::Overview {
        header: header(d, now),
        probes,
        alerts,
        rules,
        slos,
    }
}

/// Rows for every configured probe (or just `only`), each with its last `keep` runs from
/// the in-memory series.
fn probe_rows(d: &Daemon, active: &Active, only: Option<&str>, keep: usize) -> Vec<ProbeRow> {
    let mut history = {
        let set = d.store.read();
        history(&set, only, keep)
    };
    active
        .probes
        .values()
        .filter(|slot| only.is_none_or(|o| o == slot.config.name))
        .map(|slot| {
            let name = &slot.config.name;
            let status = slot.status();
            ProbeRow {
                name: name.clone(),
                source: slot.config.source.to_string(),
                schedule: slot.config.schedule.expr().to_string(),
                labels: slot.config.labels.clone(),
                running: status.running,
                next_run: status.next_run,
                last: d.store.last_run(name),
                history: history.remove(name).unwrap_or_default(),
                skipped_ticks: d.telemetry.skipped_ticks(name),
            }
        })
        .collect()
}

/// The last `keep` runs of each probe from `probe_duration_seconds`, `probe_success` and
/// `probe_degraded` (one sample each per run, all at the run's end time), oldest first.
fn history(set: &SeriesSet, only: Option<&str>, keep: usize) -> HashMap<String, Vec<Point>> {
    // A probe can have several series of a metric (its labels changed on a reload).
    fn collect(
        set: &SeriesSet,
        metric: &str,
        only: Option<&str>,
        keep: usize,
    ) -> HashMap<String, BTreeMap<i64, f64>> {
        let mut out: HashMap<String, BTreeMap<i64, f64>> = HashMap::new();
        for s in set.named(metric) {
            let Some(probe) = s.labels.get("probe") else {
                continue;
            };
            if only.is_some_and(|o| o != probe) {
                continue;
            }
            let m = out.entry(probe.to_string()).or_default();
            m.extend(
                s.samples
                    .iter()
                    .rev()
                    .filter(|x| !is_stale(x.v))
                    .take(keep)
                    .map(|x| (x.t, x.v)),
            );
        }
        out
    }
    let durations = collect(set, "probe_duration_seconds", only, keep);
    let success = collect(set, "probe_success", only, keep);
    let degraded = collect(set, "probe_degraded", only, keep);
    durations
        .into_iter()
        .map(|(probe, d)| {
            let ok = success.get(&probe);
            let deg = degraded.get(&probe);
            let mut points: Vec<Point> = d
                .into_iter()
                .map(|(t, seconds)| {
                    let success = ok.and_then(|m| m.get(&t)).copied();
                    let degraded = deg.and_then(|m| m.get(&t)).copied();
                    let outcome = if success == Some(0.0) {
                        Outcome::Failure
                    } else if degraded == Some(1.0) {
                        Outcome::Degraded
                    } else {
                        Outcome::Success
                    };
                    Point {
                        t,
                        seconds,
                        outcome,
                    }
                })
                .collect();
            let excess = points.len().saturating_sub(keep);
            points.drain(..excess);
            (probe, points)
        })
        .collect()
}

/// Pending and firing alerts of every rule group, in display order, and how the rules are.
fn alerts(active: &Active) -> (Vec<AlertRow>, RuleHealth) {
    let mut rows = Vec::new();
    let mut health = RuleHealth::default();
    for slot in &active.groups {
        let g = slot.group.lock().unwrap_or_else(|e| e.into_inner());
        health.groups += 1;
        for r in &g.rules {
            match &r.alerting {
                Some(a) => {
                    health.alerting += 1;
                    rows.extend(a.alerts().map(|al| AlertRow {
                        labels: al.labels.clone(),
                        annotations: al.annotations.clone(),
                        state: al.state,
                        active_at: al.active_at,
                        fired_at: al.fired_at,
                        group: g.spec.name.clone(),
                    }));
                }
                None => health.recording += 1,
            }
            if r.health == Health::Err {
                health.failing.push((
                    g.spec.name.clone(),
                    r.spec.name.clone(),
                    r.last_error.clone().unwrap_or_default(),
                ));
            }
        }
    }
    page::sort_alerts(&mut rows);
    (rows, health)
}

/// Each configured SLO with the values its generated rules recorded
/// (`slo:error_budget_remaining:ratio`, `slo:sli_error:ratio_rate{1h,6h}`).
fn slos(d: &Daemon, active: &Active, now: SystemTime) -> Vec<SloRow> {
    if active.config.slos.is_empty() {
        return Vec::new();
    }
    let t = crate::store::millis(now);
    let set = d.store.read();
    let budget = by_slo(&set, "slo:error_budget_remaining:ratio", t);
    let e1h = by_slo(&set, "slo:sli_error:ratio_rate1h", t);
    let e6h = by_slo(&set, "slo:sli_error:ratio_rate6h", t);
    active
        .config
        .slos
        .iter()
        .map(|s| {
            let remaining = budget.get(&s.name).copied();
            let allowed = 1.0 - s.objective / 100.0;
            SloRow {
                name: s.name.clone(),
                objective: s.objective,
                window: s.window,
                sli: s.sli.clone(),
                budget_remaining: remaining,
                // remaining = 1 - error / allowed, so the window's error ratio follows.
                error_ratio: remaining.map(|r| (1.0 - r) * allowed),
                error_1h: e1h.get(&s.name).copied(),
                error_6h: e6h.get(&s.name).copied(),
            }
        })
        .collect()
}

/// The current value of `metric` per `slo` label, as a query at `t_ms` sees it (lookback
/// and staleness as in Prometheus).
fn by_slo(set: &SeriesSet, metric: &str, t_ms: i64) -> HashMap<String, f64> {
    let value = promql::parse(metric)
        .and_then(|e| promql::instant(set, &e, t_ms, &promql::Limits::default()));
    match value {
        Ok(Value::Vector(v)) => v
            .into_iter()
            .filter(|(_, x)| x.is_finite())
            .filter_map(|(l, x)| Some((l.get("slo")?.to_string(), x)))
            .collect(),
        Ok(_) => HashMap::new(),
        Err(e) => {
            tracing::warn!(metric, error = %e, "status page: SLO query failed");
            HashMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Labels, Sample};

    fn add(set: &mut SeriesSet, metric: &str, probe: &str, t: i64, v: f64) {
        let l = Labels::from_pairs(metric, [("probe", probe)]);
        set.append(&l, Sample { t, v }).unwrap();
    }

    #[test]
    fn history_joins_the_samples_of_each_run() {
        let mut set = SeriesSet::new();
        for (t, dur, ok, deg) in [
            (1000, 0.1, 1.0, 0.0),
            (2000, 0.2, 0.0, 0.0),
            (3000, 0.3, 1.0, 1.0),
        ] {
            add(&mut set, "probe_duration_seconds", "a", t, dur);
            add(&mut set, "probe_success", "a", t, ok);
            add(&mut set, "probe_degraded", "a", t, deg);
        }
        add(&mut set, "probe_duration_seconds", "b", 1000, 0.5);
        let h = history(&set, None, 10);
        let a: Vec<_> = h["a"].iter().map(|p| (p.t, p.outcome)).collect();
        assert_eq!(
            a,
            [
                (1000, Outcome::Success),
                (2000, Outcome::Failure),
                (3000, Outcome::Degraded)
            ]
        );
        assert_eq!(h["b"].len(), 1);
        let only = history(&set, Some("a"), 2);
        assert_eq!(only.len(), 1);
        assert_eq!(
            only["a"].iter().map(|p| p.t).collect::<Vec<_>>(),
            [2000, 3000]
        );
    }

    #[test]
    fn slo_values_are_read_per_slo() {
        let mut set = SeriesSet::new();
        let l = Labels::from_pairs("slo:error_budget_remaining:ratio", [("slo", "shop")]);
        set.append(&l, Sample { t: 1000, v: 0.75 }).unwrap();
        let v = by_slo(&set, "slo:error_budget_remaining:ratio", 2000);
        assert_eq!(v.get("shop"), Some(&0.75));
        assert!(by_slo(&set, "slo:sli_error:ratio_rate1h", 2000).is_empty());
    }
}
