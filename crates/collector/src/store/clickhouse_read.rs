//! ClickHouse reads: rollups for the API and the detector, incidents, raw rows for export. Every
//! query sums with `GROUP BY` (SummingMergeTree merges are eventual) or keeps one row per key
//! (`argMax` over the version, `LIMIT 1 BY`), so nothing needs `FINAL`.

use super::cells::Cells;
use super::clickhouse_http::{quote, Http};
use super::series::{PointSums, SeriesQuery};
use super::{Incident, IncidentFilter, Observation, RollupFilter, Sink, StoreError};
use crate::rollup::{CellKey, CellRollup, NetRollup, KIND_TIMES};
use serde::Deserialize;
use std::time::Duration;
use vantage_protocol::{Country, Outcome, Platform, ReportId, SiteKey, TargetId};

/// Reads may take this long.
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Minutes read per query when scanning every cell (bounds memory per chunk).
const CHUNK_ALL: i64 = 60;
/// Minutes read per query when one platform or country is asked for.
const CHUNK_FILTERED: i64 = 1440;

/// `WHERE` conditions of a rollup filter over minutes `[from, to)`.
fn conditions(f: &RollupFilter, from: i64, to: i64) -> String {
    let mut sql = format!("ts >= toDateTime({}) AND ts < toDateTime({})", from.max(0) * 60, to.max(0) * 60);
    if let Some(p) = &f.platform {
        sql.push_str(&format!(" AND platform = {}", quote(p.as_str())));
    }
    if let Some(c) = &f.country {
        sql.push_str(&format!(" AND country = {}", quote(c.as_str())));
    }
    if let Some(a) = f.asn {
        sql.push_str(&format!(" AND asn = {a}"));
    }
    sql
}

#[derive(Deserialize)]
struct NetRow {
    minute: i64,
    platform: Platform,
    country: Country,
    asn: u32,
    network: u32,
    reports: u32,
    ok: u32,
    error: u32,
    timeout: u32,
    blocked: u32,
    excluded_control: u32,
    log_ms_sum: f64,
}

#[derive(Deserialize)]
struct HistRow {
    minute: i64,
    platform: Platform,
    country: Country,
    asn: u32,
    kind: u8,
    bucket: usize,
    n: u32,
}

