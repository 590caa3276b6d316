//! The `vigil` command line: argument parsing and the commands' top-level flow.
//!
//! Exit status: 0 when the probe succeeded or was degraded, 1 when it failed, 2 when it
//! could not be loaded or the arguments are wrong (clap's own usage errors are 2 too).

use crate::record::{Outcome, ProbeRun, Reason};
use crate::runtime::{AllowList, Limits, RunSpec, Runtime, RuntimeOptions, Secret};
use crate::units::{parse_duration, parse_size};
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Synthetic monitoring with WebAssembly probes.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: probes on their schedules, /metrics, the API, hot reload.
    Run(DaemonArgs),
    /// Validate a config: parse it, compile every probe, read every rule file.
    Check(CheckArgs),
    /// Work with probes: run one once, list the bundled ones.
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// Service level objectives.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Unit-test things, as promtool does.
    #[command(subcommand)]
    Test(TestCommand),
    /// Scaffold new things: `vigil new probe NAME --lang rust|js|python|c`.
    #[command(subcommand)]
    New(crate::scaffold::NewCommand),
    /// A self-contained demo: a web shop, probes, rules and alerts telling a story.
    Demo(crate::demo::DemoArgs),
}

/// `vigil test ...`
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit tests in promtool's format (`promtool test rules`).
    Rules {
        /// Test files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// `vigil slo ...`
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Print the rules generated from `slos:` as a Prometheus rule file.
    Rules {
        /// The config file.
        #[arg(short, long, value_name = "FILE", default_value = "vigil.yaml")]
        config: std::path::PathBuf,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Arguments of `vigil run`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The config file.
    #[arg(short, long, value_name = "FILE", default_value = "vigil.yaml")]
    pub config: std::path::PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Arguments of `vigil check`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CheckArgs {
    /// Check something other than a whole config.
    #[command(subcommand)]
    pub what: Option<CheckWhat>,
    /// The config file.
    #[arg(short, long, value_name = "FILE", default_value = "vigil.yaml")]
    pub config: std::path::PathBuf,
}

/// `vigil check ...`
#[derive(Debug, Subcommand)]
pub enum CheckWhat {
    /// Validate Prometheus rule files, as `promtool check rules` does.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

impl Cli {
    /// The log format asked for (text unless `vigil run --log-format json`).
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Run(a) => a.log_format,
            _ => LogFormat::Text,
        }
    }

    /// The daemon and the demo serve HTTP for a long time; everything else is one-shot.
    pub fn is_long_running(&self) -> bool {
        matches!(self.command, Command::Run(_) | Command::Demo(_))
    }

    /// The default log filter: the daemon reports what it does, one-shot commands only
    /// warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match &self.command {
            Command::Run(_) => "info",
            _ => "warn",
        }
    }
}

/// `vigil probe ...`
#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Run a probe once in the sandbox and report exactly what happened.
    Run(RunArgs),
    /// List the probes bundled in this binary.
    Builtins,
}

/// Output format of `vigil probe run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable report.
    Text,
    /// The run record as JSON.
    Json,
}

