//! Opening a store written before raw format 1 (`sqlite_raw`): one `observations` row per
//! measurement and a `reports` table of ids (which the new `reports` replaces). At open, before
//! the writer starts, its unflushed rollups are rebuilt and flushed the way that store kept them
//! (rowids of `observations`), then its rows move into `reports` a batch at a time, each batch
//! deleted from `observations` in the transaction that inserts it, so an interrupted migration
//! resumes where it stopped. The last transaction drops the old table, creates the view, and
//! moves the rollup marks to the new table: everything migrated is in the rollup tables by then.
//! Rows of one report that disagree on a per-report column (no writer made such rows) are kept
//! with the values of the report's first row. Every moved report's id goes to `report_ids` in
//! the transaction that moves it (all of them end up behind the flush mark).
//!
//! A store of raw format 1 (`reports.id` its primary key) is rebuilt at open in one transaction
//! into format 2 ([`drop_id_key`]).

use super::report_ids::Ids;
use super::sqlite_raw::{self, CodeBook, TargetCodes};
use super::unflushed::Unflushed;
use super::{column, sqlite_flush, Observation};
use rusqlite::{params, Connection, Row};

/// A legacy store's `observations` columns in [`Observation`] order: what [`observation_at`] reads.
const COLUMNS: &str = "ts, country, asn, network, site, platform, target, outcome, ms, control_outcome,
    control_ms, browser_family, net_type, report_id, late, status";

/// Old rows moved per transaction.
pub(super) const BATCH_ROWS: i64 = 20_000;

/// Whether the file still has the old `observations` table (a new one has a view of that name).
pub(super) fn is_legacy(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'observations')", [], |r| r.get(0))
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

/// Migrates a legacy store (see the module's doc); returns the reports moved. Nothing to do on
/// a store of format 1.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<u64> {
    if !is_legacy(conn)? {
        return Ok(0);
    }
    for (name, declaration) in [("late", "INTEGER NOT NULL DEFAULT 0"), ("status", "INTEGER")] {
        add_column(conn, name, declaration)?;
    }
    conn.execute_batch(&sqlite_flush::schema("observations"))?;
    let unflushed = Unflushed::default();
    *unflushed.lock() = sqlite_flush::recover_from(conn, Source::Legacy)?;
    sqlite_flush::step(conn, &unflushed, &Ids::default(), true)?;
    // The old `reports` (ids only; every id's rows are in `observations`) makes way for the new.
    let tx = conn.transaction()?;
    let old_ids: bool =
        tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM pragma_table_info('reports') WHERE name = 'ts')", [], |r| r.get(0))?;
    if old_ids {
        tx.execute_batch("DROP TABLE IF EXISTS reports")?;
    }
    tx.execute_batch(sqlite_raw::SCHEMA)?;
    tx.commit()?;
    let mut codes = TargetCodes::default();
    let mut moved = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (reports, last) = {
            let mut stmt = tx.prepare(&format!("SELECT rowid, {} FROM observations ORDER BY rowid LIMIT ?1", COLUMNS))?;
            let mut rows = stmt.query([BATCH_ROWS])?;
            let (mut reports, mut last): (Vec<Vec<Observation>>, i64) = (Vec::new(), 0);
            while let Some(r) = rows.next()? {
                last = r.get(0)?;
                let o = observation_at(r, 1)?;
                match reports.last_mut() {
                    Some(report) if report[0].report_id == o.report_id && sqlite_raw::differing_column(&report[0], &o).is_none() => {
                        report.push(o)
                    }
                    _ => reports.push(vec![o]),
                }
            }
            (reports, last)
        };
        if reports.is_empty() {
            finish(&tx)?;
            tx.commit()?;
            return Ok(moved);
        }
        for mut report in reports {
            sqlite_raw::distinct_targets(&mut report);
            let id = report[0].report_id;
            let new = tx.prepare_cached("INSERT OR IGNORE INTO report_ids (id) VALUES (?1)")?.execute([id.as_str()])? > 0;
            if new && sqlite_raw::insert_report(&tx, &mut codes, &id, &report)? {
                moved += 1;
            } else {
                // The report's first rows came in an earlier batch (or disagree on a per-report
                // column): its measurements join the stored row's, each target once.
                merge(&tx, &mut codes, report)?;
            }
        }
        tx.execute("DELETE FROM observations WHERE rowid <= ?1", [last])?;
        tx.commit().inspect_err(|_| codes.forget())?;
    }
}