/// Streams cell-minutes in (minute, platform, country, asn) order, a chunk of minutes at a time.
pub(super) fn scan_rollups(http: &Http, f: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> Result<(), StoreError> {
    let chunk = if f.platform.is_some() || f.country.is_some() { CHUNK_FILTERED } else { CHUNK_ALL };
    let mut from = f.from;
    while from < f.to {
        let to = (from + chunk).min(f.to);
        scan_chunk(http, f, from, to, each)?;
        from = to;
    }
    Ok(())
}

fn scan_chunk(http: &Http, f: &RollupFilter, from: i64, to: i64, each: &mut dyn FnMut(CellRollup)) -> Result<(), StoreError> {
    let cond = conditions(f, from, to);
    let db = &http.db;
    let hist: Vec<HistRow> = http.select(
        &format!(
            "SELECT intDiv(toUInt32(ts), 60) AS minute, platform, country, asn, kind, bucket, toUInt32(sum(n)) AS n
             FROM {db}.rollup_hist WHERE {cond} GROUP BY minute, platform, country, asn, kind, bucket"
        ),
        READ_TIMEOUT,
    )?;
    let mut cells = Cells::default();
    for r in hist {
        cells.hist(CellKey { minute: r.minute, platform: r.platform, country: r.country, asn: r.asn }, r.kind, r.bucket, r.n);
    }
    let nets: Vec<NetRow> = http.select(
        &format!(
            "SELECT intDiv(toUInt32(ts), 60) AS minute, platform, country, asn, network,
             toUInt32(sum(reports)) AS reports, toUInt32(sum(ok)) AS ok, toUInt32(sum(error)) AS error,
             toUInt32(sum(timeout)) AS timeout, toUInt32(sum(blocked)) AS blocked,
             toUInt32(sum(excluded_control)) AS excluded_control, sum(log_ms_sum) AS log_ms_sum
             FROM {db}.rollup_nets WHERE {cond} GROUP BY minute, platform, country, asn, network
             ORDER BY minute, platform, country, asn, network"
        ),
        READ_TIMEOUT,
    )?;
    for r in nets {
        let key = CellKey { minute: r.minute, platform: r.platform, country: r.country, asn: r.asn };
        let net = NetRollup {
            network: r.network,
            reports: r.reports,
            ok: r.ok,
            error: r.error,
            timeout: r.timeout,
            blocked: r.blocked,
            excluded_control: r.excluded_control,
            log_ms_sum: r.log_ms_sum,
        };
        cells.net(key, net, each);
    }
    cells.finish(each);
    Ok(())
}

/// Per-point sums of one series, aggregated by the server (a few thousand rows come back, not
/// every network row): counters and distinct networks from `rollup_nets` (`uniqExactIf` over
/// unmerged parts is exact: a network's counted total is above zero exactly when one of its part
/// rows is), times from `rollup_hist` as one bucket array a point.
pub(super) fn series(http: &Http, q: &SeriesQuery) -> Result<Vec<PointSums>, StoreError> {
    #[derive(Deserialize)]
    struct NetPoint {
        i: i64,
        sum_ok: u64,
        sum_failed: u64,
        nets: u64,
    }
    #[derive(Deserialize)]
    struct HistPoint {
        i: i64,
        b: Vec<usize>,
        n: Vec<u64>,
    }
    let f = RollupFilter { from: q.from, to: q.to, platform: Some(q.platform.clone()), country: Some(q.country), asn: q.asn };
    let cond = conditions(&f, q.from, q.to);
    let (db, from, step) = (&http.db, q.from, q.step.max(1));
    let point = format!("intDiv(toInt64(intDiv(toUInt32(ts), 60)) - {from}, {step})");
    let mut out = vec![PointSums::default(); q.points()];
    let nets: Vec<NetPoint> = http.select(
        &format!(
            "SELECT {point} AS i, sum(ok) AS sum_ok, sum(error) + sum(timeout) AS sum_failed,
             uniqExactIf(network, ok + error + timeout > 0) AS nets
             FROM {db}.rollup_nets WHERE {cond} GROUP BY i"
        ),
        READ_TIMEOUT,
    )?;
    for r in nets {
        if let Some(p) = usize::try_from(r.i).ok().and_then(|i| out.get_mut(i)) {
            (p.ok, p.failed, p.networks) = (r.sum_ok, r.sum_failed, r.nets);
        }
    }
    let hist: Vec<HistPoint> = http.select(
        &format!(
            "SELECT i, groupArray(bucket) AS b, groupArray(c) AS n FROM (
                SELECT {point} AS i, bucket, sum(n) AS c FROM {db}.rollup_hist
                WHERE {cond} AND kind = {KIND_TIMES} GROUP BY i, bucket
             ) GROUP BY i"
        ),
        READ_TIMEOUT,
    )?;
    for r in hist {
        if let Some(p) = usize::try_from(r.i).ok().and_then(|i| out.get_mut(i)) {
            for (b, n) in r.b.into_iter().zip(r.n) {
                if let Some(slot) = p.times.get_mut(b) {
                    *slot += n;
                }
            }
        }
    }
    Ok(out)
}

/// First and last minute with rollups.
pub(super) fn rollup_bounds(http: &Http) -> Result<Option<(i64, i64)>, StoreError> {
    #[derive(Deserialize)]
    struct Bounds {
        lo: i64,
        hi: i64,
        n: u64,
    }
    let b: Vec<Bounds> = http.select(
        &format!(
            "SELECT intDiv(toUInt32(min(ts)), 60) AS lo, intDiv(toUInt32(max(ts)), 60) AS hi, count() AS n FROM {}.rollup_nets",
            http.db
        ),
        READ_TIMEOUT,
    )?;
    Ok(b.first().filter(|b| b.n > 0).map(|b| (b.lo, b.hi)))
}

/// (platform, country, reports) of every pair with rollups from minute `from` on.
pub(super) fn activity(http: &Http, from: i64) -> Result<super::Activity, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        platform: Platform,
        country: Country,
        n: u64,
    }
    let rows: Vec<Row> = http.select(
        &format!(
            "SELECT platform, country, sum(reports) AS n FROM {}.rollup_nets WHERE ts >= toDateTime({}) GROUP BY platform, country",
            http.db,
            from.max(0) * 60
        ),
        Duration::from_secs(5),
    )?;
    Ok(rows.into_iter().map(|r| (r.platform, r.country, r.n)).collect())
}

