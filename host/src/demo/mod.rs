//! `vigil demo`: a demo web shop, bundled probes, rules and an SLO in one process, telling
//! the story healthy → fault → pending → firing → healed → resolved in the terminal.
//!
//! Nothing of the user's is needed or touched: the config, rule file, the scenario
//! component and the state live in a scratch directory that is removed on exit. The
//! daemon is the real one (`Daemon::start` + `server::serve`, as `vigil run`), so the
//! status page, `/metrics` and the API are what a user of `vigil run` gets.
//!
//! # Layout
//!
//! - [`shop`]: the demo shop (axum) and its fault switches.
//! - [`setup`]: the generated `vigil.yaml` and rule file, and the story's timings (pure).
//! - [`story`]: the observer announcing changes, and the scripted story.
//! - [`narrator`]: aligned, time-stamped, optionally coloured terminal lines.

mod narrator;
mod setup;
mod shop;
mod story;

use crate::daemon::{Daemon, DaemonError};
use narrator::{Narrator, Tag};
use setup::{Layout, PROBES, SCENARIO_PROBE, STORY_ALERT, Timings, say_duration};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The shop scenario (probes/rust/shop), embedded so the demo needs no files.
pub(crate) const SCENARIO_WASM: &[u8] =
    include_bytes!(concat!(env!("VIGIL_PROBES_DIR"), "/shop.wasm"));

/// vigil's usual port.
const DEFAULT_PORT: u16 = 9464;
/// The shop's port when free.
const DEFAULT_SHOP_PORT: u16 = 8080;

/// Arguments of `vigil demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The demo prints its URLs. Break the shop with the buttons on its page, or with curl:
  curl --json '{\"endpoint\": \"checkout\", \"error_rate\": 1}' http://127.0.0.1:8080/faults
  curl --json '{\"endpoint\": \"catalogue\", \"latency_ms\": 800}' http://127.0.0.1:8080/faults
  curl --json '{\"down\": true}' http://127.0.0.1:8080/faults
  curl -X DELETE http://127.0.0.1:8080/faults     # heal
Ctrl-C stops the demo and removes its files.")]
pub struct DemoArgs {
    /// Run the story once with compressed timings, then exit: 0 when the alert fired and
    /// resolved, 1 otherwise.
    #[arg(long)]
    pub once: bool,
    /// Port of vigil's server (status page, API, /metrics) on 127.0.0.1; 0 = any free
    /// port. [default: 9464, or any free port when 9464 is taken]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Port of the demo shop on 127.0.0.1; 0 = any free port. [default: 8080, or any free
    /// port when 8080 is taken]
    #[arg(long, value_name = "PORT")]
    pub shop_port: Option<u16>,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A port asked for is taken (or not allowed).
    #[error(
        "cannot listen on {addr} for {what}: {source} (choose another with {flag} PORT, or {flag} 0 for any free port)"
    )]
    Listen {
        /// What the port was for.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The flag choosing it.
        flag: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The scratch directory could not be written.
    #[error("cannot write the demo's files in {path}: {source}")]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The daemon refused the generated config (a bug: the config is ours).
    #[error("vigil could not start with the demo's config:\n{0}")]
    Daemon(#[from] DaemonError),
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<ScratchDir, DemoError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("vigil-demo-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| DemoError::Files {
            path: path.clone(),
            source,
        })?;
        Ok(ScratchDir(path))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, DemoError> {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).map_err(|source| DemoError::Files {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove the demo's scratch directory");
        }
    }
}

/// Bind 127.0.0.1:`requested`, or the default port and any free port when it is taken.
/// Returns the listener and, after a fallback, which port was taken.
async fn listen(
    what: &'static str,
    flag: &'static str,
    requested: Option<u16>,
    default: u16,
) -> Result<(TcpListener, Option<u16>), DemoError> {
    let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let error = |port, source| DemoError::Listen {
        what,
        addr: at(port),
        flag,
        source,
    };
    match requested {
        Some(port) => match TcpListener::bind(at(port)).await {
            Ok(l) => Ok((l, None)),
            Err(e) => Err(error(port, e)),
        },
        None => match TcpListener::bind(at(default)).await {
            Ok(l) => Ok((l, None)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let l = TcpListener::bind(at(0)).await.map_err(|e| error(0, e))?;
                Ok((l, Some(default)))
            }
            Err(e) => Err(error(default, e)),
        },
    }
}

