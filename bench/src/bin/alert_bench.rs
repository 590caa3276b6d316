//! Alert delivery benchmark (docs/BENCHMARKS.md, section 5), on the real daemon
//! (`vigil::daemon::Daemon` with its SQLite state on disk) and real HTTP on 127.0.0.1:
//!
//! 1. latency: a probe (`builtin:http`, every second) starts failing; a rule with `for: 0s`
//!    (evaluated every second) fires; how long from the failing run's end to a webhook
//!    receiving the notification, and from the evaluation that decided it. `--cycles` times.
//! 2. throughput: `--rules` alerting rules fire at once while the receiver answers 503, so
//!    the outbox fills; then the receiver recovers and the drain is timed, for a webhook
//!    (one request per notification) and for Alertmanager (batches of 64 per request).
//!
//!   cargo run --release -p vigil-bench --bin alert_bench -- [--cycles 20] [--rules 2000]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

/// What a receiver saw: (when, body).
type Seen = Arc<Mutex<Vec<(SystemTime, Instant, String)>>>;

/// A loopback HTTP server answering `status` (for the service: 200 when healthy, else 503;
/// for a receiver: the current code) and recording request bodies.
async fn server(status: Arc<AtomicU16>, seen: Seen) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let status = status.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let status = status.clone();
                    let seen = seen.clone();
                    async move {
                        let code = status.load(Ordering::Relaxed);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        if code == 200 && !body.is_empty() {
                            seen.lock().unwrap().push((
                                SystemTime::now(),
                                Instant::now(),
                                String::from_utf8_lossy(&body).into_owned(),
                            ));
                        }
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *resp.status_mut() = StatusCode::from_u16(code).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, target: &str, notifier: &str, rules: usize) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut r = String::from("groups:\n  - name: bench\n    interval: 1s\n    rules:\n");
    for i in 0..rules {
        r.push_str(&format!(
            "      - alert: ShopDown{i}\n        expr: probe_success{{probe=\"shop\"}} == 0\n        for: 0s\n        labels: {{ severity: page, n: \"{i}\" }}\n        annotations: {{ summary: \"{{{{ $labels.probe }}}} is failing ({i})\" }}\n"
        ));
    }
    std::fs::write(dir.join("rules.yml"), r)?;
    let path = dir.join("vigil.yaml");
    std::fs::write(
        &path,
        format!(
            "global: {{ listen: 127.0.0.1:{}, state_dir: state, evaluation_interval: 1s }}\nrule_files: [rules.yml]\nprobes:\n  - name: shop\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    config: {{ url: \"http://{target}/\" }}\n    allow: [\"{target}\"]\nnotifiers:\n{notifier}",
            free_port()
        ),
    )?;
    Ok(path)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn wait_until(mut f: impl FnMut() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

async fn latency(work: &Path, cycles: usize) -> anyhow::Result<()> {
    let healthy = Arc::new(AtomicU16::new(200));
    let service = server(healthy.clone(), Arc::default()).await?;
    let seen: Seen = Arc::default();
    let hook = server(Arc::new(AtomicU16::new(200)), seen.clone()).await?;
    let config = write_config(
        &work.join("latency"),
        &service,
        &format!("  - webhook: {{ name: hook, url: \"http://{hook}/\" }}\n"),
        1,
    )?;
    let daemon = vigil::daemon::Daemon::start(&config).await?;
    let mut from_run = Vec::new();
    let mut from_eval = Vec::new();
    for _ in 0..cycles {
        let before = seen.lock().unwrap().len();
        healthy.store(503, Ordering::Relaxed);
        let d = daemon.clone();
        // The end of the first failing run.
        let mut run_end = None;
        let got = wait_until(
            || {
                if run_end.is_none()
                    && let Some(r) = d.store.last_run("shop")
                    && r.outcome != vigil::record::Outcome::Success
                {
                    run_end = Some(r.started_at + r.duration);
                }
                seen.lock().unwrap().len() > before
            },
            Duration::from_secs(10),
        )
        .await;
        anyhow::ensure!(got, "no notification within 10 s");
        let (at, _, body) = seen.lock().unwrap()[before].clone();
        anyhow::ensure!(
            body.contains("\"status\":\"firing\""),
            "expected firing: {body}"
        );
        let run_end =
            run_end.or_else(|| d.store.last_run("shop").map(|r| r.started_at + r.duration));
        if let Some(end) = run_end {
            from_run.push(at.duration_since(end).unwrap_or_default().as_secs_f64() * 1e3);
        }
        // startsAt = the evaluation that fired it.
        let starts = body
            .split("\"startsAt\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok());
        if let Some(s) = starts {
            from_eval.push(at.duration_since(s).unwrap_or_default().as_secs_f64() * 1e3);
        }
        // Heal and wait for the resolved notification before the next cycle.
        healthy.store(200, Ordering::Relaxed);
        let n = seen.lock().unwrap().len();
        wait_until(|| seen.lock().unwrap().len() > n, Duration::from_secs(10)).await;
    }
    daemon.stop(Duration::from_secs(5)).await;
    println!(
        "latency ({} cycles, probe every 1s, rule evaluated every 1s, for: 0s, webhook on loopback)",
        from_run.len()
    );
    let n = from_run.len();
    println!(
        "  failing run end -> webhook received   p50 {:7.1} ms  p90 {:7.1} ms  max {:7.1} ms",
        percentile(&mut from_run, 0.5),
        percentile(&mut from_run, 0.9),
        percentile(&mut from_run, 1.0),
    );
    if !from_eval.is_empty() {
        println!(
            "  deciding evaluation -> received       p50 {:7.1} ms  p90 {:7.1} ms  max {:7.1} ms  ({} samples)",
            percentile(&mut from_eval, 0.5),
            percentile(&mut from_eval, 0.9),
            percentile(&mut from_eval, 1.0),
            n
        );
    }
    Ok(())
}

async fn throughput(work: &Path, kind: &str, rules: usize) -> anyhow::Result<()> {
    let healthy = Arc::new(AtomicU16::new(200));
    let service = server(healthy.clone(), Arc::default()).await?;
    let seen: Seen = Arc::default();
    let code = Arc::new(AtomicU16::new(503));
    let rx = server(code.clone(), seen.clone()).await?;
    let notifier = match kind {
        "webhook" => format!("  - webhook: {{ name: hook, url: \"http://{rx}/\" }}\n"),
        _ => format!("  - alertmanager: {{ name: am, url: \"http://{rx}\" }}\n"),
    };
    let config = write_config(&work.join(kind), &service, &notifier, rules)?;
    let daemon = vigil::daemon::Daemon::start(&config).await?;
    healthy.store(503, Ordering::Relaxed);
    // Everything fires in one evaluation and is queued behind the failing receiver.
    let d = daemon.clone();
    let queued = wait_until(|| d.alerts.queued() >= rules, Duration::from_secs(30)).await;
    anyhow::ensure!(queued, "alerts did not queue");
    // Stop the flow of new notifications (firing is not re-sent to a webhook), then drain.
    let total = d.alerts.queued();
    let count = |seen: &Seen| -> usize {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| b.matches("\"generatorURL\"").count())
            .sum()
    };
    let started = Instant::now();
    code.store(200, Ordering::Relaxed);
    let want = rules;
    let ok = wait_until(|| count(&seen) >= want, Duration::from_secs(120)).await;
    anyhow::ensure!(ok, "only {} of {want} delivered", count(&seen));
    let first = seen.lock().unwrap().first().map(|x| x.1).unwrap_or(started);
    let last = seen.lock().unwrap().last().map(|x| x.1).unwrap_or(started);
    let requests = seen.lock().unwrap().len();
    let span = last.duration_since(first).as_secs_f64().max(1e-9);
    println!(
        "throughput {kind:<12} {want} notifications ({total} outbox rows) in {requests} requests: drained in {:.3} s after the first delivery = {:.0} notifications/s",
        span,
        (want as f64 - 1.0).max(1.0) / span
    );
    daemon.stop(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cycles = 20;
    let mut rules = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cycles" => cycles = args.next().unwrap_or_default().parse()?,
            "--rules" => rules = args.next().unwrap_or_default().parse()?,
            _ => anyhow::bail!("usage: alert_bench [--cycles N] [--rules N]"),
        }
    }
    let work = std::env::temp_dir().join(format!("vigil-alert-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let r = async {
        latency(&work, cycles).await?;
        throughput(&work, "webhook", rules).await?;
        throughput(&work, "alertmanager", rules).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&work);
    r
}
