//! Which report ids the SQLite store holds, for deciding duplicates without a uniqueness index
//! on `reports` (raw format 2, issue 10): report ids are random, so such an index took one random
//! leaf page a report on the writer's serial path. Ids of reports up to the rollup flush mark are
//! in `report_ids` (a `WITHOUT ROWID` b-tree written sorted, once a minute, by the flush that
//! advances the mark); ids of reports after it are in memory here. A crash loses only the memory,
//! and recovery refills it from the raw rows after the mark, as it does the rollups.

use rusqlite::{Connection, Transaction};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use vantage_protocol::ReportId;

/// Ids held in memory at which the growing set is sealed at once (with its rollups), without
/// waiting for the minute: with the sealed set still being written, at most twice this is held
/// (ARCHITECTURE.md, the memory bound: a 32-byte id in a hash set's slot, at worst about 70 bytes
/// an id just after the table doubles, so 35 MiB a set).
pub(super) const MAX_IDS: usize = 500_000;

/// Sealed ids written to `report_ids` per transaction: a sealed set can hold [`MAX_IDS`], and
/// written in one transaction it held the writer (so every ingest commit) for its whole length.
pub(super) const ID_CHUNK: usize = 4096;

/// The ids of reports committed since the flush mark, in the two generations of `unflushed`.
#[derive(Debug, Default)]
pub(super) struct IdSet {
    /// Ids of the reports in the sealed rollup generation not yet in `report_ids`: written a
    /// chunk per transaction, each dropped from here once its chunk has committed (then the
    /// table answers for it).
    pub sealed: HashSet<ReportId>,
    /// The sealed ids in key order, made at the first chunk (each insert then lands next to the
    /// previous one in the b-tree); the ones before `sealed_written` are in `report_ids`.
    sealed_order: Vec<ReportId>,
    /// How many of `sealed_order` are written.
    sealed_written: usize,
    /// Ids of reports committed since the last seal.
    pub growing: HashSet<ReportId>,
    /// When the growing set got its first id: a late report has an id but no rollup, so the set
    /// is sealed on its own age too.
    pub growing_since: Option<Instant>,
}

impl IdSet {
    /// Whether `id` was committed after the flush mark.
    pub(super) fn contains(&self, id: &ReportId) -> bool {
        self.growing.contains(id) || self.sealed.contains(id)
    }

    /// Records a committed report's id.
    pub(super) fn add(&mut self, id: ReportId) {
        if self.growing_since.is_none() {
            self.growing_since = Some(Instant::now());
        }
        self.growing.insert(id);
    }

    /// Whether the growing set should be sealed (with the rollups) now: full, or a minute old.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.sealed.is_empty()
            && (self.growing.len() >= MAX_IDS || self.growing_since.is_some_and(|s| now.duration_since(s) >= super::unflushed::FLUSH_EVERY))
    }

    /// Seals the growing set (the sealed one must be empty).
    pub(super) fn seal(&mut self) {
        self.sealed = std::mem::take(&mut self.growing);
        (self.sealed_order, self.sealed_written) = (Vec::new(), 0);
        self.growing_since = None;
    }

    /// Writes the next [`ID_CHUNK`] sealed ids (in key order) to `report_ids` in `tx`; returns
    /// how many, for [`IdSet::chunk_written`] once `tx` has committed. An id already there (a
    /// flush that crashed after this chunk, replayed) is left as it is.
    pub(super) fn write_sealed_chunk(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<usize> {
        if self.sealed.is_empty() {
            // Also: a legacy store's flush, before its migration made `report_ids`.
            return Ok(0);
        }
        if self.sealed_order.is_empty() {
            self.sealed_order = self.sealed.iter().copied().collect();
            self.sealed_order.sort_unstable();
        }
        let chunk = &self.sealed_order[self.sealed_written..(self.sealed_written + ID_CHUNK).min(self.sealed_order.len())];
        let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO report_ids (id) VALUES (?1)")?;
        for id in chunk {
            insert.execute([id.as_str()])?;
        }
        Ok(chunk.len())
    }

    /// Sealed ids left to write after the next `n`.
    pub(super) fn sealed_left_after(&self, n: usize) -> usize {
        self.sealed.len() - n
    }

    /// The next `n` sealed ids have committed to `report_ids`: memory no longer needs them.
    pub(super) fn chunk_written(&mut self, n: usize) {
        for id in &self.sealed_order[self.sealed_written..self.sealed_written + n] {
            self.sealed.remove(id);
        }
        self.sealed_written += n;
        if self.sealed.is_empty() {
            self.sealed = HashSet::new();
            (self.sealed_order, self.sealed_written) = (Vec::new(), 0);
        }
    }
}

/// The shared, locked [`IdSet`]. Lock order: this, then `Unflushed`, then the database.
#[derive(Debug, Default)]
pub(super) struct Ids {
    /// Held by the writer across each commit (check, insert, commit, add) and each flush step, and
    /// by an import across its commit, so no two writers decide the same id apart.
    state: Mutex<IdSet>,
}

impl Ids {
    /// The set, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, IdSet> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether `id` is in `report_ids` (a report up to the flush mark).
pub(super) fn flushed(conn: &Connection, id: &ReportId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM report_ids WHERE id = ?1)")?.query_row([id.as_str()], |r| r.get(0))
}

/// The ids of `reports` rows with `from < rowid <= to` (late ones too: they are stored).
pub(super) fn replay(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<HashSet<ReportId>> {
    let mut stmt = conn.prepare("SELECT id FROM reports WHERE rowid > ?1 AND rowid <= ?2")?;
    let mut rows = stmt.query([from, to])?;
    let mut out = HashSet::new();
    while let Some(r) = rows.next()? {
        out.insert(super::column::get(r, 0)?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "report_ids_tests.rs"]
mod tests;
