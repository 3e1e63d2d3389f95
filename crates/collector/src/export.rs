//! `vantage import` and `vantage export`: observations as NDJSON (docs/protocol.md §2), and
//! k-anonymous aggregates per (minute, country, asn, platform).

use crate::rollup::{CellRollup, NetRollup};
use crate::store::publish::{settled_end, Mass, Thresholds};
use crate::store::{Observation, RollupFilter, Store};
use serde::Serialize;
use std::io::Write;
use vantage_detect::hist::quantile_of;
use vantage_protocol::{is_valid_target_id, Outcome};

/// Parses and checks every line first, then stores all rows in one transaction, so a bad file
/// stores nothing. Returns (rows read, rows new).
pub fn import(store: &dyn Store, text: &str) -> Result<(usize, usize), String> {
    import_reader(store, text.as_bytes(), |_| {})
}

/// [`import`] from a reader, line by line; `storing(rows)` is called once every line has been
/// read and checked, before the rows are stored.
pub fn import_reader(store: &dyn Store, reader: impl std::io::BufRead, storing: impl FnOnce(usize)) -> Result<(usize, usize), String> {
    let mut rows = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: cannot read it: {e}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let o: Observation = serde_json::from_str(&line)
            .map_err(|e| format!("line {}: {e}; each line must be one observation object as `vantage export --raw` writes", i + 1))?;
        check(&o).map_err(|e| format!("line {}: {e}", i + 1))?;
        rows.push(o);
    }
    storing(rows.len());
    let added = store.import(&rows)?;
    Ok((rows.len(), added))
}

fn check(o: &Observation) -> Result<(), String> {
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
        _ if (o.outcome == Outcome::HttpError.as_str()) != o.status.is_some_and(|s| (100..=599).contains(&s)) => {
            Err("status: 100 to 599 with outcome http_error, absent otherwise".into())
        }
        _ => Ok(()),
    }
}

/// One published cell: a (minute, country, asn, platform) with at least k counted reports and m
/// networks among them (a leaf of `store::publish`). A cell below that is not listed at all:
/// listing it with empty counts would still tell that someone in that ASN measured that minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// The minute (RFC 3339).
    pub ts: String,
    /// Country code.
    pub country: String,
    /// AS number.
    pub asn: u32,
    /// Platform.
    pub platform: String,
    /// Distinct reports in the cell (at least k of them counted).
    pub reports: usize,
    /// Distinct networks with a counted measurement in the cell (>= m).
    pub networks: usize,
    /// Measurements that got a response (visitor's control fine).
    pub ok: usize,
    /// Network errors.
    pub error: usize,
    /// Deadlines hit.
    pub timeout: usize,
    /// Refused by the browser itself; not part of `success_rate`.
    pub blocked_by_client: usize,
    /// Measurements whose control failed or crawled (the visitor's link): counted neither way.
    pub excluded_control: usize,
    /// ok / (ok + error + timeout); absent when nothing counted.
    pub success_rate: Option<f64>,
    /// Median ms of the counted measurements (from the rollup's log-spaced histogram).
    pub median_ms: Option<f64>,
}

/// One cell-minute as a published aggregate, or `None` under `k` counted measurements, `k`
/// distinct reports or `m` networks. The row prints distinct reports, and a report measures
/// each platform at up to two targets, so k counted measurements alone could print a `reports`
/// below k.
pub fn aggregate(cell: &CellRollup, k: usize, m: usize) -> Option<Aggregate> {
    let mass = Mass::of_cell(cell);
    if !mass.publishable(Thresholds { min_reports: k as u64, min_networks: m as u64 }) || (mass.reports as usize) < k {
        return None;
    }
    let (reports, networks) = (mass.reports as usize, mass.networks.len());
    let sum = |f: fn(&NetRollup) -> u32| cell.nets.iter().map(|n| f(n) as usize).sum::<usize>();
    let (ok, error, timeout) = (sum(|n| n.ok), sum(|n| n.error), sum(|n| n.timeout));
    let tried = ok + error + timeout;
    Some(Aggregate {
        ts: crate::store::rfc3339::format(cell.key.minute * 60),
        country: cell.key.country.clone(),
        asn: cell.key.asn,
        platform: cell.key.platform.clone(),
        reports,
        networks,
        ok,
        error,
        timeout,
        blocked_by_client: sum(|n| n.blocked),
        excluded_control: sum(|n| n.excluded_control),
        success_rate: (tried > 0).then(|| ok as f64 / tried as f64),
        median_ms: quantile_of(&cell.times, 0.5),
    })
}

/// Published aggregates of `[from, to)` (unix seconds; minutes partly inside count), in
/// (minute, platform, country, asn) order, from the rollups; only minutes that end at or before
/// minute `settled_end` (`publish::settled_end`), so a listed cell never changes afterwards.
pub fn aggregates(
    store: &dyn Store,
    from: Option<i64>,
    to: Option<i64>,
    k: usize,
    m: usize,
    settled_end: i64,
) -> Result<Vec<Aggregate>, String> {
    let filter = RollupFilter {
        from: from.map_or(i64::MIN / 120, |s| s.div_euclid(60)),
        to: to.map_or(i64::MAX / 120, |s| (s + 59).div_euclid(60)).min(settled_end),
        ..RollupFilter::default()
    };
    let Some((first, last)) = store.rollup_bounds()? else { return Ok(Vec::new()) };
    let filter = RollupFilter { from: filter.from.max(first), to: filter.to.min(last + 1), ..filter };
    let mut out = Vec::new();
    store.scan_rollups(&filter, &mut |c| out.extend(aggregate(&c, k, m)))?;
    Ok(out)
}

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

/// Writes NDJSON to `out`.
pub fn export(store: &dyn Store, req: &ExportRequest, out: &mut impl Write) -> Result<(), String> {
    export_progress(store, req, out, &indicatif::ProgressBar::hidden())
}

/// [`export`], counting the rows written on `bar` (its length set to the rows to write).
pub fn export_progress(store: &dyn Store, req: &ExportRequest, out: &mut impl Write, bar: &indicatif::ProgressBar) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing output: {e}");
    fn write_all<T: Serialize>(rows: &[T], out: &mut impl Write, bar: &indicatif::ProgressBar) -> Result<(), String> {
        bar.set_length(rows.len() as u64);
        for r in rows {
            serde_json::to_writer(&mut *out, r).map_err(|e| format!("writing output: {e}"))?;
            out.write_all(b"\n").map_err(|e| format!("writing output: {e}"))?;
            bar.inc(1);
        }
        Ok(())
    }
    if req.raw {
        write_all(&store.observations(req.from, req.to)?, out, bar)?;
    } else {
        let settled = settled_end(time::OffsetDateTime::now_utc().unix_timestamp());
        write_all(&aggregates(store, req.from, req.to, req.min_reports, req.min_networks, settled)?, out, bar)?;
    }
    out.flush().map_err(io)
}
