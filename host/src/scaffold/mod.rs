//! `vigil new probe`: scaffold a ready-to-build probe folder in Rust, JavaScript, Python or C.
//!
//! A scaffold is self-contained: besides the probe's source, build script and README it
//! carries the SDK of its language and the WIT contract, copied from this vigil's own
//! sources at compile time, so the folder builds anywhere with only the language's
//! public toolchain (crates.io / npm / PyPI / clang). The SDKs are not published to a
//! registry; vendoring them is what makes "builds on first try" true outside this
//! repository. [`plan`] decides the files (pure); [`create`] writes them.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

/// `vigil new ...`
#[derive(Debug, clap::Subcommand)]
pub enum NewCommand {
    /// Scaffold a probe folder (source, build file, README) that builds and runs as is.
    Probe(NewProbeArgs),
}

/// Arguments of `vigil new probe`.
#[derive(Debug, clap::Args)]
pub struct NewProbeArgs {
    /// The probe's name, which is also the folder created (a path such as
    /// `probes/checkout` creates `checkout` inside `probes/`).
    pub name: String,
    /// Language: rust, js, python or c.
    #[arg(long, default_value = "rust")]
    pub lang: String,
}

/// A language `vigil new probe` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Rust with the vigil-guest SDK, built for wasm32-wasip2.
    Rust,
    /// JavaScript with the vigil JS SDK, built with componentize-js.
    Js,
    /// Python with the vigil Python SDK, built with componentize-py.
    Python,
    /// C with vigil.h, built with clang and wasi-libc into a core module.
    C,
}

impl Lang {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Python => "python",
            Lang::C => "c",
        }
    }
}

impl FromStr for Lang {
    type Err = ScaffoldError;

    fn from_str(s: &str) -> Result<Lang, ScaffoldError> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "js" | "javascript" => Ok(Lang::Js),
            "python" | "py" => Ok(Lang::Python),
            "c" => Ok(Lang::C),
            _ => Err(ScaffoldError::UnknownLang(s.to_string())),
        }
    }
}

/// Why a scaffold could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// `--lang` named no language vigil scaffolds.
    #[error("unknown language `{0}`: choose one of rust, js, python, c")]
    UnknownLang(String),
    /// The folder name cannot name a probe (it becomes a crate or package name too).
    #[error("`{name}` cannot name a probe: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The target folder (or a file of that name) is already there.
    #[error("{} already exists: choose another name, or move it away first", path.display())]
    Exists {
        /// The folder that would have been created.
        path: PathBuf,
    },
    /// Writing the folder failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ScaffoldError {
    /// The exit status: 2 for a bad request (usage), 1 when the filesystem failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            ScaffoldError::Io { .. } => 1,
            _ => 2,
        }
    }
}

/// One file of a scaffold.
#[derive(Debug, Clone)]
pub struct ScaffoldFile {
    /// Path relative to the probe's folder.
    pub path: PathBuf,
    /// The bytes to write.
    pub contents: Cow<'static, [u8]>,
    /// Whether to make it executable (the build scripts).
    pub executable: bool,
}

