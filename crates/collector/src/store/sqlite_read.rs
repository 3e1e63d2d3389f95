//! SQLite rollups and incidents: the writer's upserts (inside its transaction) and the reads of
//! the API and the detector, on a small pool of connections of their own.

use super::cells::Cells;
use super::series::{add_hist, encode_hist, PointSums, SeriesQuery};
use super::sqlite::connect;
use super::{IncidentFilter, RollupFilter, StoredIncident};
use crate::rollup::{CellKey, CellRollup, NetRollup, RollupDelta, KIND_TIMES};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vantage_detect::hist::NUM_BUCKETS;

/// Most idle read connections kept.
const MAX_IDLE_READERS: usize = 4;
/// Minutes read per query when scanning every cell (bounds memory per chunk).
const CHUNK_ALL: i64 = 60;
/// Minutes read per query when one platform or country is asked for.
const CHUNK_FILTERED: i64 = 1440;

/// A pool of read connections (WAL readers never block the writer).
pub struct Readers {
    /// Database file.
    path: PathBuf,
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// An empty pool for `path`.
    pub fn new(path: &Path) -> Readers {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on a pooled connection.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&conn).map_err(|e| format!("sqlite read: {e}"));
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// Adds a transaction's rollup delta (summing into existing rows), and its country totals to
/// `rollup_country`: a network counts there the moment it first has a counted report in a
/// (minute, platform, country), whatever its ASN.
pub fn write_rollups(tx: &Transaction<'_>, d: &RollupDelta) -> rusqlite::Result<()> {
    let mut nets = tx.prepare_cached(
        "INSERT INTO rollup_nets (minute, platform, country, asn, network, reports, ok, error, timeout, blocked,
         excluded_control, log_ms_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (minute, platform, country, asn, network) DO UPDATE SET reports = reports + excluded.reports,
         ok = ok + excluded.ok, error = error + excluded.error, timeout = timeout + excluded.timeout,
         blocked = blocked + excluded.blocked, excluded_control = excluded_control + excluded.excluded_control,
         log_ms_sum = log_ms_sum + excluded.log_ms_sum
         RETURNING ok + error + timeout",
    )?;
    let mut elsewhere = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM rollup_nets WHERE minute = ?1 AND platform = ?2 AND country = ?3
         AND network = ?4 AND asn <> ?5 AND ok + error + timeout > 0)",
    )?;
    let mut country: HashMap<(i64, &str, &str), CountryRow> = HashMap::new();
    for ((k, _), n) in &d.nets {
        let counted: i64 = nets.query_row(
            params![
                k.minute,
                k.platform,
                k.country,
                k.asn,
                n.network,
                n.reports,
                n.ok,
                n.error,
                n.timeout,
                n.blocked,
                n.excluded_control,
                n.log_ms_sum
            ],
            |r| r.get(0),
        )?;
        let c = country.entry((k.minute, &k.platform, &k.country)).or_default();
        c.add(n);
        // Counted now and not before this delta: a network new to the (cell, ASN).
        if n.counted() > 0 && counted == i64::from(n.counted()) {
            let seen: bool = elsewhere.query_row(params![k.minute, k.platform, k.country, n.network, k.asn], |r| r.get(0))?;
            c.networks += u64::from(!seen);
        }
    }
    let mut hist = tx.prepare_cached(
        "INSERT INTO rollup_hist (minute, platform, country, asn, kind, bucket, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (minute, platform, country, asn, kind, bucket) DO UPDATE SET n = n + excluded.n",
    )?;
    for ((k, kind, bucket), n) in &d.hist {
        hist.execute(params![k.minute, k.platform, k.country, k.asn, kind, bucket, n])?;
        if *kind == KIND_TIMES {
            let c = country.entry((k.minute, &k.platform, &k.country)).or_default();
            c.times[*bucket as usize] += u64::from(*n);
        }
    }
    let mut old_times = tx.prepare_cached("SELECT times FROM rollup_country WHERE platform = ?1 AND country = ?2 AND minute = ?3")?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO rollup_country (platform, country, minute, reports, ok, error, timeout, blocked, excluded_control,
         networks, times) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (platform, country, minute) DO UPDATE SET reports = reports + excluded.reports,
         ok = ok + excluded.ok, error = error + excluded.error, timeout = timeout + excluded.timeout,
         blocked = blocked + excluded.blocked, excluded_control = excluded_control + excluded.excluded_control,
         networks = networks + excluded.networks, times = excluded.times",
    )?;
    for ((minute, platform, country), mut c) in country {
        let old: Option<Vec<u8>> = old_times.query_row(params![platform, country, minute], |r| r.get(0)).optional()?;
        if let Some(old) = old {
            add_hist(&mut c.times, &old);
        }
        upsert.execute(params![
            platform,
            country,
            minute,
            c.reports as i64,
            c.ok as i64,
            c.error as i64,
            c.timeout as i64,
            c.blocked as i64,
            c.excluded_control as i64,
            c.networks as i64,
            encode_hist(&c.times)
        ])?;
    }
    Ok(())
}

