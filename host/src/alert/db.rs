//! `state_dir/alerts.db`: the outbox (a notification is written here before it is sent and
//! removed only once the receiver accepted it), alert state per rule group, what each
//! notifier was told, and the bounded alert history.
//!
//! Everything one evaluation decides is written in one transaction ([`Commit`]), so after a
//! crash either the new alert state and its notifications are both on disk or neither is.
//! WAL with `synchronous=NORMAL`: a killed process loses nothing committed; a power cut may
//! lose the last transactions, which the next evaluation redoes.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// History rows kept (oldest dropped first).
pub const HISTORY_KEPT: i64 = 10_000;

/// Errors of the alerts database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// It could not be opened or created.
    #[error("{path}: cannot open the alerts database: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("alerts database: {0}")]
    Query(#[from] rusqlite::Error),
}

/// A notification to queue.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Notifier name.
    pub notifier: String,
    /// Which of its URLs (hash of the URL: URLs may carry secrets and are not stored).
    pub target: String,
    /// The body, without secrets.
    pub body: String,
    /// When it was decided (ms).
    pub created_at: i64,
}

/// What a notifier was told: ((notifier, fingerprint), sent at ms).
pub type NotifiedEntry = ((String, String), i64);

/// A queue's contents on disk: (notifier, target, [(id, created_at)]).
pub type QueueContents = (String, String, Vec<(i64, i64)>);

/// A queued notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Row id: increasing, so the queue order.
    pub id: i64,
    /// The body.
    pub body: String,
    /// When it was decided (ms).
    pub created_at: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this (ms).
    pub next_at: i64,
}

/// One alert state change, as stored and served.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRow {
    /// Row id.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// `file:group` of the rule.
    pub group: String,
    /// The alerting rule.
    pub rule: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels (JSON object).
    pub labels: String,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// The value that drove it (NaN when it went away).
    pub value: f64,
    /// The probe's last run at that moment (JSON), when the alert names a probe.
    pub probe_run: Option<String>,
}

/// Everything one evaluation writes.
#[derive(Debug, Default)]
pub struct Commit {
    /// Notifications to queue.
    pub outbox: Vec<NewItem>,
    /// New state of a group: ((file, name), JSON).
    pub group_state: Option<((String, String), String)>,
    /// What notifiers were told: ((notifier, fingerprint), Some(sent_at) or None = forget).
    pub notified: Vec<((String, String), Option<i64>)>,
    /// State changes (`id` ignored).
    pub history: Vec<HistoryRow>,
}

impl Commit {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty()
            && self.group_state.is_none()
            && self.notified.is_empty()
            && self.history.is_empty()
    }
}

