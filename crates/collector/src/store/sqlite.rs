//! The embedded store: one SQLite file in WAL mode, written by one dedicated thread that commits
//! whatever is queued as one transaction (group commit) with `synchronous=FULL`, then acknowledges.

use super::sqlite_read::{self, Readers};
use super::{Ack, IncidentFilter, Observation, RollupFilter, Store, StoreStats, Stored, StoredIncident, SubmitError};
use crate::rollup::{CellRollup, RollupDelta};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Most reports committed in one transaction. Every commit writes each page it dirtied to the WAL
/// once, and a batch's rollup upserts touch pages all over the rollup tables, so a deep queue is
/// drained in few large transactions (an idle writer still commits a lone report at once).
const MAX_BATCH: usize = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observations (
    ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
    site TEXT NOT NULL, platform TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
    ms REAL NOT NULL, control_outcome TEXT NOT NULL, control_ms REAL NOT NULL,
    browser_family TEXT, net_type TEXT, report_id TEXT NOT NULL, late INTEGER NOT NULL DEFAULT 0, status INTEGER,
    UNIQUE (report_id, target)
);
-- No query reads observations by (platform, country): every read goes to the rollups.
DROP INDEX IF EXISTS observations_platform_country_ts;
CREATE INDEX IF NOT EXISTS observations_ts ON observations (ts);
CREATE TABLE IF NOT EXISTS rollup_nets (
    minute INTEGER NOT NULL, platform TEXT NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL,
    network INTEGER NOT NULL, reports INTEGER NOT NULL, ok INTEGER NOT NULL, error INTEGER NOT NULL,
    timeout INTEGER NOT NULL, blocked INTEGER NOT NULL, excluded_control INTEGER NOT NULL,
    log_ms_sum REAL NOT NULL,
    PRIMARY KEY (minute, platform, country, asn, network)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_nets_cell ON rollup_nets (platform, country, minute);
CREATE TABLE IF NOT EXISTS rollup_hist (
    minute INTEGER NOT NULL, platform TEXT NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL,
    kind INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (minute, platform, country, asn, kind, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_hist_cell ON rollup_hist (platform, country, minute);
CREATE TABLE IF NOT EXISTS rollup_country (
    platform TEXT NOT NULL, country TEXT NOT NULL, minute INTEGER NOT NULL,
    reports INTEGER NOT NULL, ok INTEGER NOT NULL, error INTEGER NOT NULL, timeout INTEGER NOT NULL,
    blocked INTEGER NOT NULL, excluded_control INTEGER NOT NULL, networks INTEGER NOT NULL, times BLOB NOT NULL,
    PRIMARY KEY (platform, country, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, country TEXT NOT NULL, asn INTEGER,
    started INTEGER NOT NULL, ended INTEGER, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_started ON incidents (started);
";

/// Raw rows deleted per retention transaction: small, so the writer never waits long for the lock.
const RETENTION_BATCH: usize = 1000;

/// How often the retention pass runs.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

enum Job {
    Report { id: String, rows: Vec<Observation>, reply: oneshot::Sender<Result<Stored, String>> },
    Shutdown,
}

/// The SQLite store and its writer thread.
pub struct SqliteStore {
    /// Database file; import/export open their own connections to it.
    path: PathBuf,
    /// Bounded queue to the writer thread.
    tx: mpsc::Sender<Job>,
    /// Queue capacity, to report its depth.
    capacity: usize,
    /// The writer thread, joined by `close`.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Transactions and rows committed by the writer.
    counters: Arc<(AtomicU64, AtomicU64, AtomicU64)>,
    /// Read-only connections reused by the read API.
    readers: Readers,
    /// Held while the store is open; the retention thread stops once it is gone.
    alive: Arc<()>,
    /// Settled buckets' published numbers.
    published: super::publish::PublishedCache,
}

pub(super) fn connect(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}; create it writable for the user vantage runs as, or choose another place with --store sqlite:PATH",
                dir.display()
            )
        })?;
    }
    let err = |e: rusqlite::Error| {
        format!(
            "cannot open the SQLite store {}: {e}; the file and its directory must be writable by the user vantage runs as (or choose another with --store sqlite:PATH)",
            path.display()
        )
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    Ok(conn)
}

/// Settings of a connection that writes (the writer thread, import): a page cache large enough
/// to hold the rollup tables' hot pages (every batch touches pages all over them, and with the
/// default 2 MB cache each upsert re-read its pages from the OS) and temporary b-trees in memory.
/// Neither changes durability: still WAL with `synchronous=FULL`, acknowledged after the commit.
/// (Checkpoints stay at SQLite's default of 1,000 pages: larger ones raised the store benchmark
/// but make the writer's occasional checkpoint stall, and so the ack latency tail, longer.)
fn tune_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// A store written before late reports were set apart: its rows are all on time (default 0).
fn add_late_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('observations') WHERE name = 'late')", [], |r| r.get(0))?;
    if !has {
        conn.execute_batch("ALTER TABLE observations ADD COLUMN late INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// A store written before cors targets existed has no `http_error` rows: `status` is NULL for all.
fn add_status_column(conn: &Connection) -> rusqlite::Result<()> {
    let mut columns = conn.prepare("SELECT name FROM pragma_table_info('observations')")?;
    if !columns.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?.iter().any(|c| c == "status") {
        conn.execute_batch("ALTER TABLE observations ADD COLUMN status INTEGER")?;
    }
    Ok(())
}

/// Page cache of a writing connection, in KiB (a negative `cache_size` is KiB).
const WRITER_CACHE_KIB: i64 = -128 * 1024;

impl SqliteStore {
    /// Opens (creating parent directories, schema and indexes) and starts the writer.
    pub fn open(path: &Path, capacity: usize) -> Result<SqliteStore, String> {
        let mut conn = connect(path)?;
        tune_writer(&conn).map_err(|e| format!("sqlite {}: {e}", path.display()))?;
        add_late_column(&conn).map_err(|e| format!("sqlite {}: adding observations.late: {e}", path.display()))?;
        add_status_column(&conn).map_err(|e| format!("sqlite {}: adding observations.status: {e}", path.display()))?;
        // A store written before `rollup_country` existed: fill it once from the other rollups.
        let started = std::time::Instant::now();
        let backfilled =
            sqlite_read::backfill_country(&mut conn).map_err(|e| format!("sqlite {}: backfilling rollup_country: {e}", path.display()))?;
        if let Some(rows) = backfilled {
            tracing::info!(rows, ms = started.elapsed().as_millis() as u64, "rollup_country backfilled from rollup_nets and rollup_hist");
        }
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
        let c = counters.clone();
        let writer = std::thread::Builder::new()
            .name("vantage-sqlite-writer".into())
            .spawn(move || write_loop(conn, rx, &c))
            .map_err(|e| format!("cannot start the sqlite writer: {e}"))?;
        let readers = Readers::new(path);
        Ok(SqliteStore {
            path: path.to_path_buf(),
            tx,
            capacity,
            writer: Mutex::new(Some(writer)),
            counters,
            readers,
            alive: Arc::new(()),
            published: Default::default(),
        })
    }

    /// Deletes raw observations older than `days` now and every hour while the store is open, on
    /// a thread and connection of its own, a small batch per transaction (rollups are kept).
    pub fn start_retention(&self, days: u32) {
        let (path, alive) = (self.path.clone(), Arc::downgrade(&self.alive));
        let spawned = std::thread::Builder::new().name("vantage-sqlite-retention".into()).spawn(move || {
            while alive.upgrade().is_some() {
                let cutoff = time::OffsetDateTime::now_utc().unix_timestamp() - i64::from(days) * 86_400;
                match connect(&path).and_then(|mut c| delete_raw_before(&mut c, cutoff).map_err(|e| e.to_string())) {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(rows, days, "sqlite retention deleted old raw observations"),
                    Err(e) => tracing::warn!(error = %e, "sqlite retention failed; retrying in an hour"),
                }
                let until = std::time::Instant::now() + RETENTION_EVERY;
                while std::time::Instant::now() < until && alive.upgrade().is_some() {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the sqlite retention thread; raw rows are kept");
        }
    }
}

/// Deletes raw observations with `ts < cutoff` (unix seconds) and their report ids, at most
/// [`RETENTION_BATCH`] rows a transaction with a pause between, so ingest is never held up for
/// long; returns the rows deleted. Report ids go with their rows: a report that old can no
/// longer arrive again (`age_s` is at most a day), so nothing is left to deduplicate against.
pub fn delete_raw_before(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<u64> {
    let mut total = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = {
            let mut old = tx.prepare_cached("SELECT rowid, report_id FROM observations WHERE ts < ?1 LIMIT ?2")?;
            let rows: Vec<(i64, String)> =
                old.query_map(params![cutoff, RETENTION_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            let mut row = tx.prepare_cached("DELETE FROM observations WHERE rowid = ?1")?;
            let mut report = tx.prepare_cached("DELETE FROM reports WHERE id = ?1")?;
            for (rowid, id) in &rows {
                row.execute([rowid])?;
                report.execute([id])?;
            }
            rows.len()
        };
        tx.commit()?;
        total += n as u64;
        if n < RETENTION_BATCH {
            return Ok(total);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn write_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>, counters: &(AtomicU64, AtomicU64, AtomicU64)) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::new();
        let mut reports = Vec::new();
        let mut stop = false;
        for job in batch {
            match job {
                Job::Report { id, rows, reply } => {
                    reports.push((id, rows));
                    replies.push(reply);
                }
                Job::Shutdown => stop = true,
            }
        }
        if !reports.is_empty() {
            match commit(&mut conn, &reports) {
                Ok((outcomes, rows)) => {
                    counters.0.fetch_add(1, Ordering::Relaxed);
                    counters.1.fetch_add(rows, Ordering::Relaxed);
                    counters.2.fetch_add(super::late_rows(&reports, &outcomes), Ordering::Relaxed);
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, reports = reports.len(), "sqlite commit failed");
                    for reply in replies {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
        }
        if stop {
            break;
        }
    }
}

/// One transaction for the whole batch: duplicates are decided here, against committed rows and
/// earlier reports of the same batch.
fn commit(conn: &mut Connection, reports: &[(String, Vec<Observation>)]) -> rusqlite::Result<(Vec<Stored>, u64)> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut rows = 0;
    let mut delta = RollupDelta::default();
    {
        let mut new_report = tx.prepare_cached("INSERT OR IGNORE INTO reports (id) VALUES (?1)")?;
        let mut insert = tx.prepare_cached(INSERT_OBSERVATION)?;
        for (id, obs) in reports {
            if new_report.execute([id])? == 0 {
                outcomes.push(Stored::Duplicate);
                continue;
            }
            let mut new = Vec::with_capacity(obs.len());
            for o in obs {
                if insert_observation(&mut insert, o)? > 0 {
                    new.push(o);
                }
            }
            rows += new.len() as u64;
            delta.add(&new);
            outcomes.push(Stored::New);
        }
    }
    sqlite_read::write_rollups(&tx, &delta)?;
    tx.commit()?;
    Ok((outcomes, rows))
}

const INSERT_OBSERVATION: &str = "INSERT OR IGNORE INTO observations (ts, country, asn, network, site, platform, target,
    outcome, ms, control_outcome, control_ms, browser_family, net_type, report_id, late, status)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

fn insert_observation(stmt: &mut rusqlite::CachedStatement<'_>, o: &Observation) -> rusqlite::Result<usize> {
    stmt.execute(params![
        o.ts,
        o.country,
        o.asn,
        o.network,
        o.site,
        o.platform,
        o.target,
        o.outcome,
        o.ms,
        o.control_outcome,
        o.control_ms,
        o.browser_family,
        o.net_type,
        o.report_id,
        o.late,
        o.status
    ])
}

impl Store for SqliteStore {
    fn submit(&self, report_id: String, rows: Vec<Observation>) -> Result<Ack, SubmitError> {
        let (reply, ack) = oneshot::channel();
        self.tx.try_send(Job::Report { id: report_id, rows, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::Full,
            mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
        })?;
        Ok(ack)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            queue_depth: self.capacity - self.tx.capacity(),
            batches: self.counters.0.load(Ordering::Relaxed),
            rows: self.counters.1.load(Ordering::Relaxed),
            late_rows: self.counters.2.load(Ordering::Relaxed),
        }
    }

    fn import(&self, rows: &[Observation]) -> Result<usize, String> {
        let mut conn = connect(&self.path)?;
        let err = |e: rusqlite::Error| format!("sqlite import: {e}");
        tune_writer(&conn).map_err(err)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(err)?;
        let mut new = Vec::new();
        {
            let mut report = tx.prepare_cached("INSERT OR IGNORE INTO reports (id) VALUES (?1)").map_err(err)?;
            let mut insert = tx.prepare_cached(INSERT_OBSERVATION).map_err(err)?;
            for o in rows {
                report.execute([&o.report_id]).map_err(err)?;
                if insert_observation(&mut insert, o).map_err(err)? > 0 {
                    new.push(o);
                }
            }
        }
        let mut delta = RollupDelta::default();
        delta.add(&new);
        sqlite_read::write_rollups(&tx, &delta).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(new.len())
    }

    fn scan_observations(&self, from: Option<i64>, to: Option<i64>, each: &mut super::Sink<'_, Observation>) -> Result<(), String> {
        super::sqlite_export::scan_observations(&self.path, from, to, each)
    }

    fn published_cache(&self) -> Option<&super::publish::PublishedCache> {
        Some(&self.published)
    }

    fn scan_rollups(&self, filter: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> Result<(), String> {
        self.readers.with(|conn| sqlite_read::scan_rollups(conn, filter, each))
    }

    fn series(&self, q: &super::SeriesQuery) -> Result<Vec<super::PointSums>, String> {
        if q.asn.is_some() {
            // One ASN's network rows are few: the cell-minute scan is fast enough.
            return super::series::from_rollups(self, q);
        }
        self.readers.with(|conn| sqlite_read::series(conn, q))
    }

    fn rollup_bounds(&self) -> Result<Option<(i64, i64)>, String> {
        self.readers.with(|conn| {
            conn.query_row("SELECT min(minute), max(minute) FROM rollup_nets", [], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
            })
        })
    }

    fn upsert_incidents(&self, incidents: &[StoredIncident]) -> Result<(), String> {
        self.readers.with(|conn| sqlite_read::upsert_incidents(conn, incidents))
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<StoredIncident>, String> {
        self.readers.with(|conn| sqlite_read::incidents(conn, filter))
    }

    fn close(&self) -> Result<(), String> {
        let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else { return Ok(()) };
        // FIFO: everything queued before the shutdown job is committed first.
        let _ = self.tx.blocking_send(Job::Shutdown);
        writer.join().map_err(|_| "the sqlite writer panicked".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::series::{from_rollups, SeriesQuery};

    /// Reports spread over 3 hours, 2 countries, 3 ASNs and networks shared between ASNs (a
    /// network hash can show up under two ASNs), every outcome and control failures.
    fn rows() -> Vec<Observation> {
        let mut out = Vec::new();
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for r in 0..3000u64 {
            let minute = 1_000_000 + next(180) as i64;
            let (country, asn, network) = (["PK", "IR"][next(2) as usize], next(3) as u32, next(40) as u32);
            for platform in ["x", "youtube"] {
                let outcome = ["ok", "ok", "error", "timeout", "blocked_by_client"][next(5) as usize];
                let control = if next(10) == 0 { "error" } else { "ok" };
                out.push(Observation {
                    ts: minute * 60 + next(60) as i64,
                    country: country.into(),
                    asn,
                    network,
                    site: "s".into(),
                    platform: platform.into(),
                    target: format!("{platform}.t"),
                    outcome: outcome.into(),
                    ms: 10.0 + next(5000) as f64,
                    control_outcome: control.into(),
                    control_ms: 50.0,
                    browser_family: None,
                    net_type: None,
                    report_id: format!("{r:032x}"),
                    late: false,
                    status: None,
                });
            }
        }
        out
    }

    fn queries() -> Vec<SeriesQuery> {
        let mut out = Vec::new();
        for (platform, country, asn) in [("x", "PK", None), ("youtube", "IR", None), ("x", "PK", Some(1)), ("x", "ZZ", None)] {
            for step in [1, 5, 60, 1440] {
                let (platform, country) = (platform.to_string(), country.to_string());
                out.push(SeriesQuery { platform, country, asn, from: 1_000_000 - 7, to: 1_000_000 + 185, step });
            }
        }
        out
    }

    #[test]
    fn series_fast_path_equals_the_cell_scan_before_and_after_a_backfill() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let all = rows();
        let store = SqliteStore::open(&path, 16).unwrap();
        // Several transactions, so rows are both created and updated.
        for chunk in all.chunks(777) {
            store.import(chunk).unwrap();
        }
        for (i, o) in all.iter().take(400).enumerate() {
            let mut o = o.clone();
            o.report_id = format!("live{i}");
            store.submit(o.report_id.clone(), vec![o]).unwrap().blocking_recv().unwrap().unwrap();
        }
        let answers: Vec<_> = queries().iter().map(|q| store.series(q).unwrap()).collect();
        for (q, a) in queries().iter().zip(&answers) {
            assert_eq!(a, &from_rollups(&store, q).unwrap(), "{q:?}");
        }
        assert!(answers[0].iter().any(|p| p.networks > 0 && p.ok > 0));
        store.close().unwrap();

        // A store from before rollup_country: the table is filled once at start-up.
        let conn = connect(&path).unwrap();
        conn.execute("DELETE FROM rollup_country", []).unwrap();
        drop(conn);
        let store = SqliteStore::open(&path, 16).unwrap();
        let after: Vec<_> = queries().iter().map(|q| store.series(q).unwrap()).collect();
        assert_eq!(after, answers);
        // And it keeps being maintained afterwards.
        let mut more = all[..200].to_vec();
        for (i, o) in more.iter_mut().enumerate() {
            o.report_id = format!("late{i}");
        }
        store.import(&more).unwrap();
        for q in queries() {
            assert_eq!(store.series(&q).unwrap(), from_rollups(&store, &q).unwrap(), "{q:?}");
        }
        store.close().unwrap();
    }
}
