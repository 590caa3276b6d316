//! The deployment files in `deploy/`, exercised as far as this machine allows without
//! Docker or Kubernetes: the real binary as an unprivileged user with a read-only config
//! directory (and, as root, a read-only root filesystem), SIGTERM within the grace period
//! with the state flushed, the Kubernetes manifests and the config in their ConfigMap, the
//! image's default config and health check, and the systemd unit.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::TestServer;
use tokio::process::{Child, Command};

/// `nobody` on Debian and most distributions.
const NOBODY: u32 = 65534;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// How the test can confine vigil on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confinement {
    /// As uid 65534 in a private mount namespace where `/` (and `/tmp`) is read-only and
    /// only the state directory is writable.
    NobodyReadOnlyRoot,
    /// As uid 65534 (no mount namespaces here).
    Nobody,
    /// As the (already unprivileged) user running the tests.
    CurrentUser,
}

fn confinement() -> Confinement {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("not root: vigil runs as the current user; the read-only root is not tested");
        return Confinement::CurrentUser;
    }
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output();
    if !setpriv.is_ok_and(|o| o.status.success()) {
        let how = "setpriv is missing: install util-linux (apt-get install util-linux)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{how}");
        println!("{how}; vigil runs as root, the unprivileged run is not tested");
        return Confinement::CurrentUser;
    }
    let unshare = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stderr(Stdio::null())
        .status();
    if unshare.is_ok_and(|s| s.success()) {
        Confinement::NobodyReadOnlyRoot
    } else {
        println!(
            "unshare --mount is not permitted here: vigil runs as uid {NOBODY}, the read-only \
             root is not tested"
        );
        Confinement::Nobody
    }
}

/// A config directory (root-owned, read-only) and a state directory (owned by the user
/// vigil runs as), as an operator sets them up.
struct Site {
    dir: PathBuf,
    config_dir: PathBuf,
    state_dir: PathBuf,
    confinement: Confinement,
}

