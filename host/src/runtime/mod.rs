//! The probe runtime: compiles WASM components once, instantiates a fresh sandbox per run,
//! calls `run`, and turns whatever happens into a [`ProbeRun`].
//!
//! Loading accepts a component or a wasip1 core module (adapted into a component first,
//! [`adapt`]); compiled components are kept in memory per process and, when
//! [`RuntimeOptions::cache_dir`] is set, on disk across processes ([`cache`]).
//!
//! Invariants:
//! - a guest's failure is data, never an error of the host: every path out of
//!   [`Runtime::run`] is a `ProbeRun` with an outcome and a reason;
//! - deny by default: no files, no environment, no arguments, stdio captured, network only
//!   to the allow list;
//! - every run is bounded by wall time, CPU time, memory, log bytes, request count and
//!   response body bytes, and the cap it hit is named in the record.

mod adapt;
mod bindings;
mod cache;
mod cpu;
mod egress;
mod host_impl;
mod output;
mod recorder;

pub use adapt::AdaptError;
pub use cache::{CacheError, default_dir as default_cache_dir};
pub use egress::{AllowError, AllowList};
pub use recorder::{valid_label_name, valid_metric_name};

use crate::record::{ProbeRun, Reason};
use bindings::{Probe as ProbeBindings, ProbePre};
use cache::{ContentHash, DiskCache};
use cpu::{CpuMeter, Metered};
use egress::{Egress, EgressLimits};
use recorder::SharedRecorder;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the engine's epoch advances: the granularity of CPU-limit checks and of
/// cooperative yields from busy guests.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Errors building the runtime or loading a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The wasmtime engine could not be configured.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The bytes are not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// A core module (wasip1) could not be adapted into a probe component.
    #[error(transparent)]
    CoreModule(#[from] AdaptError),
    /// The component imports something vigil does not provide.
    #[error("component does not fit world vigil:probe/probe: {0}")]
    WrongImports(String),
    /// The component does not export `run` with the right signature.
    #[error(
        "component does not fit world vigil:probe/probe: it must export \
         `run: func() -> result<_, string>` ({0})"
    )]
    WrongExport(String),
}

/// Caps on one run. Defaults suit an HTTP check; raise them for heavy scenarios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall-clock time for the whole run.
    pub timeout: Duration,
    /// CPU time the guest may burn.
    pub cpu: Duration,
    /// Linear memory, summed over all of the component's memories.
    pub memory: u64,
    /// Bytes of log output (host `log` plus stdout and stderr).
    pub log_bytes: usize,
    /// Outgoing HTTP requests per run.
    pub requests: usize,
    /// Bytes of one HTTP response body.
    pub response_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            cpu: Duration::from_secs(2),
            memory: 128 << 20,
            log_bytes: 64 << 10,
            requests: 100,
            response_body: 10 << 20,
        }
    }
}

/// A secret value: kept out of `Debug` output and redacted from run records.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for handing to the guest.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything a run needs besides the component: the probe's identity, inputs and sandbox.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Probe name, recorded in the run.
    pub name: String,
    /// The probe's `config:` map.
    pub config: BTreeMap<String, String>,
    /// The probe's secrets, already resolved.
    pub secrets: BTreeMap<String, Secret>,
    /// Where the probe may connect.
    pub allow: AllowList,
    /// Caps on the run.
    pub limits: Limits,
}

/// Settings of the runtime as a whole.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Instances the pooling allocator keeps ready: the most runs that can be in flight.
    pub max_concurrent_runs: u32,
    /// The largest memory limit any probe may be given.
    pub max_memory: u64,
    /// Where compiled components are kept across processes (created with mode 0700 when
    /// missing); `None` compiles every probe afresh in each process. A directory that
    /// is not this user's, or that others may write, is not used (with a warning).
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            max_concurrent_runs: 256,
            max_memory: 1 << 30,
            cache_dir: None,
        }
    }
}

/// Where a loaded probe's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled in this process (adapted first if it was a core module).
    Compiled,
    /// Mapped from the disk cache.
    DiskCache,
}

/// A compiled component, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Probe {
    pre: ProbePre<RunState>,
    origin: Origin,
}

