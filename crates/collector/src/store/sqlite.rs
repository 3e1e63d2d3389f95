//! The embedded store: one SQLite file in WAL mode, written by one dedicated thread that commits
//! whatever is queued as one transaction (group commit) with `synchronous=FULL`, then acknowledges.
//! That transaction appends raw rows only; their rollups wait in memory (`unflushed`) and are
//! flushed in small transactions about once a minute (`sqlite_flush`), so a report costs the
//! same however many networks a minute has.

use super::sqlite_read::{self, Readers};
use super::unflushed::Unflushed;
use super::{
    sqlite_flush, sqlite_incidents, Ack, Incident, IncidentFilter, Observation, RollupFilter, Store, StoreError, StoreStats, Stored,
    SubmitError,
};
use crate::rollup::{CellRollup, RollupDelta};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};
use vantage_protocol::ReportId;

/// Most reports committed in one transaction. Every commit writes each page it dirtied to the WAL
/// once, so a deep queue is drained in few large transactions (an idle writer still commits a
/// lone report at once).
const MAX_BATCH: usize = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observations (
    ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
    site TEXT NOT NULL, platform TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
    ms REAL NOT NULL, control_outcome TEXT NOT NULL, control_ms REAL NOT NULL,
    browser_family TEXT, net_type TEXT, report_id TEXT NOT NULL, late INTEGER NOT NULL DEFAULT 0, status INTEGER
);
-- Stores created before had UNIQUE (report_id, target) on observations, a random-order index
-- every row paid for: the reports primary key already decides duplicates (a repeated target
-- within one report is dropped before the insert). Their index stays; it changes nothing.
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
-- Per-country rollups, kept for the old `Store::series` fast path that nothing reads any more.
DROP TABLE IF EXISTS rollup_country;
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
    Report { id: ReportId, rows: Vec<Observation>, reply: oneshot::Sender<Result<Stored, Arc<StoreError>>> },
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
    /// Rollups of committed rows not yet in the rollup tables: shared by the writer (adds,
    /// flushes), import (adds) and every rollup read (adds them in).
    unflushed: Arc<Unflushed>,
}

pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir { dir: dir.to_path_buf(), source })?;
    }
    let err = |source| StoreError::Open { path: path.to_path_buf(), source };
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

/// Adds `observations.NAME` with `DECLARATION` to a store written before the column existed:
/// `late` (every older row was on time, default 0) and `status` (no older row is an
/// `http_error`, so NULL for all).
fn add_column(conn: &Connection, name: &str, declaration: &str) -> rusqlite::Result<()> {
    let has: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('observations') WHERE name = ?1)", [name], |r| r.get(0))?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE observations ADD COLUMN {name} {declaration}"))?;
    }
    Ok(())
}

/// Page cache of a writing connection, in KiB (a negative `cache_size` is KiB).
const WRITER_CACHE_KIB: i64 = -128 * 1024;

