//! C probes: `probes/c/<name>/*.c` → `target/probes/<name>-c-core.wasm` (the plain
//! wasip1 core module, which vigil adapts at load time) and `<name>-c.wasm` (the same
//! module made a component here, with the preview1 reactor adapter).
//!
//! The bindings in `guest-sdk/c/` (probe.c, probe.h, probe_component_type.o) are
//! committed, so building a C probe needs only clang and wasi-libc;
//! `cargo xtask c-bindings` regenerates them after a change to `wit/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use wit_bindgen_core::Files;
use wit_parser::Resolve;

use crate::{Lang, component, dir_name, probe_dirs, toolchain, write_if_changed};

/// The generated files, as `wit-bindgen c` names them for the world `probe`.
const GENERATED: [&str; 3] = ["probe.c", "probe.h", "probe_component_type.o"];

/// Build every C example probe; returns the files written.
pub fn build_all(root: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut built = Vec::new();
    for dir in probe_dirs(root, Lang::C)? {
        let name = dir_name(&dir);
        let sources = c_sources(&dir)?;
        if sources.is_empty() {
            continue;
        }
        let core_path = out_dir.join(format!("{name}-c-core.wasm"));
        compile(root, &sources, &core_path)?;
        let core = std::fs::read(&core_path)?;
        let component = component::from_core_module(&core, true)
            .with_context(|| format!("cannot make a component of {}", core_path.display()))?;
        let out = out_dir.join(format!("{name}-c.wasm"));
        write_if_changed(&out, &component)?;
        built.push(out);
        built.push(core_path);
    }
    Ok(built)
}

fn c_sources(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "c") {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}

/// clang + wasi-libc → a wasip1 reactor module with the component-type section linked
/// in (the same command a probe's own build.sh runs).
fn compile(root: &Path, sources: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let tc = toolchain::c_toolchain();
    let sdk = root.join("guest-sdk").join("c");
    let mut cmd = Command::new(&tc.clang);
    cmd.arg("--target=wasm32-wasi")
        .arg(format!("--sysroot={}", tc.sysroot.display()))
        // A reactor: no `main`, `_initialize` runs the C constructors, then vigil calls
        // `run` once.
        .arg("-mexec-model=reactor")
        .args(["-O2", "-Wall", "-Werror", "-Wno-unused-function"])
        .arg("-I")
        .arg(&sdk)
        .args(sources)
        .arg(sdk.join("vigil.c"))
        .arg(sdk.join("probe.c"))
        .arg(sdk.join("probe_component_type.o"))
        // Debug info only; the `component-type` custom section must stay.
        .arg("-Wl,--strip-debug")
        .arg("-o")
        .arg(out);
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", tc.clang.display()))?;
    if !status.success() {
        bail!("clang failed ({status}); its output is above");
    }
    Ok(())
}

/// `cargo xtask c-bindings [--check]`.
pub fn bindings(root: &Path, check: bool) -> anyhow::Result<bool> {
    let files = generate(root)?;
    let dir = root.join("guest-sdk").join("c");
    let mut stale = Vec::new();
    for name in GENERATED {
        let Some((_, bytes)) = files.iter().find(|(n, _)| *n == name) else {
            bail!("wit-bindgen-c did not produce {name}");
        };
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            write_if_changed(&path, bytes)?;
            println!("wrote {}", path.display());
        }
    }
    if check && !stale.is_empty() {
        println!(
            "out of date (run `cargo xtask c-bindings`): {}",
            stale.join(", ")
        );
        return Ok(false);
    }
    if check {
        println!("guest-sdk/c bindings are up to date");
    }
    Ok(true)
}

/// The C bindings for the `probe` world, with wit-bindgen-c's default options.
fn generate(root: &Path) -> anyhow::Result<Files> {
    let mut resolve = Resolve::default();
    let wit = root.join("wit");
    let (package, _) = resolve
        .push_dir(&wit)
        .with_context(|| format!("cannot read the WIT package in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some("probe"))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    Ok(files)
}
