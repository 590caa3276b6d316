//! Cold and warm load times of probes, per language: what the compiled-probe cache saves.
//!
//! ```text
//! cargo build --release -p vigil-bench --bin load_times
//! target/release/load_times [--dir target/probes] [--cold 3] [--warm 10] [FILE.wasm ...]
//! ```
//!
//! Without files, measures every `hello-*.wasm` in `--dir`. Each measurement is a fresh
//! process (this binary re-run with `--one`), as a `vigil probe run` is, so nothing is
//! warm but the OS page cache. A child builds the runtime (not timed), then times reading
//! the file plus `Runtime::load`, and reports that time, where the machine code came from
//! and its peak RSS (the untimed runtime setup, `Runtime::new`, is reported apart as
//! `setup_ms`: the pooling allocator's reservation and the linker, the same for every
//! probe). Three ways per probe:
//! - `no cache`: compile (after adapting a core module), nothing written;
//! - `cold`: an empty cache directory: compile, serialize, write the entry and sync it;
//! - `warm`: the entry exists: hash the bytes, map the entry, link.
//!
//! Prints a Markdown table (medians) and one `RESULT` line per probe and mode.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Debug)]
struct Args {
    dir: PathBuf,
    cold: usize,
    warm: usize,
    files: Vec<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        dir: PathBuf::from("target/probes"),
        cold: 3,
        warm: 10,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
        };
        match a.as_str() {
            "--dir" => args.dir = PathBuf::from(value("--dir")?),
            "--cold" => args.cold = value("--cold")?.parse()?,
            "--warm" => args.warm = value("--warm")?.parse()?,
            "-h" | "--help" => {
                println!("usage: load_times [--dir DIR] [--cold N] [--warm N] [FILE.wasm ...]");
                std::process::exit(0);
            }
            s if s.starts_with('-') => anyhow::bail!("unknown flag {s}"),
            _ => args.files.push(PathBuf::from(a)),
        }
    }
    anyhow::ensure!(
        args.cold >= 1 && args.warm >= 1,
        "--cold and --warm must be >= 1"
    );
    Ok(args)
}

/// One child's answer.
#[derive(Debug, Clone)]
struct Sample {
    load_ms: f64,
    setup_ms: f64,
    origin: String,
    maxrss_mib: f64,
}

/// Child mode: `load_times --one FILE (--cache-dir DIR | --no-cache)`.
fn one(file: &Path, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let setup = Instant::now();
    let runtime = vigil::runtime::Runtime::new(&vigil::runtime::RuntimeOptions {
        max_concurrent_runs: 4,
        cache_dir,
        ..Default::default()
    })?;
    let setup_ms = setup.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let bytes = std::fs::read(file)?;
    let probe = runtime
        .load(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "SAMPLE load_ms={load_ms:.3} setup_ms={setup_ms:.3} origin={:?} maxrss_kib={}",
        probe.origin(),
        maxrss_kib()
    );
    Ok(())
}

fn maxrss_kib() -> i64 {
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is always valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss
}

fn run_child(file: &Path, cache_dir: Option<&Path>) -> anyhow::Result<Sample> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--one").arg(file);
    match cache_dir {
        Some(d) => cmd.arg("--cache-dir").arg(d),
        None => cmd.arg("--no-cache"),
    };
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "child failed for {}: {}{}",
        file.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("SAMPLE "))
        .ok_or_else(|| anyhow::anyhow!("no SAMPLE line from child: {stdout}"))?;
    let field = |name: &str| -> anyhow::Result<&str> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .ok_or_else(|| anyhow::anyhow!("no {name} in {line}"))
    };
    Ok(Sample {
        load_ms: field("load_ms")?.parse()?,
        setup_ms: field("setup_ms")?.parse()?,
        origin: field("origin")?.to_string(),
        maxrss_mib: field("maxrss_kib")?.parse::<f64>()? / 1024.0,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median load time and peak RSS over `samples`, checking each came from `origin`.
fn summarize(samples: &[Sample], origin: &str, what: &str) -> anyhow::Result<(f64, f64)> {
    if let Some(s) = samples.iter().find(|s| s.origin != origin) {
        anyhow::bail!("{what}: expected origin {origin}, got {}", s.origin);
    }
    Ok((
        median(samples.iter().map(|s| s.load_ms).collect()),
        median(samples.iter().map(|s| s.maxrss_mib).collect()),
    ))
}

fn scratch_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vigil-load-times-{}-{tag}", std::process::id()))
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--one") {
        let file = PathBuf::from(argv.get(2).ok_or_else(|| anyhow::anyhow!("--one FILE"))?);
        let cache = match argv.get(3).map(String::as_str) {
            Some("--cache-dir") => Some(PathBuf::from(
                argv.get(4)
                    .ok_or_else(|| anyhow::anyhow!("--cache-dir DIR"))?,
            )),
            Some("--no-cache") => None,
            other => anyhow::bail!("expected --cache-dir DIR or --no-cache, got {other:?}"),
        };
        return one(&file, cache);
    }

    let args = parse_args()?;
    let mut files = args.files.clone();
    if files.is_empty() {
        for e in std::fs::read_dir(&args.dir)? {
            let p = e?.path();
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("hello-") && name.ends_with(".wasm") {
                files.push(p);
            }
        }
        files.sort();
    }
    anyhow::ensure!(
        !files.is_empty(),
        "no probes: give files or build them into {}",
        args.dir.display()
    );

    println!(
        "| probe | size | no cache | cold (compile + store) | warm (from cache) | speed-up | peak RSS cold / warm |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let size = std::fs::metadata(file)?.len();

        let mut none = Vec::new();
        let mut cold = Vec::new();
        for k in 0..args.cold {
            none.push(run_child(file, None)?);
            let dir = scratch_dir(&format!("{i}-cold-{k}"));
            let _ = std::fs::remove_dir_all(&dir);
            cold.push(run_child(file, Some(&dir))?);
            let _ = std::fs::remove_dir_all(&dir);
        }
        let dir = scratch_dir(&format!("{i}-warm"));
        let _ = std::fs::remove_dir_all(&dir);
        run_child(file, Some(&dir))?;
        let warm: Vec<Sample> = (0..args.warm)
            .map(|_| run_child(file, Some(&dir)))
            .collect::<anyhow::Result<_>>()?;
        let entry_bytes: u64 = std::fs::read_dir(&dir)?
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        let _ = std::fs::remove_dir_all(&dir);

        let (none_ms, _) = summarize(&none, "Compiled", "no cache")?;
        let (cold_ms, cold_rss) = summarize(&cold, "Compiled", "cold")?;
        let (warm_ms, warm_rss) = summarize(&warm, "DiskCache", "warm")?;
        let setup_ms = median(warm.iter().map(|s| s.setup_ms).collect());
        println!(
            "| {name} | {} | {none_ms:.1} ms | {cold_ms:.1} ms | {warm_ms:.2} ms | {:.0}x | {cold_rss:.0} / {warm_rss:.0} MiB |",
            human(size),
            cold_ms / warm_ms,
        );
        results.push(format!(
            "RESULT probe={name} bytes={size} entry_bytes={entry_bytes} nocache_ms={none_ms:.3} \
             cold_ms={cold_ms:.3} warm_ms={warm_ms:.3} cold_rss_mib={cold_rss:.1} \
             warm_rss_mib={warm_rss:.1} setup_ms={setup_ms:.3} cold_runs={} warm_runs={}",
            args.cold, args.warm
        ));
    }
    println!();
    for r in results {
        println!("{r}");
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}
