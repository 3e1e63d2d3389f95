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
