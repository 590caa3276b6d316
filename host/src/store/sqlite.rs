//! SQLite persistence of samples and run records, so history survives a restart.
//!
//! Writes go through one writer thread that batches them into a transaction every
//! [`BATCH_INTERVAL`] (or sooner when a batch grows large): thousands of samples a second
//! cost a handful of fsyncs. Reads use their own connection; WAL mode lets them run while
//! the writer writes.

use super::labels::Labels;
use super::series::Sample;
use crate::record::ProbeRun;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long writes may wait before they are committed.
const BATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Commit early once this many operations are pending.
const BATCH_MAX: usize = 20_000;

/// A persistence failure.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// The database could not be opened or migrated.
    #[error("cannot open state database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("state database: {0}")]
    Query(#[from] rusqlite::Error),
    /// The writer thread is gone.
    #[error("state database writer has stopped")]
    WriterGone,
}

enum Op {
    Sample(Labels, Sample),
    Run {
        probe: String,
        t: i64,
        json: String,
    },
    Prune {
        min_t: i64,
        longer: Vec<(String, i64)>,
        runs_kept: usize,
    },
    Flush(std::sync::mpsc::Sender<()>),
}

/// What was on disk at start.
pub(crate) struct Loaded {
    pub samples: Vec<(Labels, Vec<Sample>)>,
    pub last_runs: Vec<ProbeRun>,
}

/// Handle to the state database.
pub(crate) struct Sqlite {
    tx: Mutex<Option<SyncSender<Op>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn open(path: &Path) -> Result<Connection, SqliteError> {
    let err = |source| SqliteError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS series (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             labels TEXT NOT NULL UNIQUE
         );
         CREATE INDEX IF NOT EXISTS series_name ON series (name);
         CREATE TABLE IF NOT EXISTS samples (
             series_id INTEGER NOT NULL,
             t INTEGER NOT NULL,
             v REAL NOT NULL,
             PRIMARY KEY (series_id, t)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS samples_t ON samples (t);
         CREATE TABLE IF NOT EXISTS runs (
             id INTEGER PRIMARY KEY,
             probe TEXT NOT NULL,
             t INTEGER NOT NULL,
             json TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS runs_probe_t ON runs (probe, t);",
    )
    .map_err(err)?;
    Ok(conn)
}

impl Sqlite {
    /// Open (creating) `dir/state.db` and load what is newer than `min_t`.
    pub(crate) fn open(dir: &Path, min_t: i64) -> Result<(Sqlite, Loaded), SqliteError> {
        std::fs::create_dir_all(dir).map_err(|e| SqliteError::Open {
            path: dir.to_path_buf(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let path = dir.join("state.db");
        let writer_conn = open(&path)?;
        let reader = open(&path)?;
        let loaded = load(&reader, min_t)?;
        let (tx, rx) = sync_channel(100_000);
        let writer = std::thread::Builder::new()
            .name("vigil-sqlite".into())
            .spawn(move || write_loop(writer_conn, rx))
            .map_err(|e| SqliteError::Open {
                path: path.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok((
            Sqlite {
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                reader: Arc::new(Mutex::new(reader)),
                path,
            },
            loaded,
        ))
    }

    fn send(&self, op: Op) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref()
            && tx.send(op).is_err()
        {
            tracing::error!(path = %self.path.display(), "state database writer has stopped");
        }
    }

    pub(crate) fn sample(&self, labels: Labels, sample: Sample) {
        self.send(Op::Sample(labels, sample));
    }

    pub(crate) fn run(&self, run: &ProbeRun) {
        let t = millis(run.started_at);
        match serde_json::to_string(run) {
            Ok(json) => self.send(Op::Run {
                probe: run.probe.clone(),
                t,
                json,
            }),
            Err(e) => tracing::error!(probe = %run.probe, error = %e, "cannot serialize run"),
        }
    }

    /// Drop samples older than `min_t`, except for the metrics in `longer`, which keep
    /// theirs back to their own bound; and runs beyond `runs_kept` per probe.
    pub(crate) fn prune(&self, min_t: i64, longer: Vec<(String, i64)>, runs_kept: usize) {
        self.send(Op::Prune {
            min_t,
            longer,
            runs_kept,
        });
    }

    /// Block until everything sent so far is committed.
    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        self.send(Op::Flush(done_tx));
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
    }

    /// Commit and stop the writer.
    pub(crate) fn close(&self) {
        self.flush();
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
    }

    /// The newest `limit` runs of a probe, newest first (blocking: call from a blocking
    /// context).
    pub(crate) fn runs(&self, probe: &str, limit: usize) -> Result<Vec<ProbeRun>, SqliteError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt =
            conn.prepare_cached("SELECT json FROM runs WHERE probe = ? ORDER BY t DESC LIMIT ?")?;
        let rows = stmt.query_map(params![probe, limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            match serde_json::from_str(&json?) {
                Ok(run) => out.push(run),
                Err(e) => tracing::warn!(probe, error = %e, "skipping unreadable stored run"),
            }
        }
        Ok(out)
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        self.close();
    }
}

/// A sample value for SQLite: NaN becomes its 8 bit-exact bytes as a BLOB, because SQLite
/// stores a NaN REAL as NULL, which would lose staleness markers (and break NOT NULL). A
/// BLOB keeps its type in a REAL column, so no schema change is needed.
fn value_to_sql(v: f64) -> rusqlite::types::Value {
    if v.is_nan() {
        rusqlite::types::Value::Blob(v.to_bits().to_le_bytes().to_vec())
    } else {
        rusqlite::types::Value::Real(v)
    }
}

fn value_from_sql(v: rusqlite::types::ValueRef<'_>) -> f64 {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Real(f) => f,
        ValueRef::Integer(i) => i as f64,
        ValueRef::Blob(b) => b
            .try_into()
            .map(|bytes: [u8; 8]| f64::from_bits(u64::from_le_bytes(bytes)))
            .unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn load(conn: &Connection, min_t: i64) -> Result<Loaded, SqliteError> {
    let mut series: HashMap<i64, (Labels, Vec<Sample>)> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, labels FROM series")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (id, json) = row?;
            if let Ok(labels) = serde_json::from_str::<Labels>(&json) {
                series.insert(id, (labels, Vec::new()));
            }
        }
    }
    {
        let mut stmt =
            conn.prepare("SELECT series_id, t, v FROM samples WHERE t >= ? ORDER BY series_id, t")?;
        let rows = stmt.query_map([min_t], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                value_from_sql(r.get_ref(2)?),
            ))
        })?;
        for row in rows {
            let (id, t, v) = row?;
            if let Some((_, samples)) = series.get_mut(&id) {
                samples.push(Sample { t, v });
            }
        }
    }
    let mut last_runs = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT json FROM runs r WHERE t = (SELECT MAX(t) FROM runs WHERE probe = r.probe)",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for json in rows {
            if let Ok(run) = serde_json::from_str::<ProbeRun>(&json?) {
                last_runs.push(run);
            }
        }
    }
    Ok(Loaded {
        samples: series
            .into_values()
            .filter(|(_, s)| !s.is_empty())
            .collect(),
        last_runs,
    })
}

