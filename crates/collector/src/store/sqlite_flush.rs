//! Unflushed rollups into SQLite's rollup tables, and back into memory after a crash.
//!
//! `rollup_flushed` (one row) says what the rollup tables hold: every on-time report of
//! `reports` with rowid <= `through`; and, while a sealed generation is being written a chunk
//! at a time, that reports in (`through`, `sealed_to`] are in them for the cells up to `done_*`
//! (key order). (Before its migration, a legacy store's marks are rowids of `observations`.) Each
//! chunk and its `rollup_flushed` update are one transaction, so after a crash replaying the raw
//! rows above the marks rebuilds exactly what is missing: no rollup lost, none counted twice.
//! The sealed generation's report ids go to `report_ids` (`report_ids.rs`) in chunks after its
//! cells, the last with the transaction that moves `through`, so the ids of reports after
//! `through` are all in memory (some perhaps in `report_ids` too).

use super::column;
use super::report_ids::{self, IdSet, Ids};
use super::sqlite_migrate::{self, Source};
use super::sqlite_raw::{self, CodeBook};
use super::unflushed::{Generation, State, Unflushed};
use crate::rollup::{CellKey, KIND_CONTROL, KIND_TIMES};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// Network rows written per flush transaction: small, so a report committed meanwhile waits little.
pub(super) const CHUNK_ENTRIES: usize = 4096;

/// The table, created with the current watermark of the raw table `raw`: a store from before
/// this table had its rollups written with its rows, so everything in it is rolled up.
pub(super) fn schema(raw: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS rollup_flushed (
            id INTEGER PRIMARY KEY CHECK (id = 0), through INTEGER NOT NULL, sealed_to INTEGER,
            done_minute INTEGER, done_platform TEXT, done_country TEXT, done_asn INTEGER
        );
        INSERT OR IGNORE INTO rollup_flushed (id, through) SELECT 0, coalesce(max(rowid), 0) FROM {raw};"
    )
}

/// The marks of `rollup_flushed`.
struct Marks {
    /// Rows up to this rowid are in the rollup tables.
    through: i64,
    /// A partly written generation: rows up to this rowid, cells up to the key.
    sealed: Option<(i64, CellKey)>,
}

fn marks(conn: &Connection) -> rusqlite::Result<Marks> {
    conn.query_row("SELECT through, sealed_to, done_minute, done_platform, done_country, done_asn FROM rollup_flushed", [], |r| {
        let sealed = match (r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i64>>(2)?) {
            (Some(to), Some(minute)) => {
                Some((to, CellKey { minute, platform: column::get(r, 3)?, country: column::get(r, 4)?, asn: r.get(5)? }))
            }
            _ => None,
        };
        Ok(Marks { through: r.get(0)?, sealed })
    })
}

/// Rebuilds the unflushed rollups and report ids from the raw rows above the marks (at start-up,
/// before the writer runs).
pub(super) fn recover(conn: &Connection) -> rusqlite::Result<(State, IdSet)> {
    let state = recover_from(conn, Source::Raw)?;
    let m = marks(conn)?;
    let mut ids = IdSet::default();
    let growing_from = match m.sealed {
        Some((sealed_to, _)) => {
            ids.sealed = report_ids::replay(conn, m.through, sealed_to)?;
            sealed_to
        }
        None => m.through,
    };
    ids.growing = report_ids::replay(conn, growing_from, i64::MAX)?;
    if !ids.growing.is_empty() {
        ids.growing_since = Some(std::time::Instant::now());
    }
    Ok((state, ids))
}

/// [`recover`] from the raw table `source`.
pub(super) fn recover_from(conn: &Connection, source: Source) -> rusqlite::Result<State> {
    let m = marks(conn)?;
    let mut state = State::default();
    let mut growing_from = m.through;
    if let Some((sealed_to, done)) = m.sealed {
        replay(conn, source, m.through, sealed_to, &mut state.sealed)?;
        state.sealed.retain_after(&done);
        state.sealed.through = sealed_to;
        growing_from = sealed_to;
    }
    replay(conn, source, growing_from, i64::MAX, &mut state.growing)?;
    let table = if source == Source::Raw { "reports" } else { "observations" };
    let last: i64 = conn.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {table}"), [], |r| r.get(0))?;
    if !state.growing.is_empty() {
        state.growing_since = Some(std::time::Instant::now());
    }
    state.growing.through = last.max(growing_from);
    Ok(state)
}

/// Adds the rollups of on-time reports with `from < rowid <= to` to `into`.
fn replay(conn: &Connection, source: Source, from: i64, to: i64, into: &mut Generation) -> rusqlite::Result<()> {
    if source == Source::Legacy {
        return sqlite_migrate::replay_legacy(conn, from, to, &mut |report| into.add_report(report));
    }
    let mut book = CodeBook::default();
    let mut stmt = conn.prepare(&format!("SELECT {} FROM reports WHERE rowid > ?1 AND rowid <= ?2 AND late = 0", sqlite_raw::COLUMNS))?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        into.add_report(&sqlite_raw::read_report(conn, &mut book, r, 0)?);
    }
    Ok(())
}