/// Adds `report`'s measurements of targets not yet in its stored row to that row. `reports` has
/// no index on `id`: the stored row is searched from the newest back, as it is nearly always one
/// of the last moved (a report's rows are consecutive in `observations`).
fn merge(tx: &rusqlite::Transaction<'_>, codes: &mut TargetCodes, report: Vec<Observation>) -> rusqlite::Result<()> {
    let id = report[0].report_id;
    let (rowid, mut stored) = {
        let mut book = CodeBook::default();
        let mut stmt = tx.prepare(&format!("SELECT rowid, {} FROM reports ORDER BY rowid DESC", sqlite_raw::COLUMNS))?;
        let mut rows = stmt.query([])?;
        loop {
            let r = rows.next()?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            if r.get_ref(1)?.as_str()? == id.as_str() {
                break (r.get::<_, i64>(0)?, sqlite_raw::read_report(tx, &mut book, r, 1)?);
            }
        }
    };
    let first = stored[0].clone();
    stored.extend(report.into_iter().map(|o| Observation {
        platform: o.platform,
        target: o.target,
        outcome: o.outcome,
        ms: o.ms,
        status: o.status,
        ..first.clone()
    }));
    sqlite_raw::distinct_targets(&mut stored);
    tx.execute("DELETE FROM reports WHERE rowid = ?1", [rowid])?;
    sqlite_raw::insert_report(tx, codes, &id, &stored).map(drop)
}

/// The last step, in the last batch's transaction: old tables gone, views in their place, the
/// rollup marks on the new table (every row in it is rolled up), the format recorded.
fn finish(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("DROP TABLE observations")?;
    tx.execute_batch(sqlite_raw::VIEWS)?;
    tx.execute(
        "UPDATE rollup_flushed SET through = (SELECT coalesce(max(rowid), 0) FROM reports), sealed_to = NULL,
         done_minute = NULL, done_platform = NULL, done_country = NULL, done_asn = NULL",
        params![],
    )?;
    tx.pragma_update(None, "user_version", sqlite_raw::FORMAT)
}

/// Rebuilds a store of raw format 1 (`reports.id TEXT PRIMARY KEY`) into format 2, in one
/// transaction: the ids of reports up to the rollup flush mark go to `report_ids` (in key order,
/// straight from the old key), the ones after it are left to recovery's memory as in format 2;
/// `reports` is copied without the key, keeping every rowid (the flush marks are rowids), then
/// its index and the view are made again. Returns the reports copied; 0 on a format 2 store.
pub(super) fn drop_id_key(conn: &mut Connection) -> rusqlite::Result<u64> {
    let keyed: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('reports') WHERE name = 'id' AND pk = 1)", [], |r| r.get(0))?;
    if !keyed {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(&sqlite_flush::schema("reports"))?;
    tx.execute_batch(
        "INSERT OR IGNORE INTO report_ids (id) SELECT id FROM reports
             WHERE rowid <= (SELECT through FROM rollup_flushed) ORDER BY id;
         DROP VIEW IF EXISTS observations;
         DROP INDEX IF EXISTS reports_ts;
         ALTER TABLE reports RENAME TO reports_format1;",
    )?;
    tx.execute_batch(sqlite_raw::SCHEMA)?;
    let copied = tx.execute(
        &format!(
            "INSERT INTO reports (rowid, {cols}) SELECT rowid, {cols} FROM reports_format1 ORDER BY rowid",
            cols = sqlite_raw::COLUMNS
        ),
        [],
    )?;
    tx.execute_batch("DROP TABLE reports_format1")?;
    tx.execute_batch(sqlite_raw::VIEWS)?;
    tx.pragma_update(None, "user_version", sqlite_raw::FORMAT)?;
    tx.commit()?;
    Ok(copied as u64)
}

/// Where rollups are rebuilt from after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// `reports`, one row per report.
    Raw,
    /// A legacy store's `observations` table, one row per measurement (before its migration).
    Legacy,
}

/// The rollups of a legacy store's on-time rows with `from < rowid <= to`.
pub(super) fn replay_legacy(conn: &Connection, from: i64, to: i64, each_report: &mut dyn FnMut(&[Observation])) -> rusqlite::Result<()> {
    let mut stmt =
        conn.prepare(&format!("SELECT {} FROM observations WHERE rowid > ?1 AND rowid <= ?2 AND late = 0 ORDER BY rowid", COLUMNS))?;
    let mut rows = stmt.query(params![from, to])?;
    // A report's rows are consecutive (one writer inserted them together); a report counts once
    // per platform within one call, so each call gets one whole report.
    let mut report: Vec<Observation> = Vec::new();
    while let Some(r) = rows.next()? {
        let o = observation_at(r, 0)?;
        if report.first().is_some_and(|f| f.report_id != o.report_id) {
            each_report(&report);
            report.clear();
        }
        report.push(o);
    }
    if !report.is_empty() {
        each_report(&report);
    }
    Ok(())
}

/// One legacy row of a `SELECT` of [`COLUMNS`] from column `at` on, checked.
fn observation_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Observation> {
    Ok(Observation {
        ts: r.get(at)?,
        country: column::get(r, at + 1)?,
        asn: r.get(at + 2)?,
        network: r.get(at + 3)?,
        site: column::get(r, at + 4)?,
        platform: column::get(r, at + 5)?,
        target: column::get(r, at + 6)?,
        outcome: column::get(r, at + 7)?,
        ms: r.get(at + 8)?,
        control_outcome: column::get(r, at + 9)?,
        control_ms: r.get(at + 10)?,
        browser_family: r.get(at + 11)?,
        net_type: r.get(at + 12)?,
        report_id: column::get(r, at + 13)?,
        late: r.get(at + 14)?,
        status: r.get(at + 15)?,
    })
}
