//! The sample store: every run becomes samples, held in memory as per-series ring buffers
//! (pruned by retention) and persisted to SQLite in `state_dir`, reloaded on start so
//! history survives a restart. The last run of each probe is kept in memory for the API
//! and status page; older runs are read back from SQLite, bounded per probe.
//!
//! Readers take a read lock on the series for the length of one query; writers hold the
//! write lock only to push a run's handful of samples.

pub mod labels;
pub mod samples;
pub mod series;
mod sqlite;

pub use labels::Labels;
pub use series::{STALE_NAN, Sample, Series, SeriesSet, is_stale};
pub use sqlite::SqliteError;

use crate::record::ProbeRun;
use sqlite::Sqlite;
pub use sqlite::millis;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime};

/// How long samples are kept: a default, and longer for the metrics rules read over
/// longer ranges (a 30-day SLO keeps 30 days of its error ratio, not of everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicy {
    /// Every series not named below.
    pub default: Duration,
    /// Metric name → retention, where longer than the default.
    pub by_name: HashMap<String, Duration>,
}

impl RetentionPolicy {
    /// The same retention for everything.
    pub fn uniform(d: Duration) -> Self {
        RetentionPolicy {
            default: d,
            by_name: HashMap::new(),
        }
    }

    /// Retention of a metric.
    pub fn of(&self, name: &str) -> Duration {
        self.by_name
            .get(name)
            .copied()
            .unwrap_or(self.default)
            .max(self.default)
    }

    /// The longest retention of any metric.
    pub fn longest(&self) -> Duration {
        self.by_name
            .values()
            .copied()
            .fold(self.default, Duration::max)
    }
}

/// Samples and recent runs.
pub struct Store {
    series: RwLock<SeriesSet>,
    last_runs: RwLock<HashMap<String, Arc<ProbeRun>>>,
    db: Option<Sqlite>,
    retention: RwLock<RetentionPolicy>,
    runs_kept: usize,
}

impl Store {
    /// A store that lives only in memory (tests, `vigil test rules`).
    pub fn in_memory(retention: Duration) -> Store {
        Store {
            series: RwLock::new(SeriesSet::new()),
            last_runs: RwLock::new(HashMap::new()),
            db: None,
            retention: RwLock::new(RetentionPolicy::uniform(retention)),
            runs_kept: 0,
        }
    }

    /// Open the store in `state_dir`, loading the samples still within `retention`.
    pub fn open(
        state_dir: &Path,
        retention: RetentionPolicy,
        runs_kept: usize,
        now: SystemTime,
    ) -> Result<Store, SqliteError> {
        let min_t = millis(now) - retention.longest().as_millis() as i64;
        let (db, loaded) = Sqlite::open(state_dir, min_t)?;
        let mut set = SeriesSet::new();
        for (labels, samples) in loaded.samples {
            for s in samples {
                let _ = set.append(&labels, s);
            }
        }
        let now_ms = millis(now);
        set.prune_by(|l| now_ms - retention.of(l.name()).as_millis() as i64);
        let last_runs = loaded
            .last_runs
            .into_iter()
            .map(|r| (r.probe.clone(), Arc::new(r)))
            .collect();
        Ok(Store {
            series: RwLock::new(set),
            last_runs: RwLock::new(last_runs),
            db: Some(db),
            retention: RwLock::new(retention),
            runs_kept,
        })
    }

    /// Change how long samples are kept (the rules' ranges may change on reload).
    pub fn set_retention(&self, retention: RetentionPolicy) {
        *self.retention.write().unwrap_or_else(|e| e.into_inner()) = retention;
    }

    /// How long samples are kept.
    pub fn retention(&self) -> RetentionPolicy {
        self.retention
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Record a run: its samples at its end time, and the run itself.
    pub fn record_run(&self, run: &ProbeRun, probe_labels: &BTreeMap<String, String>) {
        let t = millis(run.ended_at());
        let samples = samples::run_samples(run, probe_labels);
        {
            let mut set = self.series.write().unwrap_or_else(|e| e.into_inner());
            for (labels, v) in &samples {
                let _ = set.append(labels, Sample { t, v: *v });
            }
        }
        if let Some(db) = &self.db {
            for (labels, v) in samples {
                db.sample(labels, Sample { t, v });
            }
            db.run(run);
        }
        self.last_runs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run.probe.clone(), Arc::new(run.clone()));
    }

