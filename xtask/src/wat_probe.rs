//! WAT probes: `probes/wat/<name>/<name>.wat` → `target/probes/<name>-wat.wasm`.
//!
//! The text is parsed with the `wat` crate, the `vigil:probe/probe` world from `wit/`
//! is embedded as component-type metadata, and `wit-component` wraps the result into a
//! component. No adapter: a hand-written probe imports only what the world offers.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wit_component::StringEncoding;
use wit_parser::Resolve;

use crate::{Lang, component, dir_name, probe_dirs, write_if_changed};

/// Build every WAT example probe; returns the files written.
pub fn build_all(root: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut built = Vec::new();
    for dir in probe_dirs(root, Lang::Wat)? {
        let name = dir_name(&dir);
        let source = dir.join(format!("{name}.wat"));
        if !source.exists() {
            continue;
        }
        let component = build(root, &source)?;
        let out = out_dir.join(format!("{name}-wat.wasm"));
        write_if_changed(&out, &component)?;
        built.push(out);
    }
    Ok(built)
}

/// One `.wat` file → component bytes.
pub fn build(root: &Path, source: &Path) -> anyhow::Result<Vec<u8>> {
    // `wat` reports errors with file, line and column.
    let mut module = wat::parse_file(source)?;
    let mut resolve = Resolve::default();
    let wit = root.join("wit");
    let (package, _) = resolve
        .push_dir(&wit)
        .with_context(|| format!("cannot read the WIT package in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some("probe"))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    component::from_core_module(&module, false)
        .with_context(|| format!("{} does not fit the probe world", source.display()))
}