impl SqliteStore {
    /// Opens (creating parent directories, schema and indexes) and starts the writer.
    pub fn open(path: &Path, capacity: usize) -> Result<SqliteStore, StoreError> {
        let mut conn = connect(path)?;
        let schema = |step: String| move |source| StoreError::Schema { path: path.to_path_buf(), step, source };
        tune_writer(&conn).map_err(schema("tuning the writer's connection".into()))?;
        for (name, declaration) in [("late", "INTEGER NOT NULL DEFAULT 0"), ("status", "INTEGER")] {
            add_column(&conn, name, declaration).map_err(schema(format!("adding observations.{name}")))?;
        }
        let started = std::time::Instant::now();
        let recovered = conn.execute_batch(sqlite_flush::SCHEMA).and_then(|()| sqlite_flush::recover(&conn)).map_err(|e| {
            match StoreError::read("read")(e) {
                StoreError::Read { source, .. } => schema("rebuilding unflushed rollups from raw rows".into())(source),
                corrupt => corrupt,
            }
        })?;
        let entries = recovered.sealed.entries + recovered.growing.entries;
        if entries > 0 {
            tracing::info!(entries, ms = started.elapsed().as_millis() as u64, "unflushed rollups rebuilt from raw rows");
        }
        let unflushed = Arc::new(Unflushed::default());
        *unflushed.lock() = recovered;
        // Whatever was rebuilt goes to the tables before the first report is taken.
        sqlite_flush::step(&mut conn, &unflushed, true).map_err(schema("flushing rebuilt rollups".into()))?;
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
        let (c, u) = (counters.clone(), unflushed.clone());
        let writer = std::thread::Builder::new()
            .name("vantage-sqlite-writer".into())
            .spawn(move || write_loop(conn, rx, &c, &u))
            .map_err(|e| StoreError::Thread(format!("cannot start the sqlite writer: {e}")))?;
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
            unflushed,
        })
    }

    /// The writer's unflushed rollups (tests drive flushes through them).
    #[cfg(test)]
    pub(super) fn unflushed(&self) -> &Unflushed {
        &self.unflushed
    }

    /// Stops the writer the way a crash would: nothing unflushed is written.
    #[cfg(test)]
    pub(super) fn crash(self) {
        let SqliteStore { tx, writer, .. } = self;
        drop(tx);
        let handle = writer.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = handle {
            w.join().expect("writer");
        }
    }

    /// Deletes raw observations older than `days` now and every hour while the store is open, on
    /// a thread and connection of its own, a small batch per transaction (rollups are kept).
    pub(crate) fn start_retention(&self, days: u32) {
        let (path, alive) = (self.path.clone(), Arc::downgrade(&self.alive));
        let spawned = std::thread::Builder::new().name("vantage-sqlite-retention".into()).spawn(move || {
            while alive.upgrade().is_some() {
                let cutoff = time::OffsetDateTime::now_utc().unix_timestamp() - i64::from(days) * 86_400;
                match connect(&path).and_then(|mut c| delete_raw_before(&mut c, cutoff).map_err(StoreError::write("retention"))) {
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
pub(super) fn delete_raw_before(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<u64> {
    let mut total = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = {
            // Never the row with the highest rowid: SQLite would hand its rowid out again, below
            // `rollup_flushed.through`, and a crash would then lose that row's rollups.
            let mut old = tx.prepare_cached(
                "SELECT rowid, report_id FROM observations WHERE ts < ?1 AND rowid < (SELECT max(rowid) FROM observations) LIMIT ?2",
            )?;
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

/// How long an idle writer waits for a report before it looks at the unflushed rollups again.
const IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a busy writer lets a flush seal the growing generation: each time it first waits
/// for the rollup thread to catch up (a pipeline bubble), so not after every batch.
const SEAL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The answer channel of one queued report.
type Reply = oneshot::Sender<Result<Stored, Arc<StoreError>>>;

/// What the writer hands the rollup thread.
enum Handoff {
    /// A committed batch: add its rollups to memory, then answer.
    Committed {
        /// The batch's reports (id, rows), in queue order.
        reports: Vec<(ReportId, Vec<Observation>)>,
        /// What the commit did with each report.
        outcomes: Vec<Stored>,
        /// One per report, answered once its rollups are in memory.
        replies: Vec<Reply>,
        /// Highest observation rowid of the commit: the batch's rows are all at or below it.
        through: i64,
    },
    /// Answered once every batch handed over before it is in memory.
    Barrier(std::sync::mpsc::SyncSender<()>),
}

/// The writer: SQLite commits on this thread, and beside it a rollup thread that adds each
/// committed batch's rollups to memory and answers its reports. Once the commit is on disk the
/// rest is memory work, so the writer starts on the next batch while the previous one is rolled
/// up: the serial part of ingest is the commit alone (BENCHMARKS.md, issue 10). The rollup thread
/// takes batches in commit order, and a seal waits for it (`Handoff::Barrier`), so a flush never
/// marks a committed row flushed before its rollups are in memory.
fn write_loop(conn: Connection, rx: mpsc::Receiver<Job>, counters: &(AtomicU64, AtomicU64, AtomicU64), unflushed: &Unflushed) {
    // One batch waits while the rollup thread works on another: the writer runs at most one ahead.
    let (to_rollups, from_writer) = std::sync::mpsc::sync_channel::<Handoff>(1);
    std::thread::scope(|scope| {
        let rollups = std::thread::Builder::new()
            .name("vantage-sqlite-rollups".into())
            .spawn_scoped(scope, move || roll_up(from_writer, counters, unflushed));
        match rollups {
            Ok(_) => commit_loop(conn, rx, &to_rollups, unflushed),
            Err(e) => tracing::error!(error = %e, "cannot start the sqlite rollup thread; the writer stops"),
        }
        drop(to_rollups);
    });
}

/// The rollup thread: adds each committed batch to the unflushed rollups, counts it, answers.
fn roll_up(rx: std::sync::mpsc::Receiver<Handoff>, counters: &(AtomicU64, AtomicU64, AtomicU64), unflushed: &Unflushed) {
    for handoff in rx {
        match handoff {
            Handoff::Committed { reports, outcomes, replies, through } => {
                let mut delta = RollupDelta::default();
                let mut rows = 0;
                for ((_, obs), outcome) in reports.iter().zip(&outcomes) {
                    if *outcome == Stored::New {
                        let new = distinct_targets(obs);
                        rows += new.len() as u64;
                        delta.add(&new);
                    }
                }
                // Before the answers: a client that reads after its 2xx sees its report counted.
                unflushed.add(delta, through);
                counters.0.fetch_add(1, Ordering::Relaxed);
                counters.1.fetch_add(rows, Ordering::Relaxed);
                counters.2.fetch_add(super::late_rows(&reports, &outcomes), Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Handoff::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Waits until the rollup thread has added every batch handed to it so far.
fn barrier(to_rollups: &std::sync::mpsc::SyncSender<Handoff>) {
    let (done, wait) = std::sync::mpsc::sync_channel(1);
    if to_rollups.send(Handoff::Barrier(done)).is_ok() {
        let _ = wait.recv();
    }
}

fn commit_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    to_rollups: &std::sync::mpsc::SyncSender<Handoff>,
    unflushed: &Unflushed,
) {
    // A runtime of the writer's own, only to wait on the queue with a timeout.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => return tracing::error!(error = %e, "the sqlite writer cannot start its timer; it stops"),
    };
    let mut last_seal_check = std::time::Instant::now();
    loop {
        // While a sealed generation drains, the queue is only polled between its chunks.
        let draining = !unflushed.lock().sealed.cells.is_empty();
        let wait = if draining { std::time::Duration::ZERO } else { IDLE_TICK };
        let first = match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
            Ok(Some(job)) => Some(job),
            Ok(None) => break,
            Err(_) => None,
        };
        let idle = first.is_none();
        let stop = first.is_some_and(|job| write_batch(&mut conn, job, &mut rx, to_rollups));
        // A draining generation only writes its next chunk (no seal, so no wait); a seal waits
        // for the rollup thread, so a busy writer looks for one only every SEAL_CHECK_EVERY.
        let may_seal = stop || (!draining && (idle || last_seal_check.elapsed() >= SEAL_CHECK_EVERY));
        if may_seal {
            barrier(to_rollups);
            last_seal_check = std::time::Instant::now();
        }
        if draining || may_seal {
            if let Err(e) = sqlite_flush::step(&mut conn, unflushed, stop) {
                tracing::error!(error = %e, "sqlite rollup flush failed; retried on the next step (the rollups stay in memory)");
            }
        }
        if stop {
            break;
        }
    }
}

/// Commits `first` and whatever else is queued, then hands the batch to the rollup thread;
/// returns whether a shutdown was asked for.
fn write_batch(conn: &mut Connection, first: Job, rx: &mut mpsc::Receiver<Job>, to_rollups: &std::sync::mpsc::SyncSender<Handoff>) -> bool {
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
    if reports.is_empty() {
        return stop;
    }
    match commit(conn, &reports) {
        Ok(outcomes) => {
            let through = conn.last_insert_rowid();
            if let Err(std::sync::mpsc::SendError(Handoff::Committed { replies, .. })) =
                to_rollups.send(Handoff::Committed { reports, outcomes, replies, through })
            {
                // Only if the rollup thread died: committed, but not counted until a restart
                // rebuilds the rollups from the raw rows, so no 2xx.
                for reply in replies {
                    let _ = reply.send(Err(Arc::new(StoreError::Thread("the sqlite rollup thread stopped".into()))));
                }
            }
        }
        Err(e) => {
            let e = Arc::new(StoreError::write("commit")(e));
            tracing::error!(error = %e, reports = reports.len(), "sqlite commit failed");
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
    stop
}

/// A report's rows, a repeated target once (its first row): what is inserted and rolled up.
fn distinct_targets(obs: &[Observation]) -> Vec<&Observation> {
    let mut targets = HashSet::with_capacity(obs.len());
    obs.iter().filter(|o| targets.insert(o.target.as_str())).collect()
}

/// One transaction for the whole batch, raw rows only: duplicates are decided here, against
/// committed reports and earlier reports of the same batch. Returns each report's outcome (the
/// rollup thread adds the new ones' rollups once committed).
fn commit(conn: &mut Connection, reports: &[(ReportId, Vec<Observation>)]) -> rusqlite::Result<Vec<Stored>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(reports.len());
    {
        let mut new_report = tx.prepare_cached("INSERT OR IGNORE INTO reports (id) VALUES (?1)")?;
        let mut insert = tx.prepare_cached(INSERT_OBSERVATION)?;
        for (id, obs) in reports {
            if new_report.execute([id.as_str()])? == 0 {
                outcomes.push(Stored::Duplicate);
                continue;
            }
            for o in distinct_targets(obs) {
                insert_observation(&mut insert, o)?;
            }
            outcomes.push(Stored::New);
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

const INSERT_OBSERVATION: &str = "INSERT OR IGNORE INTO observations (ts, country, asn, network, site, platform, target,
    outcome, ms, control_outcome, control_ms, browser_family, net_type, report_id, late, status)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

fn insert_observation(stmt: &mut rusqlite::CachedStatement<'_>, o: &Observation) -> rusqlite::Result<usize> {
    stmt.execute(params![
        o.ts,
        o.country.as_str(),
        o.asn,
        o.network,
        o.site.as_str(),
        o.platform.as_str(),
        o.target.as_str(),
        o.outcome.as_str(),
        o.ms,
        o.control_outcome.as_str(),
        o.control_ms,
        o.browser_family,
        o.net_type,
        o.report_id.as_str(),
        o.late,
        o.status
    ])
}

impl Store for SqliteStore {
    fn submit(&self, report_id: ReportId, rows: Vec<Observation>) -> Result<Ack, SubmitError> {
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

    fn import(&self, rows: &[Observation]) -> Result<usize, StoreError> {
        let mut conn = connect(&self.path)?;
        let err = StoreError::write("import");
        tune_writer(&conn).map_err(&err)?;
        // Commit and hand-over to the unflushed rollups under one lock: the writer cannot seal a
        // generation in between and mark these rows flushed before their rollups are in it.
        let mut unflushed = self.unflushed.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(&err)?;
        let mut new = Vec::new();
        {
            let mut report = tx.prepare_cached("INSERT OR IGNORE INTO reports (id) VALUES (?1)").map_err(&err)?;
            let mut insert = tx.prepare_cached(INSERT_OBSERVATION).map_err(&err)?;
            // Reports new to the store in this import, and their (id, target) pairs written: a
            // report already stored is skipped whole, a repeated pair once.
            let (mut fresh, mut written) = (HashSet::new(), HashSet::new());
            for o in rows {
                let id = o.report_id;
                let is_new = fresh.contains(&id) || (report.execute([id.as_str()]).map_err(&err)? > 0 && fresh.insert(id));
                if is_new && written.insert((id, &o.target)) && insert_observation(&mut insert, o).map_err(&err)? > 0 {
                    new.push(o);
                }
            }
        }
        tx.commit().map_err(&err)?;
        let mut delta = RollupDelta::default();
        delta.add(&new);
        unflushed.add(delta, conn.last_insert_rowid());
        Ok(new.len())
    }

    fn scan_observations(&self, from: Option<i64>, to: Option<i64>, each: &mut super::Sink<'_, Observation>) -> Result<(), StoreError> {
        super::sqlite_export::scan_observations(&self.path, from, to, each)
    }

    fn published_cache(&self) -> Option<&super::publish::PublishedCache> {
        Some(&self.published)
    }

    fn scan_rollups(&self, filter: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> Result<(), StoreError> {
        self.readers.with(|conn| sqlite_read::scan_rollups(conn, filter, &self.unflushed, each).map_err(StoreError::read("read")))
    }

    fn rollup_bounds(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.readers.with(|conn| sqlite_read::rollup_bounds(conn, &self.unflushed).map_err(StoreError::read("read")))
    }

    fn upsert_incidents(&self, incidents: &[Incident]) -> Result<(), StoreError> {
        self.readers.with(|conn| sqlite_incidents::upsert(conn, incidents).map_err(StoreError::write("incidents")))
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        self.readers.with(|conn| sqlite_incidents::read(conn, filter))
    }

    fn close(&self) -> Result<(), StoreError> {
        let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else { return Ok(()) };
        // FIFO: everything queued before the shutdown job is committed first.
        let _ = self.tx.blocking_send(Job::Shutdown);
        writer.join().map_err(|_| StoreError::Thread("the sqlite writer panicked".into()))
    }
}
