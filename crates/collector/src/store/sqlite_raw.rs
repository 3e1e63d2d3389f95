//! The SQLite store's raw table: one row per report (`reports`), its measurements packed in
//! one column, so committing a report is one row appended (and its `ts` index entry) instead of
//! one row per measurement (BENCHMARKS.md, issue 10: "One row per report").
//!
//! Raw format 2 (`PRAGMA user_version = 2`; format 1 had `id` as primary key, format 2 decides
//! duplicates with `report_ids`, see `report_ids.rs`): `reports` holds the per-report columns once and
//! `measurements`, a JSON array with one `[code, outcome, ms, status]` array per measurement
//! (`status` null unless `http_error`), in the report's order, each target once. `code` is
//! `report_targets.code`, the (platform, target) pair the target stood for when it was stored; codes
//! are only ever added. JSON because SQLite reads it too: the `observations` view unpacks it with
//! `json_each` into the one-row-per-measurement shape of earlier stores, for operators' queries.

use super::column::{self, BrokenRule};
use super::Observation;
use crate::rollup::FastHash;
use rusqlite::{params, Connection, Row, Transaction};
use std::collections::HashMap;
use vantage_protocol::{Outcome, Platform, ReportId, SiteKey, TargetId};

/// The raw format this code writes and reads; a file of a later one is refused at open.
pub(super) const FORMAT: i64 = 2;

/// Tables and index of format 2 (a legacy store gets them when its migration starts, and the
/// view, [`VIEWS`], when it ends).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS report_targets (
    code INTEGER PRIMARY KEY, platform TEXT NOT NULL, target TEXT NOT NULL, UNIQUE (platform, target)
);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT NOT NULL, ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
    site TEXT NOT NULL, control_outcome TEXT NOT NULL, control_ms REAL NOT NULL, browser_family TEXT, net_type TEXT,
    late INTEGER NOT NULL, measurements TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_ts ON reports (ts);
CREATE TABLE IF NOT EXISTS report_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;
";

/// The earlier stores' one row per measurement as a view (read-only): a query written for it
/// still reads. Its `rowid` keeps their order (insertion, then a report's measurements):
/// the report's rowid times 65,536 (more than any report's measurements) plus the index.
pub(super) const VIEWS: &str = "
CREATE VIEW IF NOT EXISTS observations AS SELECT r.rowid * 65536 + m.key AS rowid, r.ts AS ts, r.country AS country,
    r.asn AS asn, r.network AS network, r.site AS site, t.platform AS platform, t.target AS target, json_extract(m.value, '$[1]') AS outcome,
    json_extract(m.value, '$[2]') AS ms, r.control_outcome AS control_outcome, r.control_ms AS control_ms,
    r.browser_family AS browser_family, r.net_type AS net_type, r.id AS report_id, r.late AS late,
    json_extract(m.value, '$[3]') AS status
    FROM reports r, json_each(r.measurements) m JOIN report_targets t ON t.code = json_extract(m.value, '$[0]');
";

/// The columns [`read_report`] reads, in its order.
pub(super) const COLUMNS: &str =
    "id, ts, country, asn, network, site, control_outcome, control_ms, browser_family, net_type, late, measurements";

const INSERT: &str = "INSERT INTO reports (id, ts, country, asn, network, site, control_outcome, control_ms,
    browser_family, net_type, late, measurements) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// One packed measurement: (target code, outcome, ms, status).
type Packed<'a> = (i64, &'a str, f64, Option<u16>);

/// The writer's memory of `report_targets`: a report's targets are coded without a query once seen.
#[derive(Debug, Default)]
pub(super) struct TargetCodes {
    /// Codes by target, then platform (a target's platform changes only with the catalog).
    by_target: HashMap<TargetId, Vec<(Platform, i64)>, FastHash>,
}

impl TargetCodes {
    /// The code of (platform, target), added to `report_targets` in `tx` when new.
    fn code(&mut self, tx: &Transaction<'_>, platform: &Platform, target: &TargetId) -> rusqlite::Result<i64> {
        if let Some(&(_, code)) = self.by_target.get(target).and_then(|p| p.iter().find(|(p, _)| p == platform)) {
            return Ok(code);
        }
        // Another connection (an import) may have added it: the unique pair decides, never this memory.
        tx.prepare_cached("INSERT OR IGNORE INTO report_targets (platform, target) VALUES (?1, ?2)")?
            .execute([platform.as_str(), target.as_str()])?;
        let code = tx
            .prepare_cached("SELECT code FROM report_targets WHERE platform = ?1 AND target = ?2")?
            .query_row([platform.as_str(), target.as_str()], |r| r.get(0))?;
        self.by_target.entry(target.clone()).or_default().push((platform.clone(), code));
        Ok(code)
    }

    /// Forgets every code: after a rolled-back transaction, codes it added no longer exist.
    pub(super) fn forget(&mut self) {
        self.by_target.clear();
    }
}

