//! Minute rollups: what the store keeps beside the raw rows (on SQLite, in memory first and
//! flushed about once a minute, `store/unflushed.rs`), so that every read (status, time series,
//! export, detection) works on rollups and never scans observations. `vantage_detect::Rollups`
//! is the detector's in-memory view of the same counters, per cell rather than per network.
//!
//! Two kinds of rows, both plain summable counters (a ClickHouse store can keep them with a
//! `SummingMergeTree` materialized view over the raw table):
//!
//! - per (minute, platform, country, asn, network): reports, outcome counts, reports excluded
//!   by a bad control, and the sum of ln(ms). Being per network makes distinct-network counts
//!   exact over any range.
//! - per (minute, platform, country, asn, kind, bucket): the log-spaced time histogram of
//!   `vantage-detect` (kind 0: counted reports, kind 1: answered controls).

use crate::store::Observation;
use std::collections::{HashMap, HashSet};

/// The hasher of the rollup maps: foldhash, several times faster than SipHash on these short
/// keys, and their keys are no attacker's choice (a network is a keyed hash; names come from the
/// target catalog), so SipHash's flooding defence buys nothing here (BENCHMARKS.md, issue 10).
pub(crate) type FastHash = foldhash::fast::RandomState;
use vantage_detect::hist::{bucket_of, Histogram, NUM_BUCKETS};
use vantage_detect::rollup::{MinuteRollup, NetStat};
use vantage_protocol::{Country, Outcome, Platform, ReportId};

/// A control slower than this means the visitor's own link was bad: the report counts neither
/// way (the absolute rule of `vantage-detect`; its relative rule needs per-cell running state
/// that is not a summable column, so the store applies only this one).
pub(crate) use vantage_protocol::CONTROL_LIMIT_MS;

/// Histogram kind of counted reports' times.
pub(crate) const KIND_TIMES: u8 = 0;
/// Histogram kind of answered controls' times.
pub(crate) const KIND_CONTROL: u8 = 1;

/// One cell: a platform in one ASN of one country during one minute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey {
    /// Unix minutes.
    pub minute: i64,
    /// Platform name.
    pub platform: Platform,
    /// ISO country code.
    pub country: Country,
    /// AS number, 0 unknown.
    pub asn: u32,
}

impl CellKey {
    /// The least key of `minute`, where a range over a map of keys starts: `-` is the least valid
    /// platform (every other one is longer or starts with a greater byte) and `AA` the least country.
    pub fn first_of(minute: i64) -> CellKey {
        let platform = Platform::try_from("-").expect("`-` is a valid platform");
        CellKey { minute, platform, country: Country::try_from("AA").expect("`AA` is a valid country"), asn: 0 }
    }
}

// Hashed as its borrowed form, so a map of keys can be searched with a `CellRef` (no clone).
impl std::hash::Hash for CellKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        CellRef::of(self).hash(h);
    }
}

/// A [`CellKey`] borrowed from a row: what the writer looks its cell up with, once a platform a
/// report measured, without cloning the platform's shared name (an atomic count per clone).
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) struct CellRef<'a> {
    /// Unix minutes.
    pub minute: i64,
    /// Platform name.
    pub platform: &'a Platform,
    /// ISO country code.
    pub country: Country,
    /// AS number, 0 unknown.
    pub asn: u32,
}

impl<'a> CellRef<'a> {
    /// The cell of an observation.
    pub(crate) fn of_row(o: &'a Observation) -> CellRef<'a> {
        CellRef { minute: o.ts.div_euclid(60), platform: &o.platform, country: o.country, asn: o.asn }
    }

    fn of(k: &'a CellKey) -> CellRef<'a> {
        CellRef { minute: k.minute, platform: &k.platform, country: k.country, asn: k.asn }
    }
}

impl hashbrown::Equivalent<CellKey> for CellRef<'_> {
    fn equivalent(&self, k: &CellKey) -> bool {
        self.minute == k.minute && self.asn == k.asn && self.country == k.country && *self.platform == k.platform
    }
}

// Also how a new cell's key is made from the row's borrowed one.
impl From<&CellRef<'_>> for CellKey {
    fn from(r: &CellRef<'_>) -> CellKey {
        CellKey { minute: r.minute, platform: r.platform.clone(), country: r.country, asn: r.asn }
    }
}

