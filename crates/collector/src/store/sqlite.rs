//! The embedded store: one SQLite file in WAL mode, written by one dedicated thread that commits
//! whatever is queued as one transaction (group commit) with `synchronous=FULL`, then acknowledges.
//! That transaction appends one raw row per report (`sqlite_raw`); their rollups wait in memory
//! (`unflushed`) and are flushed in small transactions about once a minute (`sqlite_flush`), so a
//! report costs the same however many networks a minute has.

use super::report_ids::{self, IdSet, Ids};
use super::sqlite_raw::{self, TargetCodes};
use super::sqlite_read::{self, Readers};
use super::unflushed::Unflushed;
use super::{
    sqlite_flush, sqlite_incidents, sqlite_migrate, Ack, Incident, IncidentFilter, Observation, RollupFilter, Store, StoreError,
    StoreStats, Stored, SubmitError,
};
use crate::rollup::CellRollup;
use rusqlite::{params, Connection};
use std::collections::HashMap;
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
-- Raw reports are in sqlite_raw's tables; a store from before them is migrated at open
-- (sqlite_migrate). No query reads raw rows by (platform, country): every read goes to the rollups.
DROP INDEX IF EXISTS observations_platform_country_ts;
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
    /// Ids of reports committed since the rollup flush mark: shared by the writer (decides
    /// duplicates with them, flushes them) and import (decides the same way).
    ids: Arc<Ids>,
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
    // A legacy store keeps its tables until `SqliteStore::open` migrates them.
    if !sqlite_migrate::is_legacy(&conn).map_err(err)? {
        conn.execute_batch(sqlite_raw::SCHEMA).map_err(err)?;
        conn.execute_batch(sqlite_raw::VIEWS).map_err(err)?;
    }
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

/// Page cache of a writing connection, in KiB (a negative `cache_size` is KiB).
const WRITER_CACHE_KIB: i64 = -128 * 1024;