/// What one transaction adds to one (minute, platform, country) of `rollup_country`.
struct CountryRow {
    reports: u64,
    ok: u64,
    error: u64,
    timeout: u64,
    blocked: u64,
    excluded_control: u64,
    networks: u64,
    times: Vec<u64>,
}

impl Default for CountryRow {
    fn default() -> CountryRow {
        CountryRow { reports: 0, ok: 0, error: 0, timeout: 0, blocked: 0, excluded_control: 0, networks: 0, times: vec![0; NUM_BUCKETS] }
    }
}

impl CountryRow {
    fn add(&mut self, n: &NetRollup) {
        self.reports += u64::from(n.reports);
        self.ok += u64::from(n.ok);
        self.error += u64::from(n.error);
        self.timeout += u64::from(n.timeout);
        self.blocked += u64::from(n.blocked);
        self.excluded_control += u64::from(n.excluded_control);
    }
}

/// Fills an empty `rollup_country` from `rollup_nets` and `rollup_hist` (a store written before
/// the table existed), in one transaction. `Some(rows)` when it did, `None` when there was nothing
/// to do.
pub fn backfill_country(conn: &mut Connection) -> rusqlite::Result<Option<usize>> {
    let has = |conn: &Connection, table: &str| -> rusqlite::Result<bool> {
        conn.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| r.get(0))
    };
    if has(conn, "rollup_country")? || !has(conn, "rollup_nets")? {
        return Ok(None);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let rows = tx.execute(
        "INSERT INTO rollup_country (platform, country, minute, reports, ok, error, timeout, blocked, excluded_control,
         networks, times)
         SELECT platform, country, minute, sum(reports), sum(ok), sum(error), sum(timeout), sum(blocked),
         sum(excluded_control), count(DISTINCT CASE WHEN ok + error + timeout > 0 THEN network END), x''
         FROM rollup_nets GROUP BY platform, country, minute",
        [],
    )?;
    {
        let mut hist = tx.prepare(
            "SELECT platform, country, minute, bucket, sum(n) FROM rollup_hist WHERE kind = ?1
             GROUP BY platform, country, minute, bucket ORDER BY platform, country, minute, bucket",
        )?;
        let mut set = tx.prepare("UPDATE rollup_country SET times = ?4 WHERE platform = ?1 AND country = ?2 AND minute = ?3")?;
        let mut cur: Option<((String, String, i64), Vec<u64>)> = None;
        let mut flush = |cur: Option<((String, String, i64), Vec<u64>)>| -> rusqlite::Result<()> {
            if let Some(((p, c, m), times)) = cur {
                set.execute(params![p, c, m, encode_hist(&times)])?;
            }
            Ok(())
        };
        let mut rows = hist.query([KIND_TIMES])?;
        while let Some(r) = rows.next()? {
            let key: (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (bucket, n): (i64, i64) = (r.get(3)?, r.get(4)?);
            if cur.as_ref().is_none_or(|(k, _)| *k != key) {
                flush(cur.take())?;
                cur = Some((key, vec![0; NUM_BUCKETS]));
            }
            if let Some(slot) = cur.as_mut().and_then(|(_, t)| t.get_mut(bucket as usize)) {
                *slot += n as u64;
            }
        }
        flush(cur)?;
    }
    tx.commit()?;
    Ok(Some(rows))
}

/// Per-point sums of a whole-country series: the counters and times from `rollup_country` (one
/// row a minute); for points longer than a minute, distinct networks from `rollup_nets`.
pub fn series(conn: &Connection, q: &SeriesQuery) -> rusqlite::Result<Vec<PointSums>> {
    let mut out = vec![PointSums::default(); q.points()];
    // One read transaction: both queries see the same snapshot.
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut stmt = conn.prepare_cached(
            "SELECT minute, ok, error + timeout, networks, times FROM rollup_country
             WHERE platform = ?1 AND country = ?2 AND minute >= ?3 AND minute < ?4",
        )?;
        let mut rows = stmt.query(params![q.platform, q.country, q.from, q.to])?;
        while let Some(r) = rows.next()? {
            let Some(p) = q.index(r.get(0)?).and_then(|i| out.get_mut(i)) else { continue };
            p.ok += r.get::<_, i64>(1)? as u64;
            p.failed += r.get::<_, i64>(2)? as u64;
            p.networks += r.get::<_, i64>(3)? as u64;
            add_hist(&mut p.times, r.get_ref(4)?.as_blob()?);
        }
        if q.step > 1 {
            for p in out.iter_mut() {
                p.networks = 0;
            }
            let mut stmt = conn.prepare_cached(
                "SELECT (minute - ?3) / ?5, count(DISTINCT network) FROM rollup_nets
                 WHERE platform = ?1 AND country = ?2 AND minute >= ?3 AND minute < ?4 AND ok + error + timeout > 0
                 GROUP BY 1",
            )?;
            let mut rows = stmt.query(params![q.platform, q.country, q.from, q.to, q.step])?;
            while let Some(r) = rows.next()? {
                if let Some(p) = out.get_mut(r.get::<_, i64>(0)? as usize) {
                    p.networks = r.get::<_, i64>(1)? as u64;
                }
            }
        }
        Ok(())
    })();
    conn.execute_batch("COMMIT")?;
    result.map(|()| out)
}

