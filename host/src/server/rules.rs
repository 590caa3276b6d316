//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/query`, in Prometheus's JSON shapes so
//! existing tooling (Grafana, amtool-style scripts) can read them.

use crate::daemon::Daemon;
use crate::promql::{self, Value};
use crate::rules::alerting::{Alert, AlertState};
use crate::rules::file::RuleKind;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ts(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
        .to_string()
}

fn alert_json(a: &Alert) -> J {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": ts(a.active_at),
        "firedAt": a.fired_at.map(ts),
        "value": promql::format_value(a.value),
    })
}

pub(super) async fn alerts(State(d): State<Arc<Daemon>>) -> Json<J> {
    let active = d.active();
    let mut alerts = Vec::new();
    for slot in &active.groups {
        let g = slot.group.lock().unwrap_or_else(|e| e.into_inner());
        alerts.extend(g.alerts().map(alert_json));
    }
    Json(json!({ "status": "success", "data": { "alerts": alerts } }))
}

#[derive(Deserialize)]
pub(super) struct HistoryParams {
    alertname: Option<String>,
    fingerprint: Option<String>,
    /// RFC 3339 time or Unix seconds.
    since: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/alerts/history`: every alert state change, newest first, with the probe run
/// that drove it.
pub(super) async fn history(
    State(d): State<Arc<Daemon>>,
    Query(p): Query<HistoryParams>,
) -> Response {
    let since = match p.since.as_deref().map(parse_time) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return bad("bad_data", e),
    };
    let q = crate::alert::db::HistoryQuery {
        alertname: p.alertname,
        fingerprint: p.fingerprint,
        since,
        limit: p.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let d2 = d.clone();
    match tokio::task::spawn_blocking(move || d2.alerts.history(&q)).await {
        Ok(Ok(rows)) => {
            let entries: Vec<J> = rows
                .into_iter()
                .map(|r| {
                    json!({
                        "at": ts(r.at),
                        "group": r.group,
                        "alertname": r.rule,
                        "fingerprint": r.fingerprint,
                        "labels": serde_json::from_str::<J>(&r.labels).unwrap_or(J::Null),
                        "from": r.from,
                        "to": r.to,
                        "value": if r.value.is_nan() { J::Null } else { json!(promql::format_value(r.value)) },
                        "probeRun": r.probe_run.as_deref().and_then(|s| serde_json::from_str::<J>(s).ok()),
                    })
                })
                .collect();
            Json(json!({ "status": "success", "data": { "history": entries } })).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "status": "error", "error": e.to_string() })),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub(super) async fn rules(State(d): State<Arc<Daemon>>) -> Json<J> {
    let active = d.active();
    let mut groups = Vec::new();
    for slot in &active.groups {
        let g = slot.group.lock().unwrap_or_else(|e| e.into_inner());
        let rules: Vec<J> = g
            .rules
            .iter()
            .map(|r| {
                let common = json!({
                    "name": r.spec.name,
                    "query": r.spec.expr,
                    "labels": r.spec.labels,
                    "health": r.health,
                    "lastError": r.last_error.clone().unwrap_or_default(),
                    "evaluationTime": r.eval_duration.as_secs_f64(),
                    "lastEvaluation": r.last_eval.map(ts),
                });
                let mut obj = common.as_object().cloned().unwrap_or_default();
                match (&r.spec.kind, &r.alerting) {
                    (
                        RuleKind::Alert {
                            hold,
                            keep_firing_for,
                            annotations,
                        },
                        Some(a),
                    ) => {
                        obj.insert("type".into(), json!("alerting"));
                        obj.insert("duration".into(), json!(hold.as_secs_f64()));
                        obj.insert("keepFiringFor".into(), json!(keep_firing_for.as_secs_f64()));
                        obj.insert("annotations".into(), json!(annotations));
                        obj.insert(
                            "state".into(),
                            json!(match a.state() {
                                AlertState::Inactive => "inactive",
                                s => s.as_str(),
                            }),
                        );
                        obj.insert(
                            "alerts".into(),
                            J::Array(a.alerts().map(alert_json).collect()),
                        );
                    }
                    _ => {
                        obj.insert("type".into(), json!("recording"));
                    }
                }
                J::Object(obj)
            })
            .collect();
        groups.push(json!({
            "name": g.spec.name,
            "file": g.spec.file.display().to_string(),
            "interval": g.interval.as_secs_f64(),
            "limit": g.spec.limit,
            "rules": rules,
            "evaluationTime": g.eval_duration.as_secs_f64(),
            "lastEvaluation": g.last_eval.map(ts),
        }));
    }
    Json(json!({ "status": "success", "data": { "groups": groups } }))
}

#[derive(Deserialize)]
pub(super) struct QueryParams {
    query: String,
    time: Option<f64>,
}

fn bad(error_type: &str, e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "status": "error", "errorType": error_type, "error": e.to_string() })),
    )
        .into_response()
}

pub(super) async fn query(State(d): State<Arc<Daemon>>, Query(q): Query<QueryParams>) -> Response {
    let expr = match promql::parse(&q.query) {
        Ok(e) => e,
        Err(e) => return bad("bad_data", e),
    };
    let t_ms = match q.time {
        Some(t) => (t * 1000.0) as i64,
        None => crate::store::millis(SystemTime::now()),
    };
    let global = d.active().config.global.clone();
    let d2 = d.clone();
    let result = tokio::task::spawn_blocking(move || {
        let limits = promql::Limits {
            max_samples: global.rule_max_samples,
            deadline: Some(std::time::Instant::now() + global.rule_query_timeout),
            ..promql::Limits::default()
        };
        let set = d2.store.read();
        promql::instant(&*set, &expr, t_ms, &limits)
    })
    .await;
    let value = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return bad("execution", e),
        Err(e) => return bad("internal", e),
    };
    let t = t_ms as f64 / 1000.0;
    let metric = |l: &crate::store::Labels| -> J {
        J::Object(
            l.iter()
                .map(|(k, v)| (k.to_string(), J::String(v.to_string())))
                .collect(),
        )
    };
    let (kind, result) = match value {
        Value::Scalar(v) => ("scalar", json!([t, promql::format_value(v)])),
        Value::String(s) => ("string", json!([t, s])),
        Value::Vector(v) => (
            "vector",
            J::Array(
                v.iter()
                    .map(|(l, x)| json!({ "metric": metric(l), "value": [t, promql::format_value(*x)] }))
                    .collect(),
            ),
        ),
        Value::Matrix(m) => (
            "matrix",
            J::Array(
                m.iter()
                    .map(|(l, samples)| {
                        json!({
                            "metric": metric(l),
                            "values": samples
                                .iter()
                                .map(|s| json!([s.t as f64 / 1000.0, promql::format_value(s.v)]))
                                .collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
    };
    Json(json!({ "status": "success", "data": { "resultType": kind, "result": result } }))
        .into_response()
}

/// Unix seconds (`1764072000`, `1764072000.5`) or RFC 3339, as Prometheus's API takes times.
fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0) as i64);
    }
    humantime::parse_rfc3339_weak(s)
        .map(crate::store::millis)
        .map_err(|e| format!("cannot parse {s:?} as a time (RFC 3339 or Unix seconds): {e}"))
}
