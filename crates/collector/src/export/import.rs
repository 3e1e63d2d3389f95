//! `vantage import`: NDJSON observations (docs/protocol.md §2) into a store in constant memory.
//! The file is read twice: [`check`] parses and checks every line first, so a bad file stores
//! nothing; then [`store`] parses it again and stores it `CHUNK_ROWS` (10,000) rows per transaction.
//! The store skips (report_id, target) pairs it already has, so an interrupted import can be
//! re-run from the start and stores each row once.

use crate::store::json_row::{self, RowError};
use crate::store::{Observation, Store, StoreError};
use std::io::{BufRead, Read};
use vantage_protocol::Outcome;

/// Rows per `Store::import` call (one transaction) in the storing pass: large enough that the
/// per-transaction cost is amortized, small enough that a chunk is a few megabytes.
pub(crate) const CHUNK_ROWS: usize = 10_000;

/// Longest line read: an observation is well under 1 KiB, and a file without line breaks must
/// not be read into memory whole.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line is not an observation this program could have stored; nothing of it is stored.
    #[error("line {line}: {fault}")]
    Line {
        /// The line's number, from 1, so the operator can find it.
        line: u64,
        /// What is wrong with it.
        fault: LineFault,
    },
    /// The store refused a chunk (its transaction is rolled back).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Pass two stopped after some chunks were stored: says how many rows stay stored and that
    /// importing again skips them.
    #[error("{cause}{}; the first {stored} rows are stored, and importing the file again skips them", if *changed { " (the file changed after it was checked)" } else { "" })]
    Partial {
        /// Why it stopped (a [`ImportError::Line`] or [`ImportError::Store`]).
        cause: Box<ImportError>,
        /// Rows stored before it stopped (whole chunks).
        stored: u64,
        /// Whether a line failed that pass one had passed: the file changed in between.
        changed: bool,
    },
}

