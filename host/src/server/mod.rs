//! vigil's HTTP server: `/metrics` for Prometheus, health and readiness for orchestrators,
//! the JSON API, and config reload.
//!
//! Handlers only read shared state and hand work to the daemon; nothing here blocks an
//! async worker (SQLite reads go through `spawn_blocking`).

mod metrics;
mod rules;
mod status;

use crate::daemon::Daemon;
use crate::record::ProbeRun;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::SystemTime;

/// Build the router.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/probes", get(probes))
        .route("/api/v1/probes/{name}/runs", get(runs))
        .route("/api/v1/probes/{name}/run", post(run_now))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/api/v1/alerts/history", get(rules::history))
        .route("/api/v1/query", get(rules::query).post(rules::query))
        .route("/-/reload", post(reload))
        .route("/graph", get(graph))
        .merge(status::routes())
        .with_state(daemon)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    daemon: Arc<Daemon>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(daemon))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_handler(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let format = crate::telemetry::Format::from_accept(
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    );
    let body = metrics::render(&d, format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn readyz(State(d): State<Arc<Daemon>>) -> Response {
    if d.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A probe as the API lists it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// Name.
    pub name: String,
    /// `builtin:NAME` or the component path.
    pub source: String,
    /// Schedule as written.
    pub schedule: String,
    /// Labels from the config.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `running` or `idle`.
    pub state: String,
    /// Outcome of the last run, when there was one.
    pub last_outcome: Option<String>,
    /// The last run's reason.
    pub last_reason: Option<String>,
    /// The last run's message.
    pub last_message: Option<String>,
    /// When the last run started.
    pub last_run: Option<String>,
    /// How long the last run took (seconds).
    pub last_duration: Option<f64>,
    /// When the next tick fires.
    pub next_run: Option<String>,
    /// Ticks skipped because a run was still going.
    pub skipped_ticks: u64,
}

async fn probes(State(d): State<Arc<Daemon>>) -> Json<Vec<ProbeInfo>> {
    let active = d.active();
    let list = active
        .probes
        .values()
        .map(|slot| {
            let status = slot.status();
            let last = d.store.last_run(&slot.config.name);
            ProbeInfo {
                name: slot.config.name.clone(),
                source: slot.config.source.to_string(),
                schedule: slot.config.schedule.expr().to_string(),
                labels: slot.config.labels.clone(),
                state: if status.running { "running" } else { "idle" }.into(),
                last_outcome: last.as_ref().map(|r| r.outcome.as_str().to_string()),
                last_reason: last
                    .as_ref()
                    .and_then(|r| r.reason.map(|r| r.as_str().to_string())),
                last_message: last.as_ref().and_then(|r| r.message.clone()),
                last_run: last.as_ref().map(|r| rfc3339(r.started_at)),
                last_duration: last.as_ref().map(|r| r.duration.as_secs_f64()),
                next_run: status.next_run.map(rfc3339),
                skipped_ticks: d.telemetry.skipped_ticks(&slot.config.name),
            }
        })
        .collect();
    Json(list)
}

#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<usize>,
}

fn not_found(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": format!("no probe named {name:?}") })),
    )
        .into_response()
}

async fn runs(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Response {
    if !d.active().probes.contains_key(&name) {
        return not_found(&name);
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    let d2 = d.clone();
    let result = tokio::task::spawn_blocking(move || d2.store.runs(&name, limit)).await;
    match result {
        Ok(Ok(runs)) => Json::<Vec<ProbeRun>>(runs).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn run_now(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match d.run_now(&name).await {
        Some(run) => Json(run).into_response(),
        None => not_found(&name),
    }
}

/// Alerts link to `/graph?g0.expr=EXPR` as Prometheus's do (`generatorURL`): answer with
/// the expression's current value.
async fn graph(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    match q.get("g0.expr") {
        Some(expr) => axum::response::Redirect::to(&format!(
            "/api/v1/query?query={}",
            crate::alert::notice::query_escape(expr)
        ))
        .into_response(),
        None => axum::response::Redirect::to("/").into_response(),
    }
}

async fn reload(State(d): State<Arc<Daemon>>) -> Response {
    match d.reload().await {
        Ok(()) => Json(serde_json::json!({ "status": "success" })).into_response(),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "status": "error",
                "errors": errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
    }
}
