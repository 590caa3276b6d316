//! The running service: the active config, one scheduler task per probe, runs with retries
//! under a global concurrency limit, results into the store, and reloads that either fully
//! succeed or change nothing.
//!
//! Invariants:
//! - a reload validates the file and compiles every probe before anything is swapped; a bad
//!   file keeps the running config (and says why);
//! - a probe whose config and component are unchanged keeps its scheduler task (its
//!   schedule and in-flight run) across reloads;
//! - a probe never has two runs of scheduled ticks at once: an overlapping tick is skipped
//!   and counted.

use crate::config::{Config, ConfigError, ConfigErrors, ProbeConfig, ProbeSource};
use crate::record::{Attempt, ProbeRun};
use crate::rules::file::GroupSpec;
use crate::rules::group::RuleGroup;
use crate::runtime::{Probe, RunSpec, Runtime, RuntimeOptions};
use crate::store::{RetentionPolicy, Store};
use crate::telemetry::Telemetry;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Default sample retention when the config sets none.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 60);

/// Errors starting the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is invalid.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The runtime could not start.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The state directory could not be opened.
    #[error("{0}")]
    Store(#[from] crate::store::SqliteError),
    /// The alerts database could not be opened.
    #[error("{0}")]
    Alerts(#[from] crate::alert::DbError),
}

/// What a probe is doing, for the API.
#[derive(Debug, Clone, Default)]
pub struct SlotStatus {
    /// A run is in flight.
    pub running: bool,
    /// When the next tick fires.
    pub next_run: Option<SystemTime>,
}

/// One configured probe with its compiled component and scheduler.
pub struct ProbeSlot {
    /// Its config.
    pub config: ProbeConfig,
    probe: Probe,
    spec: Arc<RunSpec>,
    component_hash: u64,
    cancel: CancellationToken,
    running: AtomicBool,
    status: Mutex<SlotStatus>,
}

impl ProbeSlot {
    /// Current status.
    pub fn status(&self) -> SlotStatus {
        let mut s = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        s.running = self.running.load(Ordering::Relaxed);
        s
    }
}

/// A rule group with its evaluation task.
pub struct GroupSlot {
    /// The group and its rules' state.
    pub group: Mutex<RuleGroup>,
    cancel: CancellationToken,
}

/// The config in force, its probes and its rule groups.
pub struct Active {
    /// The validated config.
    pub config: Config,
    /// Probes by name.
    pub probes: BTreeMap<String, Arc<ProbeSlot>>,
    /// Rule groups, in file order.
    pub groups: Vec<Arc<GroupSlot>>,
}

/// Everything the daemon's tasks share.
pub struct Daemon {
    config_path: PathBuf,
    /// The probe runtime.
    pub runtime: Runtime,
    /// Samples and runs.
    pub store: Store,
    /// vigil's own metrics.
    pub telemetry: Telemetry,
    /// Alert delivery: outbox, alert state, history.
    pub alerts: Arc<crate::alert::Delivery>,
    active: RwLock<Arc<Active>>,
    ready: AtomicBool,
    permits: Arc<Semaphore>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// Every run and scheduler task.
    pub tasks: TaskTracker,
}

impl Daemon {
    /// Load the config, compile every probe, open the store, start the schedulers.
    pub async fn start(config_path: &Path) -> Result<Arc<Daemon>, DaemonError> {
        let config = load_config(config_path).await?;
        let g = &config.global;
        let runtime = Runtime::new(&RuntimeOptions {
            max_concurrent_runs: (g.concurrency as u32).saturating_add(8),
            // Compiled probes survive restarts: a JS or Python probe compiles in seconds,
            // loads from here in milliseconds.
            cache_dir: Some(g.state_dir.join("cache")),
            ..RuntimeOptions::default()
        })?;
        let compiled = compile_all(&runtime, &config).await?;
        let groups = load_rules(&config).await?;
        let retention = retention_for(&config, &groups);
        let store = {
            let dir = g.state_dir.clone();
            let kept = g.runs_kept;
            tokio::task::spawn_blocking(move || {
                Store::open(&dir, retention, kept, SystemTime::now())
            })
            .await
            .expect("store open does not panic")?
        };
        let alerts = {
            let dir = g.state_dir.clone();
            tokio::task::spawn_blocking(move || crate::alert::Delivery::open(&dir))
                .await
                .expect("opening the alerts database does not panic")?
        };
        let daemon = Arc::new(Daemon {
            config_path: config_path.to_path_buf(),
            runtime,
            store,
            telemetry: Telemetry::default(),
            alerts: Arc::new(alerts),
            permits: Arc::new(Semaphore::new(g.concurrency)),
            active: RwLock::new(Arc::new(Active {
                config: config.clone(),
                probes: BTreeMap::new(),
                groups: Vec::new(),
            })),
            ready: AtomicBool::new(false),
            reload_lock: tokio::sync::Mutex::new(()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        daemon
            .alerts
            .configure(&config, &daemon.tasks, &daemon.shutdown);
        daemon.swap(config, compiled, groups);
        daemon.telemetry.reload(true);
        daemon.ready.store(true, Ordering::Relaxed);
        daemon.spawn_housekeeping();
        Ok(daemon)
    }

    /// The config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Ready once the config is loaded and every probe compiled.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.shutdown.is_cancelled()
    }

    /// The config in force.
    pub fn active(&self) -> Arc<Active> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-read the config. On any problem the running config stays, the problems are
    /// logged and returned, and `vigil_config_last_reload_successful` becomes 0.
    pub async fn reload(self: &Arc<Self>) -> Result<(), ConfigErrors> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let result = async {
            let config = load_config(&self.config_path).await?;
            let compiled = compile_all(&self.runtime, &config).await?;
            let groups = load_rules(&config).await?;
            Ok::<_, ConfigErrors>((config, compiled, groups))
        }
        .await;
        match result {
            Ok((config, compiled, groups)) => {
                let old = self.active();
                if old.config.global.listen != config.global.listen
                    || old.config.global.state_dir != config.global.state_dir
                    || old.config.global.concurrency != config.global.concurrency
                {
                    tracing::warn!(
                        "global.listen, global.state_dir and global.concurrency take effect \
                         only after a restart"
                    );
                }
                self.store.set_retention(retention_for(&config, &groups));
                self.alerts.configure(&config, &self.tasks, &self.shutdown);
                let (kept, started, stopped) = self.swap(config, compiled, groups);
                self.telemetry.reload(true);
                tracing::info!(
                    path = %self.config_path.display(),
                    kept, started, stopped, "configuration reloaded"
                );
                Ok(())
            }
            Err(errors) => {
                self.telemetry.reload(false);
                tracing::error!(
                    path = %self.config_path.display(),
                    errors = %errors,
                    "configuration reload failed; the running configuration stays in force"
                );
                Err(errors)
            }
        }
    }

    /// Install a validated config: keep unchanged probes, start new or changed ones, stop
    /// the rest. Returns (kept, started, stopped).
    fn swap(
        self: &Arc<Self>,
        config: Config,
        compiled: BTreeMap<String, (Probe, u64)>,
        group_specs: Vec<GroupSpec>,
    ) -> (usize, usize, usize) {
        let old = self.active();
        let mut probes = BTreeMap::new();
        let (mut kept, mut started) = (0, 0);
        let mut compiled = compiled;
        for pc in &config.probes {
            let (probe, hash) = compiled.remove(&pc.name).expect("compiled every probe");
            if let Some(slot) = old.probes.get(&pc.name)
                && slot.config == *pc
                && slot.component_hash == hash
            {
                probes.insert(pc.name.clone(), slot.clone());
                kept += 1;
                continue;
            }
            let slot = Arc::new(ProbeSlot {
                spec: Arc::new(RunSpec {
                    name: pc.name.clone(),
                    config: pc.config.clone(),
                    secrets: pc.secrets.clone(),
                    allow: pc.allow.clone(),
                    limits: pc.limits,
                }),
                config: pc.clone(),
                probe,
                component_hash: hash,
                cancel: self.shutdown.child_token(),
                running: AtomicBool::new(false),
                status: Mutex::new(SlotStatus::default()),
            });
            self.spawn_scheduler(slot.clone());
            probes.insert(pc.name.clone(), slot);
            started += 1;
        }
        let mut stopped = 0;
        for (name, slot) in &old.probes {
            if probes.get(name).is_none_or(|s| !Arc::ptr_eq(s, slot)) {
                slot.cancel.cancel();
                stopped += 1;
                if !probes.contains_key(name) {
                    self.store.mark_probe_stale(name, SystemTime::now());
                }
            }
        }
        let names: Vec<String> = probes.keys().cloned().collect();
        self.telemetry
            .retain_probes(&|p| names.binary_search_by(|n| n.as_str().cmp(p)).is_ok());
        // Rule groups are always restarted (they are cheap), keeping their alert state.
        let mut groups = Vec::new();
        for spec in group_specs {
            let mut group = RuleGroup::new(spec, config.global.evaluation_interval);
            group.external_url.clone_from(&config.global.external_url);
            if let Some(old) = old
                .groups
                .iter()
                .find(|o| o.group.lock().unwrap_or_else(|e| e.into_inner()).key() == group.key())
            {
                group.adopt_state(&old.group.lock().unwrap_or_else(|e| e.into_inner()));
            } else {
                // New to this process (a start, or a group added by a reload): resume what
                // an earlier life saved, so `for` timers and firing alerts carry on.
                self.alerts.restore(&mut group);
            }
            let slot = Arc::new(GroupSlot {
                group: Mutex::new(group),
                cancel: self.shutdown.child_token(),
            });
            self.spawn_group(slot.clone());
            groups.push(slot);
        }
        for old in &old.groups {
            old.cancel.cancel();
        }
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Active {
            config,
            probes,
            groups,
        });
        (kept, started, stopped)
    }

    fn spawn_scheduler(self: &Arc<Self>, slot: Arc<ProbeSlot>) {
        let daemon = self.clone();
        self.tasks.spawn(async move {
            loop {
                let now = SystemTime::now();
                let Some(next) = slot.config.schedule.next_after(now) else {
                    tracing::warn!(probe = %slot.config.name, "schedule never fires again");
                    break;
                };
                slot.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_run = Some(next);
                let wait = next.duration_since(now).unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = slot.cancel.cancelled() => break,
                }
                if slot.running.swap(true, Ordering::AcqRel) {
                    daemon.telemetry.skipped_tick(&slot.config.name);
                    tracing::warn!(
                        probe = %slot.config.name,
                        "tick skipped: the previous run is still going"
                    );
                    continue;
                }
                let daemon2 = daemon.clone();
                let slot2 = slot.clone();
                daemon.tasks.spawn(async move {
                    daemon2.run_tick(&slot2, Some(next)).await;
                    slot2.running.store(false, Ordering::Release);
                });
            }
        });
    }

    fn spawn_group(self: &Arc<Self>, slot: Arc<GroupSlot>) {
        let daemon = self.clone();
        let (interval, key) = {
            let g = slot.group.lock().unwrap_or_else(|e| e.into_inner());
            (
                g.interval,
                format!("{}\0{}", g.spec.file.display(), g.spec.name),
            )
        };
        // The same stable spreading as probes: groups sharing an interval do not all
        // evaluate in the same instant.
        let schedule = match crate::schedule::Schedule::parse(&format!(
            "@every {}ms",
            interval.as_millis().max(100)
        )) {
            Ok(s) => s.spread(&key),
            Err(e) => {
                tracing::error!(error = %e, "cannot schedule rule group");
                return;
            }
        };
        self.tasks.spawn(async move {
            loop {
                let now = SystemTime::now();
                let Some(next) = schedule.next_after(now) else {
                    break;
                };
                tokio::select! {
                    _ = tokio::time::sleep(next.duration_since(now).unwrap_or_default()) => {}
                    _ = slot.cancel.cancelled() => break,
                }
                // Evaluation is CPU work under the store's read lock: off the async workers.
                let d = daemon.clone();
                let s = slot.clone();
                let ts = crate::store::millis(next);
                let done = tokio::task::spawn_blocking(move || d.eval_group(&s, ts)).await;
                if let Err(e) = done {
                    tracing::error!(error = %e, "rule group evaluation panicked");
                }
            }
        });
    }

    /// Evaluate one group at `ts` (ms).
    fn eval_group(&self, slot: &GroupSlot, ts: i64) {
        let global = &self.active().config.global;
        let external = global.external_labels.clone();
        let mut group = slot.group.lock().unwrap_or_else(|e| e.into_inner());
        let limits = crate::promql::Limits {
            max_samples: global.rule_max_samples,
            deadline: Some(Instant::now() + global.rule_query_timeout),
            // As Prometheus: a subquery without a step uses the group's interval.
            subquery_step_ms: group.interval.as_millis() as i64,
        };
        let started = Instant::now();
        let before = crate::alert::plan::snapshot(&group);
        let outcome = group.eval(ts, &self.store, &external, &limits);
        self.alerts.after_eval(&mut group, &before, ts, &|probe| {
            self.store
                .last_run(probe)
                .map(|r| crate::alert::run_summary(&r))
        });
        self.telemetry.rule_group(
            &group.spec.name,
            outcome.evaluated,
            outcome.failures.len(),
            started.elapsed(),
            ts,
        );
        for (rule, error) in &outcome.failures {
            tracing::warn!(group = %group.spec.name, rule, error, "rule evaluation failed");
        }
    }

    /// Evaluate every group once now (tests, `vigil test rules`-style stepping).
    pub fn eval_all_now(&self) {
        let ts = crate::store::millis(SystemTime::now());
        for slot in &self.active().groups {
            self.eval_group(slot, ts);
        }
    }

    /// Run a probe now (the API's "run now"); the result is recorded like a scheduled run.
    pub async fn run_now(self: &Arc<Self>, name: &str) -> Option<ProbeRun> {
        let slot = self.active().probes.get(name)?.clone();
        Some(self.run_tick(&slot, None).await)
    }

    /// One tick: wait for a permit, run with retries, record.
    async fn run_tick(&self, slot: &ProbeSlot, scheduled: Option<SystemTime>) -> ProbeRun {
        let _permit = self.permits.clone().acquire_owned().await;
        if let Some(at) = scheduled {
            let lag = SystemTime::now().duration_since(at).unwrap_or_default();
            self.telemetry.schedule_lag.observe(lag);
        }
        let started = Instant::now();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut run = self.runtime.run(&slot.probe, &slot.spec).await;
        while !run.outcome.is_ok() && (attempts.len() as u32) < slot.config.retries {
            if self.shutdown.is_cancelled() {
                break;
            }
            attempts.push(Attempt {
                outcome: run.outcome,
                reason: run.reason,
                message: run.message.clone(),
                duration: run.duration,
            });
            run = self.runtime.run(&slot.probe, &slot.spec).await;
        }
        run.attempts = attempts;
        let previous = self.store.last_run(&slot.config.name).map(|r| r.outcome);
        self.store.record_run(&run, &slot.config.labels);
        self.telemetry
            .run(&slot.config.name, run.outcome, started.elapsed());
        if previous != Some(run.outcome) {
            tracing::info!(
                probe = %slot.config.name,
                outcome = run.outcome.as_str(),
                reason = run.reason.map(|r| r.as_str()).unwrap_or(""),
                message = run.message.as_deref().unwrap_or(""),
                "probe outcome changed"
            );
        } else {
            tracing::debug!(probe = %slot.config.name, outcome = run.outcome.as_str(), "run");
        }
        run
    }

    fn spawn_housekeeping(self: &Arc<Self>) {
        let daemon = self.clone();
        self.tasks.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = daemon.shutdown.cancelled() => break,
                }
                daemon.store.prune(SystemTime::now());
            }
        });
    }

    /// Stop scheduling, let in-flight runs finish within `grace`, flush the store.
    pub async fn stop(&self, grace: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                grace = %crate::units::format_duration(grace),
                "in-flight runs did not finish within the grace period"
            );
        }
        self.store.close();
    }
}

