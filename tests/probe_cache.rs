//! The compiled-probe cache of `vigil probe run`, through the real binary: the first run
//! compiles and writes an entry, the next loads it instead of compiling, a corrupt entry
//! is replaced without failing the run, `--no-cache` writes nothing, and a directory
//! others may write is not trusted. How much faster a warm load is, is measured by
//! `bench/src/bin/load_times.rs`, not asserted here.

mod support;

use std::path::{Path, PathBuf};
use support::fixture;

/// One `vigil probe run` with debug logs for the cache and the loader.
struct Run {
    code: i32,
    stdout: String,
    /// stderr without terminal colour codes.
    logs: String,
}

impl Run {
    fn was_compiled(&self) -> bool {
        self.logs.contains("origin=Compiled")
    }

    fn loaded_from_cache(&self) -> bool {
        self.logs.contains("origin=DiskCache")
            && self.logs.contains("compiled probe loaded from cache")
    }
}

/// Run `vigil probe run PROBE ARGS...` with `HOME` and `XDG_CACHE_HOME` pointing into
/// `home`, so the default cache directory is a scratch one too.
async fn probe_run(home: &Path, probe: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["probe", "run", probe])
        .args(args)
        .env("VIGIL_LOG", "vigil::runtime=debug,vigil::cli=debug")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg-cache"))
        .output()
        .await
        .expect("vigil runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        logs: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    }
}

/// The cache entries (`*.cwasm`) under `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_second_run_loads_what_the_first_compiled() {
    let home = Scratch::new("second-run");
    let cache = home.path().join("cache");
    let cache_arg = cache.display().to_string();
    let noop = fixture("noop");

    let first = probe_run(home.path(), &noop, &["--cache-dir", &cache_arg]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.logs);
    assert!(first.was_compiled(), "{}", first.logs);
    assert!(
        first.logs.contains("compiled probe stored in cache"),
        "{}",
        first.logs
    );
    let written = entries(&cache);
    assert_eq!(written.len(), 1, "{written:?}");
    let bytes = std::fs::read(&written[0]).unwrap();

    let second = probe_run(home.path(), &noop, &["--cache-dir", &cache_arg]).await;
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.logs);
    assert!(second.loaded_from_cache(), "{}", second.logs);
    assert!(
        !second.logs.contains("stored in cache"),
        "a hit must not write: {}",
        second.logs
    );
    assert_eq!(entries(&cache), written);
    assert_eq!(std::fs::read(&written[0]).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_cache_is_under_xdg_cache_home() {
    let home = Scratch::new("default-dir");
    let noop = fixture("noop");
    let run = probe_run(home.path(), &noop, &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.logs);
    assert_eq!(
        entries(&home.path().join("xdg-cache/vigil")).len(),
        1,
        "{}",
        run.logs
    );
    let again = probe_run(home.path(), &noop, &[]).await;
    assert!(again.loaded_from_cache(), "{}", again.logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_entry_is_replaced_and_the_run_succeeds() {
    let home = Scratch::new("corrupt");
    let cache = home.path().join("cache");
    let cache_arg = cache.display().to_string();
    let noop = fixture("noop");

    let first = probe_run(home.path(), &noop, &["--cache-dir", &cache_arg]).await;
    assert_eq!(first.code, 0, "{}", first.logs);
    let entry = entries(&cache).pop().expect("an entry");
    let good = std::fs::read(&entry).unwrap();

    for (what, damaged) in [
        ("garbage", b"this is not machine code".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&entry, &damaged).unwrap();
        let run = probe_run(home.path(), &noop, &["--cache-dir", &cache_arg]).await;
        assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.logs);
        assert!(
            run.logs.contains("unusable cache entry"),
            "{what}: {}",
            run.logs
        );
        assert!(run.was_compiled(), "{what}: {}", run.logs);
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            good,
            "{what}: the entry should be rewritten"
        );
        let next = probe_run(home.path(), &noop, &["--cache-dir", &cache_arg]).await;
        assert!(next.loaded_from_cache(), "{what}: {}", next.logs);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cache_writes_nothing() {
    let home = Scratch::new("no-cache");
    let noop = fixture("noop");
    for _ in 0..2 {
        let run = probe_run(home.path(), &noop, &["--no-cache"]).await;
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.logs);
        assert!(run.was_compiled(), "{}", run.logs);
        assert!(run.logs.contains("cache_dir=None"), "{}", run.logs);
    }
    assert_eq!(all_files(home.path()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_cache_and_cache_dir_contradict_each_other() {
    let home = Scratch::new("conflict");
    let run = probe_run(
        home.path(),
        &fixture("noop"),
        &["--no-cache", "--cache-dir", "/tmp/x"],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.logs);
    assert!(run.logs.contains("cannot be used with"), "{}", run.logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let home = Scratch::new("world-writable");
    let cache = home.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = probe_run(
        home.path(),
        &fixture("noop"),
        &["--cache-dir", &cache.display().to_string()],
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.logs);
    assert!(
        run.logs.contains("compiled-probe cache disabled")
            && run.logs.contains("writable by group or others"),
        "{}",
        run.logs
    );
    assert_eq!(entries(&cache), Vec::<PathBuf>::new());
}

/// A core module's cache entry holds the adapted component: the second run neither
/// adapts nor compiles.
#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_cached_after_adaptation() {
    let home = Scratch::new("core");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/core/hello.wat");
    let wasm = home.path().join("hello.wasm");
    std::fs::write(&wasm, wat::parse_file(&src).unwrap()).unwrap();
    let wasm = wasm.display().to_string();
    let cache = home.path().join("cache").display().to_string();

    let first = probe_run(home.path(), &wasm, &["--cache-dir", &cache]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.logs);
    assert!(first.was_compiled(), "{}", first.logs);
    let second = probe_run(home.path(), &wasm, &["--cache-dir", &cache]).await;
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.logs);
    assert!(second.loaded_from_cache(), "{}", second.logs);
    assert!(
        second.stdout.contains("hello from a core module"),
        "{}",
        second.stdout
    );
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("vigil-probe-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
