//! Rules in the running daemon, as an SRE uses them: a probe starts failing, its alert goes
//! pending, then firing (in `/api/v1/alerts`, `/api/v1/rules`, the `ALERTS` series), and
//! resolves when the service heals. Plus `vigil check rules` on promtool's fixtures.

mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::process::Command;

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-rules-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn get(url: &str) -> Option<serde_json::Value> {
    let out = Command::new("curl")
        .args(["-sf", url])
        .output()
        .await
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

async fn wait_for<F, Fut>(what: &str, mut f: F) -> serde_json::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<serde_json::Value>>,
{
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_probe_drives_its_alert_pending_firing_resolved() {
    let (target, healthy) = support::switchable().await;
    let dir = workdir("alert");
    let port = support::closed_port();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/shop.yaml"),
        r#"groups:
  - name: shop
    interval: 1s
    rules:
      - record: probe:failing
        expr: 1 - probe_success
      - alert: ShopDown
        expr: probe:failing{probe="shop"} > 0
        for: 3s
        labels: { severity: page }
        annotations:
          summary: "{{ $labels.probe }} is failing"
          runbook_url: "https://runbooks.example/shop-down"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("vigil.yaml"),
        format!(
            "global: {{ listen: 127.0.0.1:{port}, state_dir: state, evaluation_interval: 1s }}\nrule_files: [rules/*.yaml]\nprobes:\n  - name: shop\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    config: {{ url: \"http://{target}/\" }}\n    allow: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let mut vigil = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "-c", dir.join("vigil.yaml").to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let alerts_url = format!("{base}/api/v1/alerts");

    // Healthy: the rules evaluate, no alert.
    let rules_url = format!("{base}/api/v1/rules");
    let rules = wait_for("rules evaluated", || async {
        let r = get(&rules_url).await?;
        (r["data"]["groups"][0]["rules"][1]["health"] == "ok").then_some(r)
    })
    .await;
    assert_eq!(rules["data"]["groups"][0]["rules"][1]["state"], "inactive");
    assert_eq!(
        get(&alerts_url).await.unwrap()["data"]["alerts"],
        serde_json::json!([])
    );

    // The service breaks: pending first (for: 3s)...
    healthy.store(false, Ordering::Relaxed);
    let pending = wait_for("pending", || async {
        let a = get(&alerts_url).await?;
        (a["data"]["alerts"][0]["state"] == "pending").then_some(a)
    })
    .await;
    let alert = &pending["data"]["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "ShopDown");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "shop is failing");
    // ...then firing.
    wait_for("firing", || async {
        let a = get(&alerts_url).await?;
        (a["data"]["alerts"][0]["state"] == "firing").then_some(a)
    })
    .await;
    let query = format!("{base}/api/v1/query?query=ALERTS%7Balertname%3D%22ShopDown%22%7D");
    let q = wait_for("ALERTS firing", || async {
        let q = get(&query).await?;
        (q["data"]["result"][0]["metric"]["alertstate"] == "firing").then_some(q)
    })
    .await;
    assert_eq!(q["data"]["result"][0]["value"][1], "1");
    let metrics = Command::new("curl")
        .args(["-s", &format!("{base}/metrics")])
        .output()
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains(
            r#"ALERTS{alertname="ShopDown",alertstate="firing",probe="shop",severity="page"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("vigil_rule_evaluations_total{rule_group=\"shop\"}"));

    // It heals: the alert resolves.
    healthy.store(true, Ordering::Relaxed);
    wait_for("resolved", || async {
        let a = get(&alerts_url).await?;
        (a["data"]["alerts"] == serde_json::json!([])).then_some(a)
    })
    .await;
    vigil.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn check_rules_agrees_with_promtool_on_its_fixtures() {
    let fixtures = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/promtool"
    ));
    let ok = support::vigil(&[
        "check",
        "rules",
        fixtures.join("rules.yml").to_str().unwrap(),
    ])
    .await;
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("SUCCESS: 5 rules found"),
        "{}",
        ok.stdout
    );

    let dup = support::vigil(&[
        "check",
        "rules",
        fixtures.join("rules_duplicates.yml").to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        dup.code, 0,
        "duplicates are warnings, as in promtool: {}",
        dup.stdout
    );
    assert!(dup.stdout.contains("WARNING"), "{}", dup.stdout);

    for bad in ["bad-rules-syntax.yml", "rules-bad.yml"] {
        let out = support::vigil(&["check", "rules", fixtures.join(bad).to_str().unwrap()]).await;
        assert_eq!(out.code, 1, "{bad}: {}", out.stdout);
        assert!(out.stdout.contains("FAILED:"), "{bad}: {}", out.stdout);
        assert!(
            out.stdout.contains(&format!("{bad}:")),
            "error names the file: {}",
            out.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn test_rules_gives_promtools_verdict() {
    let fixtures = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/promtool"
    ));
    let path = |f: &str| fixtures.join(f).to_str().unwrap().to_string();
    let ok = support::vigil(&["test", "rules", &path("unittest.yml")]).await;
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("Unit Testing:") && ok.stdout.contains("SUCCESS"),
        "{}",
        ok.stdout
    );

    let failing = support::vigil(&["test", "rules", &path("failing.yml")]).await;
    assert_eq!(failing.code, 1);
    assert!(failing.stdout.contains("FAILED:"), "{}", failing.stdout);
    assert!(
        failing.stdout.contains("exp:") && failing.stdout.contains("got:"),
        "{}",
        failing.stdout
    );

    for bad in [
        "bad-input-series.yml",
        "bad-promql.yml",
        "bad-rules-error-test.yml",
        "bad-rules-syntax-test.yml",
    ] {
        let out = support::vigil(&["test", "rules", &path(bad)]).await;
        assert_eq!(out.code, 1, "{bad}: {}", out.stdout);
        assert!(out.stdout.contains("FAILED"), "{bad}: {}", out.stdout);
    }
}