/// Filters of [`AlertDb::history`].
#[derive(Debug, Default, Clone)]
pub struct HistoryQuery {
    /// Only this alert name.
    pub alertname: Option<String>,
    /// Only this fingerprint.
    pub fingerprint: Option<String>,
    /// Only changes at or after this (ms).
    pub since: Option<i64>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The alerts database.
pub struct AlertDb {
    conn: Mutex<Connection>,
}

impl AlertDb {
    /// Open (creating) `dir/alerts.db`.
    pub fn open(dir: &Path) -> Result<AlertDb, DbError> {
        let path = dir.join("alerts.db");
        let open = || -> Result<Connection, rusqlite::Error> {
            std::fs::create_dir_all(dir)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    notifier TEXT NOT NULL,
                    target TEXT NOT NULL,
                    body TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_at INTEGER NOT NULL,
                    last_error TEXT
                 );
                 CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (notifier, target, id);
                 CREATE TABLE IF NOT EXISTS group_state (
                    file TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
                    PRIMARY KEY (file, name)
                 );
                 CREATE TABLE IF NOT EXISTS notified (
                    notifier TEXT NOT NULL, fingerprint TEXT NOT NULL, sent_at INTEGER NOT NULL,
                    PRIMARY KEY (notifier, fingerprint)
                 );
                 CREATE TABLE IF NOT EXISTS history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    grp TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    labels TEXT NOT NULL,
                    from_state TEXT NOT NULL,
                    to_state TEXT NOT NULL,
                    value REAL,
                    probe_run TEXT
                 );
                 CREATE INDEX IF NOT EXISTS history_rule ON history (rule, id);",
            )?;
            Ok(conn)
        };
        let conn = open().map_err(|source| DbError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(AlertDb {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write one evaluation's decisions atomically. Returns the outbox ids, in order.
    pub fn commit(&self, c: &Commit) -> Result<Vec<i64>, DbError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(c.outbox.len());
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO outbox (notifier, target, body, created_at, next_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?;
            for i in &c.outbox {
                ins.execute(params![i.notifier, i.target, i.body, i.created_at])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        if let Some(((file, name), state)) = &c.group_state {
            tx.execute(
                "INSERT INTO group_state (file, name, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (file, name) DO UPDATE SET state = excluded.state",
                params![file, name, state],
            )?;
        }
        for ((notifier, fp), sent) in &c.notified {
            match sent {
                Some(t) => tx.execute(
                    "INSERT INTO notified (notifier, fingerprint, sent_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (notifier, fingerprint) DO UPDATE SET sent_at = excluded.sent_at",
                    params![notifier, fp, t],
                )?,
                None => tx.execute(
                    "DELETE FROM notified WHERE notifier = ?1 AND fingerprint = ?2",
                    params![notifier, fp],
                )?,
            };
        }
        if !c.history.is_empty() {
            let mut ins = tx.prepare_cached(
                "INSERT INTO history (at, grp, rule, fingerprint, labels, from_state, to_state,
                                      value, probe_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for h in &c.history {
                let value = if h.value.is_nan() {
                    None
                } else {
                    Some(h.value)
                };
                ins.execute(params![
                    h.at,
                    h.group,
                    h.rule,
                    h.fingerprint,
                    h.labels,
                    h.from,
                    h.to,
                    value,
                    h.probe_run
                ])?;
            }
            drop(ins);
            tx.execute(
                "DELETE FROM history WHERE id <= (SELECT max(id) FROM history) - ?1",
                params![HISTORY_KEPT],
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The saved state of a group.
    pub fn group_state(&self, file: &str, name: &str) -> Result<Option<String>, DbError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state FROM group_state WHERE file = ?1 AND name = ?2",
                params![file, name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Everything notifiers were told about alerts still firing.
    pub fn notified(&self) -> Result<Vec<NotifiedEntry>, DbError> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT notifier, fingerprint, sent_at FROM notified")?;
        let rows = st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The first `limit` queued notifications of one queue, in order.
    pub fn head(&self, notifier: &str, target: &str, limit: usize) -> Result<Vec<Item>, DbError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT id, body, created_at, attempts, next_at FROM outbox
             WHERE notifier = ?1 AND target = ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = st.query_map(params![notifier, target, limit as i64], |r| {
            Ok(Item {
                id: r.get(0)?,
                body: r.get(1)?,
                created_at: r.get(2)?,
                attempts: r.get(3)?,
                next_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Remove delivered (or given up) notifications.
    pub fn delete(&self, ids: &[i64]) -> Result<(), DbError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
            for id in ids {
                del.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Record a failed attempt: try again at `next_at`.
    pub fn retry(&self, ids: &[i64], next_at: i64, error: &str) -> Result<(), DbError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut up = tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?;
            for id in ids {
                up.execute(params![id, next_at, error])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every queue with something in it: (notifier, target, [(id, created_at)]).
    pub fn queues(&self) -> Result<Vec<QueueContents>, DbError> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT notifier, target, id, created_at FROM outbox ORDER BY id")?;
        let mut out: Vec<QueueContents> = Vec::new();
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (n, t, id, created) = row?;
            match out.iter_mut().find(|(a, b, _)| *a == n && *b == t) {
                Some(q) => q.2.push((id, created)),
                None => out.push((n, t, vec![(id, created)])),
            }
        }
        Ok(out)
    }

    /// Drop a whole queue (its notifier or URL is gone from the config). Returns how many.
    pub fn drop_queue(&self, notifier: &str, target: &str) -> Result<usize, DbError> {
        Ok(self.conn().execute(
            "DELETE FROM outbox WHERE notifier = ?1 AND target = ?2",
            params![notifier, target],
        )?)
    }

    /// Alert state changes, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, DbError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT id, at, grp, rule, fingerprint, labels, from_state, to_state, value, probe_run
             FROM history
             WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR fingerprint = ?2)
               AND (?3 IS NULL OR at >= ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![q.alertname, q.fingerprint, q.since, q.limit as i64],
            |r| {
                Ok(HistoryRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    group: r.get(2)?,
                    rule: r.get(3)?,
                    fingerprint: r.get(4)?,
                    labels: r.get(5)?,
                    from: r.get(6)?,
                    to: r.get(7)?,
                    value: r.get::<_, Option<f64>>(8)?.unwrap_or(f64::NAN),
                    probe_run: r.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigil-alertdb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn item(n: &str, body: &str, t: i64) -> NewItem {
        NewItem {
            notifier: n.into(),
            target: "u1".into(),
            body: body.into(),
            created_at: t,
        }
    }

    #[test]
    fn the_outbox_keeps_order_and_survives_reopening() {
        let dir = tmp("outbox");
        let db = AlertDb::open(&dir).unwrap();
        let ids = db
            .commit(&Commit {
                outbox: vec![
                    item("hook", "a", 1),
                    item("hook", "b", 2),
                    item("am", "c", 3),
                ],
                group_state: Some((("r.yml".into(), "g".into()), "{}".into())),
                notified: vec![(("hook".into(), "fp1".into()), Some(1))],
                history: vec![],
            })
            .unwrap();
        assert_eq!(ids.len(), 3);
        db.retry(&ids[..1], 500, "connection refused").unwrap();
        drop(db);
        let db = AlertDb::open(&dir).unwrap();
        let head = db.head("hook", "u1", 10).unwrap();
        assert_eq!(
            head.iter().map(|i| i.body.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!((head[0].attempts, head[0].next_at), (1, 500));
        db.delete(&[head[0].id]).unwrap();
        assert_eq!(db.head("hook", "u1", 10).unwrap().len(), 1);
        assert_eq!(db.queues().unwrap().len(), 2);
        assert_eq!(db.drop_queue("am", "u1").unwrap(), 1);
        assert_eq!(db.group_state("r.yml", "g").unwrap().as_deref(), Some("{}"));
        assert_eq!(
            db.notified().unwrap(),
            vec![(("hook".into(), "fp1".into()), 1)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn history_is_bounded_and_filtered() {
        let dir = tmp("history");
        let db = AlertDb::open(&dir).unwrap();
        let row = |i: i64, rule: &str| HistoryRow {
            id: 0,
            at: i,
            group: "r.yml:g".into(),
            rule: rule.into(),
            fingerprint: format!("fp{}", i % 2),
            labels: "{}".into(),
            from: "pending".into(),
            to: "firing".into(),
            value: f64::NAN,
            probe_run: None,
        };
        let rows: Vec<_> = (0..HISTORY_KEPT + 5)
            .map(|i| row(i, if i % 2 == 0 { "A" } else { "B" }))
            .collect();
        db.commit(&Commit {
            history: rows,
            ..Commit::default()
        })
        .unwrap();
        let all = db
            .history(&HistoryQuery {
                limit: usize::MAX >> 1,
                ..HistoryQuery::default()
            })
            .unwrap();
        assert_eq!(all.len() as i64, HISTORY_KEPT);
        assert_eq!(all[0].at, HISTORY_KEPT + 4, "newest first");
        assert!(all[0].value.is_nan());
        let a = db
            .history(&HistoryQuery {
                alertname: Some("A".into()),
                since: Some(HISTORY_KEPT),
                limit: 100,
                ..HistoryQuery::default()
            })
            .unwrap();
        assert!(a.iter().all(|r| r.rule == "A" && r.at >= HISTORY_KEPT));
        assert_eq!(a.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
