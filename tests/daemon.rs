//! `vigil run` as an operator uses it: a config of several probes against a local service,
//! `/metrics` and the API, a broken reload that changes nothing, a fix that adds a probe,
//! a restart that keeps history, and SIGTERM in the middle of a run.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{TestServer, fixture, start};
use tokio::process::{Child, Command};

/// A scratch directory for one test's config and state.
fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    support::closed_port()
}

/// A running `vigil run`.
struct Vigil {
    child: Child,
    base: String,
    stderr: PathBuf,
}

impl Vigil {
    async fn start(dir: &Path, port: u16, extra: &[&str]) -> Vigil {
        let stderr = dir.join(format!("vigil-{}.log", Instant::now().elapsed().as_nanos()));
        let log = std::fs::File::create(&stderr).unwrap();
        let mut args = vec!["run", "-c"];
        let config = dir.join("vigil.yaml");
        let config = config.to_str().unwrap().to_string();
        args.push(&config);
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(&args)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let v = Vigil {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        v.wait_ready().await;
        v
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest_get(&format!("{}/readyz", self.base)).await
                && r.0 == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "vigil never became ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        reqwest_get(&format!("{}{path}", self.base)).await.unwrap()
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.get(path).await;
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn post(&self, path: &str) -> (u16, String) {
        http_request("POST", &format!("{}{path}", self.base), None)
            .await
            .unwrap()
    }

    /// The value of one sample line in /metrics (exact series text).
    async fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    async fn wait_for(&self, what: &str, mut check: impl AsyncFnMut(&Vigil) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(self).await {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM; returns the exit code and how long the exit took.
    async fn terminate(mut self) -> (i32, Duration, String) {
        let (code, took) = support::sigterm(&mut self.child).await;
        (code, took, self.logs())
    }
}

async fn http_request(
    method: &str,
    url: &str,
    accept: Option<&str>,
) -> Result<(u16, String), String> {
    let mut cmd = vec!["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url];
    if let Some(a) = accept {
        cmd.push("-H");
        cmd.push(a);
    }
    let out = Command::new("curl")
        .args(&cmd)
        .output()
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').ok_or("no status")?;
    let code: u16 = code.parse().map_err(|_| format!("curl failed: {text}"))?;
    if code == 0 {
        return Err("connection failed".into());
    }
    Ok((code, body.to_string()))
}

async fn reqwest_get(url: &str) -> Result<(u16, String), String> {
    http_request("GET", url, None).await
}

fn config(port: u16, server: &TestServer, extra_probes: &str) -> String {
    format!(
        r#"global:
  listen: 127.0.0.1:{port}
  state_dir: state
  shutdown_grace: 10s
probes:
  - name: home
    wasm: builtin:http
    schedule: "@every 1s"
    labels: {{ team: shop }}
    config: {{ url: "{url}/" }}
    allow: ["{allow}"]
  - name: payments
    wasm: builtin:http
    schedule: "@every 1s"
    retries: 1
    config: {{ url: "{url}/status/503" }}
    allow: ["{allow}"]
  - name: db
    wasm: builtin:tcp
    schedule: "* * * * * *"
    config: {{ address: "{allow}" }}
    allow: ["{allow}"]
{extra_probes}"#,
        url = server.url(),
        allow = server.allow(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_in_the_life_of_the_daemon() {
    let server = start().await;
    let dir = workdir("life");
    let port = free_port();
    std::fs::write(dir.join("vigil.yaml"), config(port, &server, "")).unwrap();
    let vigil = Vigil::start(&dir, port, &[]).await;

    // Probes run on their schedules and /metrics shows them, Prometheus-style.
    vigil
        .wait_for("first runs", async |v| {
            v.metric(r#"probe_success{probe="payments"}"#)
                .await
                .is_some()
                && v.metric(r#"probe_success{probe="home",team="shop"}"#)
                    .await
                    .is_some()
                && v.metric(r#"probe_success{probe="db"}"#).await.is_some()
        })
        .await;
    assert_eq!(
        vigil
            .metric(r#"probe_success{probe="home",team="shop"}"#)
            .await,
        Some(1.0)
    );
    assert_eq!(
        vigil.metric(r#"probe_success{probe="payments"}"#).await,
        Some(0.0)
    );
    assert_eq!(
        vigil.metric(r#"probe_attempts{probe="payments"}"#).await,
        Some(2.0)
    );
    assert_eq!(
        vigil.metric(r#"probe_success{probe="db"}"#).await,
        Some(1.0)
    );
    assert_eq!(
        vigil
            .metric(r#"probe_http_status_code{probe="payments",step="http"}"#)
            .await,
        Some(503.0)
    );
    assert_eq!(
        vigil.metric("vigil_config_last_reload_successful").await,
        Some(1.0)
    );
    let (_, text) = vigil.get("/metrics").await;
    assert!(text.contains("# TYPE probe_success gauge"), "{text}");
    assert!(text.contains("vigil_schedule_lag_seconds_bucket{le="));
    assert!(text.contains("vigil_probe_runs_total{outcome=\"failure\",probe=\"payments\"}"));

    let (_, om) = http_request(
        "GET",
        &format!("{}/metrics", vigil.base),
        Some("Accept: application/openmetrics-text; version=1.0.0"),
    )
    .await
    .unwrap();
    assert!(om.ends_with("# EOF\n"), "OpenMetrics when asked");
    assert!(om.contains("# TYPE vigil_probe_runs counter"));

    // The API lists probes with state, last and next run.
    let probes = vigil.json("/api/v1/probes").await;
    let payments = probes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "payments")
        .unwrap();
    assert_eq!(payments["last_outcome"], "failure");
    assert_eq!(payments["last_reason"], "guest_error");
    assert!(payments["next_run"].is_string());
    let runs = vigil.json("/api/v1/probes/payments/runs?limit=5").await;
    let first = &runs.as_array().unwrap()[0];
    assert_eq!(first["outcome"], "failure");
    assert_eq!(
        first["attempts"].as_array().unwrap().len(),
        1,
        "retry recorded"
    );
    let (code, body) = vigil.post("/api/v1/probes/home/run").await;
    assert_eq!(code, 200);
    let run: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(run["outcome"], "success");
    assert_eq!(vigil.get("/api/v1/probes/nope/runs").await.0, 404);

    // A broken config is refused on reload; the old one keeps running.
    let good = std::fs::read_to_string(dir.join("vigil.yaml")).unwrap();
    std::fs::write(
        dir.join("vigil.yaml"),
        good.replace(
            "schedule: \"@every 1s\"\n    labels",
            "schedule: \"@every lunchtime\"\n    labels",
        ),
    )
    .unwrap();
    let (code, body) = vigil.post("/-/reload").await;
    assert_eq!(code, 400, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let error = reply["errors"][0].as_str().unwrap();
    assert!(
        error.contains(
            "vigil.yaml:8:15: invalid schedule \"@every lunchtime\": invalid duration \"lunchtime\""
        ),
        "{error}"
    );
    assert_eq!(
        vigil.metric("vigil_config_last_reload_successful").await,
        Some(0.0)
    );
    let before = vigil
        .metric(r#"vigil_probe_runs_total{outcome="success",probe="home"}"#)
        .await
        .unwrap();
    vigil
        .wait_for("home to keep running", async |v| {
            v.metric(r#"vigil_probe_runs_total{outcome="success",probe="home"}"#)
                .await
                .unwrap()
                > before + 1.0
        })
        .await;

    // Fixing the file (the watcher sees it) brings a new probe in.
    let fixed = config(
        port,
        &server,
        &format!(
            "  - name: newcomer\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    config: {{ url: \"{}/\" }}\n    allow: [\"{}\"]\n",
            server.url(),
            server.allow()
        ),
    );
    std::fs::write(dir.join("vigil.yaml"), fixed).unwrap();
    vigil
        .wait_for("the new probe", async |v| {
            v.metric(r#"probe_success{probe="newcomer"}"#).await == Some(1.0)
        })
        .await;
    assert_eq!(
        vigil.metric("vigil_config_last_reload_successful").await,
        Some(1.0)
    );
    let names: Vec<String> = vigil
        .json("/api/v1/probes")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["db", "home", "newcomer", "payments"]);

    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(logs.contains("configuration reload failed; the running configuration stays in force"));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_survives_a_restart_and_sigterm_lets_a_run_finish() {
    let server = start().await;
    let dir = workdir("restart");
    let port = free_port();
    let probes = format!(
        "  - name: slow\n    wasm: builtin:http\n    schedule: \"@yearly\"\n    config: {{ url: \"{}/slow?ms=1500\" }}\n    allow: [\"{}\"]\n",
        server.url(),
        server.allow()
    );
    std::fs::write(dir.join("vigil.yaml"), config(port, &server, &probes)).unwrap();
    let vigil = Vigil::start(&dir, port, &[]).await;
    let (code, _) = vigil.post("/api/v1/probes/slow/run").await;
    assert_eq!(code, 200);

    // Start another slow run and terminate while it is in flight.
    let url = format!("{}/api/v1/probes/slow/run", vigil.base);
    let in_flight = tokio::spawn(async move { http_request("POST", &url, None).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(
        elapsed >= Duration::from_millis(700),
        "did not wait for the run: {elapsed:?}"
    );
    assert!(logs.contains("state flushed"), "{logs}");
    let answered = in_flight.await.unwrap();
    assert_eq!(
        answered.map(|r| r.0).ok(),
        Some(200),
        "the in-flight run completed"
    );

    // Same state dir: the slow probe's runs and samples are still there.
    let vigil = Vigil::start(&dir, port, &[]).await;
    let runs = vigil.json("/api/v1/probes/slow/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs:#}");
    assert_eq!(
        vigil.metric(r#"probe_success{probe="slow"}"#).await,
        Some(1.0)
    );
    let probes = vigil.json("/api/v1/probes").await;
    let slow = probes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "slow")
        .unwrap();
    assert_eq!(slow["last_outcome"], "success");
    assert_eq!(vigil.terminate().await.0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_started_over_the_api_does_not_hold_sigterm_past_the_grace_period() {
    let server = start().await;
    let dir = workdir("api-grace");
    let port = free_port();
    let probes = format!(
        "  - name: stuck\n    wasm: builtin:http\n    schedule: \"@yearly\"\n    timeout: 60s\n    config: {{ url: \"{}/slow?ms=30000\" }}\n    allow: [\"{}\"]\n",
        server.url(),
        server.allow()
    );
    let text = config(port, &server, &probes).replace("shutdown_grace: 10s", "shutdown_grace: 2s");
    std::fs::write(dir.join("vigil.yaml"), text).unwrap();
    let vigil = Vigil::start(&dir, port, &[]).await;
    let url = format!("{}/api/v1/probes/stuck/run", vigil.base);
    let _in_flight = tokio::spawn(async move { http_request("POST", &url, None).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(
        elapsed < Duration::from_secs(5),
        "a 30 s run over the API held the exit for {elapsed:?} with a 2 s grace:\n{logs}"
    );
    assert!(logs.contains("state flushed"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overlapping_tick_is_skipped_and_counted() {
    let server = start().await;
    let dir = workdir("overlap");
    let port = free_port();
    std::fs::write(
        dir.join("vigil.yaml"),
        format!(
            "global: {{ listen: 127.0.0.1:{port}, state_dir: state }}\nprobes:\n  - name: sluggish\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    timeout: 10s\n    config: {{ url: \"{}/slow?ms=2500\" }}\n    allow: [\"{}\"]\n",
            server.url(),
            server.allow()
        ),
    )
    .unwrap();
    let vigil = Vigil::start(&dir, port, &["--log-format", "json"]).await;
    vigil
        .wait_for("a skipped tick", async |v| {
            v.metric(r#"vigil_schedule_skipped_ticks_total{probe="sluggish"}"#)
                .await
                .is_some_and(|n| n >= 1.0)
        })
        .await;
    let probes = vigil.json("/api/v1/probes").await;
    assert!(probes[0]["skipped_ticks"].as_u64().unwrap() >= 1);
    let (code, _, logs) = vigil.terminate().await;
    assert_eq!(code, 0);
    for line in logs.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    assert!(logs.contains("tick skipped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_lists_every_problem_with_its_position() {
    let dir = workdir("check");
    std::fs::copy(fixture("wrong-export"), dir.join("wrong.wasm")).unwrap();
    std::fs::write(
        dir.join("vigil.yaml"),
        "probes:\n  - name: a\n    wasm: wrong.wasm\n    schedule: \"@every 10s\"\n  - name: b\n    wasm: builtin:http\n    schedule: \"@every 10s\"\n",
    )
    .unwrap();
    let config = dir.join("vigil.yaml");
    let out = support::vigil(&["check", "-c", config.to_str().unwrap()]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("vigil.yaml:3:11: probe \"a\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("must export `run: func() -> result<_, string>`"),
        "{}",
        out.stdout
    );

    std::fs::write(
        dir.join("vigil.yaml"),
        "probes:\n  - name: a\n    wasm: builtin:nope\n    schedule: \"@every 10s\"\n  - name: a\n    wasm: builtin:http\n    schedule: \"every 10s\"\n",
    )
    .unwrap();
    let out = support::vigil(&["check", "-c", config.to_str().unwrap()]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("vigil.yaml:7:15: invalid schedule"),
        "{}",
        out.stdout
    );

    std::fs::write(
        dir.join("vigil.yaml"),
        "probes:\n  - name: a\n    wasm: builtin:http\n    schedule: \"*/5 * * * *\"\n",
    )
    .unwrap();
    let out = support::vigil(&["check", "-c", config.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("OK (1 probes compiled, 0 rule files)"));

    // `vigil run` refuses to start on a broken file, listing the problem.
    std::fs::write(dir.join("vigil.yaml"), "probes:\n  - nme: a\n").unwrap();
    let out = support::vigil(&["run", "-c", config.to_str().unwrap()]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("vigil.yaml:2:5: unknown field `nme`"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sidecar.yaml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["check", "-c", example])
        .env("SHOP_SYNTHETIC_PASSWORD", "example")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("OK (4 probes compiled"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_accepts_the_metrics_exposition() {
    // The point of /metrics is that a Prometheus server scrapes it unchanged: let
    // Prometheus's own linter judge it.
    let Ok(promtool) = which_promtool() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing (Debian package prometheus); CI must install it"
        );
        eprintln!("SKIP: promtool not installed (apt-get install prometheus)");
        return;
    };
    let server = start().await;
    let dir = workdir("promtool");
    let port = free_port();
    let probes = "  - name: custom\n    wasm: PATH\n    schedule: \"@every 1s\"\n"
        .replace("PATH", &fixture("metrics"));
    std::fs::write(dir.join("vigil.yaml"), config(port, &server, &probes)).unwrap();
    let vigil = Vigil::start(&dir, port, &[]).await;
    vigil
        .wait_for("samples from every probe", async |v| {
            v.metric(r#"cart_items{probe="custom",shop="eu"}"#)
                .await
                .is_some()
                && v.metric(r#"probe_success{probe="db"}"#).await.is_some()
        })
        .await;
    let (_, text) = vigil.get("/metrics").await;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(vigil.terminate().await.0, 0);
}

fn which_promtool() -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .ok_or(())
}
