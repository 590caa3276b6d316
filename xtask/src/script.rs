//! Probes built by other tools: Rust (the nested cargo build behind `cargo build -p
//! vigil`) and JavaScript/Python (each probe folder's own `build.sh OUT.wasm`).

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Every `probes/<lang>/<name>/build.sh` is run as `build.sh target/probes/<name>-<lang>.wasm`.
pub fn build_scripted(root: &Path, lang: Lang, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut built = Vec::new();
    for dir in probe_dirs(root, lang)? {
        let script = dir.join("build.sh");
        if !script.exists() {
            continue;
        }
        let out = out_dir.join(format!("{}-{}.wasm", dir_name(&dir), lang.suffix()));
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
