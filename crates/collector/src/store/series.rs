//! Per-point sums of one cell's time series (`/v1/timeseries`): the query, the answer, and the
//! reference computation from cell-minutes that every store's fast path must equal.

use super::{RollupFilter, Store, StoreError};
use vantage_detect::hist::NUM_BUCKETS;
use vantage_protocol::{Country, Platform};

/// One platform in one country (optionally one ASN) over `from <= minute < to`, `step` minutes a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesQuery {
    /// Platform.
    pub platform: Platform,
    /// Country.
    pub country: Country,
    /// One ASN, or the whole country.
    pub asn: Option<u32>,
    /// First minute (inclusive).
    pub from: i64,
    /// End minute (exclusive).
    pub to: i64,
    /// Minutes per point (at least 1).
    pub step: i64,
}

impl SeriesQuery {
    /// Number of points: `ceil((to - from) / step)`.
    pub fn points(&self) -> usize {
        (((self.to - self.from) + self.step - 1) / self.step).max(0) as usize
    }

    /// The point minute `minute` falls in, if inside the range.
    pub fn index(&self, minute: i64) -> Option<usize> {
        (minute >= self.from && minute < self.to).then(|| ((minute - self.from) / self.step) as usize)
    }
}

/// What one point sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointSums {
    /// Counted reports that got a response.
    pub ok: u64,
    /// Counted reports that failed (error or timeout).
    pub failed: u64,
    /// Distinct networks with at least one counted report during the point.
    pub networks: u64,
    /// Counted reports' times (`NUM_BUCKETS` bucket counts).
    pub times: Vec<u64>,
}

impl Default for PointSums {
    fn default() -> PointSums {
        PointSums { ok: 0, failed: 0, networks: 0, times: vec![0; NUM_BUCKETS] }
    }
}

/// The reference: every point from the cell-minutes of [`Store::scan_rollups`] (what a store
/// without a faster path answers with).
pub fn from_rollups<S: Store + ?Sized>(store: &S, q: &SeriesQuery) -> Result<Vec<PointSums>, StoreError> {
    let mut out = vec![PointSums::default(); q.points()];
    let mut nets: Vec<std::collections::HashSet<u32>> = vec![Default::default(); out.len()];
    let filter = RollupFilter { from: q.from, to: q.to, platform: Some(q.platform.clone()), country: Some(q.country), asn: q.asn };
    store.scan_rollups(&filter, &mut |cell| {
        let Some(i) = q.index(cell.key.minute) else { return };
        let p = &mut out[i];
        for net in &cell.nets {
            p.ok += u64::from(net.ok);
            p.failed += u64::from(net.error + net.timeout);
            if net.counted() > 0 {
                nets[i].insert(net.network);
            }
        }
        for (h, c) in p.times.iter_mut().zip(&cell.times) {
            *h += u64::from(*c);
        }
    })?;
    for (p, n) in out.iter_mut().zip(nets) {
        p.networks = n.len() as u64;
    }
    Ok(out)
}