/// This vigil's version, written into the vendored SDKs.
const VIGIL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The WIT contract, `wit/` of this repository.
const WIT: &[(&str, &str)] = &[
    ("probe.wit", include_str!("../../../wit/probe.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

/// The Rust SDK's sources, `guest-sdk/src/` (its manifest is a template: the
/// workspace's inherits fields a standalone crate cannot).
const RUST_SDK: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    (
        "src/duration.rs",
        include_str!("../../../guest-sdk/src/duration.rs"),
    ),
    (
        "src/error.rs",
        include_str!("../../../guest-sdk/src/error.rs"),
    ),
    (
        "src/host.rs",
        include_str!("../../../guest-sdk/src/host.rs"),
    ),
    ("src/log.rs", include_str!("../../../guest-sdk/src/log.rs")),
    ("src/net.rs", include_str!("../../../guest-sdk/src/net.rs")),
    (
        "src/wait.rs",
        include_str!("../../../guest-sdk/src/wait.rs"),
    ),
    (
        "src/http/mod.rs",
        include_str!("../../../guest-sdk/src/http/mod.rs"),
    ),
    (
        "src/http/error_code.rs",
        include_str!("../../../guest-sdk/src/http/error_code.rs"),
    ),
    (
        "src/http/transport.rs",
        include_str!("../../../guest-sdk/src/http/transport.rs"),
    ),
    (
        "src/http/url.rs",
        include_str!("../../../guest-sdk/src/http/url.rs"),
    ),
];

/// The C SDK, `guest-sdk/c/`: the helpers and the generated bindings.
const C_SDK: &[(&str, &[u8])] = &[
    (
        "README.md",
        include_bytes!("../../../guest-sdk/c/README.md"),
    ),
    ("vigil.h", include_bytes!("../../../guest-sdk/c/vigil.h")),
    ("vigil.c", include_bytes!("../../../guest-sdk/c/vigil.c")),
    ("probe.h", include_bytes!("../../../guest-sdk/c/probe.h")),
    ("probe.c", include_bytes!("../../../guest-sdk/c/probe.c")),
    (
        "probe_component_type.o",
        include_bytes!("../../../guest-sdk/c/probe_component_type.o"),
    ),
];

/// The JavaScript SDK and its build tool, `guest-sdk/js/` (its package.json only lends
/// its dependencies: the scaffold has its own).
const JS_SDK: &[(&str, &str)] = &[
    ("vigil.js", include_str!("../../../guest-sdk/js/vigil.js")),
    (
        "componentize.mjs",
        include_str!("../../../guest-sdk/js/componentize.mjs"),
    ),
    (
        "lib/errors.js",
        include_str!("../../../guest-sdk/js/lib/errors.js"),
    ),
    (
        "lib/http.js",
        include_str!("../../../guest-sdk/js/lib/http.js"),
    ),
    (
        "lib/response.js",
        include_str!("../../../guest-sdk/js/lib/response.js"),
    ),
    ("README.md", include_str!("../../../guest-sdk/js/README.md")),
];

/// `guest-sdk/js/package.json`, for the toolchain versions it pins.
const JS_PACKAGE_JSON: &str = include_str!("../../../guest-sdk/js/package.json");

/// The Python SDK, the `vigil` package in `guest-sdk/python/`.
const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../guest-sdk/python/vigil/__init__.py"),
    ),
    (
        "_errors.py",
        include_str!("../../../guest-sdk/python/vigil/_errors.py"),
    ),
    (
        "_host.py",
        include_str!("../../../guest-sdk/python/vigil/_host.py"),
    ),
    (
        "http.py",
        include_str!("../../../guest-sdk/python/vigil/http.py"),
    ),
    (
        "log.py",
        include_str!("../../../guest-sdk/python/vigil/log.py"),
    ),
    (
        "README.md",
        include_str!("../../../guest-sdk/python/README.md"),
    ),
];

/// The componentize-py version probes/python/setup.sh pins.
const COMPONENTIZE_PY: &str = "0.25.1";

mod rust_templates {
    pub const CARGO_TOML: &str = include_str!("templates/rust/Cargo.toml.tmpl");
    pub const CARGO_CONFIG: &str = include_str!("templates/rust/cargo-config.toml.tmpl");
    pub const LIB_RS: &str = include_str!("templates/rust/lib.rs.tmpl");
    pub const BUILD_SH: &str = include_str!("templates/rust/build.sh.tmpl");
    pub const README: &str = include_str!("templates/rust/README.md.tmpl");
    pub const GITIGNORE: &str = include_str!("templates/rust/gitignore.tmpl");
    pub const SDK_CARGO_TOML: &str = include_str!("templates/rust/vigil-guest-Cargo.toml.tmpl");
}

mod c_templates {
    pub const PROBE_C: &str = include_str!("templates/c/probe.c.tmpl");
    pub const BUILD_SH: &str = include_str!("templates/c/build.sh.tmpl");
    pub const README: &str = include_str!("templates/c/README.md.tmpl");
    pub const GITIGNORE: &str = include_str!("templates/c/gitignore.tmpl");
}

mod js_templates {
    pub const PROBE_JS: &str = include_str!("templates/js/probe.js.tmpl");
    pub const PACKAGE_JSON: &str = include_str!("templates/js/package.json.tmpl");
    pub const BUILD_SH: &str = include_str!("templates/js/build.sh.tmpl");
    pub const README: &str = include_str!("templates/js/README.md.tmpl");
    pub const GITIGNORE: &str = include_str!("templates/js/gitignore.tmpl");
}

mod python_templates {
    pub const APP_PY: &str = include_str!("templates/python/app.py.tmpl");
    pub const BUILD_SH: &str = include_str!("templates/python/build.sh.tmpl");
    pub const README: &str = include_str!("templates/python/README.md.tmpl");
    pub const GITIGNORE: &str = include_str!("templates/python/gitignore.tmpl");
}

