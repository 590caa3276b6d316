//! The status page as an SRE opens it: the real `vigil` binary watching a healthy, a slow
//! and a broken service, with an alert firing (runbook link), one pending and two SLOs.
//! Checked over plain HTTP (what the server sends, escaping, no outside resources) and in a
//! real headless Chromium (what the browser renders, that the script ran, screenshots in
//! `target/test-artifacts/`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const EVIL: &str = r#"<script>alert("pwned")</script>"#;
const EVIL_ESCAPED: &str = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;";
const RUNBOOK: &str = "https://runbooks.example.com/probe-failing";

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-status-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A response as the server sent it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange over a fresh connection, so the test sees the exact status and
/// headers (no client library in between).
async fn http(method: &str, addr: &str, path: &str, extra: &[(&str, &str)]) -> Option<Reply> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Some(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn get(addr: &str, path: &str) -> Reply {
    http("GET", addr, path, &[])
        .await
        .unwrap_or_else(|| panic!("GET {path} failed"))
}

async fn json(addr: &str, path: &str) -> Option<serde_json::Value> {
    let r = http("GET", addr, path, &[]).await?;
    serde_json::from_str(&r.body).ok()
}

/// A payment backend that is down, answering with markup in its error body (which ends up
/// in the run's failure message).
async fn broken_service() -> String {
    let app = axum::Router::new().route(
        "/pay",
        axum::routing::get(|| async {
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("{EVIL} payment backend down"),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

/// vigil running against the three services, with the alert and SLOs in force.
struct Setup {
    _vigil: Child,
    addr: String,
    dir: PathBuf,
    _ok: support::TestServer,
}

async fn setup(name: &str) -> Setup {
    let ok = support::start().await;
    let bad = broken_service().await;
    let dir = workdir(name);
    let port = support::closed_port();
    std::fs::write(
        dir.join("rules.yaml"),
        format!(
            r#"groups:
  - name: availability
    interval: 1s
    rules:
      - alert: ProbeFailing
        expr: probe_success == 0
        for: 2s
        labels: {{ severity: page }}
        annotations:
          summary: '{{{{ $labels.probe }}}} is failing {EVIL}'
          description: 'The probe has failed for more than 2 seconds.'
          runbook_url: '{RUNBOOK}'
      - alert: ProbeSlow
        expr: probe_duration_seconds{{probe="search"}} > 0.1
        for: 1h
        labels: {{ severity: ticket }}
        annotations:
          summary: '{{{{ $labels.probe }}}} is slow'
          runbook_url: 'javascript:alert(1)'
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("vigil.yaml"),
        format!(
            r#"global: {{ listen: "127.0.0.1:{port}", state_dir: state, evaluation_interval: 1s }}
rule_files: [rules.yaml]
slos:
  - name: storefront-availability
    objective: 99.5
    sli: storefront
    window: 30d
  - name: payments-availability
    objective: 99.9
    sli: payments
    window: 7d
probes:
  - name: storefront
    wasm: builtin:http
    schedule: "@every 1s"
    labels: {{ team: "web <b>&</b> co" }}
    config: {{ url: "{ok}/" }}
    allow: ["{ok_allow}"]
  - name: payments
    wasm: builtin:http
    schedule: "@every 1s"
    labels: {{ team: payments }}
    config: {{ url: "http://{bad}/pay" }}
    allow: ["{bad}"]
  - name: search
    wasm: builtin:http
    schedule: "@every 1s"
    config: {{ url: "{ok}/slow?ms=150", max_latency: 50ms }}
    allow: ["{ok_allow}"]
"#,
            ok = ok.url(),
            ok_allow = ok.allow(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("vigil.log")).unwrap();
    let vigil = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "-c", dir.join("vigil.yaml").to_str().unwrap()])
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let s = Setup {
        _vigil: vigil,
        addr,
        dir,
        _ok: ok,
    };
    s.wait_until_interesting().await;
    s
}

impl Setup {
    /// Until the alert fires, the other is pending, both SLOs have a budget figure and
    /// every probe has a few runs for its sparkline.
    async fn wait_until_interesting(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.interesting().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the alerts, SLOs and runs did not appear in time; vigil's log:\n{}",
                std::fs::read_to_string(self.dir.join("vigil.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn interesting(&self) -> bool {
        let Some(alerts) = json(&self.addr, "/api/v1/alerts").await else {
            return false;
        };
        let state = |name: &str| {
            alerts["data"]["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["labels"]["alertname"] == name)
                .map(|a| a["state"].as_str().unwrap_or("").to_string())
        };
        if state("ProbeFailing").as_deref() != Some("firing")
            || state("ProbeSlow").as_deref() != Some("pending")
        {
            return false;
        }
        let Some(slo) = json(
            &self.addr,
            "/api/v1/query?query=slo%3Aerror_budget_remaining%3Aratio",
        )
        .await
        else {
            return false;
        };
        if slo["data"]["result"].as_array().map_or(0, Vec::len) < 2 {
            return false;
        }
        for probe in ["storefront", "payments", "search"] {
            let runs = json(&self.addr, &format!("/api/v1/probes/{probe}/runs?limit=5")).await;
            if runs.and_then(|r| r.as_array().map(Vec::len)).unwrap_or(0) < 4 {
                return false;
            }
        }
        true
    }
}

/// The `<tr>` of a probe in the overview's table.
fn probe_row<'a>(html: &'a str, probe: &str) -> &'a str {
    let at = html
        .find(&format!(r#"<a href="/probes/{probe}">"#))
        .unwrap_or_else(|| panic!("no row for {probe}"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

/// Every URL the page would load or follow (`src`, `href`, `action` of every tag): all on
/// vigil itself, except the runbook link, which is the point of a runbook link.
fn assert_only_local_urls(html: &str) {
    let mut checked = 0;
    for tag in html.split('<').skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        for attr in ["src=\"", "href=\"", "action=\""] {
            let Some(i) = tag.find(&format!(" {attr}")) else {
                continue;
            };
            let value = &tag[i + 1 + attr.len()..];
            let value = &value[..value.find('"').unwrap_or(value.len())];
            checked += 1;
            let local =
                value.starts_with('/') && !value.starts_with("//") || value.starts_with('#');
            if tag.starts_with("a class=\"runbook\"") {
                assert_eq!(value, RUNBOOK);
            } else {
                assert!(local, "the page refers to {value:?} outside vigil: <{tag}>");
            }
        }
    }
    assert!(checked > 5, "found no URLs at all: the scan is broken");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_over_plain_http() {
    let s = setup("http").await;
    let a = s.addr.as_str();

    // The overview.
    let r = get(a, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").expect("a CSP header");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = &r.body;
    assert!(html.starts_with("<!doctype html>"));
    // ProbeFailing and the SLO's three burn-rate alerts.
    assert!(
        html.contains("<title>(4 firing) vigil status</title>"),
        "{html}"
    );
    assert!(html.contains(&s.dir.join("vigil.yaml").display().to_string()));
    // Without JavaScript the page still refreshes itself.
    assert!(html.contains(r#"<noscript><meta http-equiv="refresh""#));

    // Probes with their state, last run, sparkline and next run.
    for (probe, state) in [
        ("storefront", "success"),
        ("payments", "failure"),
        ("search", "degraded"),
    ] {
        let row = probe_row(html, probe);
        assert!(
            row.contains(&format!(r#"<span class="badge o-{state}">{state}</span>"#)),
            "{probe} should be {state}: {row}"
        );
        assert!(row.contains("<svg class=\"spark\""), "{row}");
        // Last and next run as relative times ("2s ago", "just now", "in 1s").
        assert!(row.contains("data-rel>"), "{row}");
        assert!(row.contains(r#"data-rel="next">"#), "{row}");
        assert!(row.contains("@every 1s"));
    }
    // Problems first.
    assert!(html.find("/probes/payments\"").unwrap() < html.find("/probes/search\"").unwrap());
    assert!(html.find("/probes/search\"").unwrap() < html.find("/probes/storefront\"").unwrap());
    assert!(probe_row(html, "payments").contains("expected status 2xx, got 503"));

    // Alerts: firing first, with the summary, description and a runbook link.
    let firing = html
        .find(r#"<strong class="alertname">ProbeFailing</strong><span class="badge a-firing">firing</span>"#)
        .expect("ProbeFailing shown as firing");
    let pending = html
        .find(r#"<strong class="alertname">ProbeSlow</strong><span class="badge a-pending">pending</span>"#)
        .expect("ProbeSlow shown as pending");
    assert!(firing < pending);
    assert!(html.contains(&format!(r#"<a class="runbook" href="{RUNBOOK}""#)));
    assert!(html.contains("The probe has failed for more than 2 seconds."));
    assert!(html.contains(&format!("payments is failing {EVIL_ESCAPED}")));
    // A runbook_url that is not a web address is shown, never made a link.
    assert!(!html.contains("href=\"javascript:"));
    assert!(html.contains("Runbook: <code>javascript:alert(1)</code>"));

    // SLOs: the broken service has burnt its budget, the healthy one has all of it.
    let slos = &html[html.find(r#"id="slos""#).expect("an SLO section")..];
    let slos = &slos[..slos.find("</section>").unwrap()];
    let card = |name: &str| {
        let i = slos.find(&format!("<strong>{name}</strong>")).unwrap();
        &slos[i..i + slos[i..].find("</li>").unwrap()]
    };
    assert!(card("payments-availability").contains("budget exhausted"));
    assert!(card("payments-availability").contains("99.9% over 7d"));
    assert!(card("storefront-availability").contains(r#"<span class="big">100%</span>"#));
    assert!(card("storefront-availability").contains("Burn rate 1h"));

    // User-controlled text is escaped everywhere: the annotation, the probe's label, the
    // failure message quoting the service's body.
    assert!(
        !html.contains("<script>alert"),
        "unescaped markup on the page"
    );
    assert!(!html.contains("<b>&</b>"));
    assert!(html.contains("web &lt;b&gt;&amp;&lt;/b&gt; co"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only vigil's own script"
    );
    assert_only_local_urls(html);

    // A probe's page: last run steps, HTTP timings, logs, history chart, recent runs.
    let r = get(a, "/probes/payments").await;
    assert_eq!(r.status, 200);
    let page = &r.body;
    assert!(page.contains("<h1>payments<span class=\"badge o-failure\">failure</span></h1>"));
    assert!(page.contains(r#"<code class="reason">guest_error</code>"#));
    assert!(page.contains(&format!(
        "expected status 2xx, got 503 (body: {EVIL_ESCAPED} payment backend down)"
    )));
    let steps = &page[page.find("<h3>Steps</h3>").unwrap()..];
    assert!(steps.contains(
        r#"<tr><th scope="row">http</th><td><span class="badge o-failure">failed</span>"#
    ));
    for column in ["DNS", "Connect", "TLS", "First byte", "Total", "Body"] {
        assert!(
            page.contains(&format!(">{column}</th>")),
            "no {column} column"
        );
    }
    assert!(page.contains(r#"<span class="badge o-failure">503</span>"#));
    assert!(page.contains(r#"<svg class="bar waterfall""#));
    assert!(page.contains(r#"<td class="lv">INFO</td>"#));
    assert!(page.contains("/pay -&gt; 503 in "), "the probe's log line");
    assert!(page.contains(r#"<svg class="chart""#));
    assert!(page.contains("pt o-failure"));
    let runs = &page[page.find(r#"id="runs""#).unwrap()..];
    assert!(runs.matches("<tr><td><time").count() >= 4);
    assert!(!page.contains("<script>alert"));
    assert_only_local_urls(page);
    // The alert about this probe is on its page too, and links back to it from the overview.
    assert!(page.contains("ProbeFailing"));
    assert!(html.contains(r#"<a class="to-probe" href="/probes/payments">"#));

    // The healthy probe's page shows success all through.
    let r = get(a, "/probes/storefront").await;
    assert!(
        r.body
            .contains(r#"<span class="badge o-success">ok</span>"#)
    );
    assert!(
        r.body
            .contains(r#"<span class="badge o-success">200</span>"#)
    );

    // Unknown probe: a 404 page, not an error.
    let r = get(a, "/probes/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("No probe named “nope”"));

    // Assets come from vigil, cached by version, revalidated by ETag.
    let css = get(a, "/static/style.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("cache-control").unwrap().contains("max-age="));
    assert!(css.body.contains("prefers-color-scheme: dark"));
    let etag = css.header("etag").unwrap().to_string();
    let versioned = html
        .split("href=\"/static/style.css?")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let css2 = get(a, &format!("/static/style.css?{versioned}")).await;
    assert!(css2.header("cache-control").unwrap().contains("immutable"));
    let again = http(
        "GET",
        a,
        "/static/style.css",
        &[("If-None-Match", etag.as_str())],
    )
    .await
    .unwrap();
    assert_eq!(again.status, 304);
    let js = get(a, "/static/status.js").await;
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(get(a, "/static/favicon.svg").await.status, 200);
    assert_eq!(get(a, "/static/nope.css").await.status, 404);

    // "Run now" runs the probe and returns to its page; another site cannot trigger it.
    let r = http(
        "POST",
        a,
        "/probes/storefront/run",
        &[("Sec-Fetch-Site", "same-origin")],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/probes/storefront"));
    let r = http(
        "POST",
        a,
        "/probes/storefront/run",
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
}

/// `chromium` (Debian) or `chromium-browser` on PATH.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Run headless Chromium with `args` then `url`; its stdout.
async fn chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn artifacts_dir() -> PathBuf {
    // target/debug/vigil → target/test-artifacts
    let exe = Path::new(env!("CARGO_BIN_EXE_vigil"));
    let target = exe.parent().and_then(Path::parent).unwrap();
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is not installed; install it with: apt-get install -y chromium");
        }
        eprintln!(
            "SKIPPED the_status_page_in_headless_chromium: chromium is not installed \
             (apt-get install -y chromium)"
        );
        return;
    };
    let s = setup("chromium").await;
    let base = format!("http://{}", s.addr);
    let profile = s.dir.join("chromium-profile");
    let artifacts = artifacts_dir();

    // What the browser built: the page, the probes in it, the stylesheet applied and the
    // script run through without an error.
    let dom = chromium(
        &bin,
        &profile,
        &["--dump-dom", "--virtual-time-budget=3000"],
        &format!("{base}/"),
    )
    .await;
    assert!(
        dom.contains("data-js=\"ready\""),
        "the script did not finish:\n{dom}"
    );
    assert!(
        dom.contains("data-css=\"loaded\""),
        "the stylesheet did not apply:\n{dom}"
    );
    assert!(!dom.contains("data-js-errors"), "a script error:\n{dom}");
    assert!(
        dom.contains(r#"class="live on""#),
        "live refresh not running:\n{dom}"
    );
    for probe in ["storefront", "payments", "search"] {
        assert!(
            dom.contains(&format!(r#"<a href="/probes/{probe}">{probe}</a>"#)),
            "{probe} not rendered"
        );
    }
    assert!(dom.contains("ProbeFailing"));
    assert!(dom.contains(&format!(r#"href="{RUNBOOK}""#)));
    assert!(dom.contains("<svg class=\"spark\""));
    // The escaped markup stayed text: the browser built no element from it.
    assert!(!dom.contains("<script>alert"));
    assert!(!dom.contains("<b>&amp;</b>"));

    // Given time, the page refreshes itself in place (the script swaps in a fresh copy).
    let later = chromium(
        &bin,
        &profile,
        &["--dump-dom", "--virtual-time-budget=12000"],
        &format!("{base}/"),
    )
    .await;
    assert!(
        later.contains("data-refreshed=\""),
        "no in-place refresh happened:\n{later}"
    );
    assert!(later.contains(r#"<a href="/probes/payments">payments</a>"#));
    assert!(!later.contains("data-js-errors"));

    // Without JavaScript: headless Chromium cannot capture a page with scripting switched
    // off, so it renders the very HTML vigil served with the script tag removed (assets
    // still from vigil). Everything is there: the page is server-rendered, charts included.
    let served = get(&s.addr, "/").await.body;
    let script = served.find("<script src=").expect("the script tag");
    let script_end = script + served[script..].find("</script>").unwrap() + "</script>".len();
    let no_js = format!("{}{}", &served[..script], &served[script_end..]).replacen(
        "<head>",
        &format!(r#"<head><base href="{base}/">"#),
        1,
    );
    assert!(!no_js.contains("<script"));
    let no_js_file = s.dir.join("no-js.html");
    std::fs::write(&no_js_file, &no_js).unwrap();
    let no_js_url = format!("file://{}", no_js_file.display());
    let plain = chromium(&bin, &profile, &["--dump-dom"], &no_js_url).await;
    assert!(!plain.contains("data-js="), "no script was meant to run");
    for probe in ["storefront", "payments", "search"] {
        assert!(plain.contains(&format!(r#"<a href="/probes/{probe}">{probe}</a>"#)));
    }
    assert!(plain.contains("<svg class=\"spark\""));
    assert!(plain.contains("ProbeFailing"));

    let probe_dom = chromium(
        &bin,
        &profile,
        &["--dump-dom", "--virtual-time-budget=3000"],
        &format!("{base}/probes/payments"),
    )
    .await;
    assert!(probe_dom.contains("data-js=\"ready\""));
    assert!(!probe_dom.contains("data-js-errors"));
    assert!(probe_dom.contains("<h3>Steps</h3>"));
    assert!(probe_dom.contains("First byte"));

    // Screenshots for people (and the README).
    for (file, path, extra) in [
        ("status-page.png", "/", None),
        ("status-probe.png", "/probes/payments", None),
        ("status-page-dark.png", "/", Some("--force-dark-mode")),
        ("status-page-no-js.png", "", None),
    ] {
        let png = artifacts.join(file);
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        let mut args = vec![shot.as_str(), "--window-size=1280,1600"];
        args.extend(extra);
        let url = if path.is_empty() {
            no_js_url.clone()
        } else {
            format!("{base}{path}")
        };
        chromium(&bin, &profile, &args, &url).await;
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert_eq!(png_size(&bytes), (1280, 1600), "{file}");
        // A blank page of this size is about 10 kB; the status page is well over 100 kB.
        assert!(bytes.len() > 50_000, "{file} looks blank");
        eprintln!("screenshot: {}", png.display());
    }
}