/// Stop on SIGINT (Ctrl-C) or SIGTERM; a second one exits at once.
fn spawn_signal_handler(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot install signal handlers; Ctrl-C will not clean up");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stop.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("vigil demo: interrupted twice; exiting without cleaning up");
        std::process::exit(130);
    });
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> ExitCode {
    let started = Instant::now();
    let n = Narrator::new(started, narrator::want_color());
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone());
    match demo(&args, &n, started, stop).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: vigil demo: {e}");
            ExitCode::from(2)
        }
    }
}

async fn demo(
    args: &DemoArgs,
    n: &Narrator,
    started: Instant,
    stop: CancellationToken,
) -> Result<ExitCode, DemoError> {
    let timings = if args.once {
        Timings::quick()
    } else {
        Timings::live()
    };
    let (vigil_listener, vigil_taken) =
        listen("vigil's server", "--port", args.port, DEFAULT_PORT).await?;
    let (shop_listener, shop_taken) = listen(
        "the demo shop",
        "--shop-port",
        args.shop_port,
        DEFAULT_SHOP_PORT,
    )
    .await?;
    let listen_addr = local_addr(&vigil_listener, "vigil's server", "--port")?;

    let dir = ScratchDir::create()?;
    let shop_stop = CancellationToken::new();
    let (shop, shop_task) = shop::start(
        shop_listener,
        shop_stop.clone(),
        format!("http://{listen_addr}/"),
    )
    .map_err(|source| DemoError::Listen {
        what: "the demo shop",
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        flag: "--shop-port",
        source,
    })?;
    let config_path = write_files(&dir, listen_addr, shop.addr, &timings)?;

    n.plain(format!(
        "{} a small web shop, three probes watching it, alert rules and an SLO, in one process.",
        n.bold("vigil demo:")
    ));
    let daemon = match Daemon::start(&config_path).await {
        Ok(d) => d,
        Err(e) => {
            shop_stop.cancel();
            return Err(e.into());
        }
    };
    let server = {
        let shutdown = daemon.shutdown.clone();
        tokio::spawn(crate::server::serve(
            vigil_listener,
            daemon.clone(),
            async move { shutdown.cancelled().await },
        ))
    };
    if !args.once
        && let Err(e) = crate::watch::spawn(daemon.clone())
    {
        tracing::warn!(error = %e, "cannot watch the demo's config for edits");
    }

    banner(
        n,
        &daemon,
        &shop,
        &config_path,
        &timings,
        args.once,
        vigil_taken,
        shop_taken,
    );
    let mut observer = story::Observer::new(daemon.clone(), &shop);
    let deadline = started + timings.deadline;
    let told = tokio::select! {
        told = story::tell(&mut observer, &shop, n, &timings, deadline) => Some(told),
        _ = stop.cancelled() => None,
    };
    let code = match told {
        Some(Ok(story::StoryEnd::Told)) => {
            n.say(
                Tag::Done,
                format!(
                    "{STORY_ALERT} went pending → firing → resolved; the story took {}",
                    say_duration(Duration::from_secs(n.elapsed().as_secs()))
                ),
            );
            still_firing(n, &observer);
            ExitCode::SUCCESS
        }
        Some(Ok(story::StoryEnd::SteppedAside)) if args.once => {
            n.say(
                Tag::Failed,
                "the faults were switched by hand, so the story could not finish",
            );
            ExitCode::from(1)
        }
        Some(Ok(story::StoryEnd::SteppedAside)) => ExitCode::SUCCESS,
        Some(Err(timeout)) => {
            n.say(Tag::Failed, timeout.to_string());
            if let Some(run) = daemon.store.last_run(SCENARIO_PROBE) {
                n.more(format!(
                    "last {SCENARIO_PROBE} run: {}{}",
                    run.outcome.as_str(),
                    run.message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ));
            }
            ExitCode::from(1)
        }
        None if args.once => {
            n.say(Tag::Failed, "interrupted before the story was over");
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    };

    let code = if args.once || stop.is_cancelled() {
        code
    } else {
        keep_running(n, &shop, &mut observer, &stop).await;
        ExitCode::SUCCESS
    };

    let grace = daemon.active().config.global.shutdown_grace;
    daemon.stop(grace).await;
    if tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .is_err()
    {
        tracing::warn!("vigil's server did not stop within 5s");
    }
    shop_stop.cancel();
    if tokio::time::timeout(Duration::from_secs(5), shop_task)
        .await
        .is_err()
    {
        tracing::warn!("the demo shop did not stop within 5s");
    }
    drop(daemon);
    drop(dir);
    if !args.once {
        n.say(Tag::Done, "stopped; the demo's files are removed");
    }
    Ok(code)
}

fn local_addr(
    l: &TcpListener,
    what: &'static str,
    flag: &'static str,
) -> Result<SocketAddr, DemoError> {
    l.local_addr().map_err(|source| DemoError::Listen {
        what,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        flag,
        source,
    })
}

/// Write the scenario component, the password, the rule file and `vigil.yaml`; returns
/// the config's path.
fn write_files(
    dir: &ScratchDir,
    listen: SocketAddr,
    shop: SocketAddr,
    timings: &Timings,
) -> Result<PathBuf, DemoError> {
    let wasm = dir.write("shop.wasm", SCENARIO_WASM)?;
    let password = dir.write("shop-password", shop::PASSWORD.as_bytes())?;
    let rules = dir.0.join("rules.yaml");
    let state = dir.0.join("state");
    let layout = Layout {
        listen,
        shop,
        scenario_wasm: &wasm,
        password_file: &password,
        rules_file: &rules,
        state_dir: &state,
    };
    dir.write("rules.yaml", setup::rules_yaml(&layout, timings).as_bytes())?;
    dir.write("vigil.yaml", setup::vigil_yaml(&layout, timings).as_bytes())
}

#[allow(clippy::too_many_arguments)]
fn banner(
    n: &Narrator,
    daemon: &Arc<Daemon>,
    shop: &shop::Shop,
    config: &Path,
    t: &Timings,
    once: bool,
    vigil_taken: Option<u16>,
    shop_taken: Option<u16>,
) {
    let vigil = format!("http://{}", daemon.active().config.global.listen);
    let taken = |p: Option<u16>| {
        p.map(|p| format!("   (port {p} is taken)"))
            .unwrap_or_default()
    };
    n.plain("");
    n.plain(format!("  status page  {vigil}/{}", taken(vigil_taken)));
    n.plain(format!(
        "  shop         {}/   fault switches and runbooks{}",
        shop.url(),
        taken(shop_taken)
    ));
    n.plain(format!("  alerts       {vigil}/api/v1/alerts"));
    n.plain(format!("  metrics      {vigil}/metrics"));
    n.plain(format!("  config       {}", config.display()));
    n.plain("");
    n.say(
        Tag::Ready,
        format!(
            "probes {} run every {}; alerts wait {} (for:)",
            PROBES.join(", "),
            say_duration(t.probe_every),
            say_duration(t.hold)
        ),
    );
    n.more(format!(
        "{SCENARIO_PROBE} is a WebAssembly scenario: log in → catalogue → cart → checkout"
    ));
    n.more("lines starting with a date are pages sent by the console notifier");
    if once {
        n.more(format!(
            "--once: exits 0 when {STORY_ALERT} has fired and resolved (within {})",
            say_duration(t.deadline)
        ));
    }
}

/// After the story, SLO burn-rate alerts may still fire: say why that is expected.
fn still_firing(n: &Narrator, observer: &story::Observer) {
    let firing = observer.firing();
    if firing.is_empty() {
        return;
    }
    n.more(format!("still firing: {}", firing.join(", ")));
    if firing.iter().any(|a| a == story::SLO_ALERT) {
        n.more("SLO burn-rate alerts average the error ratio over windows of 5m and more,");
        n.more("so they resolve minutes after the fault is gone, as in Prometheus");
    }
}

/// The live demo after the story: say how to break the shop, keep announcing changes.
async fn keep_running(
    n: &Narrator,
    shop: &shop::Shop,
    observer: &mut story::Observer,
    stop: &CancellationToken,
) {
    let url = shop.url();
    n.plain("");
    n.plain("The demo keeps running. Break the shop yourself, with the buttons at");
    n.plain(format!("  {url}/"));
    n.plain("or with curl:");
    n.plain(format!(
        "  curl --json '{{\"endpoint\": \"checkout\", \"error_rate\": 0.5}}' {url}/faults"
    ));
    n.plain(format!(
        "  curl --json '{{\"endpoint\": \"catalogue\", \"latency_ms\": 800}}' {url}/faults"
    ));
    n.plain(format!("  curl --json '{{\"down\": true}}' {url}/faults"));
    n.plain(format!("  curl -X DELETE {url}/faults     # heal"));
    n.plain("Ctrl-C stops the demo.");
    n.plain("");
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(story::POLL) => observer.poll(n),
        }
    }
}