/// The `dependencies` object of guest-sdk/js/package.json, as JSON text indented to
/// sit in the scaffold's package.json.
fn js_dependencies() -> String {
    serde_json::from_str::<serde_json::Value>(JS_PACKAGE_JSON)
        .ok()
        .and_then(|v| v.get("dependencies").cloned())
        .and_then(|deps| serde_json::to_string_pretty(&deps).ok())
        .map(|text| text.replace('\n', "\n  "))
        .unwrap_or_else(|| "{}".to_string())
}

/// Check that `name` can name a probe in every language: it becomes a folder, a Cargo
/// package, an npm package and a file name.
pub fn validate_name(name: &str) -> Result<(), ScaffoldError> {
    let invalid = |why| {
        Err(ScaffoldError::InvalidName {
            name: name.to_string(),
            why,
        })
    };
    let Some(first) = name.chars().next() else {
        return invalid("the name is empty");
    };
    if !first.is_ascii_lowercase() {
        return invalid("it must start with a lowercase letter (a-z)");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return invalid("use only lowercase letters, digits, `-` and `_`");
    }
    if name.len() > 64 {
        return invalid("it is longer than 64 characters");
    }
    Ok(())
}

/// Fill `{{name}}`, `{{crate_file}}` and `{{vigil_version}}` in a template.
fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate_file}}", &name.replace('-', "_"))
        .replace("{{vigil_version}}", VIGIL_VERSION)
        .replace("{{componentize_py}}", COMPONENTIZE_PY)
}

fn text(path: &str, contents: String) -> ScaffoldFile {
    ScaffoldFile {
        path: PathBuf::from(path),
        contents: Cow::Owned(contents.into_bytes()),
        executable: false,
    }
}

fn script(path: &str, contents: String) -> ScaffoldFile {
    ScaffoldFile {
        executable: true,
        ..text(path, contents)
    }
}

fn embedded(path: String, contents: &'static [u8]) -> ScaffoldFile {
    ScaffoldFile {
        path: PathBuf::from(path),
        contents: Cow::Borrowed(contents),
        executable: false,
    }
}

/// The files of a new probe called `name` in `lang` (paths relative to its folder).
pub fn plan(name: &str, lang: Lang) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    validate_name(name)?;
    let mut files = Vec::new();
    match lang {
        Lang::Rust => {
            use rust_templates::*;
            files.push(text("Cargo.toml", fill(CARGO_TOML, name)));
            files.push(text(".cargo/config.toml", fill(CARGO_CONFIG, name)));
            files.push(text("src/lib.rs", fill(LIB_RS, name)));
            files.push(script("build.sh", fill(BUILD_SH, name)));
            files.push(text("README.md", fill(README, name)));
            files.push(text(".gitignore", fill(GITIGNORE, name)));
            files.push(text("vigil-guest/Cargo.toml", fill(SDK_CARGO_TOML, name)));
            for (path, contents) in RUST_SDK {
                files.push(embedded(format!("vigil-guest/{path}"), contents.as_bytes()));
            }
            // The SDK generates its bindings from `../wit`, relative to its manifest.
            for (path, contents) in WIT {
                files.push(embedded(format!("wit/{path}"), contents.as_bytes()));
            }
        }
        Lang::C => {
            use c_templates::*;
            files.push(text(&format!("{name}.c"), fill(PROBE_C, name)));
            files.push(script("build.sh", fill(BUILD_SH, name)));
            files.push(text("README.md", fill(README, name)));
            files.push(text(".gitignore", fill(GITIGNORE, name)));
            for (path, contents) in C_SDK {
                files.push(embedded(format!("vigil/{path}"), contents));
            }
        }
        Lang::Js => {
            use js_templates::*;
            files.push(text(&format!("{name}.js"), fill(PROBE_JS, name)));
            files.push(text(
                "package.json",
                fill(PACKAGE_JSON, name).replace("{{dependencies}}", &js_dependencies()),
            ));
            files.push(script("build.sh", fill(BUILD_SH, name)));
            files.push(text("README.md", fill(README, name)));
            files.push(text(".gitignore", fill(GITIGNORE, name)));
            for (path, contents) in JS_SDK {
                files.push(embedded(format!("vigil/{path}"), contents.as_bytes()));
            }
            for (path, contents) in WIT {
                files.push(embedded(format!("wit/{path}"), contents.as_bytes()));
            }
        }
        Lang::Python => {
            use python_templates::*;
            files.push(text("app.py", fill(APP_PY, name)));
            files.push(script("build.sh", fill(BUILD_SH, name)));
            files.push(text("README.md", fill(README, name)));
            files.push(text(".gitignore", fill(GITIGNORE, name)));
            for (path, contents) in PYTHON_SDK {
                files.push(embedded(format!("vigil/{path}"), contents.as_bytes()));
            }
            for (path, contents) in WIT {
                files.push(embedded(format!("wit/{path}"), contents.as_bytes()));
            }
        }
    }
    Ok(files)
}