fn write_loop(mut conn: Connection, rx: Receiver<Op>) {
    let mut ids: HashMap<Labels, i64> = HashMap::new();
    let mut pending: Vec<Op> = Vec::new();
    let mut since = Instant::now();
    loop {
        let timeout = BATCH_INTERVAL.saturating_sub(since.elapsed());
        match rx.recv_timeout(timeout) {
            Ok(op) => {
                let flush = matches!(op, Op::Flush(_));
                if pending.is_empty() {
                    since = Instant::now();
                }
                pending.push(op);
                if !flush && pending.len() < BATCH_MAX && since.elapsed() < BATCH_INTERVAL {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                commit(&mut conn, &mut ids, &mut pending);
                return;
            }
        }
        commit(&mut conn, &mut ids, &mut pending);
        since = Instant::now();
    }
}

fn commit(conn: &mut Connection, ids: &mut HashMap<Labels, i64>, pending: &mut Vec<Op>) {
    if pending.is_empty() {
        return;
    }
    let mut waiters = Vec::new();
    let result = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction()?;
        for op in pending.drain(..) {
            match op {
                Op::Sample(labels, s) => {
                    let id = match ids.get(&labels) {
                        Some(id) => *id,
                        None => {
                            let json = serde_json::to_string(&labels).unwrap_or_default();
                            tx.execute(
                                "INSERT OR IGNORE INTO series (name, labels) VALUES (?, ?)",
                                params![labels.name(), &json],
                            )?;
                            let id: i64 = tx
                                .query_row("SELECT id FROM series WHERE labels = ?", [&json], |r| {
                                    r.get(0)
                                })
                                .optional()?
                                .unwrap_or_default();
                            ids.insert(labels, id);
                            id
                        }
                    };
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO samples (series_id, t, v) VALUES (?, ?, ?)",
                    )?
                    .execute(params![id, s.t, value_to_sql(s.v)])?;
                }
                Op::Run { probe, t, json } => {
                    tx.prepare_cached("INSERT INTO runs (probe, t, json) VALUES (?, ?, ?)")?
                        .execute(params![probe, t, json])?;
                }
                Op::Prune {
                    min_t,
                    longer,
                    runs_kept,
                } => {
                    let placeholders = vec!["?"; longer.len()].join(",");
                    let sql = format!(
                        "DELETE FROM samples WHERE t < ? AND series_id IN (
                             SELECT id FROM series WHERE name NOT IN ({placeholders}))"
                    );
                    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&min_t];
                    args.extend(longer.iter().map(|(n, _)| n as &dyn rusqlite::ToSql));
                    tx.execute(&sql, args.as_slice())?;
                    for (name, min_t) in &longer {
                        tx.execute(
                            "DELETE FROM samples WHERE t < ?1 AND series_id IN (
                                 SELECT id FROM series WHERE name = ?2)",
                            params![min_t, name],
                        )?;
                    }
                    tx.execute(
                        "DELETE FROM runs WHERE id IN (
                             SELECT id FROM (
                                 SELECT id, ROW_NUMBER() OVER (PARTITION BY probe ORDER BY t DESC) AS n
                                 FROM runs
                             ) WHERE n > ?
                         )",
                        [runs_kept as i64],
                    )?;
                    tx.execute(
                        "DELETE FROM series WHERE id NOT IN (SELECT DISTINCT series_id FROM samples)",
                        [],
                    )?;
                    ids.clear();
                }
                Op::Flush(done) => waiters.push(done),
            }
        }
        tx.commit()
    })();
    if let Err(e) = result {
        tracing::error!(error = %e, "state database write failed; this batch is lost");
    }
    for w in waiters {
        let _ = w.send(());
    }
}
