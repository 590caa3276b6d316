//! Probes built by other tools: Rust (the nested cargo build behind `cargo build -p
//! vigil`) and JavaScript/Python (each probe folder's own `build.sh OUT.wasm`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context as _, bail};

use crate::{Lang, dir_name, probe_dirs};

/// The Rust probes come from `host/build.rs`, which `cargo build -p vigil` runs.
pub fn build_rust(root: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "-p", "vigil"]);
    eprintln!("running: {cmd:?}");
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo build -p vigil` failed ({status})");
    }
    let mut built = Vec::new();
    for dir in probe_dirs(root, Lang::Rust)? {
        // host/build.rs names them `hello-rust.wasm`, `scenario.wasm`, `shop.wasm`.
        let name = dir_name(&dir);
        let candidates = [format!("{name}-rust.wasm"), format!("{name}.wasm")];
        if let Some(out) = candidates
            .iter()
            .map(|c| out_dir.join(c))
            .find(|p| p.exists())
        {
            built.push(out);
        }
    }
    let hello = out_dir.join("hello-rust.wasm");
    if !hello.exists() {
        bail!("{} is missing after the build", hello.display());
    }
    Ok(built)
}

/// Every `probes/<lang>/<name>/build.sh` is run as `build.sh target/probes/<name>-<lang>.wasm`,
/// unless that file is newer than everything it is built from (`force` rebuilds anyway).
///
/// Skipping matters beyond the ~10 s a build takes: componentize-js and componentize-py
/// do not produce the same bytes twice, so a rebuilt probe misses vigil's compiled-
/// artifact cache and costs a full compile on its next run.
pub fn build_scripted(
    root: &Path,
    lang: Lang,
    out_dir: &Path,
    force: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut built = Vec::new();
    for dir in probe_dirs(root, lang)? {
        let script = dir.join("build.sh");
        if !script.exists() {
            continue;
        }
        let out = out_dir.join(format!("{}-{}.wasm", dir_name(&dir), lang.suffix()));
        let inputs = [
            dir.clone(),
            root.join("probes").join(lang.suffix()),
            root.join("guest-sdk").join(lang.suffix()),
            root.join("wit"),
        ];
        if !force && up_to_date(&out, &inputs) {
            eprintln!("up to date: {}", out.display());
            built.push(out);
            continue;
        }
        let mut cmd = Command::new("bash");
        cmd.current_dir(&dir).arg(&script).arg(&out);
        eprintln!("running: {cmd:?}");
        let status = cmd
            .status()
            .with_context(|| format!("cannot run {}", script.display()))?;
        if !status.success() {
            bail!(
                "{} failed ({status}); its output is above",
                script.display()
            );
        }
        if !out.exists() {
            bail!(
                "{} succeeded but wrote no {}",
                script.display(),
                out.display()
            );
        }
        built.push(out);
    }
    Ok(built)
}

/// Whether `out` exists and is newer than every file under `inputs` (dependency and
/// cache folders aside).
fn up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    inputs
        .iter()
        .all(|dir| newest(dir).is_some_and(|t| t <= built))
}

/// The newest modification time of the files under `path`; `None` when unreadable.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut latest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(path).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "node_modules" || name == "__pycache__" || name.starts_with('.') {
            continue;
        }
        latest = latest.max(newest(&entry.path())?);
    }
    Some(latest)
}