impl Probe {
    /// Where its machine code came from (the first load's answer, for a probe the
    /// in-memory cache returns).
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

/// Store data of one run.
pub(crate) struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    limiter: MemoryLimiter,
    rec: SharedRecorder,
    spec: Arc<RunSpec>,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// Caps linear memory (summed over every memory of the component) and table growth.
struct MemoryLimiter {
    max: u64,
    total: u64,
    rec: SharedRecorder,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.total + grow > self.max {
            self.rec.lock().deny_memory(format!(
                "memory limit of {} reached (the probe asked for {} more)",
                crate::units::format_size(self.max),
                crate::units::format_size(grow),
            ));
            return Ok(false);
        }
        self.total += grow;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Advances the engine's epoch on a background thread while the runtime lives.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine, the linker with every import a probe may use, and the cache of compiled
/// components. One per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: Mutex<HashMap<ContentHash, Probe>>,
    disk: Option<DiskCache>,
    max_memory: u64,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption) and the linker.
    pub fn new(options: &RuntimeOptions) -> Result<Self, RuntimeError> {
        let engine = match Engine::new(&engine_config(options, true)) {
            Ok(engine) => engine,
            // The pooling allocator reserves address space up front; where that is not
            // allowed (a tight `ulimit -v`), fall back to allocating on demand.
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable, allocating on demand");
                Engine::new(&engine_config(options, false))
                    .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?
            }
        };
        let mut linker: Linker<RunState> = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| r.map_err(|e| RuntimeError::Engine(format!("{e:#}")));
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))?;
        link(bindings::vigil::probe::host::add_to_linker::<
            RunState,
            HasSelf<RunState>,
        >(&mut linker, |s| s))?;
        // The disk cache only saves time: without it every probe still compiles.
        let disk =
            options
                .cache_dir
                .as_deref()
                .and_then(|dir| match DiskCache::open(dir, &engine) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "compiled-probe cache disabled");
                        None
                    }
                });
        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            disk,
            max_memory: options.max_memory,
            _ticker: ticker,
        })
    }

    /// The engine, for callers that precompile.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The directory of the disk cache, when one is in use.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskCache::dir)
    }

    /// Compile (or fetch from the in-memory, then the disk cache) a component or a wasip1
    /// core module, and check it fits the world.
    pub fn load(&self, bytes: &[u8]) -> Result<Probe, RuntimeError> {
        let key = cache::content_hash(bytes);
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let probe = self.compile(bytes, &key)?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, probe.clone());
        Ok(probe)
    }

    fn compile(&self, bytes: &[u8], key: &ContentHash) -> Result<Probe, RuntimeError> {
        if let Some(component) = self.disk.as_ref().and_then(|d| d.load(&self.engine, key)) {
            return self.link(component, Origin::DiskCache);
        }
        let adapted;
        let component_bytes = if is_core_module(bytes) {
            adapted = adapt::adapt(bytes)?;
            &adapted[..]
        } else {
            bytes
        };
        let component = Component::new(&self.engine, component_bytes)
            .map_err(|e| RuntimeError::NotAComponent(format!("{e:#}")))?;
        // Link first: a component that does not fit the world is not worth keeping.
        let probe = self.link(component.clone(), Origin::Compiled)?;
        if let Some(disk) = &self.disk {
            let stored = component
                .serialize()
                .map_err(|e| format!("{e:#}"))
                .and_then(|artifact| disk.store(key, &artifact).map_err(|e| e.to_string()));
            if let Err(e) = stored {
                tracing::warn!(error = %e, "cannot cache the compiled probe");
            }
        }
        Ok(probe)
    }

    /// Link a compiled component and check its exports.
    pub fn prepare(&self, component: Component) -> Result<Probe, RuntimeError> {
        self.link(component, Origin::Compiled)
    }

    fn link(&self, component: Component, origin: Origin) -> Result<Probe, RuntimeError> {
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::WrongImports(format!("{e:#}")))?;
        let pre = ProbePre::new(pre).map_err(|e| RuntimeError::WrongExport(format!("{e:#}")))?;
        Ok(Probe { pre, origin })
    }

    /// Run a probe once in a fresh sandbox. Never fails: every failure is in the record.
    pub async fn run(&self, probe: &Probe, spec: &Arc<RunSpec>) -> ProbeRun {
        let started_at = SystemTime::now();
        let limits = spec.limits;
        let rec = SharedRecorder::new(limits.log_bytes);
        let mut store = Store::new(&self.engine, self.state(spec, &rec));
        store.limiter(|s| &mut s.limiter);

        let meter = Arc::new(CpuMeter::default());
        let cpu_exceeded = Arc::new(AtomicBool::new(false));
        {
            let meter = meter.clone();
            let exceeded = cpu_exceeded.clone();
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if meter.used() > limits.cpu {
                    exceeded.store(true, Ordering::Relaxed);
                    wasmtime::bail!("CPU limit exceeded");
                }
                // Yield so one busy probe cannot hold a tokio worker.
                Ok(UpdateDeadline::Yield(1))
            });
        }

        let pre = probe.pre.clone();
        let call = {
            let store = &mut store;
            let rec = rec.clone();
            async move {
                let instance: ProbeBindings = pre
                    .instantiate_async(&mut *store)
                    .await
                    .map_err(|e| (true, e))?;
                rec.lock().start_clock();
                instance.call_run(&mut *store).await.map_err(|e| (false, e))
            }
        };
        let outcome =
            tokio::time::timeout(limits.timeout, Metered::new(Box::pin(call), meter.clone())).await;

        let ended = match outcome {
            Err(_elapsed) => Err((
                Reason::Timeout,
                format!(
                    "timed out after {}",
                    crate::units::format_duration(limits.timeout)
                ),
            )),
            Ok(Ok(result)) => Ok(result),
            Ok(Err((_, _))) if cpu_exceeded.load(Ordering::Relaxed) => Err((
                Reason::CpuLimit,
                format!(
                    "CPU limit of {} exceeded",
                    crate::units::format_duration(limits.cpu)
                ),
            )),
            Ok(Err((true, e))) => Err((Reason::LoadError, format!("cannot instantiate: {e:#}"))),
            Ok(Err((false, e))) => Err((Reason::Trap, self.describe_trap(&e, &rec))),
        };
        drop(store);
        let mut run = rec.lock().finish(spec.name.clone(), started_at, ended);
        redact(&mut run, spec);
        run
    }

    fn describe_trap(&self, e: &wasmtime::Error, rec: &SharedRecorder) -> String {
        let what = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => format!("wasm trap: {trap}"),
            None => format!("{e:#}"),
        };
        match rec.lock().panic_message() {
            Some(panic) => format!("panicked: {panic} ({what})"),
            None => what,
        }
    }

    fn state(&self, spec: &Arc<RunSpec>, rec: &SharedRecorder) -> RunState {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output::Capture::stdout(rec.clone()))
            .stderr(output::Capture::stderr(rec.clone()))
            .allow_udp(false)
            .allow_tcp(true)
            .allow_ip_name_lookup(spec.allow.needs_dns());
        let allow = Arc::new(spec.allow.clone());
        {
            let allow = allow.clone();
            let rec = rec.clone();
            wasi.socket_addr_check(move |addr, use_| {
                let allow = allow.clone();
                let rec = rec.clone();
                Box::pin(async move {
                    match use_ {
                        // Implicit binds before a connect use the wildcard address.
                        SocketAddrUse::TcpBind => addr.ip().is_unspecified(),
                        SocketAddrUse::TcpConnect => {
                            let ok = allow.allows_addr(addr).await;
                            if !ok {
                                rec.lock()
                                    .violate(Reason::Denied, format!("denied: {addr}"));
                            }
                            ok
                        }
                        _ => false,
                    }
                })
            });
        }
        let limits = &spec.limits;
        RunState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress: Egress {
                allow,
                rec: rec.clone(),
                limits: EgressLimits {
                    max_requests: limits.requests,
                    max_body_bytes: limits.response_body,
                    request_timeout: limits.timeout,
                },
            },
            limiter: MemoryLimiter {
                max: limits.memory.min(self.max_memory),
                total: 0,
                rec: rec.clone(),
            },
            rec: rec.clone(),
            spec: spec.clone(),
        }
    }
}