/// One step of the writer's flushing: seals the growing generation when it is due, then writes
/// one chunk of the sealed one (`all`: every sealed cell, in chunks; at shutdown). Holds the lock
/// across each commit, so a read sees each cell either in memory or in the tables.
/// The report ids go with the rollups: sealed together, written with the mark that covers them.
pub(super) fn step(conn: &mut Connection, unflushed: &Unflushed, ids: &Ids, all: bool) -> rusqlite::Result<()> {
    loop {
        let mut ids = ids.lock();
        let mut s = unflushed.lock();
        if s.sealed.is_empty() && ids.sealed.is_empty() {
            let now = std::time::Instant::now();
            let pending = !s.growing.is_empty() || !ids.growing.is_empty();
            if !(s.due(now) || ids.due(now) || all && pending) {
                return Ok(());
            }
            s.seal();
            ids.seal();
        }
        write_chunk(conn, &mut s.sealed, &mut ids)?;
        if !all {
            return Ok(());
        }
    }
}

/// Writes the next chunk of the sealed generation and the marks in one transaction, then drops
/// what it wrote from memory; on an error nothing changes. The cells go first (about
/// [`CHUNK_ENTRIES`] network rows a transaction), then the sealed report ids
/// ([`report_ids::ID_CHUNK`] a transaction), so ingest commits between any two; the transaction
/// that writes the last of both moves `through` past them. Until then a crash replays the
/// sealed reports' ids from the raw rows (some may be in `report_ids` already: their insert is
/// ignored), so a duplicate is refused from memory or the table throughout.
fn write_chunk(conn: &mut Connection, g: &mut Generation, ids: &mut IdSet) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut written = Vec::new();
    let mut entries = 0;
    for (key, sums) in g.iter() {
        if entries >= CHUNK_ENTRIES {
            break;
        }
        write_cell(&tx, key, sums)?;
        entries += sums.nets.len();
        written.push(key.clone());
    }
    // Ids in transactions of their own, once every cell is written.
    let id_count = if written.is_empty() { ids.write_sealed_chunk(&tx)? } else { 0 };
    let last = written.len() == g.len() && ids.sealed_left_after(id_count) == 0;
    if last {
        tx.execute(
            "UPDATE rollup_flushed SET through = ?1, sealed_to = NULL, done_minute = NULL, done_platform = NULL,
             done_country = NULL, done_asn = NULL",
            [g.through],
        )?;
    } else if let Some(done) = written.last() {
        tx.execute(
            "UPDATE rollup_flushed SET sealed_to = ?1, done_minute = ?2, done_platform = ?3, done_country = ?4, done_asn = ?5",
            params![g.through, done.minute, done.platform.as_str(), done.country.as_str(), done.asn],
        )?;
    }
    tx.commit()?;
    ids.chunk_written(id_count);
    for key in &written {
        g.remove(key);
    }
    Ok(())
}

/// Adds one cell-minute's sums to the rollup tables.
fn write_cell(tx: &Transaction<'_>, k: &CellKey, sums: &super::unflushed::CellSums) -> rusqlite::Result<()> {
    let mut nets = tx.prepare_cached(
        "INSERT INTO rollup_nets (minute, platform, country, asn, network, reports, ok, error, timeout, blocked,
         excluded_control, log_ms_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (minute, platform, country, asn, network) DO UPDATE SET reports = reports + excluded.reports,
         ok = ok + excluded.ok, error = error + excluded.error, timeout = timeout + excluded.timeout,
         blocked = blocked + excluded.blocked, excluded_control = excluded_control + excluded.excluded_control,
         log_ms_sum = log_ms_sum + excluded.log_ms_sum",
    )?;
    let mut sorted: Vec<_> = sums.nets.values().collect();
    sorted.sort_by_key(|n| n.network);
    for n in sorted {
        nets.execute(params![
            k.minute,
            k.platform.as_str(),
            k.country.as_str(),
            k.asn,
            n.network,
            n.reports,
            n.ok,
            n.error,
            n.timeout,
            n.blocked,
            n.excluded_control,
            n.log_ms_sum
        ])?;
    }
    let mut hist = tx.prepare_cached(
        "INSERT INTO rollup_hist (minute, platform, country, asn, kind, bucket, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (minute, platform, country, asn, kind, bucket) DO UPDATE SET n = n + excluded.n",
    )?;
    for (kind, counts) in [(KIND_TIMES, &sums.times), (KIND_CONTROL, &sums.control_times)] {
        for (bucket, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            hist.execute(params![k.minute, k.platform.as_str(), k.country.as_str(), k.asn, kind, bucket as i64, n])?;
        }
    }
    Ok(())
}

/// Rows of the rollup tables' marks, for a read that must pin them with its snapshot.
pub(super) fn pin_snapshot(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT through FROM rollup_flushed", [], |r| r.get::<_, i64>(0)).optional().map(drop)
}

#[cfg(test)]
#[path = "sqlite_flush_tests.rs"]
pub(super) mod tests;