/// Create the folder `dir` with a new probe in `lang`; the probe is named after the
/// folder. Refuses a `dir` that exists. Returns the files written.
pub fn create(dir: &Path, lang: Lang) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = plan(&name, lang)?;
    if dir.exists() || dir.is_symlink() {
        return Err(ScaffoldError::Exists {
            path: dir.to_path_buf(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    // `create_dir`, not `create_dir_all`: if someone made the folder since the check
    // above, fail rather than write into it.
    std::fs::create_dir(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => ScaffoldError::Exists {
            path: dir.to_path_buf(),
        },
        _ => ScaffoldError::Io {
            path: dir.to_path_buf(),
            source,
        },
    })?;
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &file.contents).map_err(io(&path))?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io(&path))?;
        }
    }
    Ok(files)
}

/// What to type next, for the summary `vigil new probe` prints.
fn next_steps(dir: &Path, name: &str, lang: Lang) -> String {
    let mut out = String::from("next:\n");
    match lang {
        Lang::Rust => out.push_str("  rustup target add wasm32-wasip2   # once\n"),
        Lang::C => out.push_str(
            "  apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32   # once, as root\n",
        ),
        Lang::Js => out.push_str("  (needs Node.js 18+ with npm; the first build runs npm install)\n"),
        Lang::Python => out.push_str(&format!(
            "  python3 -m venv {dir}/.venv && {dir}/.venv/bin/pip install componentize-py=={COMPONENTIZE_PY}   # once\n",
            dir = dir.display()
        )),
    }
    let dir = dir.display();
    out.push_str(&format!("  {dir}/build.sh\n"));
    out.push_str(&format!(
        "  vigil probe run {dir}/{name}.wasm --set url=http://127.0.0.1:8080/ --allow 127.0.0.1:8080\n"
    ));
    out
}

