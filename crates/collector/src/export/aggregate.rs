//! k-anonymous aggregates per (minute, country, asn, platform), from the rollups, streamed one
//! time chunk at a time: the public exports and `vantage export` hold one chunk of cells, never
//! the answer.

use crate::rollup::{CellRollup, NetRollup};
use crate::store::publish::{Mass, Thresholds};
use crate::store::{RollupFilter, Store, StoreError};
use serde::Serialize;
use vantage_detect::hist::quantile_of;
use vantage_protocol::{Country, Platform};

/// Minutes of rollups read per store query. Every cell-minute is whole within a chunk (the
/// k-anonymity rules judge one cell-minute at a time), and a chunk is the most held in memory.
const CHUNK_MINUTES: i64 = 60;

/// One published cell: a (minute, country, asn, platform) with at least k counted reports and m
/// networks among them (a leaf of `store::publish`). A cell below that is not listed at all:
/// listing it with empty counts would still tell that someone in that ASN measured that minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// The minute (RFC 3339).
    pub ts: String,
    /// Country code.
    pub country: Country,
    /// AS number.
    pub asn: u32,
    /// Platform.
    pub platform: Platform,
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
        country: cell.key.country,
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
/// (minute, platform, country, asn) order, handed to `each` one time chunk after another; only
/// minutes that end at or before minute `settled_end` (`publish::settled_end`), so a listed cell
/// never changes afterwards. An error from `each` (a closed output) stops the scan at the end of
/// its chunk and is returned as [`StoreError::Output`].
pub(crate) fn scan_aggregates(
    store: &dyn Store,
    (from, to): (Option<i64>, Option<i64>),
    (k, m): (usize, usize),
    settled_end: i64,
    each: &mut dyn FnMut(Aggregate) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let Some((first, last)) = store.rollup_bounds()? else { return Ok(()) };
    let from = from.map_or(first, |s| s.div_euclid(60).max(first));
    let to = to.map_or(last + 1, |s| (s + 59).div_euclid(60).min(last + 1)).min(settled_end);
    let mut start = from;
    while start < to {
        let end = (start + CHUNK_MINUTES).min(to);
        let mut failed = None;
        store.scan_rollups(&RollupFilter { from: start, to: end, ..RollupFilter::default() }, &mut |cell| {
            if failed.is_none() {
                failed = aggregate(&cell, k, m).and_then(|a| each(a).err());
            }
        })?;
        if let Some(e) = failed {
            return Err(StoreError::Output(e));
        }
        start = end;
    }
    Ok(())
}