/// Keeps the first measurement of each target: what is stored and rolled up (the wire refuses a
/// repeated target; an import may carry one).
pub(super) fn distinct_targets(obs: &mut Vec<Observation>) {
    let mut i = 0;
    while i < obs.len() {
        if obs[..i].iter().any(|o| o.target == obs[i].target) {
            obs.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Inserts one report (rows with distinct targets, every per-report column the same), appended
/// with no check of its id (the caller decides duplicates, `report_ids`); returns false when it
/// has no rows (nothing written).
pub(super) fn insert_report(tx: &Transaction<'_>, codes: &mut TargetCodes, id: &ReportId, obs: &[Observation]) -> rusqlite::Result<bool> {
    let Some(first) = obs.first() else { return Ok(false) };
    let mut packed: Vec<Packed<'_>> = Vec::with_capacity(obs.len());
    for o in obs {
        packed.push((codes.code(tx, &o.platform, &o.target)?, o.outcome.as_str(), o.ms, o.status));
    }
    let measurements = serde_json::to_string(&packed).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached(INSERT)?.execute(params![
        id.as_str(),
        first.ts,
        first.country.as_str(),
        first.asn,
        first.network,
        first.site.as_str(),
        first.control_outcome.as_str(),
        first.control_ms,
        first.browser_family,
        first.net_type,
        first.late,
        measurements
    ])?;
    Ok(true)
}

/// The per-report column of `o` that differs from `first`'s, if any: rows of one report must
/// agree on them to be stored as one row.
pub(super) fn differing_column(first: &Observation, o: &Observation) -> Option<&'static str> {
    [
        ("ts", first.ts == o.ts),
        ("country", first.country == o.country),
        ("asn", first.asn == o.asn),
        ("network", first.network == o.network),
        ("site", first.site == o.site),
        ("control_outcome", first.control_outcome == o.control_outcome),
        ("control_ms", first.control_ms.to_bits() == o.control_ms.to_bits()),
        ("browser_family", first.browser_family == o.browser_family),
        ("net_type", first.net_type == o.net_type),
        ("late", first.late == o.late),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(name, _)| name)
}

/// `report_targets` by code, for unpacking (`CodeBook::default()` reads them when first needed).
#[derive(Debug, Default)]
pub(super) struct CodeBook {
    /// (platform, target) of each code.
    by_code: HashMap<i64, (Platform, TargetId)>,
}

impl CodeBook {
    /// Reads every code, on the first miss: an empty book reads them when first asked, and a code
    /// added since is found by reading them again.
    fn reload(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached("SELECT code, platform, target FROM report_targets")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            self.by_code.insert(r.get(0)?, (column::get(r, 1)?, column::get(r, 2)?));
        }
        Ok(())
    }

    fn get(&mut self, conn: &Connection, code: i64) -> rusqlite::Result<Option<&(Platform, TargetId)>> {
        if !self.by_code.contains_key(&code) {
            self.reload(conn)?;
        }
        Ok(self.by_code.get(&code))
    }
}

/// One `reports` row of a `SELECT` of [`COLUMNS`] (from column `at` on) unpacked into its
/// observations, in stored order; a value that fails its check is an error naming its column.
pub(super) fn read_report(conn: &Connection, book: &mut CodeBook, r: &Row<'_>, at: usize) -> rusqlite::Result<Vec<Observation>> {
    let report_id: ReportId = column::get(r, at)?;
    let late: bool = r.get(at + 10)?;
    let text = r.get_ref(at + 11)?.as_str()?;
    let corrupt = |reason: String| column::corrupt(r, at + 11, text, BrokenRule::NotPacked(reason));
    let packed: Vec<Packed<'_>> = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    let (ts, country, asn, network, site) =
        (r.get(at + 1)?, column::get(r, at + 2)?, r.get(at + 3)?, r.get(at + 4)?, column::get(r, at + 5)?);
    let (control_outcome, control_ms, browser_family, net_type) = (column::get(r, at + 6)?, r.get(at + 7)?, r.get(at + 8)?, r.get(at + 9)?);
    let mut out = Vec::with_capacity(packed.len());
    for (code, outcome, ms, status) in packed {
        let Some((platform, target)) = book.get(conn, code)? else { return Err(corrupt(format!("no target has code {code}"))) };
        let outcome = Outcome::from_wire(outcome).ok_or_else(|| corrupt(format!("{outcome:?} is not an outcome")))?;
        out.push(Observation {
            ts,
            country,
            asn,
            network,
            site: SiteKey::clone(&site),
            platform: platform.clone(),
            target: target.clone(),
            outcome,
            ms,
            control_outcome,
            control_ms,
            browser_family: Option::clone(&browser_family),
            net_type: Option::clone(&net_type),
            report_id,
            late,
            status,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "sqlite_raw_tests.rs"]
pub(super) mod tests;
