//! `vigil demo` as a newcomer meets it: `--once` tells the whole story (healthy, fault,
//! pending, firing, healed, resolved) and exits 0; the live demo prints its URLs, and the
//! shop's fault switches, flipped over HTTP, break the probes vigil reports on its API.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// `(tag, rest)` of a story line such as `  +11.9s  pending  CheckoutFailing  ...`.
fn story_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix('+')?;
    let (stamp, rest) = rest.split_once("s  ")?;
    stamp.parse::<f64>().ok()?;
    let rest = rest.trim_start();
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

/// Index of the first story line with `tag` whose text starts with `text`.
fn find(lines: &[&str], tag: &str, text: &str) -> Option<usize> {
    lines.iter().position(|l| {
        story_line(l).is_some_and(|(t, rest)| t == tag && rest.trim_start().starts_with(text))
    })
}

/// The value printed after `label` in the banner (`  status page  http://...`).
fn banner_value(lines: &[String], label: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        let rest = l.strip_prefix("  ")?.strip_prefix(label)?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_once_tells_the_story_and_exits_zero() {
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(150),
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["demo", "--once", "--port", "0", "--shop-port", "0"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("vigil demo --once ends by itself")
    .expect("vigil runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{context}");
    assert!(took < Duration::from_secs(100), "took {took:?}\n{context}");
    assert!(
        !stdout.contains('\x1b'),
        "no colours when stdout is not a terminal:\n{context}"
    );

    let lines: Vec<&str> = stdout.lines().collect();
    let order = [
        ("ready", "probes"),
        ("healthy", "every probe passes"),
        ("fault", "POST /api/checkout: 100% errors"),
        ("probe", "purchase  failed: checkout:"),
        ("pending", "CheckoutFailing"),
        ("firing", "CheckoutFailing"),
        ("healed", "every fault switched off"),
        ("resolved", "CheckoutFailing"),
        ("done", "CheckoutFailing went pending"),
    ];
    let mut last = None;
    for (tag, text) in order {
        let at =
            find(&lines, tag, text).unwrap_or_else(|| panic!("no `{tag}  {text}` line\n{context}"));
        assert!(
            last.is_none_or(|l| at > l),
            "`{tag}  {text}` is out of order\n{context}"
        );
        last = Some(at);
    }
    // The firing alert shows its runbook link, served by the shop.
    assert!(
        stdout.contains("runbook: http://127.0.0.1:")
            && stdout.contains("/runbooks/checkout-failing"),
        "{context}"
    );

    // The scratch directory (config, state) is gone.
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let config = PathBuf::from(banner_value(&owned, "config").expect("the config path is printed"));
    assert!(config.ends_with("vigil.yaml"), "{context}");
    assert!(
        !config.parent().unwrap().exists(),
        "{} was not removed",
        config.parent().unwrap().display()
    );
}

/// `curl` a URL, with a JSON body: (status, body).
async fn curl(method: &str, url: &str, json: Option<&str>) -> (u16, String) {
    curl_with(method, url, json.map(|j| ("application/json", j))).await
}

/// `curl` a URL with a body of some content type: (status, body).
async fn curl_with(method: &str, url: &str, body: Option<(&str, &str)>) -> (u16, String) {
    let mut args = vec!["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url];
    let header;
    if let Some((content_type, body)) = body {
        header = format!("content-type: {content_type}");
        args.extend(["-H", &header, "--data-binary", body]);
    }
    let out = Command::new("curl")
        .args(&args)
        .output()
        .await
        .expect("curl runs (the tests need curl: apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

/// The probe named `name` in `/api/v1/probes`.
async fn probe(vigil: &str, name: &str) -> serde_json::Value {
    let (code, body) = curl("GET", &format!("{vigil}/api/v1/probes"), None).await;
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no probe {name} in {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shops_fault_switches_break_the_probes() {
    let stderr = std::env::temp_dir().join(format!("vigil-demo-test-{}.log", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["demo", "--port", "0", "--shop-port", "0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(l)) = reader.next_line().await {
                lines.lock().unwrap().push(l);
            }
        });
    }
    let output = || {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            lines.lock().unwrap().join("\n"),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        )
    };
    let wait = async |what: &str, mut check: Box<dyn FnMut() -> bool + Send + '_>| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };

    // The banner names vigil's status page and the shop.
    wait(
        "the banner",
        Box::new(|| {
            let l = lines.lock().unwrap();
            banner_value(&l, "status page").is_some() && banner_value(&l, "shop").is_some()
        }),
    )
    .await;
    let (vigil, shop, config) = {
        let l = lines.lock().unwrap();
        (
            banner_value(&l, "status page").unwrap(),
            banner_value(&l, "shop").unwrap(),
            PathBuf::from(banner_value(&l, "config").unwrap()),
        )
    };
    let vigil = vigil.trim_end_matches('/').to_string();
    let shop = shop.trim_end_matches('/').to_string();
    assert!(vigil.starts_with("http://127.0.0.1:"), "{}", output());
    assert_eq!(curl("GET", &format!("{vigil}/readyz"), None).await.0, 200);

    // The switches: read, refuse a typo clearly, take the shop down.
    let (code, body) = curl("GET", &format!("{shop}/faults"), None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"down\":false"), "{body}");
    let (code, body) = curl(
        "POST",
        &format!("{shop}/faults"),
        Some(r#"{"error-rate": 1}"#),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown field `error-rate`"), "{body}");
    // The control panel's buttons post forms and are sent back to the panel.
    let form = |body| Some(("application/x-www-form-urlencoded", body));
    let faults = format!("{shop}/faults");
    let (code, body) = curl_with("POST", &faults, form("endpoint=catalogue&latency_ms=800")).await;
    assert_eq!(code, 303, "{body}");
    let (_, body) = curl("GET", &faults, None).await;
    assert!(
        body.contains(r#""latency_ms":800"#) && body.contains(r#""endpoint":"catalogue""#),
        "{body}"
    );
    let (code, body) = curl_with("POST", &faults, form("bogus=1")).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = curl("POST", &format!("{shop}/faults"), Some(r#"{"down": true}"#)).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"down\":true"), "{body}");
    let (code, _) = curl("GET", &format!("{shop}/healthz"), None).await;
    assert_eq!(code, 503, "a down shop answers 503");

    // vigil sees it: the health probe fails with the shop's 503.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = probe(&vigil, "shop-health").await;
        if p["last_outcome"] == "failure" {
            let message = p["last_message"].as_str().unwrap_or_default();
            assert!(message.contains("503"), "{p:#}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shop-health never failed: {p:#}\n{}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // So does the purchase scenario, at its first step.
    loop {
        let p = probe(&vigil, "purchase").await;
        if p["last_outcome"] == "failure" {
            let message = p["last_message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("login: ") && message.contains("503"),
                "{p:#}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "purchase never failed: {p:#}\n{}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Heal over HTTP: the probe passes again.
    let (code, body) = curl("DELETE", &format!("{shop}/faults"), None).await;
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while probe(&vigil, "shop-health").await["last_outcome"] != "success" {
        assert!(
            Instant::now() < deadline,
            "shop-health never recovered\n{}",
            output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The story noticed the switches were flipped by hand and stepped aside; the terminal
    // announced both changes.
    wait(
        "the announcements",
        Box::new(|| {
            let l = lines.lock().unwrap();
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            find(&l, "fault", "down").is_some()
                && find(&l, "healed", "every fault switched off").is_some()
                && l.iter().any(|x| x.contains("the story steps aside"))
                && l.iter().any(|x| x.contains("Ctrl-C stops the demo"))
        }),
    )
    .await;

    // Ctrl-C stops it cleanly and removes the scratch directory.
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("vigil demo stops after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", output());
    assert!(
        !config.parent().unwrap().exists(),
        "{} was not removed",
        config.parent().unwrap().display()
    );
    let _ = std::fs::remove_file(&stderr);
}
