//! SQLite raw reads for `vantage export --raw`: one statement stepped report by report, each
//! report's observations handed on before the next is read, so an export of any size holds one
//! report (SQLite orders by the `ts` index and sorts only reports of the same minute by id; a
//! report's observations are sorted by target here). The output is the same as when the store
//! kept one row per observation.

use super::sqlite::connect;
use super::sqlite_raw::{self, CodeBook};
use super::{Observation, Sink, StoreError};
use rusqlite::params;
use std::path::Path;

/// Oldest first; `ORDER BY` (and the sort by target within a report) makes the output the same
/// on every run (and the same as the ClickHouse store's).
const SELECT_RANGE: &str = "WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, id";

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
    // One read transaction: the code book and the rows are of the same snapshot.
    let tx = conn.unchecked_transaction().map_err(&err)?;
    let mut book = CodeBook::default();
    let mut stmt = tx.prepare(&format!("SELECT {} FROM reports {SELECT_RANGE}", sqlite_raw::COLUMNS)).map_err(&err)?;
    let mut rows = stmt.query(params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)]).map_err(&err)?;
    while let Some(row) = rows.next().map_err(&err)? {
        let mut report = sqlite_raw::read_report(&tx, &mut book, row, 0).map_err(&err)?;
        report.sort_by(|a, b| a.target.cmp(&b.target));
        for o in report {
            each(o).map_err(StoreError::Output)?;
        }
    }
    Ok(())
}