/// Run `vigil new ...`.
pub fn run(cmd: NewCommand) -> ExitCode {
    match cmd {
        NewCommand::Probe(args) => {
            let result = args
                .lang
                .parse::<Lang>()
                .and_then(|lang| Ok((lang, create(Path::new(&args.name), lang)?)));
            match result {
                Ok((lang, files)) => {
                    let dir = Path::new(&args.name);
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    println!(
                        "created {} ({} probe, {} files; README.md explains them)",
                        dir.display(),
                        lang.as_str(),
                        files.len()
                    );
                    print!("{}", next_steps(dir, &name, lang));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Every file under `dir`, relative, with `/` separators.
    fn listing(dir: &Path) -> BTreeSet<String> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    let rel = path.strip_prefix(base).unwrap();
                    out.insert(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(dir, dir, &mut out);
        out
    }

    #[test]
    fn the_embedded_rust_sdk_is_all_of_guest_sdk_src() {
        let on_disk: BTreeSet<String> = listing(&repo().join("guest-sdk/src"))
            .into_iter()
            .map(|p| format!("src/{p}"))
            .collect();
        let embedded: BTreeSet<String> = RUST_SDK.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "add the new guest-sdk/src files to RUST_SDK in host/src/scaffold/mod.rs"
        );
    }

    #[test]
    fn the_vendored_sdk_manifest_has_every_dependency_of_the_real_one() {
        let real = std::fs::read_to_string(repo().join("guest-sdk/Cargo.toml")).unwrap();
        let deps = real
            .split("[dependencies]")
            .nth(1)
            .expect("guest-sdk/Cargo.toml has [dependencies]");
        for line in deps.lines() {
            let Some((dep, _)) = line.split_once(['.', ' ', '=']) else {
                continue;
            };
            if dep.is_empty() || dep.starts_with('#') || dep.starts_with('[') {
                continue;
            }
            assert!(
                rust_templates::SDK_CARGO_TOML.contains(&format!("\n{dep} = ")),
                "the vendored vigil-guest manifest lacks `{dep}`"
            );
        }
    }

    #[test]
    fn the_embedded_wit_is_all_of_wit() {
        let on_disk = listing(&repo().join("wit"));
        let embedded: BTreeSet<String> = WIT.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(embedded, on_disk, "update WIT in host/src/scaffold/mod.rs");
    }

    #[test]
    fn the_embedded_c_sdk_is_all_of_guest_sdk_c() {
        let on_disk = listing(&repo().join("guest-sdk/c"));
        let embedded: BTreeSet<String> = C_SDK.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "update C_SDK in host/src/scaffold/mod.rs"
        );
    }

    #[test]
    fn the_embedded_js_sdk_is_all_of_guest_sdk_js_but_tooling_and_tests() {
        let on_disk: BTreeSet<String> = listing(&repo().join("guest-sdk/js"))
            .into_iter()
            .filter(|p| {
                !p.starts_with("node_modules/")
                    && !p.starts_with("test/")
                    && !p.starts_with('.')
                    && p != "package.json"
                    && p != "package-lock.json"
            })
            .collect();
        let embedded: BTreeSet<String> = JS_SDK.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "update JS_SDK in host/src/scaffold/mod.rs"
        );
    }

    #[test]
    fn the_embedded_python_sdk_is_all_of_the_vigil_package() {
        let mut on_disk: BTreeSet<String> = listing(&repo().join("guest-sdk/python/vigil"))
            .into_iter()
            .filter(|p| !p.starts_with("__pycache__/"))
            .collect();
        on_disk.insert("README.md".to_string());
        let embedded: BTreeSet<String> = PYTHON_SDK.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "update PYTHON_SDK in host/src/scaffold/mod.rs"
        );
    }

    #[test]
    fn the_python_scaffold_pins_the_componentize_py_of_setup_sh() {
        let setup = std::fs::read_to_string(repo().join("probes/python/setup.sh")).unwrap();
        assert!(
            setup.contains(&format!("COMPONENTIZE_PY_VERSION={COMPONENTIZE_PY}")),
            "probes/python/setup.sh pins another componentize-py than COMPONENTIZE_PY"
        );
    }

    #[test]
    fn the_js_scaffold_pins_the_toolchain_of_guest_sdk_js() {
        let files = plan("pinger", Lang::Js).unwrap();
        let package = files
            .iter()
            .find(|f| f.path == Path::new("package.json"))
            .unwrap();
        let package: serde_json::Value = serde_json::from_slice(&package.contents).unwrap();
        let sdk: serde_json::Value = serde_json::from_str(JS_PACKAGE_JSON).unwrap();
        assert_eq!(package["dependencies"], sdk["dependencies"]);
        assert_eq!(package["name"], "pinger");
    }

    #[test]
    fn every_template_placeholder_is_filled() {
        let placeholders = [
            "{{name}}",
            "{{crate_file}}",
            "{{vigil_version}}",
            "{{componentize_py}}",
            "{{dependencies}}",
        ];
        for lang in [Lang::Rust, Lang::Js, Lang::Python, Lang::C] {
            for file in plan("check-out_2", lang).unwrap() {
                let text = String::from_utf8_lossy(&file.contents);
                assert!(
                    !placeholders.iter().any(|p| text.contains(p)),
                    "{lang:?} {} has an unfilled placeholder",
                    file.path.display()
                );
            }
        }
    }

    #[test]
    fn rust_scaffold_names_its_crate_and_output_after_the_probe() {
        let files = plan("check-out", Lang::Rust).unwrap();
        let get = |p: &str| {
            let f = files.iter().find(|f| f.path == Path::new(p)).unwrap();
            String::from_utf8(f.contents.to_vec()).unwrap()
        };
        assert!(get("Cargo.toml").contains("name = \"check-out\""));
        let build = get("build.sh");
        assert!(build.contains("release/check_out.wasm"), "{build}");
        assert!(build.contains("check-out.wasm"), "{build}");
        assert!(
            files
                .iter()
                .any(|f| f.path == Path::new("wit/deps/http.wit"))
        );
        assert!(
            files
                .iter()
                .any(|f| f.executable && f.path == Path::new("build.sh"))
        );
    }

    #[test]
    fn c_scaffold_has_its_source_and_the_sdk() {
        let files = plan("pinger", Lang::C).unwrap();
        for path in [
            "pinger.c",
            "build.sh",
            "README.md",
            "vigil/vigil.h",
            "vigil/probe_component_type.o",
        ] {
            assert!(
                files.iter().any(|f| f.path == Path::new(path)),
                "{path} missing"
            );
        }
    }

    #[test]
    fn bad_names_and_languages_are_refused_with_the_reason() {
        for (name, why) in [
            ("", "empty"),
            ("Checkout", "lowercase letter"),
            ("9lives", "lowercase letter"),
            ("check out", "only lowercase"),
            ("check.out", "only lowercase"),
        ] {
            let err = validate_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        let err = "cobol".parse::<Lang>().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "unknown language `cobol`: choose one of rust, js, python, c"
        );
        assert_eq!("JavaScript".parse::<Lang>().unwrap(), Lang::Js);
    }
}
