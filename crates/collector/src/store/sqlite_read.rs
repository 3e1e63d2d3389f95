//! SQLite reads of rollups for the API and the detector, on a small pool of connections of their
//! own; rollups come from the tables plus the writer's unflushed ones.

use super::cells::Cells;
use super::column;
use super::sqlite::connect;
use super::unflushed::{Merge, Unflushed};
use super::{RollupFilter, StoreError};
use crate::rollup::{CellKey, CellRollup, NetRollup};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vantage_protocol::{Country, Platform};

/// Most idle read connections kept.
const MAX_IDLE_READERS: usize = 4;
/// Minutes read per query when scanning every cell (bounds memory per chunk).
const CHUNK_ALL: i64 = 60;
/// Minutes read per query when one platform or country is asked for.
const CHUNK_FILTERED: i64 = 1440;

/// A pool of read connections (WAL readers never block the writer).
pub(super) struct Readers {
    /// Database file.
    path: PathBuf,
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// An empty pool for `path`.
    pub(super) fn new(path: &Path) -> Readers {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on a pooled connection.
    pub(super) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// `WHERE` clause and parameters for a filter over `[from, to)`.
fn where_clause(f: &RollupFilter, from: i64, to: i64) -> (String, Vec<Value>) {
    let mut sql = String::from("minute >= ? AND minute < ?");
    let mut args = vec![Value::Integer(from), Value::Integer(to)];
    only_cell(&mut sql, &mut args, f.platform.as_ref(), f.country.as_ref());
    if let Some(a) = f.asn {
        sql.push_str(" AND asn = ?");
        args.push(Value::Integer(a.into()));
    }
    (sql, args)
}

/// Adds `AND platform = ?` and `AND country = ?` for the ones given: the conditions rollup and
/// incident reads share.
pub(super) fn only_cell(sql: &mut String, args: &mut Vec<Value>, platform: Option<&Platform>, country: Option<&Country>) {
    for (column, value) in [("platform", platform.map(Platform::as_str)), ("country", country.map(Country::as_str))] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(Value::Text(v.to_string()));
        }
    }
}

/// Streams cell-minutes in (minute, platform, country, asn) order, a chunk of minutes at a time,
/// with the unflushed rollups added in.
pub(super) fn scan_rollups(
    conn: &Connection,
    f: &RollupFilter,
    unflushed: &Unflushed,
    each: &mut dyn FnMut(CellRollup),
) -> rusqlite::Result<()> {
    let chunk = if f.platform.is_some() || f.country.is_some() { CHUNK_FILTERED } else { CHUNK_ALL };
    // One read transaction: every chunk sees the same snapshot, pinned while the writer cannot
    // commit a flush, so each unflushed cell is either in the copy or in the snapshot.
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let memory = {
            let state = unflushed.lock();
            super::sqlite_flush::pin_snapshot(conn)?;
            state.copy(f)
        };
        let mut merge = Merge::new(memory, each);
        let mut from = f.from;
        while from < f.to {
            let to = (from + chunk).min(f.to);
            scan_chunk(conn, f, from, to, &mut |c| merge.cell(c))?;
            from = to;
        }
        merge.finish();
        Ok(())
    })();
    conn.execute_batch("COMMIT")?;
    result
}

/// First and last minute with rollups, in the tables or unflushed.
pub(super) fn rollup_bounds(conn: &Connection, unflushed: &Unflushed) -> rusqlite::Result<Option<(i64, i64)>> {
    let memory = unflushed.lock().bounds();
    let stored: Option<(i64, i64)> = conn.query_row("SELECT min(minute), max(minute) FROM rollup_nets", [], |r| {
        Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
    })?;
    Ok(match (stored, memory) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (x, None) | (None, x) => x,
    })
}

fn scan_chunk(conn: &Connection, f: &RollupFilter, from: i64, to: i64, each: &mut dyn FnMut(CellRollup)) -> rusqlite::Result<()> {
    let (cond, args) = where_clause(f, from, to);
    let mut cells = Cells::default();
    let mut stmt = conn.prepare_cached(&format!("SELECT minute, platform, country, asn, kind, bucket, n FROM rollup_hist WHERE {cond}"))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let key = CellKey { minute: r.get(0)?, platform: column::get(r, 1)?, country: column::get(r, 2)?, asn: r.get(3)? };
        let (kind, bucket, n): (u8, i64, u32) = (r.get(4)?, r.get(5)?, r.get(6)?);
        cells.hist(key, kind, bucket as usize, n);
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT minute, platform, country, asn, network, reports, ok, error, timeout, blocked, excluded_control, log_ms_sum
         FROM rollup_nets WHERE {cond} ORDER BY minute, platform, country, asn, network"
    ))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let key = CellKey { minute: r.get(0)?, platform: column::get(r, 1)?, country: column::get(r, 2)?, asn: r.get(3)? };
        let net = NetRollup {
            network: r.get(4)?,
            reports: r.get(5)?,
            ok: r.get(6)?,
            error: r.get(7)?,
            timeout: r.get(8)?,
            blocked: r.get(9)?,
            excluded_control: r.get(10)?,
            log_ms_sum: r.get(11)?,
        };
        cells.net(key, net, each);
    }
    cells.finish(each);
    Ok(())
}