    /// Append one sample (recording rules, `ALERTS`). Out-of-order samples are dropped.
    pub fn append(&self, labels: &Labels, sample: Sample) {
        let ok = self
            .series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .append(labels, sample)
            .is_ok();
        if ok && let Some(db) = &self.db {
            db.sample(labels.clone(), sample);
        }
    }

    /// Mark every series of a probe stale (it was removed from the config), so queries
    /// stop seeing it at once, as Prometheus does for a target that disappeared.
    pub fn mark_probe_stale(&self, probe: &str, now: SystemTime) {
        let stale: Vec<Labels> = self
            .read()
            .iter()
            .filter(|s| s.labels.get("probe") == Some(probe))
            .filter(|s| s.latest().is_some_and(|l| !is_stale(l.v)))
            .map(|s| s.labels.clone())
            .collect();
        let t = millis(now);
        for labels in stale {
            self.append(
                &labels,
                Sample {
                    t,
                    v: f64::from_bits(STALE_NAN),
                },
            );
        }
        self.last_runs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(probe);
    }

    /// Read access to every series, for queries and `/metrics`.
    pub fn read(&self) -> RwLockReadGuard<'_, SeriesSet> {
        self.series.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The last run of a probe.
    pub fn last_run(&self, probe: &str) -> Option<Arc<ProbeRun>> {
        self.last_runs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(probe)
            .cloned()
    }

    /// The newest `limit` runs of a probe, newest first. Blocks on SQLite: call it from a
    /// blocking context.
    pub fn runs(&self, probe: &str, limit: usize) -> Result<Vec<ProbeRun>, SqliteError> {
        let mut runs = match &self.db {
            Some(db) => {
                db.flush();
                db.runs(probe, limit)?
            }
            None => Vec::new(),
        };
        if runs.is_empty()
            && let Some(last) = self.last_run(probe)
        {
            runs.push((*last).clone());
        }
        Ok(runs)
    }

    /// Drop what is older than the retention (memory and disk) and runs past the
    /// per-probe bound.
    pub fn prune(&self, now: SystemTime) {
        let policy = self.retention();
        let now = millis(now);
        let min_t = |d: Duration| now - d.as_millis() as i64;
        self.series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .prune_by(|l| min_t(policy.of(l.name())));
        if let Some(db) = &self.db {
            let longer = policy
                .by_name
                .iter()
                .filter(|(_, d)| **d > policy.default)
                .map(|(n, d)| (n.clone(), min_t(*d)))
                .collect();
            db.prune(min_t(policy.default), longer, self.runs_kept);
        }
    }

    /// Wait until everything recorded so far is on disk.
    pub fn flush(&self) {
        if let Some(db) = &self.db {
            db.flush();
        }
    }

