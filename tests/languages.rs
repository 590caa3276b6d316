//! Probes in every language, as a user runs them: the example `hello` probes of Rust,
//! JavaScript, Python, C (as a component and as a wasip1 core module vigil adapts) and
//! WAT are built by `cargo xtask probes` and run by the real `vigil` binary against a
//! real HTTP server on 127.0.0.1; `vigil new probe` scaffolds are built with their own
//! build.sh and run the same way.
//!
//! A language whose toolchain is missing is skipped with the reason printed, except
//! under `CI=true`, where it is a failure that says how to install it
//! (`.ci/install-toolchains.sh` installs them all).

mod support;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use support::{closed_port, probes_dir, start, vigil};

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `cargo` as the test runner was started with.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(repo());
    cmd
}

/// `cargo xtask ARGS` (the alias is `run --package xtask --`), output captured.
fn xtask(args: &[&str]) -> (bool, String) {
    let out = cargo()
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Values computed once per key per test binary; tests asking for a key being computed
/// wait for it instead of doing the work again.
type Memo<K, T> = OnceLock<Mutex<HashMap<K, Arc<OnceLock<T>>>>>;

fn once<K: Eq + Hash, T: Clone>(memo: &'static Memo<K, T>, key: K, f: impl FnOnce() -> T) -> T {
    let cell = memo
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(f).clone()
}

/// Whether `lang`'s toolchain is installed, asked once per test binary. `Err` holds
/// what is missing and the install command, as `cargo xtask toolchains` says it.
fn toolchain(lang: &'static str) -> Result<(), String> {
    static CHECKED: Memo<&str, Result<(), String>> = OnceLock::new();
    once(&CHECKED, lang, || {
        if lang == "rust" {
            // host/build.rs already needed it to build this test.
            return Ok(());
        }
        let (ok, text) = xtask(&["toolchains", "--lang", lang]);
        if ok { Ok(()) } else { Err(text) }
    })
}

/// `true` when the test may go on; prints why not and returns `false` when `lang`'s
/// toolchain is missing (a panic with the install command under `CI=true`).
fn require_toolchain(lang: &'static str) -> bool {
    match toolchain(lang) {
        Ok(()) => true,
        Err(why) if in_ci() => panic!(
            "CI=true and the {lang} toolchain is missing (run .ci/install-toolchains.sh):\n{why}"
        ),
        Err(why) => {
            eprintln!("skipped: the {lang} toolchain is missing:\n{why}");
            false
        }
    }
}

/// Build the example probes of `lang` once per test binary with `cargo xtask probes`.
fn build(lang: &'static str) -> Result<(), String> {
    static BUILT: Memo<&str, Result<(), String>> = OnceLock::new();
    once(&BUILT, lang, || {
        if lang == "rust" {
            // host/build.rs built hello-rust.wasm with this test.
            return Ok(());
        }
        let (ok, text) = xtask(&["probes", "--lang", lang]);
        if ok { Ok(()) } else { Err(text) }
    })
}

/// One way to build the `hello` probe.
struct Hello {
    /// The toolchain (`cargo xtask --lang` value).
    lang: &'static str,
    /// The file under target/probes.
    file: &'static str,
}

const RUST: Hello = Hello {
    lang: "rust",
    file: "hello-rust.wasm",
};
const JS: Hello = Hello {
    lang: "js",
    file: "hello-js.wasm",
};
const PYTHON: Hello = Hello {
    lang: "python",
    file: "hello-python.wasm",
};
const C: Hello = Hello {
    lang: "c",
    file: "hello-c.wasm",
};
/// The C probe as the plain wasip1 core module: vigil adapts it at load time.
const C_CORE: Hello = Hello {
    lang: "c",
    file: "hello-c-core.wasm",
};

impl Hello {
    /// The built probe, or `None` when the toolchain is missing outside CI.
    fn path(&self) -> Option<String> {
        if !require_toolchain(self.lang) {
            return None;
        }
        if let Err(why) = build(self.lang) {
            panic!("`cargo xtask probes --lang {}` failed:\n{why}", self.lang);
        }
        let path = probes_dir().join(self.file);
        assert!(path.exists(), "{} was not built", path.display());
        let path = path.display().to_string();
        warm_up(&path);
        Some(path)
    }
}

/// The compiled-artifact cache these tests share, kept between test runs: a JS or
/// Python component takes a debug-built vigil minutes to compile, a cached one
/// milliseconds to load.
fn cache_dir() -> String {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("languages-cache")
        .display()
        .to_string()
}

/// Compile `path` once per test binary (the run fails without its config, which is
/// fine: the point is the cache entry), so parallel tests do not compile it again each.
fn warm_up(path: &str) {
    static WARM: Memo<String, ()> = OnceLock::new();
    once(&WARM, path.to_string(), || {
        let cache = cache_dir();
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args([
                "probe",
                "run",
                path,
                "--cache-dir",
                &cache,
                "--output",
                "json",
            ])
            .env("VIGIL_LOG", "error")
            .output()
            .expect("vigil runs");
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{path} does not load:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// `vigil probe run --output json ARGS` with the shared cache: (exit code, run record).
async fn run_json(args: &[&str]) -> (i32, Value) {
    let cache = cache_dir();
    let mut all = vec!["probe", "run", "--output", "json", "--cache-dir", &cache];
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

fn metric(run: &Value, name: &str) -> f64 {
    run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {run:#}"))["value"]
        .as_f64()
        .unwrap()
}

/// The test server's `/` answers "hello from the test server\n".
const HELLO_BODY_BYTES: f64 = 27.0;

/// hello fetches the URL in step `fetch`, records `body_bytes` and logs one line.
async fn hello_succeeds(hello: Hello) {
    let Some(path) = hello.path() else { return };
    let server = start().await;
    let url = format!("{}/", server.url());
    let (code, run) = run_json(&[
        &path,
        "--set",
        &format!("url={url}"),
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["outcome"], "success", "{run:#}");
    assert_eq!(step(&run, "fetch")["success"], true, "{run:#}");
    assert_eq!(metric(&run, "body_bytes"), HELLO_BODY_BYTES, "{run:#}");
    assert_eq!(run["http"][0]["status"], 200, "{run:#}");
    assert_eq!(run["http"][0]["step"], "fetch", "{run:#}");
    let logs: Vec<&str> = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["source"] == "log")
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(logs.len(), 1, "one log line expected: {run:#}");
    assert!(
        logs[0].contains(&url) && logs[0].contains("200"),
        "the log line names the URL and the status: {run:#}"
    );
}

/// Against a closed port hello fails with its SDK's words, in the `fetch` step.
async fn hello_fails_on_a_closed_port(hello: Hello) {
    let Some(path) = hello.path() else { return };
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, run) = run_json(&[
        &path,
        "--set",
        &format!("url={url}"),
        "--allow",
        &format!("127.0.0.1:{port}"),
    ])
    .await;
    assert_eq!(code, 1, "{run:#}");
    assert_eq!(run["outcome"], "failure", "{run:#}");
    assert_eq!(run["reason"], "guest_error", "{run:#}");
    let message = run["message"].as_str().unwrap();
    assert!(
        message.starts_with("fetch: ")
            && message.contains(&url)
            && message.contains("connection refused"),
        "{} says what failed where: {message}",
        hello.file
    );
    assert_eq!(step(&run, "fetch")["success"], false, "{run:#}");
}

/// A host outside `--allow` is denied: the run fails with reason `denied` (not a trap).
async fn hello_is_denied_a_host_not_allowed(hello: Hello) {
    let Some(path) = hello.path() else { return };
    let server = start().await;
    let (code, run) = run_json(&[
        &path,
        "--set",
        &format!("url={}/", server.url()),
        "--allow",
        "127.0.0.1:1",
    ])
    .await;
    assert_eq!(code, 1, "{run:#}");
    assert_eq!(run["outcome"], "failure", "{run:#}");
    assert_eq!(run["reason"], "denied", "{run:#}");
    let message = run["message"].as_str().unwrap();
    assert!(
        message.contains(&server.allow()),
        "the message names the host: {message}"
    );
    assert_eq!(step(&run, "fetch")["success"], false, "{run:#}");
}

macro_rules! hello_tests {
    ($($lang:ident => $hello:expr;)*) => {$(
        mod $lang {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn hello_succeeds_against_a_local_server() {
                super::hello_succeeds($hello).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn hello_fails_on_a_closed_port_with_its_message() {
                super::hello_fails_on_a_closed_port($hello).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn hello_is_denied_a_host_not_allowed() {
                super::hello_is_denied_a_host_not_allowed($hello).await;
            }
        }
    )*};
}

hello_tests! {
    rust => RUST;
    js => JS;
    python => PYTHON;
    c => C;
    c_core_module => C_CORE;
}

/// The WAT probe does no HTTP: it reads `url`, logs it in step `hello`, records
/// `url_bytes`.
#[tokio::test(flavor = "multi_thread")]
async fn wat_hello_uses_a_step_the_log_and_a_metric() {
    if let Err(why) = build("wat") {
        panic!("`cargo xtask probes --lang wat` failed:\n{why}");
    }
    let path = probes_dir().join("hello-wat.wasm").display().to_string();
    let url = "http://127.0.0.1:9/";
    let (code, run) = run_json(&[&path, "--set", &format!("url={url}")]).await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["outcome"], "success");
    assert_eq!(step(&run, "hello")["success"], true);
    assert_eq!(metric(&run, "url_bytes"), url.len() as f64);
    assert_eq!(
        run["logs"][0]["message"],
        format!("hello from WAT: url is {url}")
    );

    let (code, run) = run_json(&[&path]).await;
    assert_eq!(code, 1, "{run:#}");
    assert_eq!(run["reason"], "guest_error");
    assert_eq!(run["message"], "hello: config key `url` is not set");
    assert_eq!(step(&run, "hello")["success"], false);
}

/// The C core module is a module, not a component: vigil adapts it at load time.
#[test]
fn the_c_core_module_is_a_plain_wasip1_module() {
    let Some(path) = C_CORE.path() else { return };
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "core module preamble");
    let as_text = String::from_utf8_lossy(&bytes);
    assert!(as_text.contains("wasi_snapshot_preview1"), "imports wasip1");
    assert!(as_text.contains("component-type"), "carries its WIT world");
}

/// A scratch folder under cargo's per-target tmp dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("languages")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `vigil new probe NAME --lang LANG`, `NAME/build.sh`, then `vigil probe run` against
/// the test server: the scaffold works on first try.
async fn scaffold_builds_and_runs(lang: &'static str) {
    if !require_toolchain(lang) {
        return;
    }
    let dir = scratch(&format!("new-{lang}"));
    let name = format!("first-{lang}");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(&dir)
        .args(["new", "probe", &name, "--lang", lang])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "vigil new probe failed: {said}");
    assert!(said.contains("build.sh"), "says how to build: {said}");

    let folder = dir.join(&name);
    let mut build = Command::new("bash");
    build.arg(folder.join("build.sh")).current_dir(&dir);
    if lang == "rust" {
        // Share the compiled wit-bindgen and serde with host/build.rs's probe build
        // (same profile settings), so this takes seconds instead of a minute.
        build.env(
            "CARGO_TARGET_DIR",
            repo().join("target").join("wasm-probes"),
        );
    }
    if lang == "python" {
        // Where probes/python/setup.sh installs componentize-py (else build.sh finds it
        // on PATH).
        let venv = std::env::var_os("VIGIL_PYTHON_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join("target"))
                    .join("guest-toolchains")
                    .join("python")
            });
        let tool = venv.join("bin").join("componentize-py");
        if tool.exists() {
            build.env("COMPONENTIZE_PY", tool);
        }
    }
    let built = build.output().unwrap();
    assert!(
        built.status.success(),
        "{lang} scaffold did not build:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let wasm = folder.join(format!("{name}.wasm"));
    assert!(wasm.exists(), "build.sh wrote no {}", wasm.display());

    let server = start().await;
    let (code, run) = run_json(&[
        wasm.to_str().unwrap(),
        "--set",
        &format!("url={}/", server.url()),
        "--allow",
        &server.allow(),
    ])
    .await;
    assert_eq!(code, 0, "{run:#}");
    assert_eq!(run["outcome"], "success", "{run:#}");
    assert_eq!(step(&run, "fetch")["success"], true, "{run:#}");
    assert_eq!(metric(&run, "body_bytes"), HELLO_BODY_BYTES, "{run:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_probe_rust_builds_and_runs() {
    scaffold_builds_and_runs("rust").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_probe_c_builds_and_runs() {
    scaffold_builds_and_runs("c").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_probe_js_builds_and_runs() {
    scaffold_builds_and_runs("js").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_probe_python_builds_and_runs() {
    scaffold_builds_and_runs("python").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_probe_refuses_an_existing_folder_and_an_unknown_language() {
    let dir = scratch("new-refusals");
    std::fs::create_dir(dir.join("taken")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["new", "probe", "taken", "--lang", "c"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: taken already exists: choose another name, or move it away first\n"
    );
    let out = run(&["new", "probe", "fresh", "--lang", "cobol"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown language `cobol`: choose one of rust, js, python, c\n"
    );
    assert!(
        !dir.join("fresh").exists(),
        "nothing is written on an error"
    );
    let out = run(&["new", "probe", "Fresh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lowercase letter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The committed C bindings match wit/ (regenerate: `cargo xtask c-bindings`).
#[test]
fn the_c_bindings_are_generated_from_the_current_wit() {
    let (ok, text) = xtask(&["c-bindings", "--check"]);
    assert!(ok, "{text}");
}
