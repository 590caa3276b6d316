//! Load driver for the HTTP-probe benchmark (see `bench/http_vs_blackbox.sh`).
//!
//! ```text
//! load vigil    --target http://127.0.0.1:TPORT/ [--concurrency C] [--seconds D] ...
//! load blackbox --target http://127.0.0.1:TPORT/ --exporter 127.0.0.1:BBPORT --pid PID ...
//! ```
//!
//! - `vigil`: runs the bundled `builtin:http` probe in this process, C runs in flight, for D
//!   seconds (or `--max-runs` runs, whichever comes first). CPU is this process's
//!   `getrusage(RUSAGE_SELF)` user+sys over the measured window, so it includes the tokio
//!   workers, wasmtime, the epoch thread and this driver loop.
//! - `blackbox`: C concurrent keep-alive HTTP clients ask a running blackbox_exporter to
//!   probe the target (`/probe?target=...&module=http_2xx`) and check `probe_success 1` in
//!   every answer. CPU is blackbox_exporter's `utime+stime` from `/proc/PID/stat` over the
//!   window; this driver's own CPU is not counted.
//!
//! Both modes warm up first (`--warmup`, default 1 s; not measured), fail (exit 1) if any
//! measured probe did not succeed, and end with one machine-readable line:
//!
//! ```text
//! RESULT mode=vigil concurrency=64 probes=123 failed=0 wall_s=10.000 cpu_s=4.321 per_cpu_s=28.5 per_wall_s=12.3 p50_ms=1.234 p99_ms=2.345
//! ```
//!
//! Only 127.0.0.1 is accepted as a target or exporter address.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Hard ceiling on any measured window, whatever the flags say.
const MAX_SECONDS: f64 = 300.0;

#[derive(Debug, Clone)]
struct Args {
    mode: Mode,
    target: String,
    target_port: u16,
    exporter: Option<String>,
    pid: Option<u32>,
    concurrency: usize,
    seconds: f64,
    warmup: f64,
    max_runs: u64,
    threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Vigil,
    Blackbox,
}

const USAGE: &str = "usage:
  load vigil    --target http://127.0.0.1:PORT/ [options]
  load blackbox --target http://127.0.0.1:PORT/ --exporter 127.0.0.1:PORT --pid PID [options]
options:
  --concurrency C   probes in flight (default 1)
  --seconds D       measured window (default 10, at most 300)
  --warmup W        unmeasured warm-up before the window (default 1)
  --max-runs N      stop the window after N probes (default 10000000)
  --threads T       tokio worker threads of this process (default 2)";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("vigil") => Mode::Vigil,
        Some("blackbox") => Mode::Blackbox,
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => anyhow::bail!("unknown mode {other:?}\n{USAGE}"),
    };
    let mut a = Args {
        mode,
        target: String::new(),
        target_port: 0,
        exporter: None,
        pid: None,
        concurrency: 1,
        seconds: 10.0,
        warmup: 1.0,
        max_runs: 10_000_000,
        threads: 2,
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--target" => a.target = value()?,
            "--exporter" => a.exporter = Some(value()?),
            "--pid" => a.pid = Some(value()?.parse()?),
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--max-runs" => a.max_runs = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            other => anyhow::bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    a.target_port = loopback_port(
        a.target
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("--target must be http://127.0.0.1:PORT/"))?
            .trim_end_matches('/'),
    )?;
    if let Some(e) = &a.exporter {
        loopback_port(e)?;
    }
    if a.mode == Mode::Blackbox && (a.exporter.is_none() || a.pid.is_none()) {
        anyhow::bail!("blackbox mode needs --exporter and --pid\n{USAGE}");
    }
    anyhow::ensure!(
        (1..=4096).contains(&a.concurrency),
        "--concurrency must be 1..=4096"
    );
    anyhow::ensure!(
        a.seconds > 0.0 && a.seconds <= MAX_SECONDS,
        "--seconds must be in (0, {MAX_SECONDS}]"
    );
    anyhow::ensure!((0.0..=60.0).contains(&a.warmup), "--warmup must be 0..=60");
    a.threads = a.threads.max(1);
    Ok(a)
}

/// `127.0.0.1:PORT` → PORT; anything else is refused (the benchmark never leaves the host).
fn loopback_port(hostport: &str) -> anyhow::Result<u16> {
    let port = hostport
        .strip_prefix("127.0.0.1:")
        .ok_or_else(|| anyhow::anyhow!("{hostport:?}: only 127.0.0.1:PORT is allowed"))?;
    Ok(port.parse()?)
}

/// User + system CPU of this whole process (every thread).
fn self_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User + system CPU of another process, from `/proc/PID/stat` (clock-tick resolution).
fn proc_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; fields after it are plain.
    let rest = &stat[stat
        .rfind(')')
        .ok_or_else(|| anyhow::anyhow!("bad /proc/{pid}/stat"))?
        + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields[11].parse()?;
    let stime: u64 = fields[12].parse()?;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Duration::from_secs_f64((utime + stime) as f64 / tck))
}