/// Parse every rule file of a config.
async fn load_rules(config: &Config) -> Result<Vec<GroupSpec>, ConfigErrors> {
    let files = config.rule_files.clone();
    let slos = config.slos.clone();
    let slo_path = PathBuf::from(format!("{} (slos)", config.path.display()));
    tokio::task::spawn_blocking(move || {
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        if !slos.is_empty() {
            match crate::rules::file::parse(&slo_path, &crate::rules::slo::rule_file(&slos)) {
                Ok((g, _)) => groups.extend(g),
                Err(e) => errors.extend(e.0),
            }
        }
        for f in &files {
            match crate::rules::file::load(f) {
                Ok((g, warnings)) => {
                    for w in warnings {
                        tracing::warn!("{w}");
                    }
                    groups.extend(g);
                }
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok(groups)
        } else {
            Err(ConfigErrors(errors))
        }
    })
    .await
    .expect("rule parsing does not panic")
}

/// Keep each metric long enough for the longest range any rule reads it over (plus the
/// 5m lookback and two evaluation intervals), and everything at least as long as the
/// configured (or default) retention.
fn retention_for(config: &Config, groups: &[GroupSpec]) -> RetentionPolicy {
    let mut policy = RetentionPolicy::uniform(config.global.retention.unwrap_or(DEFAULT_RETENTION));
    let margin = Duration::from_millis(crate::promql::LOOKBACK_MS as u64)
        + 2 * config.global.evaluation_interval;
    for rule in groups.iter().flat_map(|g| g.rules.iter()) {
        for (name, lookback) in crate::rules::file::lookbacks(&rule.parsed) {
            let needed = lookback + margin;
            match name {
                Some(name) => {
                    let e = policy.by_name.entry(name).or_default();
                    *e = (*e).max(needed);
                }
                // A selector without a metric name may read anything.
                None => policy.default = policy.default.max(needed),
            }
        }
    }
    let default = policy.default;
    policy.by_name.retain(|_, d| *d > default);
    policy
}

async fn load_config(path: &Path) -> Result<Config, ConfigErrors> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || Config::load(&path))
        .await
        .expect("config parsing does not panic")
}

/// Compile every probe of a config (cached by content), pointing errors at `wasm:`.
pub async fn compile_all(
    runtime: &Runtime,
    config: &Config,
) -> Result<BTreeMap<String, (Probe, u64)>, ConfigErrors> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for pc in &config.probes {
        let bytes: std::borrow::Cow<'static, [u8]> = match &pc.source {
            ProbeSource::Builtin(b) => b.wasm.into(),
            ProbeSource::File(path) => match tokio::fs::read(path).await {
                Ok(b) => b.into(),
                Err(e) => {
                    errors.push(ConfigError {
                        location: Some(pc.source_location.clone()),
                        message: format!("cannot read {}: {e}", path.display()),
                    });
                    continue;
                }
            },
        };
        let hash = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish()
        };
        // Compiling is CPU-heavy (seconds for JS/Python components): keep it off the
        // async workers.
        let result = tokio::task::block_in_place(|| runtime.load(&bytes));
        match result {
            Ok(p) => {
                out.insert(pc.name.clone(), (p, hash));
            }
            Err(e) => errors.push(ConfigError {
                location: Some(pc.source_location.clone()),
                message: format!("probe {:?}: {e}", pc.name),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}
