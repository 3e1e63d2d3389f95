//! `vantage import`: NDJSON observations (docs/protocol.md §2) into a store in constant memory.
//! The file is read twice: [`check`] parses and checks every line first, so a bad file stores
//! nothing; then [`store`] parses it again and stores it [`CHUNK_ROWS`] rows per transaction.
//! The store skips (report_id, target) pairs it already has, so an interrupted import can be
//! re-run from the start and stores each row once.

use crate::store::{Observation, Store};
use std::io::{BufRead, Read};
use vantage_protocol::{is_valid_target_id, Outcome};

/// Rows per `Store::import` call (one transaction) in the storing pass: large enough that the
/// per-transaction cost is amortized, small enough that a chunk is a few megabytes.
pub const CHUNK_ROWS: usize = 10_000;

/// Longest line read: an observation is well under 1 KiB, and a file without line breaks must
/// not be read into memory whole.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// Pass one: parses and checks every line; returns the rows counted. `progress(rows)` is called
/// every [`CHUNK_ROWS`] rows. The error names the line and the field.
pub fn check(reader: impl BufRead, progress: &mut dyn FnMut(u64)) -> Result<u64, String> {
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

/// Pass two, over the file [`check`] passed: stores its rows [`CHUNK_ROWS`] at a time; returns
/// (rows read, rows new). `progress(rows)` is called after each stored chunk. A line that fails
/// now (the file changed after the check) stops the import with the chunks before it stored.
pub fn store(store: &dyn Store, reader: impl BufRead, progress: &mut dyn FnMut(u64)) -> Result<(u64, u64), String> {
    let (mut read, mut added) = (0u64, 0u64);
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut flush = |chunk: &mut Vec<Observation>, read: u64| -> Result<u64, String> {
        let new = store.import(chunk)?;
        chunk.clear();
        progress(read);
        Ok(new as u64)
    };
    let mut store_failed = false;
    let lines = for_each_row(reader, &mut |o| {
        chunk.push(o);
        read += 1;
        if chunk.len() == CHUNK_ROWS {
            added += flush(&mut chunk, read).inspect_err(|_| store_failed = true)?;
        }
        Ok(())
    });
    let result = match lines {
        Ok(()) if chunk.is_empty() => Ok(()),
        Ok(()) => flush(&mut chunk, read).map(|new| added += new),
        Err(e) if !store_failed => Err(format!("{e} (the file changed after it was checked)")),
        Err(e) => Err(e),
    };
    // A chunk is stored whole or not at all; the chunks before a failure stay stored.
    let stored = read - chunk.len() as u64;
    result.map_err(|e| format!("{e}; the first {stored} rows are stored, and importing the file again skips them"))?;
    Ok((read, added))
}

/// Calls `each(row)` for every non-blank line, parsed and checked.
fn for_each_row(mut reader: impl BufRead, each: &mut dyn FnMut(Observation) -> Result<(), String>) -> Result<(), String> {
    let mut buf = Vec::new();
    for n in 1.. {
        buf.clear();
        let len =
            reader.by_ref().take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut buf).map_err(|e| format!("line {n}: cannot read it: {e}"))?;
        if len == 0 {
            break;
        }
        if buf.len() as u64 > MAX_LINE_BYTES {
            return Err(format!("line {n}: longer than {} KiB; each line must be one observation object", MAX_LINE_BYTES / 1024));
        }
        if buf.trim_ascii().is_empty() {
            continue;
        }
        let o: Observation = serde_json::from_slice(&buf)
            .map_err(|e| format!("line {n}: {e}; each line must be one observation object as `vantage export --raw` writes"))?;
        check_row(&o).map_err(|e| format!("line {n}: {e}"))?;
        each(o)?;
    }
    Ok(())
}

fn check_row(o: &Observation) -> Result<(), String> {
    let country_ok = o.country.len() == 2 && o.country.bytes().all(|b| b.is_ascii_uppercase());
    let id_ok = o.report_id.len() == 32 && o.report_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ms_ok = |ms: f64| ms.is_finite() && (0.0..=vantage_protocol::MAX_MS).contains(&ms);
    match () {
        _ if o.ts % 60 != 0 => Err("ts: must be a whole minute".into()),
        _ if !country_ok => Err("country: must be two upper-case letters (ZZ unknown)".into()),
        _ if !is_valid_target_id(&o.target) => Err("target: must be 1 to 64 of [a-z0-9._-]".into()),
        _ if !is_valid_target_id(&o.platform) => Err("platform: must be 1 to 64 of [a-z0-9._-]".into()),
        _ if o.site.is_empty() || o.site.len() > 64 => Err("site: must be 1 to 64 characters".into()),
        _ if Outcome::from_wire(&o.outcome).is_none() => Err("outcome: not a known outcome".into()),
        _ if Outcome::from_wire(&o.control_outcome).is_none() => Err("control_outcome: not a known outcome".into()),
        _ if !ms_ok(o.ms) => Err("ms: must be between 0 and 120000".into()),
        _ if !ms_ok(o.control_ms) => Err("control_ms: must be between 0 and 120000".into()),
        _ if !id_ok => Err("report_id: must be 32 lowercase hex characters".into()),
        _ => Ok(()),
    }
}