/// Arguments of `vigil probe run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A component file (`probe.wasm`) or a bundled probe (`builtin:http`, `builtin:tcp`).
    pub probe: String,
    /// Set a config key the probe reads with `config(key)`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub set: Vec<(String, String)>,
    /// Give the probe a secret it reads with `secret(name)`. Repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub secret: Vec<(String, String)>,
    /// Allow connections to HOST:PORT (`*` for any port, `*.domain` for subdomains).
    /// Nothing else is reachable. Repeatable.
    #[arg(long = "allow", value_name = "HOST:PORT")]
    pub allow: Vec<String>,
    /// Wall-clock limit for the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// CPU-time limit for the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cpu: Option<Duration>,
    /// Memory limit, e.g. 64MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,
    /// Name to record the run under (default: the PROBE argument).
    #[arg(long)]
    pub name: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Keep compiled probes in DIR, so the next run of the same file starts in
    /// milliseconds (default: $XDG_CACHE_HOME/vigil, else ~/.cache/vigil).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Compile the probe afresh and keep nothing on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(args) => daemon_run(args).await,
        Command::New(cmd) => crate::scaffold::run(cmd),
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Check(args) => check(args).await,
        Command::Test(TestCommand::Rules { files }) => {
            let ok = tokio::task::spawn_blocking(move || {
                crate::rules::unittest::run_files(&files, &mut std::io::stdout().lock())
            })
            .await
            .unwrap_or(false);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Slo(SloCommand::Rules { config }) => match crate::config::Config::load(&config) {
            Ok(c) => {
                print!("{}", crate::rules::slo::rule_file(&c.slos));
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(1)
            }
        },
        Command::Probe(ProbeCommand::Run(args)) => probe_run(args).await,
        Command::Probe(ProbeCommand::Builtins) => {
            for b in crate::builtin::BUILTINS {
                println!("builtin:{:<6} {}", b.name, b.summary);
            }
            ExitCode::SUCCESS
        }
    }
}

async fn daemon_run(args: DaemonArgs) -> ExitCode {
    use crate::daemon::Daemon;
    let daemon = match Daemon::start(&args.config).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: cannot start:\n{e}", args.config.display());
            return ExitCode::from(1);
        }
    };
    let global = daemon.active().config.global.clone();
    let listener = match tokio::net::TcpListener::bind(global.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", global.listen);
            daemon.stop(global.shutdown_grace).await;
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        listen = %global.listen,
        probes = daemon.active().probes.len(),
        config = %args.config.display(),
        state_dir = %global.state_dir.display(),
        "vigil is running"
    );
    if let Err(e) = crate::watch::spawn(daemon.clone()) {
        tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP or POST /-/reload");
    }
    spawn_signal_handlers(daemon.clone());
    let stop = daemon.shutdown.clone();
    let server = crate::server::serve(
        listener,
        daemon.clone(),
        async move { stop.cancelled().await },
    );
    // Graceful shutdown waits for open requests; one that runs a probe (POST
    // /api/v1/probes/NAME/run) must not hold the exit past the grace period.
    let stop = daemon.shutdown.clone();
    let grace = global.shutdown_grace;
    let grace_left = tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!(error = %e, "HTTP server failed");
            }
            grace
        }
        _ = async move {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("open HTTP requests did not finish within the grace period");
            std::time::Duration::from_millis(100)
        }
    };
    tracing::info!("shutting down: waiting for in-flight runs");
    daemon.stop(grace_left).await;
    tracing::info!("state flushed; bye");
    ExitCode::SUCCESS
}

fn spawn_signal_handlers(daemon: std::sync::Arc<crate::daemon::Daemon>) {
    use tokio::signal::unix::{SignalKind, signal};
    let d = daemon.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let _ = d.reload().await;
        }
    });
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        daemon.shutdown.cancel();
    });
}