    /// Flush and close the database.
    pub fn close(&self) {
        if let Some(db) = &self.db {
            db.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    fn run(probe: &str, at_ms: u64, outcome: Outcome) -> ProbeRun {
        ProbeRun {
            probe: probe.into(),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_millis(at_ms),
            duration: Duration::from_millis(10),
            outcome,
            reason: None,
            message: None,
            steps: vec![],
            metrics: vec![],
            logs: vec![],
            http: vec![],
            attempts: vec![],
        }
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn success(store: &Store, probe: &str) -> Vec<(i64, f64)> {
        let l = Labels::from_pairs("probe_success", [("probe", probe)]);
        store
            .read()
            .get(&l)
            .map(|s| s.samples.iter().map(|s| (s.t, s.v)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn history_survives_a_restart() {
        let d = dir("restart");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        {
            let store = Store::open(
                &d,
                RetentionPolicy::uniform(Duration::from_secs(3600)),
                10,
                now,
            )
            .unwrap();
            store.record_run(&run("a", 1000, Outcome::Success), &BTreeMap::new());
            store.record_run(&run("a", 2000, Outcome::Failure), &BTreeMap::new());
            store.close();
        }
        let store = Store::open(
            &d,
            RetentionPolicy::uniform(Duration::from_secs(3600)),
            10,
            now,
        )
        .unwrap();
        assert_eq!(success(&store, "a"), [(1010, 1.0), (2010, 0.0)]);
        assert_eq!(store.last_run("a").unwrap().outcome, Outcome::Failure);
        let runs = store.runs("a", 10).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome, Outcome::Failure, "newest first");
    }

    #[test]
    fn staleness_markers_and_nan_survive_a_restart() {
        let d = dir("stale");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let policy = RetentionPolicy::uniform(Duration::from_secs(3600));
        let a = Labels::from_pairs("m", [("k", "a")]);
        {
            let store = Store::open(&d, policy.clone(), 10, now).unwrap();
            store.append(&a, Sample { t: 1000, v: 1.5 });
            store.append(
                &a,
                Sample {
                    t: 2000,
                    v: f64::NAN,
                },
            );
            store.append(
                &a,
                Sample {
                    t: 3000,
                    v: f64::from_bits(STALE_NAN),
                },
            );
            store.append(
                &a,
                Sample {
                    t: 4000,
                    v: f64::INFINITY,
                },
            );
            store.close();
        }
        let store = Store::open(&d, policy, 10, now).unwrap();
        let got: Vec<(i64, u64)> = store
            .read()
            .get(&a)
            .map(|s| s.samples.iter().map(|s| (s.t, s.v.to_bits())).collect())
            .unwrap_or_default();
        assert_eq!(
            got,
            [
                (1000, 1.5f64.to_bits()),
                (2000, f64::NAN.to_bits()),
                (3000, STALE_NAN),
                (4000, f64::INFINITY.to_bits())
            ],
            "the whole batch is written, NaN bits intact"
        );
    }

    #[test]
    fn retention_applies_on_load_and_on_prune() {
        let d = dir("retention");
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        {
            let store = Store::open(
                &d,
                RetentionPolicy::uniform(Duration::from_secs(60)),
                2,
                t(0),
            )
            .unwrap();
            for (i, s) in [10u64, 50, 100, 150].iter().enumerate() {
                let _ = i;
                store.record_run(&run("a", s * 1000, Outcome::Success), &BTreeMap::new());
            }
            store.prune(t(160));
            assert_eq!(
                success(&store, "a").len(),
                2,
                "only the last minute is kept"
            );
            store.close();
        }
        let store = Store::open(
            &d,
            RetentionPolicy::uniform(Duration::from_secs(60)),
            2,
            t(200),
        )
        .unwrap();
        assert_eq!(success(&store, "a"), [(150_010, 1.0)]);
        assert_eq!(
            store.runs("a", 10).unwrap().len(),
            2,
            "runs bounded per probe"
        );
    }

    #[test]
    fn metrics_read_over_long_ranges_are_kept_longer() {
        let d = dir("policy");
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let policy = RetentionPolicy {
            default: Duration::from_secs(60),
            by_name: HashMap::from([("slo:ratio".to_string(), Duration::from_secs(3600))]),
        };
        let short = Labels::from_pairs("probe_success", [("probe", "a")]);
        let long = Labels::from_pairs("slo:ratio", [("slo", "a")]);
        {
            let store = Store::open(&d, policy.clone(), 2, t(0)).unwrap();
            for s in [0u64, 100, 1000] {
                store.append(
                    &short,
                    Sample {
                        t: s as i64 * 1000,
                        v: 1.0,
                    },
                );
                store.append(
                    &long,
                    Sample {
                        t: s as i64 * 1000,
                        v: 1.0,
                    },
                );
            }
            store.prune(t(1000));
            assert_eq!(store.read().get(&short).unwrap().samples.len(), 1);
            assert_eq!(store.read().get(&long).unwrap().samples.len(), 3);
            store.close();
        }
        let store = Store::open(&d, policy, 2, t(1000)).unwrap();
        assert_eq!(
            store.read().get(&short).unwrap().samples.len(),
            1,
            "pruned on disk too"
        );
        assert_eq!(store.read().get(&long).unwrap().samples.len(), 3);
    }

    #[test]
    fn removed_probe_goes_stale() {
        let store = Store::in_memory(Duration::from_secs(3600));
        store.record_run(&run("gone", 1000, Outcome::Success), &BTreeMap::new());
        store.mark_probe_stale("gone", SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        let samples = success(&store, "gone");
        assert!(is_stale(samples[1].1));
        assert!(store.last_run("gone").is_none());
    }
}