/// The version an incident row is kept by (`ReplacingMergeTree(version)`, `argMax`): a closed
/// incident outranks an open one, then the later end, then more evidence. Every node computes
/// the same incident from the same rollups, so whichever node writes last, the most complete
/// document wins, not the latest write.
pub(super) fn incident_version(i: &Incident) -> u64 {
    let closed = u64::from(i.end_minute.is_some());
    let end = i.end_minute.unwrap_or(0).clamp(0, (1 << 31) - 1) as u64;
    (closed << 63) | (end << 32) | i.reports.min(u64::from(u32::MAX))
}

/// Inserts incident rows; reads keep the highest version of each id.
pub(super) fn upsert_incidents(http: &Http, incidents: &[Incident]) -> Result<(), StoreError> {
    if incidents.is_empty() {
        return Ok(());
    }
    let mut body = String::new();
    for i in incidents {
        let row = serde_json::json!({
            "id": i.id, "platform": i.platform, "country": i.country, "started": i.start_minute,
            "ended": i.end_minute.unwrap_or(-1), "doc": serde_json::to_string(i).expect("incidents serialize"),
            "version": incident_version(i),
        });
        body.push_str(&row.to_string());
        body.push('\n');
    }
    http.insert(&format!("{}.incidents", http.db), body, READ_TIMEOUT)
}

/// Incidents matching the filter, newest start first.
pub(super) fn incidents(http: &Http, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
    #[derive(Deserialize)]
    struct Row {
        d: String,
        s: i64,
        e: i64,
    }
    let mut sql = format!(
        "SELECT id, argMax(doc, version) AS d, argMax(started, version) AS s, argMax(ended, version) AS e
         FROM {}.incidents WHERE 1 = 1",
        http.db
    );
    if let Some(c) = &f.country {
        sql.push_str(&format!(" AND country = {}", quote(c.as_str())));
    }
    if let Some(p) = &f.platform {
        sql.push_str(&format!(" AND platform = {}", quote(p.as_str())));
    }
    sql.push_str(" GROUP BY id");
    if f.open_only {
        sql.push_str(" HAVING e < 0");
    }
    sql.push_str(&format!(" ORDER BY s DESC, id LIMIT {}", f.limit.max(1)));
    let rows: Vec<Row> = http.select(&sql, READ_TIMEOUT)?;
    rows.into_iter()
        .map(|r| Ok(Incident { start_minute: r.s, end_minute: (r.e >= 0).then_some(r.e), ..super::incident_doc(&r.d)? }))
        .collect()
}

/// Observations with `from <= ts < to`, oldest first, one per (report_id, target), handed to
/// `each` as the answer arrives (see `Http::select_each`): the sort and `LIMIT 1 BY` run in
/// ClickHouse, this process holds one row at a time.
pub(super) fn scan_observations(
    http: &Http,
    from: Option<i64>,
    to: Option<i64>,
    each: &mut Sink<'_, Observation>,
) -> Result<(), StoreError> {
    #[derive(Deserialize)]
    struct Row {
        t: i64,
        country: Country,
        asn: u32,
        network: u32,
        site: SiteKey,
        platform: Platform,
        target: TargetId,
        outcome: Outcome,
        ms: f64,
        control_outcome: Outcome,
        control_ms: f64,
        browser_family: Option<String>,
        net_type: Option<String>,
        report_id: ReportId,
        late: u8,
        status: Option<u16>,
    }
    let mut cond = String::from("1 = 1");
    if let Some(f) = from {
        cond.push_str(&format!(" AND ts >= toDateTime({})", f.max(0)));
    }
    if let Some(t) = to {
        cond.push_str(&format!(" AND ts < toDateTime({})", t.max(0)));
    }
    let sql = format!(
        "SELECT toUInt32(ts) AS t, country, asn, network, site, platform, target, outcome, ms, control_outcome,
         control_ms, browser_family, net_type, report_id, late, status FROM {}.observations WHERE {cond}
         ORDER BY t, report_id, target LIMIT 1 BY report_id, target",
        http.db
    );
    http.select_each(&sql, READ_TIMEOUT, &mut |r: Row| {
        each(Observation {
            ts: r.t,
            country: r.country,
            asn: r.asn,
            network: r.network,
            site: r.site,
            platform: r.platform,
            target: r.target,
            outcome: r.outcome,
            ms: r.ms,
            control_outcome: r.control_outcome,
            control_ms: r.control_ms,
            browser_family: r.browser_family,
            net_type: r.net_type,
            report_id: r.report_id,
            late: r.late != 0,
            status: r.status,
        })
        .map_err(StoreError::Output)
    })
}
