//! Alert delivery, as an on-call engineer relies on it: a failing probe's alert reaches a
//! real Alertmanager and resolves there; webhook, Slack and PagerDuty receivers get the
//! payloads they expect; a receiver that is down, failing or refusing, and vigil itself
//! killed with SIGKILL, lose nothing and page no one twice.

mod support;

use serde_json::Value;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-alerts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("rules")).unwrap();
    d
}

async fn get_json(url: &str) -> Option<Value> {
    let out = Command::new("curl")
        .args(["-sf", url])
        .output()
        .await
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

async fn get_text(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", url])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of one sample in a Prometheus text exposition, e.g.
/// `vigil_notifications_total{notifier="hook",result="success"}`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A notification receiver on 127.0.0.1: records every request and answers with the
/// scripted status codes (200 once the script is used up).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<std::collections::HashMap<String, VecDeque<u16>>>>,
}

impl Receiver {
    fn answer(&self, path: &str, codes: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_string(), codes.iter().copied().collect());
    }

    fn got(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Serve on `port` (0 = any); returns the port.
    async fn serve(&self, port: u16) -> u16 {
        let me = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    let path = uri.path().to_string();
                    me.got.lock().unwrap().push(Received {
                        path: path.clone(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let code = me
                        .script
                        .lock()
                        .unwrap()
                        .get_mut(&path)
                        .and_then(|q| q.pop_front())
                        .unwrap_or(200);
                    (
                        axum::http::StatusCode::from_u16(code).unwrap(),
                        if code == 400 {
                            "bad payload: no such field"
                        } else {
                            "ok"
                        },
                    )
                }
            },
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }
}

const RULES: &str = r#"groups:
  - name: shop
    interval: 1s
    rules:
      - alert: ShopDown
        expr: probe_success{probe="shop"} == 0
        for: FOR
        labels: { severity: page }
        annotations:
          summary: "{{ $labels.probe }} is failing"
          runbook_url: "https://runbooks.example/shop-down"
"#;

/// Write vigil.yaml (probe `shop` every second against `target`) and the rule file.
fn write_config(dir: &Path, port: u16, target: &str, hold: &str, notifiers: &str) {
    std::fs::write(dir.join("rules/shop.yaml"), RULES.replace("FOR", hold)).unwrap();
    std::fs::write(
        dir.join("vigil.yaml"),
        format!(
            "global:\n  listen: 127.0.0.1:{port}\n  state_dir: state\n  evaluation_interval: 1s\n  external_labels: {{ site: test }}\n  external_url: http://vigil.test:9464\nrule_files: [rules/*.yaml]\nprobes:\n  - name: shop\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    config: {{ url: \"http://{target}/\" }}\n    allow: [\"{target}\"]\nnotifiers:\n{notifiers}"
        ),
    )
    .unwrap();
}

fn start_vigil(dir: &Path, log: &str) -> Child {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "-c", dir.join("vigil.yaml").to_str().unwrap()])
        .env("PD_ROUTING_KEY", "R0UT1NGK3Y")
        .env("HOOK_TOKEN", "s3cret-token")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_ready(base: &str) {
    wait_for("vigil ready", 30, || async {
        let out = Command::new("curl")
            .args(["-sf", &format!("{base}/readyz")])
            .output()
            .await
            .ok()?;
        out.status.success().then_some(())
    })
    .await;
}

async fn history(base: &str) -> Vec<Value> {
    get_json(&format!("{base}/api/v1/alerts/history?alertname=ShopDown"))
        .await
        .and_then(|v| v["data"]["history"].as_array().cloned())
        .unwrap_or_default()
}

fn which(bin: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        let msg = format!("{bin} not found; install it with: {install}");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_gets_the_alert_and_its_resolution() {
    let Some(am_bin) = which(
        "prometheus-alertmanager",
        "apt-get install -y prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = workdir("am");
    let am_port = support::closed_port();
    std::fs::write(
        dir.join("am.yml"),
        "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let _am = Command::new(am_bin)
        .args([
            &format!("--config.file={}", dir.join("am.yml").display()),
            &format!("--storage.path={}", dir.join("am-data").display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
            "--log.level=warn",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let am = format!("http://127.0.0.1:{am_port}");
    wait_for("Alertmanager ready", 30, || async {
        get_text(&format!("{am}/-/ready"))
            .await
            .contains("OK")
            .then_some(())
    })
    .await;

    let (target, healthy) = support::switchable().await;
    let port = support::closed_port();
    // Two URLs, as for an Alertmanager cluster: the second one is down, and must not hold
    // up the first.
    let dead = support::closed_port();
    write_config(
        &dir,
        port,
        &target,
        "2s",
        &format!(
            "  - alertmanager:\n      name: am\n      urls: [\"{am}\", \"http://127.0.0.1:{dead}\"]\n"
        ),
    );
    let _vigil = start_vigil(&dir, "vigil.log");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    healthy.store(false, Ordering::Relaxed);
    let alert = wait_for("the alert in Alertmanager", 40, || async {
        let a = get_json(&format!("{am}/api/v2/alerts")).await?;
        a.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "ShopDown")
            .cloned()
    })
    .await;
    assert_eq!(alert["labels"]["probe"], "shop");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["site"], "test", "external labels are sent");
    assert_eq!(alert["annotations"]["summary"], "shop is failing");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example/shop-down"
    );
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://vigil.test:9464/graph?g0.expr=probe_success"),
        "{alert}"
    );
    assert_eq!(alert["status"]["state"], "active");
    // vigil's fingerprint is Alertmanager's.
    let h = history(&base).await;
    let firing = h
        .iter()
        .find(|e| e["to"] == "firing")
        .expect("firing in history");
    assert_eq!(firing["fingerprint"], alert["fingerprint"]);
    // endsAt = now + 4 × max(resend delay 1m, interval 1s): about 4 minutes ahead.
    let ends = humantime::parse_rfc3339_weak(alert["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(
        ahead > Duration::from_secs(200) && ahead <= Duration::from_secs(241),
        "{ahead:?}"
    );

    // The service heals: Alertmanager sees it resolved long before endsAt would lapse.
    healthy.store(true, Ordering::Relaxed);
    wait_for("the alert resolved in Alertmanager", 30, || async {
        let a = get_json(&format!("{am}/api/v2/alerts")).await?;
        (!a.as_array()?
            .iter()
            .any(|a| a["labels"]["alertname"] == "ShopDown"))
        .then_some(())
    })
    .await;
    let m = get_text(&format!("{base}/metrics")).await;
    assert!(
        sample(
            &m,
            r#"vigil_notifications_total{notifier="am",result="success"}"#
        )
        .unwrap()
            >= 2.0,
        "{m}"
    );
    // The dead URL keeps its notifications queued and retried.
    assert!(
        sample(&m, r#"vigil_notification_queue_length{notifier="am"}"#).unwrap() >= 1.0,
        "{m}"
    );
    assert!(
        sample(
            &m,
            r#"vigil_notifications_total{notifier="am",result="retried"}"#
        )
        .unwrap()
            >= 1.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn receivers_down_failing_and_refusing() {
    let dir = workdir("receivers");
    let (target, healthy) = support::switchable().await;
    let rx = Receiver::default();
    // /hook is down at first (nothing listens), then answers 500 twice, then 200.
    // /slack answers 200. /pd answers 200. /bad answers 400 to everything.
    let rx_port = support::closed_port();
    let port = support::closed_port();
    let r = format!("http://127.0.0.1:{rx_port}");
    write_config(
        &dir,
        port,
        &target,
        "0s",
        &format!(
            "  - webhook: {{ name: hook, url: \"{r}/hook\", bearer_token: env:HOOK_TOKEN }}\n  - slack: {{ name: chat, url: \"{r}/slack\", channel: \"#oncall\" }}\n  - pagerduty: {{ name: pd, url: \"{r}/pd\", routing_key: env:PD_ROUTING_KEY, match: {{ severity: page }} }}\n  - webhook: {{ name: bad, url: \"{r}/bad\" }}\n  - pagerduty: {{ name: pd-tickets, url: \"{r}/pd-tickets\", routing_key: env:PD_ROUTING_KEY, match: {{ severity: ticket }} }}\n"
        ),
    );
    let _vigil = start_vigil(&dir, "vigil.log");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    healthy.store(false, Ordering::Relaxed);
    // Every receiver is down: the notifications wait in the outbox, retried with backoff.
    let m = wait_for("queued and retried", 30, || async {
        let m = get_text(&format!("{base}/metrics")).await;
        (sample(
            &m,
            r#"vigil_notifications_total{notifier="hook",result="retried"}"#,
        )? >= 2.0)
            .then_some(m)
    })
    .await;
    assert_eq!(
        sample(&m, r#"vigil_notification_queue_length{notifier="hook"}"#),
        Some(1.0)
    );
    assert!(
        sample(
            &m,
            r#"vigil_notification_oldest_queued_seconds{notifier="hook"}"#
        )
        .unwrap()
            > 0.0
    );

    // The receiver comes back, failing twice with 500 on /hook before it works.
    rx.answer("/hook", &[500, 500]);
    rx.answer("/bad", &[400, 400, 400, 400]);
    rx.serve(rx_port).await;
    let hooks = wait_for("the webhook after the outage", 60, || async {
        let g = rx.got("/hook");
        (g.len() >= 3).then_some(g)
    })
    .await;
    assert_eq!(
        hooks[0].body, hooks[2].body,
        "the same notification, retried"
    );
    let hook = &hooks[2];
    assert_eq!(hook.authorization.as_deref(), Some("Bearer s3cret-token"));
    let b = &hook.body;
    assert_eq!(b["version"], "4");
    assert_eq!(b["status"], "firing");
    assert_eq!(b["receiver"], "hook");
    assert_eq!(b["groupLabels"]["alertname"], "ShopDown");
    assert_eq!(b["commonLabels"]["site"], "test");
    assert_eq!(b["externalURL"], "http://vigil.test:9464");
    assert_eq!(b["alerts"][0]["status"], "firing");
    assert_eq!(b["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(b["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    // The alert's source link works against vigil: it evaluates the rule's expression.
    let link = b["alerts"][0]["generatorURL"]
        .as_str()
        .unwrap()
        .replace("http://vigil.test:9464", &base);
    let out = Command::new("curl")
        .args(["-sfL", &link])
        .output()
        .await
        .unwrap();
    let q: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        q["data"]["result"][0]["metric"]["probe"], "shop",
        "{link}: {q}"
    );

    let slack = wait_for("slack", 30, || async { rx.got("/slack").first().cloned() }).await;
    assert_eq!(slack.body["channel"], "#oncall");
    assert!(
        slack.body["text"]
            .as_str()
            .unwrap()
            .contains("FIRING: ShopDown")
    );
    assert_eq!(
        slack.body["blocks"][1]["accessory"]["url"],
        "https://runbooks.example/shop-down"
    );
    let pd = wait_for("pagerduty", 30, || async { rx.got("/pd").first().cloned() }).await;
    assert_eq!(
        pd.body["routing_key"], "R0UT1NGK3Y",
        "the key is added when sending"
    );
    assert_eq!(pd.body["event_action"], "trigger");
    assert_eq!(pd.body["dedup_key"], b["alerts"][0]["fingerprint"]);
    assert_eq!(pd.body["payload"]["severity"], "critical");
    assert!(
        rx.got("/pd-tickets").is_empty(),
        "matchers route pages only to pd"
    );

    // 400 is not retried: one request, counted as rejected and logged with the answer.
    let m = wait_for("rejected", 30, || async {
        let m = get_text(&format!("{base}/metrics")).await;
        (sample(
            &m,
            r#"vigil_notifications_total{notifier="bad",result="rejected"}"#,
        )? >= 1.0)
            .then_some(m)
    })
    .await;
    assert_eq!(
        sample(&m, r#"vigil_notification_queue_length{notifier="hook"}"#),
        Some(0.0)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.got("/bad").len(), 1, "a 400 is not retried");
    let log = std::fs::read_to_string(dir.join("vigil.log")).unwrap();
    assert!(
        log.contains("rejected by the receiver") && log.contains("no such field"),
        "{log}"
    );

    // Healed: every receiver is told it resolved, after (never before) the firing one.
    healthy.store(true, Ordering::Relaxed);
    wait_for("resolved everywhere", 30, || async {
        let hook = rx.got("/hook");
        let pd = rx.got("/pd");
        (hook.last()?.body["status"] == "resolved"
            && pd.last()?.body["event_action"] == "resolve"
            && rx.got("/slack").last()?.body["text"]
                .as_str()?
                .contains("RESOLVED"))
        .then_some(())
    })
    .await;
    let hook = rx.got("/hook");
    let firing_at = hook
        .iter()
        .rposition(|r| r.body["status"] == "firing")
        .unwrap();
    let resolved_at = hook
        .iter()
        .position(|r| r.body["status"] == "resolved")
        .unwrap();
    assert!(firing_at < resolved_at);
    assert_eq!(
        rx.got("/pd").last().unwrap().body["dedup_key"],
        pd.body["dedup_key"]
    );

    // The history has the whole story, with the probe run that drove each change.
    let h = history(&base).await;
    let states: Vec<(&str, &str)> = h
        .iter()
        .rev()
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("inactive", "firing"), ("firing", "inactive")]);
    assert_eq!(h[1]["probeRun"]["outcome"], "failure");
    assert_eq!(h[0]["probeRun"]["outcome"], "success");
    assert_eq!(h[0]["labels"]["probe"], "shop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_loses_nothing_and_pages_once() {
    let dir = workdir("sigkill");
    let (target, healthy) = support::switchable().await;
    let rx = Receiver::default();
    let rx_port = support::closed_port();
    let port = support::closed_port();
    let r = format!("http://127.0.0.1:{rx_port}");
    write_config(
        &dir,
        port,
        &target,
        "0s",
        &format!(
            "  - pagerduty: {{ name: pd, url: \"{r}/pd\", routing_key: env:PD_ROUTING_KEY }}\n  - webhook: {{ name: hook, url: \"{r}/hook\" }}\n"
        ),
    );
    let mut vigil = start_vigil(&dir, "vigil-1.log");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    // The alert fires while the receiver is down: both notifications are queued.
    healthy.store(false, Ordering::Relaxed);
    wait_for("queued", 30, || async {
        let m = get_text(&format!("{base}/metrics")).await;
        (sample(&m, r#"vigil_notification_queue_length{notifier="pd"}"#)? >= 1.0
            && sample(&m, r#"vigil_notification_queue_length{notifier="hook"}"#)? >= 1.0)
            .then_some(())
    })
    .await;
    vigil.kill().await.unwrap(); // SIGKILL
    vigil.wait().await.unwrap();

    // The receiver comes back; vigil restarts on the same state, the service still down.
    rx.serve(rx_port).await;
    let _vigil = start_vigil(&dir, "vigil-2.log");
    wait_ready(&base).await;
    wait_for("delivered after the restart", 30, || async {
        (!rx.got("/pd").is_empty() && !rx.got("/hook").is_empty()).then_some(())
    })
    .await;
    // Several evaluations later, still exactly one page: the restored state knows the
    // alert was already firing and who was told.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pd = rx.got("/pd");
    assert_eq!(pd.len(), 1, "{pd:?}");
    assert_eq!(pd[0].body["event_action"], "trigger");
    assert_eq!(rx.got("/hook").len(), 1);
    let h = history(&base).await;
    assert_eq!(
        h.iter().filter(|e| e["to"] == "firing").count(),
        1,
        "the restart did not start the alert over: {h:?}"
    );

    healthy.store(true, Ordering::Relaxed);
    wait_for("resolved after the restart", 30, || async {
        (rx.got("/pd").last()?.body["event_action"] == "resolve").then_some(())
    })
    .await;
    assert_eq!(rx.got("/pd").len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_for_timer() {
    let dir = workdir("for");
    let (target, healthy) = support::switchable().await;
    let port = support::closed_port();
    write_config(&dir, port, &target, "1h", "  - console: {}\n");
    let mut vigil = start_vigil(&dir, "vigil-1.log");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    healthy.store(false, Ordering::Relaxed);
    let alerts = format!("{base}/api/v1/alerts");
    let active_at = wait_for("pending", 30, || async {
        let a = get_json(&alerts).await?;
        (a["data"]["alerts"][0]["state"] == "pending")
            .then(|| a["data"]["alerts"][0]["activeAt"].clone())
    })
    .await;
    // Let the state be saved by a later evaluation, then SIGTERM and start again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Command::new("kill")
        .args(["-TERM", &vigil.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    vigil.wait().await.unwrap();
    let _vigil = start_vigil(&dir, "vigil-2.log");
    wait_ready(&base).await;
    let after = wait_for("pending after restart", 30, || async {
        let a = get_json(&alerts).await?;
        (a["data"]["alerts"][0]["state"] == "pending")
            .then(|| a["data"]["alerts"][0]["activeAt"].clone())
    })
    .await;
    assert_eq!(
        after, active_at,
        "the `for` timer carried on across the restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
