//! Builds the WebAssembly probes that `vigil` embeds and its tests run.
//!
//! One nested `cargo build --release --target wasm32-wasip2 -p ... -p ...` compiles every
//! probe crate of the workspace (bundled `builtin:*` probes, the Rust examples, the test
//! fixtures) into its own target dir, `target/wasm-probes`, so it never waits on the
//! lock of the outer build; it shares the workspace and its `Cargo.lock`. The
//! components are then copied under friendly names into `target/probes/` (fixtures into
//! `target/probes/fixtures/`), and `VIGIL_PROBES_DIR` is set to that directory for the
//! crate and its tests: `include_bytes!(concat!(env!("VIGIL_PROBES_DIR"),
//! "/builtin-http.wasm"))`.
//!
//! `wasm32-wasip2` cdylibs are components already, so no `wit-component` step is needed;
//! each output's preamble is checked anyway.
//!
//! Modelled on wasmtime's `crates/test-programs/artifacts/build.rs`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target every probe is built for.
const TARGET: &str = "wasm32-wasip2";

/// `(package, file under target/probes)` for every probe crate.
const PROBES: &[(&str, &str)] = &[
    ("vigil-probe-http", "builtin-http.wasm"),
    ("vigil-probe-tcp", "builtin-tcp.wasm"),
    ("vigil-probe-scenario", "scenario.wasm"),
    ("vigil-probe-hello", "hello-rust.wasm"),
    ("vigil-probe-shop", "shop.wasm"),
    ("vigil-fixture-noop", "fixtures/noop.wasm"),
    ("vigil-fixture-degraded", "fixtures/degraded.wasm"),
    ("vigil-fixture-fail", "fixtures/fail.wasm"),
    ("vigil-fixture-spin", "fixtures/spin.wasm"),
    ("vigil-fixture-sleep", "fixtures/sleep.wasm"),
    ("vigil-fixture-memory-bomb", "fixtures/memory-bomb.wasm"),
    ("vigil-fixture-log-flood", "fixtures/log-flood.wasm"),
    ("vigil-fixture-stdout-flood", "fixtures/stdout-flood.wasm"),
    ("vigil-fixture-big-body", "fixtures/big-body.wasm"),
    ("vigil-fixture-disallowed", "fixtures/disallowed.wasm"),
    ("vigil-fixture-panic", "fixtures/panic.wasm"),
    ("vigil-fixture-metrics", "fixtures/metrics.wasm"),
    ("vigil-fixture-wrong-export", "fixtures/wrong-export.wasm"),
    (
        "vigil-fixture-unknown-import",
        "fixtures/unknown-import.wasm",
    ),
];

/// Sources of the probes: a change to any of them reruns this script.
const WATCHED: &[&str] = &[
    "wit",
    "guest-sdk",
    "probes",
    "tests/fixtures/probes",
    "Cargo.toml",
    "Cargo.lock",
];

/// What the outer cargo sets for this build script (or for the host target) that must
/// not reach the nested build: flags meant for the host, the outer target dir and
/// target, clippy's wrapper (which would lint the probes with the outer's arguments),
/// and this script's own package/cfg/feature variables (a dependency's build script in
/// the nested build would otherwise see the host's `CARGO_CFG_UNIX`, for example).
/// The jobserver (`CARGO_MAKEFLAGS`) is kept on purpose: the nested build then shares
/// the outer build's job slots instead of starting as many jobs again.
const ENV_REMOVED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
    "RUSTC_LINKER",
];
const ENV_PREFIXES_REMOVED: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives inside the workspace")
        .to_path_buf();
    for path in WATCHED {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    check_target_installed();

    let target_dir = workspace.join("target").join("wasm-probes");
    build_probes(&workspace, &target_dir);

    let probes_dir = workspace.join("target").join("probes");
    let built = target_dir.join(TARGET).join("release");
    for (package, name) in PROBES {
        let from = built.join(format!("{}.wasm", package.replace('-', "_")));
        let to = probes_dir.join(name);
        if let Err(e) = install(&from, &to) {
            fail_loudly(&format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                to.display()
            ));
        }
    }
    println!("cargo:rustc-env=VIGIL_PROBES_DIR={}", probes_dir.display());
}

/// The nested `cargo build`, with the same `cargo` binary as the outer build.
fn build_probes(workspace: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        // A configured shared build dir would put the nested build back under the
        // outer build's lock.
        .arg("--config")
        .arg(format!("build.build-dir={}", toml_string(target_dir)));
    for (package, _) in PROBES {
        cmd.arg("-p").arg(package);
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if ENV_PREFIXES_REMOVED.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key.as_ref());
        }
    }
    for key in ENV_REMOVED {
        cmd.env_remove(key);
    }
    // The workspace's release profile keeps line tables for the host; in a probe they
    // are 2.5 MB of DWARF per component (a no-op probe shrinks from 2.5 MB to 15 KB).
    // Function names stay, so traps still show a readable backtrace.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    // cargo reads this script's stdout for directives: keep the nested output off it.
    cmd.stdout(Stdio::from(io::stderr()));

    eprintln!("running: {cmd:?}");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail_loudly(&format!(
            "building the WebAssembly probes failed ({status}); the nested cargo output is above"
        )),
        Err(e) => fail_loudly(&format!("cannot run cargo to build the probes: {e}")),
    }
}

/// Stop early, with the fix, when the toolchain has no `wasm32-wasip2` standard library.
fn check_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let installed = match output {
        Ok(out) if out.status.success() => {
            let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            fs::read_dir(&libdir).is_ok_and(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("libstd-") && name.ends_with(".rlib")
                })
            })
        }
        _ => false,
    };
    if !installed {
        println!(
            "cargo::error=vigil needs the wasm32-wasip2 target: run `rustup target add wasm32-wasip2`"
        );
        std::process::exit(0);
    }
}

/// Copy a built component into place (only when its bytes changed, so that an
/// unchanged probe does not make `include_bytes!` users rebuild).
fn install(from: &Path, to: &Path) -> io::Result<()> {
    let bytes = fs::read(from)?;
    if !bytes.starts_with(b"\0asm\x0d\0\x01\0") {
        return Err(io::Error::other(
            "not a WebAssembly component (expected the `\\0asm` preamble with version 0x0d, layer 1)",
        ));
    }
    if fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(to, bytes)
}

/// A TOML basic string holding `path`.
fn toml_string(path: &Path) -> String {
    let text = path.display().to_string();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn env(key: &str) -> OsString {
    std::env::var_os(key).unwrap_or_else(|| fail_loudly(&format!("cargo did not set {key}")))
}

/// Fail the build with `message`, and with this script's stderr (the nested cargo's
/// output) shown by cargo.
fn fail_loudly(message: &str) -> ! {
    println!("cargo::error={message}");
    eprintln!("error: {message}");
    std::process::exit(1);
}
