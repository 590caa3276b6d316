//! Host overhead per run: instantiate + call + record of a probe whose `run` returns `ok`
//! at once (`fixtures/noop.wasm`), so everything measured is vigil and wasmtime.
//!
//! Run with `cargo bench -p vigil --bench overhead` (results: docs/BENCHMARKS.md).
//! Environment knobs: `VIGIL_BENCH_RUNS` (sequential runs, default 20000),
//! `VIGIL_BENCH_CONCURRENT_RUNS` (default 50000), `VIGIL_BENCH_IN_FLIGHT` (default 64),
//! `VIGIL_BENCH_THREADS` (workers of the concurrent part, default 2). Every phase also stops
//! after `MAX_PHASE` of wall time, so the benchmark is bounded whatever the knobs say.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil::record::Outcome;
use vigil::runtime::{Probe, RunSpec, Runtime, RuntimeOptions};

/// Wall-time ceiling of each measured phase.
const MAX_PHASE: Duration = Duration::from_secs(60);
const WARMUP_RUNS: u64 = 2_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU of the whole process.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn noop_wasm() -> Vec<u8> {
    let path = concat!(env!("VIGIL_PROBES_DIR"), "/fixtures/noop.wasm");
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path} (built by host/build.rs): {e}"))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn run_checked(rt: &Runtime, probe: &Probe, spec: &Arc<RunSpec>) {
    let run = rt.run(probe, spec).await;
    assert_eq!(
        run.outcome,
        Outcome::Success,
        "the no-op probe must succeed: {:?} {:?}",
        run.reason,
        run.message
    );
}

fn sequential(rt: &Runtime, probe: &Probe, spec: &Arc<RunSpec>, runs: u64) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio.block_on(async {
        for _ in 0..WARMUP_RUNS {
            run_checked(rt, probe, spec).await;
        }
        let mut times = Vec::with_capacity(runs as usize);
        let cpu0 = process_cpu();
        let t0 = Instant::now();
        while (times.len() as u64) < runs && t0.elapsed() < MAX_PHASE {
            let t = Instant::now();
            run_checked(rt, probe, spec).await;
            times.push(t.elapsed());
        }
        let wall = t0.elapsed();
        let cpu = process_cpu() - cpu0;
        let n = times.len();
        let mean = times.iter().sum::<Duration>() / n as u32;
        times.sort_unstable();
        println!("sequential: {n} runs on a current-thread tokio runtime (after {WARMUP_RUNS} warm-up runs)");
        println!("  per run (µs)  median {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  mean {:>7.2}  min {:>7.2}  max {:>8.2}",
            us(pct(&times, 0.5)),
            us(pct(&times, 0.9)),
            us(pct(&times, 0.99)),
            us(mean),
            us(times[0]),
            us(times[n - 1]),
        );
        println!(
            "  throughput    {:>9.0} runs/s wall, process CPU {:.2} µs/run",
            n as f64 / wall.as_secs_f64(),
            us(cpu) / n as f64
        );
    });
}

fn concurrent(
    rt: Arc<Runtime>,
    probe: Probe,
    spec: Arc<RunSpec>,
    runs: u64,
    in_flight: u64,
    threads: usize,
) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio.block_on(async {
        let drive = |budget: u64| {
            let started = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + MAX_PHASE;
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (rt, probe, spec, started) =
                        (rt.clone(), probe.clone(), spec.clone(), started.clone());
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while started.fetch_add(1, Ordering::Relaxed) < budget
                            && Instant::now() < deadline
                        {
                            run_checked(&rt, &probe, &spec).await;
                            done += 1;
                            // A no-op run never waits, so without this one task would
                            // run to the end alone; real probes yield on I/O.
                            tokio::task::yield_now().await;
                        }
                        done
                    })
                })
                .collect();
            async move {
                let mut total = 0;
                for t in tasks {
                    total += t.await.expect("worker panicked");
                }
                total
            }
        };
        drive(WARMUP_RUNS).await;
        let cpu0 = process_cpu();
        let t0 = Instant::now();
        let n = drive(runs).await;
        let wall = t0.elapsed();
        let cpu = process_cpu() - cpu0;
        println!("concurrent: {n} runs, {in_flight} in flight on {threads} tokio worker threads");
        println!(
            "  throughput    {:>9.0} runs/s wall, {:.2} µs wall/run, process CPU {:.2} µs/run ({:.0} runs per CPU-second)",
            n as f64 / wall.as_secs_f64(),
            us(wall) / n as f64,
            us(cpu) / n as f64,
            n as f64 / cpu.as_secs_f64(),
        );
    });
}

fn main() {
    let runs = env_or("VIGIL_BENCH_RUNS", 20_000).max(1);
    let concurrent_runs = env_or("VIGIL_BENCH_CONCURRENT_RUNS", 50_000).max(1);
    let in_flight = env_or("VIGIL_BENCH_IN_FLIGHT", 64).clamp(1, 256);
    let threads = env_or("VIGIL_BENCH_THREADS", 2).clamp(1, 64) as usize;

    let rt = Arc::new(
        Runtime::new(&RuntimeOptions {
            max_concurrent_runs: 256,
            max_memory: 1 << 30,
            cache_dir: None,
        })
        .expect("runtime"),
    );
    let t = Instant::now();
    let probe = rt.load(&noop_wasm()).expect("loading fixtures/noop.wasm");
    println!(
        "load (compile + link) of noop.wasm: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let spec = Arc::new(RunSpec {
        name: "noop".into(),
        config: BTreeMap::new(),
        ..Default::default()
    });

    sequential(&rt, &probe, &spec, runs);
    concurrent(rt, probe, spec, concurrent_runs, in_flight, threads);
}