/// Counters of one network in one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetRollup {
    /// The keyed network hash (never reversible): the unit of distinct-network counts.
    pub network: u32,
    /// Distinct reports with at least one measurement of this platform: the k of k-anonymity.
    pub reports: u32,
    /// Measurements that got a response (control usable).
    pub ok: u32,
    /// Network errors (control usable).
    pub error: u32,
    /// Deadlines hit (control usable).
    pub timeout: u32,
    /// Refused by the browser itself: shown, never a failure.
    pub blocked: u32,
    /// Measurements whose control failed or crawled: they count neither way.
    pub excluded_control: u32,
    /// Sum of ln(ms) over ok + error + timeout: per-network slowdown checks.
    pub log_ms_sum: f64,
}

impl NetRollup {
    /// Measurements that count toward success or failure.
    pub fn counted(&self) -> u32 {
        self.ok + self.error + self.timeout
    }

    /// Adds another network row's counters (same network).
    pub fn add(&mut self, o: &NetRollup) {
        self.reports += o.reports;
        self.ok += o.ok;
        self.error += o.error;
        self.timeout += o.timeout;
        self.blocked += o.blocked;
        self.excluded_control += o.excluded_control;
        self.log_ms_sum += o.log_ms_sum;
    }
}

/// One cell-minute read back from the store: everything the detector and the API need.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRollup {
    /// Which cell and minute.
    pub key: CellKey,
    /// Its networks, ascending by hash.
    pub nets: Vec<NetRollup>,
    /// Counted reports' times (bucket counts, `NUM_BUCKETS` long).
    pub times: Vec<u32>,
    /// Answered controls' times.
    pub control_times: Vec<u32>,
}

impl CellRollup {
    /// An empty cell-minute.
    pub fn new(key: CellKey) -> CellRollup {
        CellRollup { key, nets: Vec::new(), times: vec![0; NUM_BUCKETS], control_times: vec![0; NUM_BUCKETS] }
    }

    /// The detector's view of this minute.
    pub fn to_minute(&self) -> MinuteRollup {
        let mut m = MinuteRollup::default();
        for n in &self.nets {
            m.outcomes[0] += u64::from(n.ok);
            m.outcomes[1] += u64::from(n.error);
            m.outcomes[2] += u64::from(n.timeout);
            m.outcomes[3] += u64::from(n.blocked);
            m.excluded_control += u64::from(n.excluded_control);
            if n.counted() > 0 {
                let failures = n.error + n.timeout;
                m.networks.push(NetStat { network: n.network, reports: n.counted(), failures, log_ms_sum: n.log_ms_sum });
            }
        }
        m.times = histogram(&self.times);
        m.control_times = histogram(&self.control_times);
        m
    }
}

fn histogram(counts: &[u32]) -> Histogram {
    let mut h = Histogram::default();
    for (a, b) in h.counts.iter_mut().zip(counts) {
        *a = *b;
    }
    h
}

/// What one write transaction adds to the rollups.
#[derive(Debug, Default)]
pub(crate) struct RollupDelta {
    /// Network counters by (cell, network).
    pub nets: HashMap<(CellKey, u32), NetRollup, FastHash>,
    /// Histogram counts by (cell, kind, bucket).
    pub hist: HashMap<(CellKey, u8, u8), u32, FastHash>,
}

/// The time-histogram buckets one row fills, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowBuckets {
    /// Bucket of the control's time in `KIND_CONTROL`, when the control answered.
    pub control: Option<usize>,
    /// Bucket of the row's time in `KIND_TIMES`, when the row counts.
    pub times: Option<usize>,
}

/// Adds one on-time row to its network's counters, all but `reports` (a report counts once per
/// platform: the caller knows when a row is its report's first of the platform), and says which
/// histogram buckets it fills. The one definition of a row's contribution: the SQLite store's
/// cells and `RollupDelta` (ClickHouse rows, tests) both use it.
pub(crate) fn add_row(o: &Observation, n: &mut NetRollup) -> RowBuckets {
    let control_ok = o.control_outcome == Outcome::Ok;
    let counted = control_ok && o.control_ms <= CONTROL_LIMIT_MS && o.outcome != Outcome::BlockedByClient;
    let buckets = RowBuckets { control: control_ok.then(|| bucket_of(o.control_ms)), times: counted.then(|| bucket_of(o.ms)) };
    if !control_ok || o.control_ms > CONTROL_LIMIT_MS {
        n.excluded_control += 1;
        return buckets;
    }
    match o.outcome {
        Outcome::Ok => n.ok += 1,
        // A block page is a failure like a reset; the raw row keeps `http_error` and its status.
        Outcome::Error | Outcome::HttpError => n.error += 1,
        Outcome::Timeout => n.timeout += 1,
        Outcome::BlockedByClient => {
            n.blocked += 1;
            return buckets;
        }
    }
    n.log_ms_sum += o.ms.max(1.0).ln();
    buckets
}