/// What the workers report: latencies of successful probes and failure messages.
#[derive(Default)]
struct Tally {
    ok: Vec<Duration>,
    failed: u64,
    first_failures: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok.extend(other.ok);
        self.failed += other.failed;
        for f in other.first_failures {
            if self.first_failures.len() < 5 {
                self.first_failures.push(f);
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.first_failures.len() < 5 {
            self.first_failures.push(why);
        }
    }
}

/// One probe, whichever prober: `Ok(())` when the probe succeeded.
trait Prober: Send + Sync + 'static {
    fn probe(&self) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

struct VigilProber {
    rt: vigil::runtime::Runtime,
    probe: vigil::runtime::Probe,
    spec: Arc<vigil::runtime::RunSpec>,
}

impl Prober for VigilProber {
    async fn probe(&self) -> Result<(), String> {
        let run = self.rt.run(&self.probe, &self.spec).await;
        if run.outcome == vigil::record::Outcome::Success {
            Ok(())
        } else {
            Err(format!(
                "{:?} {:?}: {}",
                run.outcome,
                run.reason,
                run.message.unwrap_or_default()
            ))
        }
    }
}

struct BlackboxProber {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: hyper::Uri,
}

impl Prober for BlackboxProber {
    async fn probe(&self) -> Result<(), String> {
        let resp = self
            .client
            .get(self.uri.clone())
            .await
            .map_err(|e| format!("request to blackbox_exporter failed: {e:#}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading blackbox_exporter's answer: {e:#}"))?
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        if status.is_success() && body.lines().any(|l| l == "probe_success 1") {
            Ok(())
        } else {
            let line = body
                .lines()
                .find(|l| l.starts_with("probe_success") || l.starts_with("probe_http_status_code"))
                .unwrap_or("no probe_success line");
            Err(format!("blackbox_exporter answered {status}: {line}"))
        }
    }
}

/// Run `concurrency` loops until `deadline` or until `budget` probes have been started.
async fn drive<P: Prober>(
    prober: Arc<P>,
    concurrency: usize,
    deadline: Instant,
    budget: u64,
) -> Tally {
    let started = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let prober = prober.clone();
        let started = started.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < budget {
                let t = Instant::now();
                match prober.probe().await {
                    Ok(()) => tally.ok.push(t.elapsed()),
                    Err(why) => tally.fail(why),
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await.expect("worker task panicked"));
    }
    total
}

fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn measure<P: Prober>(
    prober: Arc<P>,
    args: &Args,
    cpu: impl Fn() -> anyhow::Result<Duration>,
) -> anyhow::Result<bool> {
    let name = match args.mode {
        Mode::Vigil => "vigil",
        Mode::Blackbox => "blackbox",
    };
    if args.warmup > 0.0 {
        let deadline = Instant::now() + Duration::from_secs_f64(args.warmup);
        let warm = drive(prober.clone(), args.concurrency, deadline, args.max_runs).await;
        if warm.failed > 0 {
            eprintln!(
                "{name}: {} of {} warm-up probes failed, first: {:?}",
                warm.failed,
                warm.failed + warm.ok.len() as u64,
                warm.first_failures
            );
            return Ok(false);
        }
    }
    let cpu0 = cpu()?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(args.seconds);
    let mut tally = drive(prober, args.concurrency, deadline, args.max_runs).await;
    let wall = t0.elapsed();
    let cpu_used = cpu()? - cpu0;

    tally.ok.sort_unstable();
    let probes = tally.ok.len() as u64 + tally.failed;
    let cpu_s = cpu_used.as_secs_f64();
    let wall_s = wall.as_secs_f64();
    println!(
        "RESULT mode={name} concurrency={} probes={probes} failed={} wall_s={wall_s:.3} \
         cpu_s={cpu_s:.3} per_cpu_s={:.1} per_wall_s={:.1} p50_ms={:.3} p99_ms={:.3}",
        args.concurrency,
        tally.failed,
        tally.ok.len() as f64 / cpu_s.max(1e-9),
        tally.ok.len() as f64 / wall_s,
        percentile_ms(&tally.ok, 0.50),
        percentile_ms(&tally.ok, 0.99),
    );
    if tally.failed > 0 {
        eprintln!(
            "{name}: {} of {probes} probes failed, first: {:?}",
            tally.failed, tally.first_failures
        );
        return Ok(false);
    }
    Ok(true)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let ok = rt.block_on(async {
        match args.mode {
            Mode::Vigil => {
                let runtime = vigil::runtime::Runtime::new(&vigil::runtime::RuntimeOptions {
                    max_concurrent_runs: (args.concurrency as u32).max(256),
                    max_memory: 1 << 30,
                    cache_dir: None,
                })?;
                let wasm = vigil::builtin::find("http")
                    .ok_or_else(|| anyhow::anyhow!("builtin:http is not bundled"))?
                    .wasm;
                let probe = runtime.load(wasm)?;
                let spec = vigil::runtime::RunSpec {
                    name: "bench-http".into(),
                    config: BTreeMap::from([("url".to_string(), args.target.clone())]),
                    allow: vigil::runtime::AllowList::parse(&[format!(
                        "127.0.0.1:{}",
                        args.target_port
                    )])?,
                    limits: vigil::runtime::Limits {
                        timeout: Duration::from_secs(5),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let prober = Arc::new(VigilProber {
                    rt: runtime,
                    probe,
                    spec: Arc::new(spec),
                });
                measure(prober, &args, || Ok(self_cpu())).await
            }
            Mode::Blackbox => {
                let exporter = args.exporter.clone().expect("checked in parse_args");
                let pid = args.pid.expect("checked in parse_args");
                let uri: hyper::Uri = format!(
                    "http://{exporter}/probe?target={}&module=http_2xx",
                    args.target
                )
                .parse()?;
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(args.concurrency)
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build(connector);
                let prober = Arc::new(BlackboxProber { client, uri });
                measure(prober, &args, || proc_cpu(pid)).await
            }
        }
    })?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