/// What is wrong with one line of an import file.
#[derive(Debug, thiserror::Error)]
pub enum LineFault {
    /// The line could not be read.
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    /// The line is longer than any observation can be.
    #[error("longer than {} KiB; each line must be one observation object", MAX_LINE_BYTES / 1024)]
    TooLong,
    /// A field breaks its rule.
    #[error("{field}: {reason}")]
    Field {
        /// The field's JSON path (`country`, `ms`).
        field: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The line is not one JSON object of an observation's shape.
    #[error("{0}; each line must be one observation object as `vantage export --raw` writes")]
    Shape(String),
}

impl LineFault {
    /// A field that breaks a rule of the row as a whole.
    fn rule(field: &str, reason: &str) -> LineFault {
        LineFault::Field { field: field.to_string(), reason: reason.to_string() }
    }
}

/// Pass one: parses and checks every line; returns the rows counted. `progress(rows)` is called
/// every `CHUNK_ROWS` (10,000) rows. The error names the line and the field.
pub fn check(reader: impl BufRead, progress: &mut dyn FnMut(u64)) -> Result<u64, ImportError> {
    let mut rows = 0u64;
    for_each_row(reader, &mut |_| {
        rows += 1;
        if rows.is_multiple_of(CHUNK_ROWS as u64) {
            progress(rows);
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Pass two, over the file [`check`] passed: stores its rows `CHUNK_ROWS` (10,000) at a time; returns
/// (rows read, rows new). `progress(rows)` is called after each stored chunk. A line that fails
/// now (the file changed after the check) stops the import with the chunks before it stored.
pub fn store(store: &dyn Store, reader: impl BufRead, progress: &mut dyn FnMut(u64)) -> Result<(u64, u64), ImportError> {
    store_in_chunks(store, reader, CHUNK_ROWS, progress)
}

/// [`store`] with `chunk_rows` rows per transaction.
fn store_in_chunks(
    store: &dyn Store,
    reader: impl BufRead,
    chunk_rows: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), ImportError> {
    let (mut read, mut added) = (0u64, 0u64);
    let mut chunk = Vec::with_capacity(chunk_rows);
    let mut flush = |chunk: &mut Vec<Observation>, read: u64| -> Result<u64, StoreError> {
        let new = store.import(chunk)?;
        chunk.clear();
        progress(read);
        Ok(new as u64)
    };
    let mut store_failed = false;
    let lines = for_each_row(reader, &mut |o| {
        // A full chunk is stored at the next report's first row: a report's rows (consecutive, as
        // an export writes them) go to the store together, which keeps a report as one row and
        // skips a report it already has.
        if chunk.len() >= chunk_rows && chunk.last().is_some_and(|last: &Observation| last.report_id != o.report_id) {
            added += flush(&mut chunk, read).inspect_err(|_| store_failed = true)?;
        }
        chunk.push(o);
        read += 1;
        Ok(())
    });
    let (cause, changed) = match lines {
        Ok(()) if chunk.is_empty() => return Ok((read, added)),
        Ok(()) => match flush(&mut chunk, read) {
            Ok(new) => return Ok((read, added + new)),
            Err(e) => (ImportError::Store(e), false),
        },
        Err(e) => (e, !store_failed),
    };
    // A chunk is stored whole or not at all; the chunks before a failure stay stored.
    let stored = read - chunk.len() as u64;
    Err(ImportError::Partial { cause: Box::new(cause), stored, changed })
}

/// Calls `each(row)` for every non-blank line, parsed and checked.
fn for_each_row(mut reader: impl BufRead, each: &mut dyn FnMut(Observation) -> Result<(), ImportError>) -> Result<(), ImportError> {
    let mut buf = Vec::new();
    for line in 1.. {
        let at = |fault| ImportError::Line { line, fault };
        buf.clear();
        let len = reader.by_ref().take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut buf).map_err(|e| at(LineFault::Read(e)))?;
        if len == 0 {
            break;
        }
        if buf.len() as u64 > MAX_LINE_BYTES {
            return Err(at(LineFault::TooLong));
        }
        if buf.trim_ascii().is_empty() {
            continue;
        }
        // The wire's rules come with the field types, so an import holds nothing a report could
        // not have carried; `check_row` adds the rules of the row as a whole.
        let o: Observation = json_row::decode(&buf).map_err(|e| match e {
            RowError::Field { field, message } => at(LineFault::Field { field, reason: message }),
            RowError::Shape(message) => at(LineFault::Shape(message)),
        })?;
        check_row(&o).map_err(at)?;
        each(o)?;
    }
    Ok(())
}

/// The rules of a row as a whole, beyond its fields' types.
fn check_row(o: &Observation) -> Result<(), LineFault> {
    let ms_ok = |ms: f64| ms.is_finite() && (0.0..=vantage_protocol::MAX_MS).contains(&ms);
    match () {
        _ if o.ts % 60 != 0 => Err(LineFault::rule("ts", "must be a whole minute")),
        _ if !ms_ok(o.ms) => Err(LineFault::rule("ms", "must be between 0 and 120000")),
        _ if !ms_ok(o.control_ms) => Err(LineFault::rule("control_ms", "must be between 0 and 120000")),
        _ if (o.outcome == Outcome::HttpError) != o.status.is_some_and(|s| (100..=599).contains(&s)) => {
            Err(LineFault::rule("status", "100 to 599 with outcome http_error, absent otherwise"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    /// `n` valid lines, one report each.
    fn lines(n: u32) -> String {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"ts":"2026-11-28T18:41:00Z","country":"PK","asn":1,"network":{i},"site":"drm","platform":"x","target":"x.main","outcome":"ok","ms":1.0,"control_outcome":"ok","control_ms":1.0,"browser_family":null,"net_type":null,"report_id":"{i:032x}"}}"#
                ) + "\r\n\n"
            })
            .collect()
    }

    #[test]
    fn blank_lines_and_crlf_are_fine_and_a_line_without_end_is_refused() {
        assert_eq!(check(lines(3).as_bytes(), &mut |_| {}).unwrap(), 3);
        let endless = "{".repeat(MAX_LINE_BYTES as usize + 1);
        let e = check(format!("{}{endless}", lines(2)).as_bytes(), &mut |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("line 5: longer than 64 KiB"), "{e}");
    }

    #[test]
    fn a_row_takes_the_wire_rules_for_site_platform_and_country() {
        for (from, to, field) in [
            ("\"site\":\"drm\"", "\"site\":\"Dawn.com\"", "site: must be 1 to 64 characters of [a-z0-9_-]"),
            ("\"platform\":\"x\"", "\"platform\":\"x.main\"", "platform: must be 1 to 64 of [a-z0-9_-]"),
            ("\"country\":\"PK\"", "\"country\":\"pk\"", "country: must be two upper-case letters (ZZ unknown)"),
        ] {
            let e = check(lines(1).replace(from, to).as_bytes(), &mut |_| {}).unwrap_err();
            assert_eq!(e.to_string(), format!("line 1: {field}"));
        }
    }

    #[test]
    fn a_file_that_changed_after_the_check_keeps_its_whole_chunks_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db"), 4).unwrap();
        let good = lines(210);
        let changed = format!("{good}{{\"ts\": 1}}\n");
        let mut calls = Vec::new();
        let e = store_in_chunks(&store, changed.as_bytes(), 100, &mut |rows| calls.push(rows)).unwrap_err().to_string();
        assert!(e.contains("line 421: ") && e.contains("the file changed after it was checked"), "{e}");
        assert!(e.contains("the first 200 rows are stored, and importing the file again skips them"), "{e}");
        assert_eq!(calls, [100, 200]);
        assert_eq!(store.observations(None, None).unwrap().len(), 200);
        assert_eq!(store_in_chunks(&store, good.as_bytes(), 100, &mut |_| {}).unwrap(), (210, 10));
        store.close().unwrap();
    }

    #[test]
    fn a_report_across_a_chunk_edge_is_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db"), 4).unwrap();
        // Reports of two rows each (targets x.main and x.other), chunks of three rows.
        let two_rows: String =
            lines(3).lines().filter(|l| !l.is_empty()).map(|l| format!("{l}\n{}\n", l.replace("x.main", "x.other"))).collect();
        let mut calls = Vec::new();
        assert_eq!(store_in_chunks(&store, two_rows.as_bytes(), 3, &mut |rows| calls.push(rows)).unwrap(), (6, 6));
        assert_eq!(calls, [4, 6], "a chunk ends where a report does");
        assert_eq!(store.observations(None, None).unwrap().len(), 6);
        store.close().unwrap();
    }
}