/// A core module's preamble: magic, then version 1 (a component's is version 0xd, layer 1).
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

fn engine_config(options: &RuntimeOptions, pooling: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pooling {
        let n = options.max_concurrent_runs.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // JavaScript and Python components hold several core instances and memories
        // (the interpreter, the adapter, the probe), hence the multipliers.
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 4)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_memory_size(options.max_memory as usize)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(64)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(16 << 20)
            // Keep the first MiB of each memory and table resident and reset it in place
            // (pagemap scan, kernel 6.7+, falls back by itself): without this every run
            // pays an madvise, a TLB shootdown on the other core and fresh page faults,
            // which was two thirds of a no-op run (docs/BENCHMARKS.md).
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Secrets never appear in records: replace their values wherever the guest echoed them.
fn redact(run: &mut ProbeRun, spec: &RunSpec) {
    let secrets: Vec<(&str, &str)> = spec
        .secrets
        .iter()
        .map(|(name, s)| (name.as_str(), s.expose()))
        .filter(|(_, v)| v.len() >= 3)
        .collect();
    if secrets.is_empty() {
        return;
    }
    let scrub = |text: &mut String| {
        for (name, value) in &secrets {
            if text.contains(value) {
                *text = text.replace(value, &format!("[secret:{name}]"));
            }
        }
    };
    if let Some(m) = run.message.as_mut() {
        scrub(m);
    }
    run.logs.iter_mut().for_each(|l| scrub(&mut l.message));
    run.steps.iter_mut().for_each(|s| scrub(&mut s.detail));
    run.http.iter_mut().for_each(|h| {
        scrub(&mut h.url);
        if let Some(e) = h.error.as_mut() {
            scrub(e);
        }
    });
}
