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

/// The ids of reports committed since the flush mark, in the two generations of `unflushed`.
#[derive(Debug, Default)]
pub(super) struct IdSet {
    /// Ids of the reports in the sealed rollup generation: written to `report_ids` by the flush
    /// transaction that moves the mark past them, dropped only after it commits.
    pub sealed: HashSet<ReportId>,
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
        self.growing_since = None;
    }

    /// Writes the sealed ids to `report_ids` in `tx`, in key order (each insert then lands next
    /// to the previous one in the b-tree); the caller drops them once `tx` has committed.
    pub(super) fn write_sealed(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if self.sealed.is_empty() {
            // Also: a legacy store's flush, before its migration made `report_ids`.
            return Ok(());
        }
        let mut sorted: Vec<&ReportId> = self.sealed.iter().collect();
        sorted.sort_unstable();
        let mut insert = tx.prepare_cached("INSERT INTO report_ids (id) VALUES (?1)")?;
        for id in sorted {
            insert.execute([id.as_str()])?;
        }
        Ok(())
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