impl RollupDelta {
    /// Adds newly stored rows, except late ones. A report's rows share minute, country, asn and
    /// network, so a report counts once per platform it measured.
    pub(crate) fn add<'a>(&mut self, rows: impl IntoIterator<Item = &'a Observation>) {
        let mut seen: HashSet<(ReportId, &Platform), FastHash> = HashSet::default();
        // A late report is stored raw only: it must not change a minute already published or judged.
        for o in rows.into_iter().filter(|o| !o.late) {
            let key = CellKey::from(&CellRef::of_row(o));
            let first = seen.insert((o.report_id, &o.platform));
            let n = self.nets.entry((key.clone(), o.network)).or_insert_with(|| NetRollup { network: o.network, ..NetRollup::default() });
            n.reports += u32::from(first);
            let buckets = add_row(o, n);
            for (kind, bucket) in [(KIND_CONTROL, buckets.control), (KIND_TIMES, buckets.times)] {
                if let Some(b) = bucket {
                    *self.hist.entry((key.clone(), kind, b as u8)).or_default() += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(report: u32, network: u32, outcome: &str, control: &str, control_ms: f64) -> Observation {
        Observation {
            ts: 6000,
            country: "PK".parse().unwrap(),
            asn: 1,
            network,
            site: "drm".parse().unwrap(),
            platform: "x".parse().unwrap(),
            target: format!("x.t{report}").parse().unwrap(),
            outcome: vantage_protocol::Outcome::from_wire(outcome).unwrap(),
            ms: 100.0,
            control_outcome: vantage_protocol::Outcome::from_wire(control).unwrap(),
            control_ms,
            browser_family: None,
            net_type: None,
            report_id: format!("{report:032x}").parse().unwrap(),
            late: false,
            status: None,
        }
    }

    #[test]
    fn control_failures_and_blocked_count_neither_way() {
        let rows = [
            obs(1, 7, "ok", "ok", 40.0),
            obs(1, 7, "timeout", "ok", 40.0),
            obs(2, 7, "error", "error", 40.0),
            obs(3, 8, "timeout", "ok", 12_000.0),
            obs(4, 8, "blocked_by_client", "ok", 40.0),
        ];
        let mut d = RollupDelta::default();
        d.add(&rows);
        let mut cell = CellRollup::new(CellKey { minute: 100, platform: "x".parse().unwrap(), country: "PK".parse().unwrap(), asn: 1 });
        for ((_, _), n) in &d.nets {
            cell.nets.push(*n);
        }
        cell.nets.sort_by_key(|n| n.network);
        for ((_, kind, bucket), n) in &d.hist {
            let h = if *kind == KIND_TIMES { &mut cell.times } else { &mut cell.control_times };
            h[*bucket as usize] += n;
        }
        assert_eq!(cell.nets[0].reports, 2, "report 1 measured x twice: one report");
        let m = cell.to_minute();
        assert_eq!(m.outcomes, [1, 0, 1, 1]);
        assert_eq!(m.excluded_control, 2);
        assert_eq!(m.networks.len(), 1, "network 8 has nothing counted");
        assert_eq!(m.times.total(), 2);
    }

    /// A block page read through cors is a failure: counted with `error`, never with `ok`.
    #[test]
    fn http_error_counts_as_error() {
        let rows = [obs(1, 7, "http_error", "ok", 40.0), obs(2, 7, "ok", "ok", 40.0)];
        let mut d = RollupDelta::default();
        d.add(&rows);
        let n = d.nets.values().next().unwrap();
        assert_eq!((n.ok, n.error, n.timeout, n.blocked, n.reports), (1, 1, 0, 0, 2));
    }
}
