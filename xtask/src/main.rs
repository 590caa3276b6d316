//! `cargo xtask`: repository chores — building every example probe of every language
//! into `target/probes/`, checking the guest toolchains, regenerating the C bindings.
//!
//! Everything that turns a core module into a component happens here in Rust, with the
//! same `wit-component` crate the host uses, so nobody has to install the `wasm-tools`
//! or `wit-bindgen` command-line tools.

mod c;
mod component;
mod script;
mod toolchain;
mod wat_probe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::toolchain::Status;

/// Repository chores for vigil.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build every example probe of every language into target/probes/
    /// (hello-rust.wasm, hello-js.wasm, hello-python.wasm, hello-c.wasm,
    /// hello-c-core.wasm, hello-wat.wasm, ...).
    Probes {
        /// Build only these languages (repeat the flag for several; default: all).
        #[arg(long = "lang", value_enum)]
        langs: Vec<Lang>,
        /// Rebuild JavaScript and Python probes even when they look up to date.
        #[arg(long)]
        force: bool,
    },
    /// Check the toolchain of every language and say how to install what is missing.
    Toolchains {
        /// Check only these languages (default: all).
        #[arg(long = "lang", value_enum)]
        langs: Vec<Lang>,
    },
    /// Regenerate guest-sdk/c/probe.c, probe.h and probe_component_type.o from wit/
    /// (what `wit-bindgen c --world probe wit` 0.61.1 writes).
    CBindings {
        /// Only check that the committed files are up to date; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
}

/// A language the example probes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
    C,
    Wat,
}

impl Lang {
    const ALL: [Lang; 5] = [Lang::Rust, Lang::Js, Lang::Python, Lang::C, Lang::Wat];

    /// The suffix of its probes' file names: `hello-<suffix>.wasm`.
    pub fn suffix(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Python => "python",
            Lang::C => "c",
            Lang::Wat => "wat",
        }
    }
}

/// The repository root (this crate lives in `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives inside the workspace")
        .to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::Probes { langs, force } => build_probes(&root, &selected(langs), force),
        Command::Toolchains { langs } => check_toolchains(&root, &selected(langs)),
        Command::CBindings { check } => c::bindings(&root, check),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn selected(mut langs: Vec<Lang>) -> Vec<Lang> {
    if langs.is_empty() {
        return Lang::ALL.to_vec();
    }
    langs.dedup();
    langs
}

/// `cargo xtask toolchains`: true when every selected toolchain is usable.
fn check_toolchains(root: &Path, langs: &[Lang]) -> anyhow::Result<bool> {
    let mut all_ok = true;
    for &lang in langs {
        match toolchain::check(root, lang) {
            Status::Ready(what) => println!("ok       {:<7} {what}", lang.suffix()),
            Status::Missing { problem, install } => {
                all_ok = false;
                println!(
                    "MISSING  {:<7} {problem}\n         install: {install}",
                    lang.suffix()
                );
            }
        }
    }
    Ok(all_ok)
}

/// `cargo xtask probes`: builds every language whose toolchain is there, reports the
/// others with their install command; true when nothing was missing or failed.
fn build_probes(root: &Path, langs: &[Lang], force: bool) -> anyhow::Result<bool> {
    let out_dir = root.join("target").join("probes");
    std::fs::create_dir_all(&out_dir)?;
    let mut built: Vec<PathBuf> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for &lang in langs {
        if let Status::Missing { problem, install } = toolchain::check(root, lang) {
            problems.push(format!(
                "{}: {problem}\n    install: {install}",
                lang.suffix()
            ));
            continue;
        }
        eprintln!("== {}", lang.suffix());
        let result = match lang {
            Lang::Rust => script::build_rust(root, &out_dir),
            Lang::Js | Lang::Python => script::build_scripted(root, lang, &out_dir, force),
            Lang::C => c::build_all(root, &out_dir),
            Lang::Wat => wat_probe::build_all(root, &out_dir),
        };
        match result {
            Ok(outputs) if outputs.is_empty() => {
                problems.push(format!(
                    "{}: no example probe found under probes/{}/",
                    lang.suffix(),
                    lang.suffix()
                ));
            }
            Ok(outputs) => built.extend(outputs),
            Err(e) => problems.push(format!("{}: {e:#}", lang.suffix())),
        }
    }
    for path in &built {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("ready  {}  ({})", relative(root, path), human_size(size));
    }
    for problem in &problems {
        println!("FAILED {problem}");
    }
    Ok(problems.is_empty())
}

/// `path` relative to the repository root when it is inside it.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// Write `bytes` to `path` unless it already holds them (so unchanged probes keep
/// their modification time and nothing downstream rebuilds).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The example probes of one language: the sub-folders of `probes/<lang>/`, sorted.
pub fn probe_dirs(root: &Path, lang: Lang) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join("probes").join(lang.suffix());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with('.') && name != "node_modules" && name != "__pycache__" {
                dirs.push(entry.path());
            }
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// `hello` from `probes/c/hello`.
pub fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