impl SqliteStore {
    /// Opens (creating parent directories, schema and indexes) and starts the writer.
    pub fn open(path: &Path, capacity: usize) -> Result<SqliteStore, StoreError> {
        let mut conn = connect(path)?;
        let schema = |step: String| move |source| StoreError::Schema { path: path.to_path_buf(), step, source };
        tune_writer(&conn).map_err(schema("tuning the writer's connection".into()))?;
        let format: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(schema("reading the format".into()))?;
        if format > sqlite_raw::FORMAT {
            return Err(StoreError::NewerFormat { path: path.to_path_buf(), format, known: sqlite_raw::FORMAT });
        }
        let started = std::time::Instant::now();
        let moved = sqlite_migrate::migrate(&mut conn).map_err(schema("moving observations into reports".into()))?;
        if moved > 0 {
            tracing::info!(reports = moved, ms = started.elapsed().as_millis() as u64, "raw observations moved to one row per report");
        }
        let rebuilt = sqlite_migrate::drop_id_key(&mut conn).map_err(schema("moving report ids into report_ids".into()))?;
        if rebuilt > 0 {
            tracing::info!(reports = rebuilt, ms = started.elapsed().as_millis() as u64, "reports rebuilt without their id key (format 2)");
        }
        conn.pragma_update(None, "user_version", sqlite_raw::FORMAT).map_err(schema("recording the format".into()))?;
        let started = std::time::Instant::now();
        let recovered = conn.execute_batch(&sqlite_flush::schema("reports")).and_then(|()| sqlite_flush::recover(&conn)).map_err(|e| {
            match StoreError::read("read")(e) {
                StoreError::Read { source, .. } => schema("rebuilding unflushed rollups from raw rows".into())(source),
                corrupt => corrupt,
            }
        })?;
        let (recovered, recovered_ids) = recovered;
        let entries = recovered.sealed.entries + recovered.growing.entries;
        if entries > 0 {
            tracing::info!(entries, ms = started.elapsed().as_millis() as u64, "unflushed rollups rebuilt from raw rows");
        }
        let unflushed = Arc::new(Unflushed::default());
        *unflushed.lock() = recovered;
        let ids = Arc::new(Ids::default());
        *ids.lock() = recovered_ids;
        // Whatever was rebuilt goes to the tables before the first report is taken.
        sqlite_flush::step(&mut conn, &unflushed, &ids, true).map_err(schema("flushing rebuilt rollups".into()))?;
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
        let (c, u, i) = (counters.clone(), unflushed.clone(), ids.clone());
        let writer = std::thread::Builder::new()
            .name("vantage-sqlite-writer".into())
            .spawn(move || write_loop(conn, rx, &c, &u, &i))
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
            ids,
        })
    }

    /// The writer's unflushed rollups (tests drive flushes through them).
    #[cfg(test)]
    pub(super) fn unflushed(&self) -> &Unflushed {
        &self.unflushed
    }

    /// The writer's unflushed report ids (tests drive flushes through them).
    #[cfg(test)]
    pub(super) fn ids(&self) -> &Ids {
        &self.ids
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

    /// Deletes raw reports older than `days` now and every hour while the store is open, on
    /// a thread and connection of its own, a small batch per transaction (rollups are kept).
    pub(crate) fn start_retention(&self, days: u32) {
        let (path, alive) = (self.path.clone(), Arc::downgrade(&self.alive));
        let spawned = std::thread::Builder::new().name("vantage-sqlite-retention".into()).spawn(move || {
            while alive.upgrade().is_some() {
                let cutoff = time::OffsetDateTime::now_utc().unix_timestamp() - i64::from(days) * 86_400;
                match connect(&path).and_then(|mut c| delete_raw_before(&mut c, cutoff).map_err(StoreError::write("retention"))) {
                    Ok(0) => {}
                    Ok(reports) => tracing::info!(reports, days, "sqlite retention deleted old raw reports"),
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

/// Deletes raw reports with `ts < cutoff` (unix seconds), at most [`RETENTION_BATCH`] a
/// transaction with a pause between, so ingest is never held up for long; returns the reports
/// deleted. Their ids go with them: a report that old can no longer arrive again (`age_s` is at
/// most a day), so nothing is left to deduplicate against: they leave `report_ids` in the same
/// transaction.
pub(super) fn delete_raw_before(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<u64> {
    let mut total = 0;
    loop {
        let tx = conn.transaction()?;
        // Never the row with the highest rowid: SQLite would hand its rowid out again, below
        // `rollup_flushed.through`, and a crash would then lose that report's rollups.
        let ids: Vec<String> = tx
            .prepare(
                "DELETE FROM reports WHERE rowid IN (SELECT rowid FROM reports WHERE ts < ?1
                 AND rowid < (SELECT max(rowid) FROM reports) LIMIT ?2) RETURNING id",
            )?
            .query_map(params![cutoff, RETENTION_BATCH as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            tx.prepare_cached("DELETE FROM report_ids WHERE id = ?1")?.execute([id])?;
        }
        tx.commit()?;
        let n = ids.len();
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
        /// The batch's reports (id, rows with distinct targets), in queue order.
        reports: Vec<(ReportId, Vec<Observation>)>,
        /// What the commit did with each report.
        outcomes: Vec<Stored>,
        /// One per report, answered once its rollups are in memory.
        replies: Vec<Reply>,
        /// Highest `reports` rowid of the commit: the batch's reports are all at or below it.
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
fn write_loop(conn: Connection, rx: mpsc::Receiver<Job>, counters: &(AtomicU64, AtomicU64, AtomicU64), unflushed: &Unflushed, ids: &Ids) {
    // One batch waits while the rollup thread works on another: the writer runs at most one ahead.
    let (to_rollups, from_writer) = std::sync::mpsc::sync_channel::<Handoff>(1);
    std::thread::scope(|scope| {
        let rollups = std::thread::Builder::new()
            .name("vantage-sqlite-rollups".into())
            .spawn_scoped(scope, move || roll_up(from_writer, counters, unflushed));
        match rollups {
            Ok(_) => commit_loop(conn, rx, &to_rollups, unflushed, ids),
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
                let new = || reports.iter().zip(&outcomes).filter(|(_, o)| **o == Stored::New).map(|((_, obs), _)| obs.as_slice());
                let rows = new().map(|obs| obs.len() as u64).sum();
                // Before the answers: a client that reads after its 2xx sees its report counted.
                unflushed.lock().add_reports(new(), through);
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
    ids: &Ids,
) {
    // A runtime of the writer's own, only to wait on the queue with a timeout.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => return tracing::error!(error = %e, "the sqlite writer cannot start its timer; it stops"),
    };
    let mut last_seal_check = std::time::Instant::now();
    let mut codes = TargetCodes::default();
    loop {
        // While a sealed generation (its cells, then its ids) drains, the queue is only polled
        // between its chunks.
        let draining = (!unflushed.lock().sealed.is_empty() || !ids.lock().sealed.is_empty()) && unflushed.flush_allowed();
        let wait = if draining { std::time::Duration::ZERO } else { IDLE_TICK };
        let first = match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
            Ok(Some(job)) => Some(job),
            Ok(None) => break,
            Err(_) => None,
        };
        let idle = first.is_none();
        let stop = first.is_some_and(|job| write_batch(&mut conn, &mut codes, ids, job, &mut rx, to_rollups));
        // A draining generation only writes its next chunk (no seal, so no wait); a seal waits
        // for the rollup thread, so a busy writer looks for one only every SEAL_CHECK_EVERY.
        let may_seal = stop || (!draining && (idle || last_seal_check.elapsed() >= SEAL_CHECK_EVERY));
        if may_seal {
            barrier(to_rollups);
            last_seal_check = std::time::Instant::now();
        }
        if (draining || may_seal) && (stop || unflushed.flush_allowed()) {
            if let Err(e) = sqlite_flush::step(&mut conn, unflushed, ids, stop) {
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
fn write_batch(
    conn: &mut Connection,
    codes: &mut TargetCodes,
    ids: &Ids,
    first: Job,
    rx: &mut mpsc::Receiver<Job>,
    to_rollups: &std::sync::mpsc::SyncSender<Handoff>,
) -> bool {
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
            Job::Report { id, mut rows, reply } => {
                sqlite_raw::distinct_targets(&mut rows);
                reports.push((id, rows));
                replies.push(reply);
            }
            Job::Shutdown => stop = true,
        }
    }
    if reports.is_empty() {
        return stop;
    }
    match commit(conn, codes, &mut ids.lock(), &reports) {
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

/// One transaction for the whole batch, one raw row appended per new report. A report is a
/// duplicate when its id is in `ids` (committed since the flush mark, or earlier in this batch)
/// or in `report_ids` (flushed): a point lookup, never an index insert, on this serial path.
/// Returns each report's outcome (the rollup thread adds the new ones' rollups once committed);
/// on an error the batch's ids leave `ids` again. The caller holds `ids` locked throughout, so
/// no other writer decides an id between the check and the commit.
fn commit(
    conn: &mut Connection,
    codes: &mut TargetCodes,
    ids: &mut IdSet,
    reports: &[(ReportId, Vec<Observation>)],
) -> rusqlite::Result<Vec<Stored>> {
    let mut added = Vec::new();
    let written = (|| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(reports.len());
        for (id, obs) in reports {
            let new = !ids.contains(id) && !report_ids::flushed(&tx, id)? && sqlite_raw::insert_report(&tx, codes, id, obs)?;
            if new {
                ids.add(*id);
                added.push(*id);
            }
            outcomes.push(if new { Stored::New } else { Stored::Duplicate });
        }
        tx.commit()?;
        Ok(outcomes)
    })();
    written.inspect_err(|_| {
        codes.forget();
        for id in &added {
            ids.growing.remove(id);
        }
    })
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
        let reports = import_reports(rows)?;
        let mut conn = connect(&self.path)?;
        let err = StoreError::write("import");
        tune_writer(&conn).map_err(&err)?;
        // Commit and hand-over to the unflushed rollups and ids under their locks (ids first, as
        // everywhere): the writer cannot decide these ids meanwhile, nor seal a generation in
        // between and mark these rows flushed before their rollups and ids are in it.
        let mut ids = self.ids.lock();
        let mut unflushed = self.unflushed.lock();
        // Codes of its own: the writer's memory is never told of codes this import adds.
        let outcomes = commit(&mut conn, &mut TargetCodes::default(), &mut ids, &reports).map_err(&err)?;
        let new: Vec<&[Observation]> =
            reports.iter().zip(outcomes).filter(|(_, o)| *o == Stored::New).map(|((_, obs), _)| obs.as_slice()).collect();
        let rows = new.iter().map(|obs| obs.len()).sum();
        unflushed.add_reports(new, conn.last_insert_rowid());
        Ok(rows)
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

/// An import's rows grouped into reports, in order of first appearance, each target once (its
/// first row); rows of one report that disagree on a per-report column are refused, naming it.
fn import_reports(rows: &[Observation]) -> Result<Vec<(ReportId, Vec<Observation>)>, StoreError> {
    let mut at: HashMap<ReportId, usize> = HashMap::new();
    let mut reports: Vec<(ReportId, Vec<Observation>)> = Vec::new();
    for o in rows {
        let i = *at.entry(o.report_id).or_insert_with(|| {
            reports.push((o.report_id, Vec::new()));
            reports.len() - 1
        });
        let report = &mut reports[i].1;
        if let Some(column) = report.first().and_then(|first| sqlite_raw::differing_column(first, o)) {
            return Err(StoreError::SplitReport { report_id: o.report_id.as_str().to_string(), column });
        }
        report.push(o.clone());
    }
    for (_, obs) in &mut reports {
        sqlite_raw::distinct_targets(obs);
    }
    Ok(reports)
}
