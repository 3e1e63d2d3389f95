//! `vantage import` and `vantage export`: observations as NDJSON (docs/protocol.md §2), and
//! k-anonymous aggregates per (minute, country, asn, platform). Every path streams: memory does
//! not grow with the file or the range (a chunk of rows at most). Progress is reported through
//! callbacks; drawing it is the binary's business.

mod aggregate;
pub mod import;

pub use aggregate::aggregate;
pub(crate) use aggregate::{scan_aggregates, Aggregate};

use crate::store::publish::settled_end;
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::io::Write;

/// What `vantage export` writes.
pub struct ExportRequest {
    /// Inclusive lower bound (Unix seconds).
    pub from: Option<i64>,
    /// Exclusive upper bound (Unix seconds).
    pub to: Option<i64>,
    /// Raw observations instead of aggregates.
    pub raw: bool,
    /// k: fewest reports per published cell.
    pub min_reports: usize,
    /// m: fewest networks per published cell.
    pub min_networks: usize,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(StoreError),
    /// The output could not be written (a full disk, a closed pipe).
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
}

/// A store read that the output stopped is the output's failure, not the store's.
impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> ExportError {
        match e {
            StoreError::Output(e) => ExportError::Output(e),
            e => ExportError::Store(e),
        }
    }
}

/// Rows between two calls of an export's `progress`.
const PROGRESS_EVERY: u64 = 1_000;

/// Writes NDJSON to `out` as the rows are read (give it a `BufWriter`); returns the rows written.
/// `progress(rows)` is called every `PROGRESS_EVERY` rows and at the end.
pub fn export(store: &dyn Store, req: &ExportRequest, out: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> Result<u64, ExportError> {
    let mut rows = 0u64;
    let mut write = |row: &dyn erased::Row| -> std::io::Result<()> {
        row.write_line(out)?;
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY) {
            progress(rows);
        }
        Ok(())
    };
    if req.raw {
        store.scan_observations(req.from, req.to, &mut |o| write(&o))?;
    } else {
        let settled = settled_end(time::OffsetDateTime::now_utc().unix_timestamp());
        scan_aggregates(store, (req.from, req.to), (req.min_reports, req.min_networks), settled, &mut |a| write(&a))?;
    }
    out.flush().map_err(ExportError::Output)?;
    progress(rows);
    Ok(rows)
}

/// One NDJSON line of any exported row type, behind one `&dyn` so both kinds share the writer.
mod erased {
    use super::Serialize;
    use std::io::Write;

    /// A row that writes itself as one JSON line.
    pub(super) trait Row {
        /// Writes the row and a line break.
        fn write_line(&self, out: &mut dyn Write) -> std::io::Result<()>;
    }

    impl<T: Serialize> Row for T {
        fn write_line(&self, out: &mut dyn Write) -> std::io::Result<()> {
            serde_json::to_writer(&mut *out, self)?;
            out.write_all(b"\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    /// An output whose every write fails, as a closed pipe does; flushing what was never
    /// written succeeds, so only a written row can make the export fail.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the pipe is closed"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_output_is_the_outputs_error_in_raw_and_aggregate_exports() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db"), 4).unwrap();
        let row = r#"{"ts":"2026-11-28T18:41:00Z","country":"PK","asn":1,"network":7,"site":"drm","platform":"x","target":"x.main","outcome":"ok","ms":1.0,"control_outcome":"ok","control_ms":1.0,"browser_family":null,"net_type":null,"report_id":"0123456789abcdef0123456789abcdef"}"#;
        assert_eq!(import::store(&store, row.as_bytes(), &mut |_| {}).unwrap(), (1, 1));
        for raw in [true, false] {
            let req = ExportRequest { from: None, to: None, raw, min_reports: 1, min_networks: 1 };
            let e = export(&store, &req, &mut ClosedPipe, &mut |_| {}).unwrap_err();
            assert!(matches!(e, ExportError::Output(_)), "raw {raw}: {e:?}");
            assert_eq!(e.to_string(), "writing output: the pipe is closed", "raw {raw}");
        }
        store.close().unwrap();
    }
}
