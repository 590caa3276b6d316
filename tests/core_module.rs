//! wasip1 core modules as probes, through the real `vigil` binary: a module without WIT
//! metadata (hand-written WAT) and the C probe built as a plain core module are adapted
//! into components at load time and run like any other probe; a module that is no probe
//! is refused with exit 2 and the name of what it lacks.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{probes_dir, start, vigil};

/// Compile a WAT fixture of `tests/fixtures/core/` into a `.wasm` file in a fresh
/// directory, as a user's compiler would leave it.
fn core_fixture(name: &str) -> (tempdir::Dir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/core")
        .join(format!("{name}.wat"));
    let wasm = wat::parse_file(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    assert_eq!(&wasm[4..8], &[1, 0, 0, 0], "{name} must be a core module");
    let dir = tempdir::Dir::new(name);
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, wasm).unwrap();
    (dir, path)
}

/// Run `vigil probe run --no-cache --output json PROBE ARGS...`: (exit code, record, stderr).
async fn run_json(probe: &Path, args: &[&str]) -> (i32, Value, String) {
    let probe = probe.display().to_string();
    let mut all = vec!["probe", "run", "--no-cache", "--output", "json", &probe];
    all.extend_from_slice(args);
    let out = vigil(&all).await;
    let record = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?} stderr {:?}", out.stdout, out.stderr));
    (out.code, record, out.stderr)
}

fn log_messages(run: &Value) -> Vec<String> {
    run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_core_module_is_adapted_and_runs() {
    let (_dir, wasm) = core_fixture("hello");
    let (code, run, stderr) = run_json(&wasm, &["--set", "greeting=hi from the test"]).await;
    assert_eq!(code, 0, "{run:#}\n{stderr}");
    assert_eq!(run["outcome"], "success", "{run:#}");

    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{run:#}");
    assert_eq!(steps[0]["name"], "work");
    assert_eq!(steps[0]["success"], true);

    let logs = log_messages(&run);
    for expected in [
        "hello from a core module",
        // Written into guest memory by the host, through the module's cabi_realloc.
        "hi from the test",
        // wasi fd_write, served by the preview1 adapter, captured from stdout.
        "printed through wasi fd_write, too",
    ] {
        assert!(
            logs.iter().any(|l| l == expected),
            "{expected:?} not in {logs:?}"
        );
    }

    let metric = run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "answer")
        .unwrap_or_else(|| panic!("no metric answer in {run:#}"));
    assert_eq!(metric["value"], 42.0);
    assert_eq!(metric["labels"], serde_json::json!([["lang", "wat"]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_modules_error_string_reaches_the_record() {
    let (_dir, wasm) = core_fixture("hello");
    let (code, run, _) = run_json(&wasm, &["--set", "fail=yes"]).await;
    assert_eq!(code, 1, "{run:#}");
    assert_eq!(run["outcome"], "failure");
    assert_eq!(run["message"], "asked to fail by config", "{run:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_module_gets_the_command_adapter_and_runs() {
    let (_dir, wasm) = core_fixture("command");
    let (code, run, stderr) = run_json(&wasm, &[]).await;
    assert_eq!(code, 0, "{run:#}\n{stderr}");
    let logs = log_messages(&run);
    assert!(
        logs.contains(&"hello from a command module".to_string()),
        "{logs:?}"
    );
    assert!(
        logs.contains(&"command printed to stdout".to_string()),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_without_run_is_refused_naming_the_export() {
    let (_dir, wasm) = core_fixture("no-run");
    let probe = wasm.display().to_string();
    let out = vigil(&["probe", "run", "--no-cache", &probe]).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("does not export `run`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("its exports are: memory, _start"),
        "{}",
        out.stderr
    );

    let (code, run, _) = run_json(&wasm, &[]).await;
    assert_eq!(code, 2);
    assert_eq!(run["reason"], "load_error", "{run:#}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("does not export `run`"),
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_neither_component_nor_module_are_refused() {
    let dir = tempdir::Dir::new("garbage");
    let path = dir.path().join("garbage.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0\x7f\x7f\x7f").unwrap();
    let out = vigil(&["probe", "run", "--no-cache", &path.display().to_string()]).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("not a valid WebAssembly module"),
        "{}",
        out.stderr
    );
}

/// The C hello probe, built by `cargo xtask probes` as a plain wasip1 core module with
/// its WIT in a `component-type` section (wit-bindgen C), fetches from a local server.
#[tokio::test(flavor = "multi_thread")]
async fn the_c_probe_built_as_a_core_module_runs() {
    let wasm = probes_dir().join("hello-c-core.wasm");
    if !wasm.exists() {
        // Build it as `cargo xtask probes --lang c` does (C toolchain permitting).
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .current_dir(&repo)
                .args([
                    "run",
                    "--quiet",
                    "--package",
                    "xtask",
                    "--",
                    "probes",
                    "--lang",
                    "c",
                ])
                .status();
        if !matches!(built, Ok(s) if s.success()) {
            eprintln!("`cargo xtask probes --lang c` failed: {built:?}");
        }
    }
    if !wasm.exists() {
        let why = format!(
            "{} is missing: build it with `cargo xtask probes --lang c` \
             (needs clang lld wasi-libc libclang-rt-dev-wasm32, see .ci/install-toolchains.sh)",
            wasm.display()
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        return;
    }
    let server = start().await;
    let url = format!("url={}/", server.url());
    let (code, run, stderr) = run_json(&wasm, &["--set", &url, "--allow", &server.allow()]).await;
    assert_eq!(code, 0, "{run:#}\n{stderr}");
    assert_eq!(run["outcome"], "success");
    let fetch = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "fetch")
        .unwrap_or_else(|| panic!("no step fetch in {run:#}"));
    assert_eq!(fetch["success"], true);
    assert_eq!(run["http"][0]["status"], 200, "{run:#}");
    assert!(
        run["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "body_bytes"),
        "{run:#}"
    );
}

/// A scratch directory removed on drop.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = std::env::temp_dir().join(format!(
                "vigil-core-module-{name}-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