fn check_rules(files: &[std::path::PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Checking {}", f.display());
        match crate::rules::file::load(f) {
            Ok((groups, warnings)) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                for w in &warnings {
                    println!("  WARNING: {w}");
                }
                println!("  SUCCESS: {n} rules found");
            }
            Err(errors) => {
                failed = true;
                println!("  FAILED:");
                for e in errors.0 {
                    println!("{e}");
                }
            }
        }
        println!();
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn check(args: CheckArgs) -> ExitCode {
    if let Some(CheckWhat::Rules { files }) = &args.what {
        return check_rules(files);
    }
    let mut problems: Vec<String> = Vec::new();
    let config = match crate::config::Config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors.0 {
                println!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    match Runtime::new(&RuntimeOptions {
        max_concurrent_runs: 1,
        ..RuntimeOptions::default()
    }) {
        Ok(rt) => {
            if let Err(errors) = crate::daemon::compile_all(&rt, &config).await {
                problems.extend(errors.0.iter().map(|e| e.to_string()));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    for f in &config.rule_files {
        if let Err(errors) = crate::rules::file::load(f) {
            problems.extend(errors.0.iter().map(|e| e.to_string()));
        }
    }
    if problems.is_empty() {
        println!(
            "{}: OK ({} probes compiled, {} rule files)",
            args.config.display(),
            config.probes.len(),
            config.rule_files.len()
        );
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("{p}");
        }
        println!("{}: {} problem(s)", args.config.display(), problems.len());
        ExitCode::from(1)
    }
}

/// Read the component a PROBE argument names.
pub fn read_probe(probe: &str) -> Result<std::borrow::Cow<'static, [u8]>, String> {
    if let Some(name) = probe.strip_prefix("builtin:") {
        return crate::builtin::find(name)
            .map(|b| std::borrow::Cow::Borrowed(b.wasm))
            .ok_or_else(|| {
                format!(
                    "unknown bundled probe {probe:?}; bundled probes are: {}",
                    crate::builtin::names()
                )
            });
    }
    std::fs::read(probe)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| format!("cannot read {probe}: {e}"))
}

async fn probe_run(args: RunArgs) -> ExitCode {
    let name = args.name.clone().unwrap_or_else(|| args.probe.clone());
    let fail_to_load = |message: String| {
        match args.output {
            OutputFormat::Text => eprintln!("error: {message}"),
            OutputFormat::Json => {
                let run = ProbeRun {
                    probe: name.clone(),
                    started_at: SystemTime::now(),
                    duration: Duration::ZERO,
                    outcome: Outcome::Failure,
                    reason: Some(Reason::LoadError),
                    message: Some(message),
                    steps: vec![],
                    metrics: vec![],
                    logs: vec![],
                    http: vec![],
                    attempts: vec![],
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&run).expect("serializable")
                );
            }
        }
        ExitCode::from(2)
    };
    let allow = match AllowList::parse(&args.allow) {
        Ok(a) => a,
        Err(e) => return fail_to_load(e.to_string()),
    };
    let mut limits = Limits::default();
    if let Some(t) = args.timeout {
        limits.timeout = t;
    }
    if let Some(c) = args.cpu {
        limits.cpu = c;
    }
    if let Some(m) = args.memory {
        limits.memory = m;
    }
    let runtime = match Runtime::new(&RuntimeOptions {
        max_concurrent_runs: 4,
        max_memory: limits.memory.max(RuntimeOptions::default().max_memory),
        cache_dir: if args.no_cache {
            None
        } else {
            args.cache_dir
                .clone()
                .or_else(crate::runtime::default_cache_dir)
        },
    }) {
        Ok(r) => r,
        Err(e) => return fail_to_load(e.to_string()),
    };
    let bytes = match read_probe(&args.probe) {
        Ok(b) => b,
        Err(e) => return fail_to_load(e),
    };
    let loading = std::time::Instant::now();
    let probe = match runtime.load(&bytes) {
        Ok(p) => p,
        Err(e) => return fail_to_load(format!("{}: {e}", args.probe)),
    };
    tracing::debug!(
        probe = %args.probe,
        origin = ?probe.origin(),
        load_ms = loading.elapsed().as_secs_f64() * 1e3,
        cache_dir = ?runtime.cache_dir(),
        "probe loaded"
    );
    let spec = Arc::new(RunSpec {
        name,
        config: args.set.into_iter().collect(),
        secrets: args
            .secret
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        allow,
        limits,
    });
    let run = runtime.run(&probe, &spec).await;
    match args.output {
        OutputFormat::Text => {
            print!("{}", crate::report::render(&run));
            if run.reason == Some(Reason::Denied) {
                println!(
                    "\nhint: the sandbox only lets a probe reach what --allow names \
                     (e.g. --allow 127.0.0.1:8080)."
                );
            }
        }
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&run).expect("serializable")
            )
        }
    }
    if run.outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs_need_a_key_and_an_equals_sign() {
        assert_eq!(
            parse_pair("url=http://x/?a=b").unwrap(),
            ("url".into(), "http://x/?a=b".into())
        );
        assert!(parse_pair("novalue").is_err());
        assert!(parse_pair("=v").is_err());
    }
}