impl Site {
    fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("vigil-deploy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config_dir = dir.join("etc");
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::create_dir_all(&state_dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let confinement = confinement();
        if confinement != Confinement::CurrentUser {
            std::os::unix::fs::chown(&state_dir, Some(NOBODY), Some(NOBODY)).unwrap();
            std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        Site {
            dir,
            config_dir,
            state_dir,
            confinement,
        }
    }

    /// Write the config files, then make the directory and files read-only.
    fn write_config(&self, files: &[(&str, &str)]) {
        let dir_mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(&self.config_dir, dir_mode(0o755)).unwrap();
        for (name, text) in files {
            let path = self.config_dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, dir_mode(0o644)).unwrap();
            }
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, dir_mode(0o444)).unwrap();
        }
        std::fs::set_permissions(&self.config_dir, dir_mode(0o555)).unwrap();
    }

    fn config_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.config_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `vigil ARGS` confined as well as this machine allows.
    fn command(&self, args: &[&str]) -> Command {
        let vigil = env!("CARGO_BIN_EXE_vigil");
        let setpriv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ];
        let mut cmd;
        match self.confinement {
            Confinement::NobodyReadOnlyRoot => {
                // The state directory becomes a mount of its own, then `/` (and `/tmp`
                // when it is a separate mount) is remounted read-only in this namespace
                // only; `exec` keeps the pid, so signals reach vigil itself.
                let script = "set -e; state=$1; shift; \
                    mount --bind \"$state\" \"$state\"; \
                    mount -o remount,bind,ro /; \
                    if mountpoint -q /tmp; then mount -o remount,bind,ro /tmp; fi; \
                    exec \"$@\"";
                cmd = Command::new("unshare");
                cmd.args([
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                    "sh",
                ]);
                cmd.arg(&self.state_dir);
                cmd.args(setpriv).arg(vigil);
            }
            Confinement::Nobody => {
                cmd = Command::new(setpriv[0]);
                cmd.args(&setpriv[1..]).arg(vigil);
            }
            Confinement::CurrentUser => cmd = Command::new(vigil),
        }
        cmd.args(args)
            .env("HOME", "/nonexistent")
            .env_remove("TMPDIR");
        cmd
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.config_dir, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `vigil run`.
struct Vigil {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Vigil {
    async fn start(site: &Site, port: u16) -> Vigil {
        let log = site
            .dir
            .join(format!("vigil-{}.log", Instant::now().elapsed().as_nanos()));
        let config = site.config_dir.join("vigil.yaml");
        let child = site
            .command(&["run", "-c", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let v = Vigil {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while v.get("/readyz").await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "vigil never became ready:\n{}",
                v.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        v
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        curl("GET", &format!("{}{path}", self.base)).await
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.get(path).await;
        assert_eq!(code, 200, "{path}: {body}\n{}", self.logs());
        serde_json::from_str(&body).unwrap()
    }

    /// The probe's entry in `/api/v1/probes`.
    async fn probe(&self, name: &str) -> serde_json::Value {
        let list = self.json("/api/v1/probes").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no probe {name}: {list:#}"))
    }

    /// Wait for a scheduled run of `probe`; its `started_at`.
    async fn last_run_of(&self, probe: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let p = self.probe(probe).await;
            if let Some(at) = p["last_run"].as_str() {
                return at.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{probe} never ran: {p:#}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM; (exit code, how long the exit took, logs).
    async fn terminate(mut self) -> (i32, Duration, String) {
        let (code, took) = support::sigterm(&mut self.child).await;
        (code, took, self.logs())
    }
}

async fn curl(method: &str, url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url])
        .output()
        .await
        .expect("curl runs (the tests need curl: apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

/// A config with `home` (every second) and `slow` (1.5s, run on demand), plus `extra`
/// probes.
fn config(port: u16, site: &Site, server: &TestServer, grace: &str, extra: &str) -> String {
    format!(
        r#"global:
  listen: 127.0.0.1:{port}
  state_dir: {state}
  shutdown_grace: {grace}
probes:
  - name: home
    wasm: builtin:http
    schedule: "@every 1s"
    config: {{ url: "{url}/" }}
    allow: ["{allow}"]
  - name: slow
    wasm: builtin:http
    schedule: "@yearly"
    timeout: 30s
    config: {{ url: "{url}/slow?ms=1500" }}
    allow: ["{allow}"]
{extra}rule_files: [rules.yaml]
"#,
        state = site.state_dir.display(),
        url = server.url(),
        allow = server.allow(),
    )
}

const RULES: &str = "groups:\n  - name: site\n    rules:\n      - alert: HomeDown\n        expr: probe_success{probe=\"home\"} == 0\n        for: 1m\n";

#[tokio::test(flavor = "multi_thread")]
async fn runs_unprivileged_with_a_read_only_config_and_root() {
    let server = support::start().await;
    let site = Site::new("unprivileged");
    let port = support::closed_port();
    site.write_config(&[
        ("vigil.yaml", &config(port, &site, &server, "3s", "")),
        ("rules.yaml", RULES),
    ]);
    println!("confinement: {:?}", site.confinement);
    let vigil = Vigil::start(&site, port).await;

    assert_eq!(vigil.get("/healthz").await.0, 200);
    assert_eq!(vigil.get("/readyz").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let home = vigil.probe("home").await;
        if home["last_outcome"] == "success" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "home never ran: {home:#}\n{}",
            vigil.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, metrics) = vigil.get("/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("probe_success{probe=\"home\"} 1"),
        "{metrics}"
    );
    let rules = vigil.json("/api/v1/rules").await;
    assert_eq!(rules["data"]["groups"][0]["name"], "site", "{rules:#}");

    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    // vigil wrote its state, as the unprivileged user, and nothing in the config directory.
    assert_eq!(site.config_files(), ["rules.yaml", "vigil.yaml"]);
    let state: Vec<_> = std::fs::read_dir(&site.state_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert!(!state.is_empty(), "nothing in the state directory\n{logs}");
    if site.confinement != Confinement::CurrentUser {
        for e in &state {
            assert_eq!(
                e.metadata().unwrap().uid(),
                NOBODY,
                "{} is not owned by uid {NOBODY}",
                e.path().display()
            );
        }
    }
    assert!(
        !logs.contains("Read-only file system") && !logs.contains("Permission denied"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_within_the_grace_period_with_the_state_flushed() {
    let server = support::start().await;
    let site = Site::new("sigterm");
    let port = support::closed_port();
    site.write_config(&[
        ("vigil.yaml", &config(port, &site, &server, "3s", "")),
        ("rules.yaml", RULES),
    ]);

    // A run in flight at SIGTERM finishes (1.5s, within the 3s grace) and is recorded;
    // so are the scheduled runs before it.
    let vigil = Vigil::start(&site, port).await;
    let first_home = vigil.last_run_of("home").await;
    let url = format!("{}/api/v1/probes/slow/run", vigil.base);
    let in_flight = tokio::spawn(async move { curl("POST", &url).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(
        elapsed >= Duration::from_millis(800),
        "did not wait for the run in flight: {elapsed:?}\n{logs}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}\n{logs}");
    assert!(logs.contains("state flushed"), "{logs}");
    assert_eq!(
        in_flight.await.unwrap().0,
        200,
        "the in-flight run was answered"
    );

    // A scheduled run that would take 30s is cut at the grace period.
    let stuck = format!(
        "  - name: stuck\n    wasm: builtin:http\n    schedule: \"@every 1s\"\n    timeout: 60s\n    config: {{ url: \"{}/slow?ms=30000\" }}\n    allow: [\"{}\"]\n",
        server.url(),
        server.allow()
    );
    site.write_config(&[("vigil.yaml", &config(port, &site, &server, "3s", &stuck))]);
    let vigil = Vigil::start(&site, port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while vigil.probe("stuck").await["state"] != "running" {
        assert!(
            Instant::now() < deadline,
            "stuck never started\n{}",
            vigil.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, elapsed, logs) = vigil.terminate().await;
    assert_eq!(code, 0, "{logs}");
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(6),
        "a stuck run should hold the exit for the 3s grace period, no more: {elapsed:?}\n{logs}"
    );
    assert!(
        logs.contains("did not finish within the grace period") && logs.contains("state flushed"),
        "{logs}"
    );
    site.write_config(&[("vigil.yaml", &config(port, &site, &server, "3s", ""))]);

    // Restarted on the same state directory, the history is there.
    let vigil = Vigil::start(&site, port).await;
    let runs = vigil.json("/api/v1/probes/slow/runs").await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["outcome"], "success", "{:#}", runs[0]);
    let home = vigil.json("/api/v1/probes/home/runs?limit=100").await;
    assert!(
        home.as_array()
            .unwrap()
            .iter()
            .any(|r| r["started_at"] == first_home),
        "home's run at {first_home} (before the first SIGTERM) is kept: {home:#}\n{}",
        vigil.logs()
    );
    assert_eq!(vigil.terminate().await.0, 0);
}

/// A YAML file of deploy/ as JSON.
fn yaml(rel: &str) -> serde_json::Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_sidecar_example_is_complete_and_its_config_passes_check() {
    let deployment = yaml("deploy/kubernetes/deployment.yaml");
    let configmap = yaml("deploy/kubernetes/configmap.yaml");
    let secret = yaml("deploy/kubernetes/secret.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(configmap["kind"], "ConfigMap");
    assert_eq!(secret["kind"], "Secret");

    let pod = &deployment["spec"]["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "9464");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let spec = &pod["spec"];
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(
        spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "shop"),
        "the service container is there"
    );
    // vigil is a native sidecar: an init container that keeps running.
    let vigil = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "vigil")
        .expect("an init container named vigil");
    assert_eq!(vigil["restartPolicy"], "Always");
    assert_eq!(vigil["args"][0], "run");
    assert_eq!(vigil["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(vigil["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &vigil["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let mount = |path: &str| {
        vigil["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
            .clone()
    };
    assert_eq!(mount("/etc/vigil")["readOnly"], true);
    let volume = |name: &serde_json::Value| {
        spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == *name)
            .unwrap()
            .clone()
    };
    let state = volume(&mount("/var/lib/vigil")["name"]);
    assert!(
        state.get("emptyDir").is_some() || state.get("persistentVolumeClaim").is_some(),
        "{state:#}"
    );
    // The config volume projects the ConfigMap and the probe component into one directory.
    let config_volume = volume(&mount("/etc/vigil")["name"]);
    let sources = config_volume["projected"]["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .any(|s| s["configMap"]["name"] == configmap["metadata"]["name"])
    );
    let probe_items: Vec<String> = sources
        .iter()
        .filter_map(|s| s["configMap"]["items"].as_array())
        .flatten()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(probe_items, ["probes/checkout.wasm"]);
    // The password reaches vigil from the Secret.
    let env = vigil["env"].as_array().unwrap();
    let password = env
        .iter()
        .find(|e| e["name"] == "SHOP_SYNTHETIC_PASSWORD")
        .expect("the probe's password is in the environment");
    assert_eq!(
        password["valueFrom"]["secretKeyRef"]["name"],
        secret["metadata"]["name"]
    );
    // Shutdown: Kubernetes waits longer than vigil's grace period.
    let config_text = configmap["data"]["vigil.yaml"].as_str().unwrap();
    let config: serde_json::Value = serde_saphyr::from_str(config_text).unwrap();
    let grace = config["global"]["shutdown_grace"].as_str().unwrap();
    let grace: u64 = grace.trim_end_matches('s').parse().unwrap();
    assert!(spec["terminationGracePeriodSeconds"].as_u64().unwrap() > grace + 5);
    assert_eq!(config["global"]["state_dir"], "/var/lib/vigil");

    // The ConfigMap, laid out as the projected volume, passes `vigil check`.
    let dir = std::env::temp_dir().join(format!("vigil-deploy-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("probes")).unwrap();
    for (name, text) in configmap["data"].as_object().unwrap() {
        std::fs::write(dir.join(name), text.as_str().unwrap()).unwrap();
    }
    std::fs::copy(
        support::probes_dir().join("scenario.wasm"),
        dir.join("probes/checkout.wasm"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["check", "-c", dir.join("vigil.yaml").to_str().unwrap()])
        .env("SHOP_SYNTHETIC_PASSWORD", "from-the-secret")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("OK (2 probes compiled, 1 rule files)"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `HEALTHCHECK ... CMD [...]` argv of the Dockerfile.
fn healthcheck_argv(dockerfile: &str) -> Vec<String> {
    let joined = dockerfile.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK instruction");
    let json = &line[line.find("CMD").expect("HEALTHCHECK ... CMD") + 3..];
    serde_json::from_str(json.trim()).expect("the exec form: a JSON array")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_default_config_and_health_check_work() {
    let dockerfile = read("deploy/Dockerfile");
    for needed in [
        "FROM rust:${RUST_VERSION}-bookworm AS build",
        "ARG RUST_VERSION=1.95",
        "rustup target add wasm32-wasip2",
        "cargo build --release --locked -p vigil",
        "FROM debian:bookworm-slim",
        "USER ${VIGIL_UID}:${VIGIL_UID}",
        "VOLUME [\"/var/lib/vigil\"]",
        "EXPOSE 9464",
        "ENTRYPOINT [\"vigil\"]",
        "CMD [\"run\", \"-c\", \"/etc/vigil/vigil.yaml\"]",
        "COPY deploy/vigil.yaml /etc/vigil/vigil.yaml",
    ] {
        assert!(
            dockerfile.contains(needed),
            "the Dockerfile lacks {needed:?}"
        );
    }
    assert!(dockerfile.contains("ARG VIGIL_UID=10001"), "a non-root uid");

    // The default config (copied to /etc/vigil/vigil.yaml) is valid, with its state in
    // the volume and a grace period within `docker stop`'s 10s.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "check",
            "-c",
            repo().join("deploy/vigil.yaml").to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let default: serde_json::Value = yaml("deploy/vigil.yaml");
    assert_eq!(default["global"]["state_dir"], "/var/lib/vigil");
    assert_eq!(default["global"]["listen"], ":9464");
    assert_eq!(default["global"]["shutdown_grace"], "8s");

    // The HEALTHCHECK command, as written, against a live vigil and a closed port.
    let argv = healthcheck_argv(&dockerfile);
    assert_eq!(argv[0], "bash");
    let server = support::start().await;
    let site = Site::new("healthcheck");
    let port = support::closed_port();
    site.write_config(&[
        ("vigil.yaml", &config(port, &site, &server, "3s", "")),
        ("rules.yaml", RULES),
    ]);
    let vigil = Vigil::start(&site, port).await;
    let check = |port: u16| {
        let argv = argv.clone();
        async move {
            Command::new(&argv[0])
                .args(&argv[1..])
                .env("VIGIL_PORT", port.to_string())
                .stderr(Stdio::null())
                .status()
                .await
                .expect("bash runs")
                .success()
        }
    };
    assert!(
        check(port).await,
        "the health check fails against a healthy vigil"
    );
    assert!(
        !check(support::closed_port()).await,
        "the health check passes with nothing listening"
    );
    assert_eq!(vigil.terminate().await.0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_systemd_unit_verifies() {
    let unit = read("deploy/systemd/vigil.service");
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=vigil",
        "ConfigurationDirectory=vigil",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/local/bin/vigil run -c /etc/vigil/vigil.yaml",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed:?}");
    }
    // TimeoutStopSec must leave room for the default shutdown_grace (10s) and the flush.
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec=")
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(stop > 10, "TimeoutStopSec={stop}s");

    // systemd-analyze is optional even when CI=true: CI machines are containers without
    // systemd, and the unit's syntax is all it can check.
    let Ok(version) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        println!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    assert!(version.status.success());
    // verify needs the binaries the unit names to exist: point them at the built one.
    let dir = std::env::temp_dir().join(format!("vigil-deploy-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vigil.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/vigil", env!("CARGO_BIN_EXE_vigil")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .await
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // Unknown or misspelt settings are only warnings: any output is a failure here.
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify complained:\n{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