/// `WHERE` clause and parameters for a filter over `[from, to)`.
fn where_clause(f: &RollupFilter, from: i64, to: i64) -> (String, Vec<Value>) {
    let mut sql = String::from("minute >= ? AND minute < ?");
    let mut args = vec![Value::Integer(from), Value::Integer(to)];
    if let Some(p) = &f.platform {
        sql.push_str(" AND platform = ?");
        args.push(Value::Text(p.clone()));
    }
    if let Some(c) = &f.country {
        sql.push_str(" AND country = ?");
        args.push(Value::Text(c.clone()));
    }
    if let Some(a) = f.asn {
        sql.push_str(" AND asn = ?");
        args.push(Value::Integer(a.into()));
    }
    (sql, args)
}

/// Streams cell-minutes in (minute, platform, country, asn) order, a chunk of minutes at a time.
pub fn scan_rollups(conn: &Connection, f: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> rusqlite::Result<()> {
    let chunk = if f.platform.is_some() || f.country.is_some() { CHUNK_FILTERED } else { CHUNK_ALL };
    // One read transaction: every chunk sees the same snapshot.
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut from = f.from;
        while from < f.to {
            let to = (from + chunk).min(f.to);
            scan_chunk(conn, f, from, to, each)?;
            from = to;
        }
        Ok(())
    })();
    conn.execute_batch("COMMIT")?;
    result
}

fn scan_chunk(conn: &Connection, f: &RollupFilter, from: i64, to: i64, each: &mut dyn FnMut(CellRollup)) -> rusqlite::Result<()> {
    let (cond, args) = where_clause(f, from, to);
    let mut cells = Cells::default();
    let mut stmt = conn.prepare_cached(&format!("SELECT minute, platform, country, asn, kind, bucket, n FROM rollup_hist WHERE {cond}"))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let key = CellKey { minute: r.get(0)?, platform: r.get(1)?, country: r.get(2)?, asn: r.get(3)? };
        let (kind, bucket, n): (u8, i64, u32) = (r.get(4)?, r.get(5)?, r.get(6)?);
        cells.hist(key, kind, bucket as usize, n);
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT minute, platform, country, asn, network, reports, ok, error, timeout, blocked, excluded_control, log_ms_sum
         FROM rollup_nets WHERE {cond} ORDER BY minute, platform, country, asn, network"
    ))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let key = CellKey { minute: r.get(0)?, platform: r.get(1)?, country: r.get(2)?, asn: r.get(3)? };
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

/// Inserts or replaces incidents by id.
pub fn upsert_incidents(conn: &Connection, incidents: &[StoredIncident]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO incidents (id, platform, country, asn, started, ended, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET asn = excluded.asn, started = excluded.started, ended = excluded.ended, doc = excluded.doc",
    )?;
    for i in incidents {
        let doc = serde_json::to_string(i).expect("incidents serialize");
        stmt.execute(params![i.id, i.platform, i.country, i.asn, i.start_minute, i.end_minute, doc])?;
    }
    Ok(())
}

/// Incidents matching the filter, newest start first.
pub fn incidents(conn: &Connection, f: &IncidentFilter) -> rusqlite::Result<Vec<StoredIncident>> {
    let mut sql = String::from("SELECT doc, started, ended FROM incidents WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(c) = &f.country {
        sql.push_str(" AND country = ?");
        args.push(Value::Text(c.clone()));
    }
    if let Some(p) = &f.platform {
        sql.push_str(" AND platform = ?");
        args.push(Value::Text(p.clone()));
    }
    if f.open_only {
        sql.push_str(" AND ended IS NULL");
    }
    sql.push_str(" ORDER BY started DESC, id LIMIT ?");
    args.push(Value::Integer(f.limit.max(1) as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        let doc: String = r.get(0)?;
        let mut i: StoredIncident = serde_json::from_str(&doc)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?;
        i.start_minute = r.get(1)?;
        i.end_minute = r.get(2)?;
        Ok(i)
    })?;
    rows.collect()
}
