//! Reload on file change: watch the directories of the config file, its rule files and
//! its probe components, and reload after things have been quiet for [`DEBOUNCE`].
//!
//! Directories rather than files, because editors replace files and Kubernetes swaps a
//! ConfigMap by re-pointing a `..data` symlink: the file's own watch would be lost. Events
//! under `state_dir` are ignored (SQLite writes there all the time).

use crate::config::ProbeSource;
use crate::daemon::Daemon;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Quiet time after the last change before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

fn watched_dirs(d: &Daemon) -> BTreeSet<PathBuf> {
    let active = d.active();
    let parent = |p: &Path| -> Option<PathBuf> {
        let dir = p.parent()?;
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::canonicalize(dir).ok()
    };
    let mut dirs = BTreeSet::new();
    dirs.extend(parent(d.config_path()));
    for f in &active.config.rule_files {
        dirs.extend(parent(f));
    }
    for p in &active.config.probes {
        if let ProbeSource::File(f) = &p.source {
            dirs.extend(parent(f));
        }
    }
    dirs
}

/// Whether a changed path can affect the config: YAML (config, rules), components, the
/// config file whatever its name, and Kubernetes' `..data` swaps. Logs or editor files
/// next to the config do not trigger reloads.
fn relevant(path: &Path, state_dir: &Path, config_name: &Option<std::ffi::OsString>) -> bool {
    if path.starts_with(state_dir) {
        return false;
    }
    let name = path.file_name();
    if name.is_some() && name.map(|n| n.to_os_string()) == *config_name {
        return true;
    }
    if name.is_some_and(|n| n.to_string_lossy().starts_with("..")) {
        return true;
    }
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "wasm")
    )
}

/// Watch and reload until shutdown. Returns an error only if no watcher can be created.
pub fn spawn(daemon: Arc<Daemon>) -> notify::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let state_dir = daemon.active().config.global.state_dir.clone();
    let state_dir = std::fs::canonicalize(&state_dir).unwrap_or(state_dir);
    let config_name = daemon.config_path().file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.kind.is_access() {
                return;
            }
            if event
                .paths
                .iter()
                .any(|p| relevant(p, &state_dir, &config_name))
            {
                let _ = tx.send(());
            }
        }
    })?;
    let mut dirs = watched_dirs(&daemon);
    for dir in &dirs {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory");
        }
    }
    let d = daemon.clone();
    daemon.tasks.spawn(async move {
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { break },
                _ = d.shutdown.cancelled() => break,
            }
            // Debounce: wait until no event arrived for DEBOUNCE.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(DEBOUNCE) => break,
                    got = rx.recv() => if got.is_none() { return },
                    _ = d.shutdown.cancelled() => return,
                }
            }
            tracing::info!("files changed; reloading");
            if d.reload().await.is_ok() {
                // New rule files or probes may live in other directories now.
                let now = watched_dirs(&d);
                for gone in dirs.difference(&now) {
                    let _ = watcher.unwatch(gone);
                }
                for new in now.difference(&dirs) {
                    if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
                        tracing::warn!(dir = %new.display(), error = %e, "cannot watch directory");
                    }
                }
                dirs = now;
            }
        }
        drop(watcher);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_rule_and_probe_files_trigger_reloads() {
        let state = Path::new("/etc/vigil/state");
        let name = Some(std::ffi::OsString::from("vigil.conf"));
        let yes = [
            "/etc/vigil/vigil.conf",
            "/etc/vigil/rules/a.yml",
            "/etc/vigil/p.wasm",
            "/etc/vigil/..data",
        ];
        let no = [
            "/etc/vigil/state/state.db-wal",
            "/etc/vigil/vigil.log",
            "/etc/vigil/.vigil.yaml.swp",
            "/etc/vigil/state/x.yaml",
        ];
        for p in yes {
            assert!(relevant(Path::new(p), state, &name), "{p}");
        }
        for p in no {
            assert!(!relevant(Path::new(p), state, &name), "{p}");
        }
    }
}
