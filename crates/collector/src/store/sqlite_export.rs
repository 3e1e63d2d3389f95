//! SQLite raw reads for `vantage export --raw`: one statement stepped row by row, each row handed
//! on before the next is read, so an export of any size holds one row (SQLite orders by the `ts`
//! index and sorts only rows of the same minute by report id and target).

use super::column;
use super::sqlite::connect;
use super::{Observation, Sink, StoreError};
use rusqlite::{params, Row};
use std::path::Path;

/// The raw columns in [`Observation`] order: what [`observation`] reads.
pub(super) const COLUMNS: &str = "ts, country, asn, network, site, platform, target, outcome, ms, control_outcome,
    control_ms, browser_family, net_type, report_id, late, status";

/// Oldest first; `ORDER BY` makes the output the same on every run (and the same as the
/// ClickHouse store's).
const SELECT_RANGE: &str = "WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, report_id, target";

/// Observations with `from <= ts < to`, handed to `each` as they are read (see
/// `Store::scan_observations`).
pub(super) fn scan_observations(
    path: &Path,
    from: Option<i64>,
    to: Option<i64>,
    each: &mut Sink<'_, Observation>,
) -> Result<(), StoreError> {
    let conn = connect(path)?;
    let err = StoreError::read("export");
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM observations {SELECT_RANGE}")).map_err(&err)?;
    let mut rows = stmt.query(params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)]).map_err(&err)?;
    while let Some(row) = rows.next().map_err(&err)? {
        each(observation(row).map_err(&err)?).map_err(StoreError::Output)?;
    }
    Ok(())
}

/// One row of a `SELECT` of [`COLUMNS`], checked.
pub(super) fn observation(r: &Row<'_>) -> rusqlite::Result<Observation> {
    Ok(Observation {
        ts: r.get(0)?,
        country: column::get(r, 1)?,
        asn: r.get(2)?,
        network: r.get(3)?,
        site: column::get(r, 4)?,
        platform: column::get(r, 5)?,
        target: column::get(r, 6)?,
        outcome: column::get(r, 7)?,
        ms: r.get(8)?,
        control_outcome: column::get(r, 9)?,
        control_ms: r.get(10)?,
        browser_family: r.get(11)?,
        net_type: r.get(12)?,
        report_id: column::get(r, 13)?,
        late: r.get(14)?,
        status: r.get(15)?,
    })
}
