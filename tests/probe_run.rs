//! `vigil probe run` as a user runs it: the real binary, real components, a real HTTP
//! server on 127.0.0.1. Every hostile probe must end with its named reason while vigil
//! itself exits normally.

mod support;

use serde_json::Value;
use support::{PASSWORD, USER, closed_port, example, fixture, start, vigil};

/// Run a probe with `--output json` and return (exit code, record).
async fn run_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["probe", "run", "--output", "json"];
    all.extend_from_slice(args);
    let out = vigil(&all).await;
    (out.code, out.json())
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {run:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_http_success_prints_a_clear_report() {
    let server = start().await;
    let url = format!("url={}/", server.url());
    let out = vigil(&[
        "probe",
        "run",
        "builtin:http",
        "--set",
        &url,
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("probe    builtin:http\noutcome  SUCCESS in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("GET {}/ -> 200", server.url())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("connect "),
        "HTTP timings missing:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("first byte "), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_http_record_has_step_timings_and_metric() {
    let server = start().await;
    let url = format!("url={}/", server.url());
    let (code, run) = run_json(&["builtin:http", "--set", &url, "--allow", &server.allow()]).await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["outcome"], "success");
    assert!(run.get("reason").is_none(), "{run:#}");
    assert_eq!(step(&run, "http")["success"], true);
    let x = &run["http"][0];
    assert_eq!(x["method"], "GET");
    assert_eq!(x["status"], 200);
    assert_eq!(x["step"], "http");
    assert_eq!(x["body_bytes"], 27);
    for phase in ["connect", "first_byte", "total"] {
        assert!(x[phase].as_f64().unwrap() > 0.0, "{phase} missing: {x:#}");
    }
    let metric = run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "http_body_bytes")
        .expect("http_body_bytes metric");
    assert_eq!(metric["value"], 27.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_status_assertion_is_a_guest_error_naming_the_status() {
    let server = start().await;
    let url = format!("url={}/status/503", server.url());
    let (code, run) = run_json(&["builtin:http", "--set", &url, "--allow", &server.allow()]).await;
    assert_eq!(code, 1);
    assert_eq!(run["outcome"], "failure");
    assert_eq!(run["reason"], "guest_error");
    let msg = run["message"].as_str().unwrap();
    assert!(msg.contains("503"), "{msg}");
    assert_eq!(step(&run, "http")["success"], false);
    assert_eq!(run["http"][0]["status"], 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn body_assertion_failure_says_what_was_missing() {
    let server = start().await;
    let url = format!("url={}/", server.url());
    let (code, run) = run_json(&[
        "builtin:http",
        "--set",
        &url,
        "--set",
        "body_contains=goodbye",
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "guest_error");
    assert!(
        run["message"].as_str().unwrap().contains("goodbye"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_response_over_max_latency_is_degraded_not_failed() {
    let server = start().await;
    let url = format!("url={}/slow?ms=300", server.url());
    let (code, run) = run_json(&[
        "builtin:http",
        "--set",
        &url,
        "--set",
        "max_latency=100ms",
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 0, "degraded still exits 0: {run:#}");
    assert_eq!(run["outcome"], "degraded");
    assert_eq!(run["reason"], "degraded");
    assert!(
        run["message"].as_str().unwrap().contains("max_latency"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_can_mark_itself_degraded() {
    let (code, run) = run_json(&[&fixture("degraded")]).await;
    assert_eq!(code, 0);
    assert_eq!(run["outcome"], "degraded");
    assert_eq!(run["message"], "replica lag 12s");
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_err_is_recorded_verbatim() {
    let (code, run) = run_json(&[&fixture("fail")]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "guest_error");
    assert_eq!(run["message"], "checkout: expected status 200, got 503");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_steps_are_recorded_with_labels() {
    let (code, run) = run_json(&[&fixture("metrics")]).await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(step(&run, "one")["success"], true);
    assert_eq!(step(&run, "two")["success"], true);
    let m = &run["metrics"][0];
    assert_eq!(m["name"], "cart_items");
    assert_eq!(m["value"], 3.0);
    assert_eq!(m["labels"], serde_json::json!([["shop", "eu"]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_probe_logs_in_uses_the_token_and_logs_out() {
    let server = start().await;
    let base = format!("base_url={}", server.url());
    let user = format!("username={USER}");
    let secret = format!("password={PASSWORD}");
    let (code, run) = run_json(&[
        &example("scenario"),
        "--set",
        &base,
        "--set",
        &user,
        "--secret",
        &secret,
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["outcome"], "success");
    let names: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["login", "account", "logout"]);
    let statuses: Vec<u64> = run["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 204]);
    let orders = run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "orders")
        .expect("orders metric");
    assert_eq!(orders["value"], 2.0);
    assert!(
        !run.to_string().contains(PASSWORD),
        "the secret leaked into the record"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scenario_with_wrong_password_fails_at_login() {
    let server = start().await;
    let base = format!("base_url={}", server.url());
    let user = format!("username={USER}");
    let (code, run) = run_json(&[
        &example("scenario"),
        "--set",
        &base,
        "--set",
        &user,
        "--secret",
        "password=wrong",
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "guest_error");
    let msg = run["message"].as_str().unwrap();
    assert!(msg.contains("login") && msg.contains("401"), "{msg}");
    assert_eq!(step(&run, "login")["success"], false);
    assert_eq!(
        run["steps"].as_array().unwrap().len(),
        1,
        "stopped after login"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_tcp_connects_and_reports_refusal() {
    let server = start().await;
    let addr = format!("address={}", server.allow());
    let (code, run) = run_json(&["builtin:tcp", "--set", &addr, "--allow", &server.allow()]).await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(step(&run, "connect")["success"], true);

    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let addr = format!("address={target}");
    let (code, run) = run_json(&["builtin:tcp", "--set", &addr, "--allow", &target]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "guest_error");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_port_over_http_fails_with_connection_refused() {
    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let url = format!("url=http://{target}/");
    let (code, run) = run_json(&["builtin:http", "--set", &url, "--allow", &target]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "guest_error");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{run:#}"
    );
    assert_eq!(run["http"][0]["error"], "connection refused");
}

// ---- hostile probes: each ends with its named reason, and vigil exits normally ----

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_hits_the_cpu_limit() {
    let (code, run) = run_json(&[&fixture("spin"), "--cpu", "200ms", "--timeout", "20s"]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "cpu_limit");
    assert_eq!(run["message"], "CPU limit of 200.0ms exceeded");
    assert!(run["duration"].as_f64().unwrap() < 10.0, "{run:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_under_a_shorter_timeout_times_out() {
    let (code, run) = run_json(&[&fixture("spin"), "--cpu", "60s", "--timeout", "300ms"]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "timeout");
    assert_eq!(run["message"], "timed out after 300.0ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_blocked_on_a_clock_times_out() {
    let (code, run) = run_json(&[&fixture("sleep"), "--timeout", "300ms"]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_hits_the_memory_limit() {
    let (code, run) = run_json(&[&fixture("memory-bomb"), "--memory", "32MiB"]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "memory_limit", "{run:#}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("memory limit of 32 MiB"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn log_flood_is_stopped_at_the_log_cap() {
    let (code, run) = run_json(&[&fixture("log-flood")]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "limit_exceeded");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("log cap exceeded"),
        "{run:#}"
    );
    let kept: usize = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().len())
        .sum();
    assert!(kept <= 70 * 1024, "kept {kept} bytes of logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_flood_is_stopped_at_the_log_cap() {
    let (code, run) = run_json(&[&fixture("stdout-flood")]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "limit_exceeded", "{run:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_response_body_hits_the_body_cap() {
    let server = start().await;
    let url = format!("url={}/big?bytes=52428800", server.url());
    let (code, run) = run_json(&[
        &fixture("big-body"),
        "--set",
        &url,
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "limit_exceeded", "{run:#}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("response body cap of 10 MiB exceeded"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disallowed_host_is_denied_and_named() {
    let server = start().await;
    let url = format!("url={}/", server.url());
    let out = vigil(&["probe", "run", &fixture("disallowed"), "--set", &url]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains(&format!("reason   denied: denied: {}", server.allow())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("hint: the sandbox only lets a probe reach what --allow names")
    );

    let (code, run) = run_json(&[
        &fixture("disallowed"),
        "--set",
        &url,
        "--allow",
        "127.0.0.1:1",
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "denied");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("denied: {}", server.allow()))
    );
    assert_eq!(
        run["http"][0]["error"],
        format!("denied: {} is not in the allow list", server.allow())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_http_to_a_disallowed_host_is_denied() {
    let server = start().await;
    let url = format!("url={}/", server.url());
    let (code, run) = run_json(&["builtin:http", "--set", &url]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "denied", "{run:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn panic_is_a_trap_with_the_panic_message() {
    let (code, run) = run_json(&[&fixture("panic")]).await;
    assert_eq!(code, 1);
    assert_eq!(run["reason"], "trap");
    let msg = run["message"].as_str().unwrap();
    assert!(
        msg.starts_with("panicked: boom: the cart was empty"),
        "{msg}"
    );
}

// ---- components that do not fit the world are refused at load, exit 2 ----

#[tokio::test(flavor = "multi_thread")]
async fn wrong_export_is_refused_naming_run() {
    let out = vigil(&["probe", "run", &fixture("wrong-export")]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("must export `run: func() -> result<_, string>`"),
        "{}",
        out.stderr
    );

    let (code, run) = run_json(&[&fixture("wrong-export")]).await;
    assert_eq!(code, 2);
    assert_eq!(run["reason"], "load_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_import_is_refused_naming_the_import() {
    let out = vigil(&["probe", "run", &fixture("unknown-import")]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("does not fit world vigil:probe/probe"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("vigil:probe/teleport"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_missing_files_and_bad_arguments_exit_2() {
    let dir = std::env::temp_dir().join(format!("vigil-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm").unwrap();
    let out = vigil(&["probe", "run", garbage.to_str().unwrap()]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a WebAssembly component"),
        "{}",
        out.stderr
    );

    let out = vigil(&["probe", "run", "/nonexistent/probe.wasm"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot read /nonexistent/probe.wasm"),
        "{}",
        out.stderr
    );

    let out = vigil(&["probe", "run", "builtin:nope"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("builtin:http, builtin:tcp"),
        "{}",
        out.stderr
    );

    let out = vigil(&["probe", "run", "builtin:http", "--set", "novalue"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("expected KEY=VALUE"), "{}", out.stderr);

    let out = vigil(&["probe", "run", "builtin:http", "--allow", "example.com"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing :port"), "{}", out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
