//! Is each language's toolchain installed? When not, say exactly how to install it.
//!
//! The install commands here are the ones `.ci/install-toolchains.sh` runs, so a
//! newcomer and CI end up with the same tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Lang;

/// The result of checking one language.
pub enum Status {
    /// Usable; the text says what was found.
    Ready(String),
    /// Not usable: what is wrong and the command that fixes it.
    Missing { problem: String, install: String },
}

/// The Debian packages a C probe needs.
pub const C_PACKAGES: &str = "clang lld wasi-libc libclang-rt-dev-wasm32";

/// Check the toolchain of `lang`.
pub fn check(root: &Path, lang: Lang) -> Status {
    match lang {
        Lang::Rust => check_rust(),
        Lang::C => check_c(),
        Lang::Wat => Status::Ready("built in Rust (crates wat + wit-component)".into()),
        Lang::Js | Lang::Python => check_scripted(root, lang),
    }
}

fn check_rust() -> Status {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output();
    let libdir = match out {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        _ => PathBuf::new(),
    };
    let has_std = std::fs::read_dir(&libdir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    });
    if has_std {
        Status::Ready("rustc with the wasm32-wasip2 target".into())
    } else {
        Status::Missing {
            problem: "the Rust standard library for wasm32-wasip2 is not installed".into(),
            install: "rustup target add wasm32-wasip2".into(),
        }
    }
}

/// Where clang and the wasi-libc sysroot are: wasi-sdk when `WASI_SDK_PATH` is set
/// (its usual convention), else the Debian packages (clang on PATH, sysroot `/usr`).
pub struct CToolchain {
    pub clang: PathBuf,
    pub sysroot: PathBuf,
}

pub fn c_toolchain() -> CToolchain {
    match std::env::var_os("WASI_SDK_PATH") {
        Some(sdk) => {
            let sdk = PathBuf::from(sdk);
            CToolchain {
                clang: sdk.join("bin").join("clang"),
                sysroot: sdk.join("share").join("wasi-sysroot"),
            }
        }
        None => CToolchain {
            clang: PathBuf::from("clang"),
            sysroot: PathBuf::from("/usr"),
        },
    }
}

fn check_c() -> Status {
    let install =
        format!("apt-get install -y {C_PACKAGES}   (as root; or set WASI_SDK_PATH to a wasi-sdk)");
    let tc = c_toolchain();
    let version = Command::new(&tc.clang).arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("clang")
            .to_string(),
        _ => {
            return Status::Missing {
                problem: format!("{} not found", tc.clang.display()),
                install,
            };
        }
    };
    // The cheapest complete check: build a tiny reactor that uses libc, which needs the
    // linker (lld), wasi-libc and the wasm32 compiler-rt builtins.
    let dir = std::env::temp_dir().join(format!("vigil-xtask-cc-{}", std::process::id()));
    let result = try_compile(&tc, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => Status::Ready(format!("{version}, sysroot {}", tc.sysroot.display())),
        Err(stderr) => {
            let missing = if stderr.contains("wasm-ld") {
                "the wasm linker (Debian package lld)"
            } else if stderr.contains("stdio.h")
                || stderr.contains("-lc")
                || stderr.contains("crt1")
            {
                "wasi-libc (Debian package wasi-libc)"
            } else if stderr.contains("libclang_rt") || stderr.contains("builtins") {
                "the wasm32 compiler-rt builtins (Debian package libclang-rt-dev-wasm32)"
            } else {
                "a working clang for wasm32-wasi"
            };
            Status::Missing {
                problem: format!(
                    "cannot build for wasm32-wasi: missing {missing}\n         clang said: {}",
                    stderr
                        .lines()
                        .find(|l| l.contains("error"))
                        .unwrap_or(stderr.trim())
                ),
                install,
            }
        }
    }
}

fn try_compile(tc: &CToolchain, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let src = dir.join("check.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n\
         __attribute__((export_name(\"f\"))) int f(int n) { char b[16]; \
         snprintf(b, sizeof b, \"%d\", n); return atoi(b) + (int)((double)n / 3.0); }\n",
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(&tc.clang)
        .arg("--target=wasm32-wasi")
        .arg(format!("--sysroot={}", tc.sysroot.display()))
        .arg("-mexec-model=reactor")
        .arg("-O2")
        .arg(&src)
        .arg("-o")
        .arg(dir.join("check.wasm"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// JavaScript and Python: `probes/<lang>/setup.sh` installs the toolchain and
/// `probes/<lang>/check.sh`, when present, says whether it is there.
fn check_scripted(root: &Path, lang: Lang) -> Status {
    let dir = root.join("probes").join(lang.suffix());
    let setup = dir.join("setup.sh");
    if !setup.exists() {
        return Status::Missing {
            problem: format!("{} does not exist yet", setup.display()),
            install: "(nothing to install until the probes of this language exist)".into(),
        };
    }
    let install = format!("bash probes/{}/setup.sh", lang.suffix());
    let (tool, version_args, hint): (&str, &[&str], &str) = match lang {
        Lang::Js => ("node", &["--version"], "apt-get install -y nodejs npm"),
        _ => (
            "python3",
            &["--version"],
            "apt-get install -y python3 python3-pip",
        ),
    };
    match Command::new(tool).args(version_args).output() {
        Ok(out) if out.status.success() => {}
        _ => {
            return Status::Missing {
                problem: format!("{tool} not found"),
                install: format!("{hint} && {install}"),
            };
        }
    }
    let check = dir.join("check.sh");
    if check.exists() {
        let out = Command::new("bash").arg(&check).output();
        match out {
            Ok(out) if out.status.success() => {
                Status::Ready(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Ok(out) => Status::Missing {
                problem: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                install,
            },
            Err(e) => Status::Missing {
                problem: format!("cannot run {}: {e}", check.display()),
                install,
            },
        }
    } else {
        Status::Ready(format!(
            "{tool} found (probes/{}/check.sh absent: not checked further)",
            lang.suffix()
        ))
    }
}
