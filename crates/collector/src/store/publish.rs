//! What may leave the collector as counts (`/v1/timeseries`, `/v1/chart.svg`, the exports), so
//! that no combination of answers isolates fewer than k reports or m networks.
//!
//! The rules, and why they are enough:
//!
//! - **Leaves.** The finest unit is a cell-minute: one (minute, platform, country, asn). A leaf is
//!   *publishable* when it has at least k counted reports (ok + error + timeout) and at least m
//!   distinct networks among them. The exports publish publishable leaves and nothing else.
//! - **One fixed chain of steps** ([`STEPS_MIN`]: 1, 5, 15, 60, 1440 minutes), every bucket aligned
//!   to the unix epoch. Each step divides the next, so every bucket is the disjoint union of whole
//!   buckets of each finer step: the buckets of all steps form one tree, whatever `from`/`to` asked.
//! - **Blocks.** Every published number is a sum of disjoint *blocks*, each of at least k counted
//!   reports and m networks: the publishable leaves, and (country series only) *remainder blocks*:
//!   the not-yet-published leaves of a tree node, pooled together the first time the pool is itself
//!   publishable. A pool below k is carried up to the parent node, never published on its own; what
//!   is still below k at the requested step is left out of that point (so a point undercounts by
//!   fewer than k reports, and says so only by being a little low).
//!
//!   A node's value depends only on the leaves inside it, so a bucket publishes the same numbers
//!   in every query. Any difference or other linear combination of published numbers is therefore
//!   a combination of whole blocks: it can reveal a block's total (>= k reports, >= m networks),
//!   never a part of one, so never a single report's outcome.
//! - **Series of one ASN** publish only sums of publishable leaves (no remainder blocks): pooling
//!   there would partition the same reports a second way, and two overlapping partitions can be
//!   solved against each other.
//! - **Settled time only.** A bucket is published once it cannot change any more: reports older
//!   than [`LATE_AFTER_S`] never enter the rollups, so a bucket is final [`SETTLE_S`] after its end.
//!   Publishing a bucket that still grows would let two reads a second apart isolate the reports
//!   that arrived between them.

use crate::rollup::CellRollup;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use vantage_detect::hist::{Histogram, NUM_BUCKETS};
use vantage_protocol::{Country, Platform};

/// The steps a series may have, in minutes: each divides the next (the tree above needs a chain;
/// two steps that do not nest, such as 2 and 5 minutes, would cut the same minutes into
/// overlapping buckets whose differences isolate a minute). 1 minute for the live chart, 5 and 15
/// for hours, 60 for days, 1440 for months.
pub(crate) const STEPS_MIN: [i64; 5] = [1, 5, 15, 60, 1440];

/// A report older than this (`age_s`, seconds) when it arrives is *late*: stored raw (so a retried
/// report is kept and exported with `"late": true`) but never added to the rollups that feed the
/// published minutes, the exports and detection. Five minutes: longer than any honest delivery
/// delay but the offline queue's (a page's beacon lands within seconds; a detection window is 5
/// minutes long and opened on the minute tick), so a judged and published minute stays as judged.
pub(crate) const LATE_AFTER_S: i64 = 300;

/// Seconds after a bucket's end before it is published: [`LATE_AFTER_S`] plus a minute for the
/// reports still in the writer's queue when the last on-time one arrived.
pub(crate) const SETTLE_S: i64 = LATE_AFTER_S + 60;

/// The thresholds every published count needs.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// k: fewest counted reports.
    pub min_reports: u64,
    /// m: fewest distinct networks among them.
    pub min_networks: u64,
}

/// Summed counters of a set of cell-minutes (a leaf, a block, a published point).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mass {
    /// Distinct reports (with a measurement of the platform, counted or not).
    pub reports: u64,
    /// Measurements that got a response (control usable).
    pub ok: u64,
    /// Network errors (control usable).
    pub error: u64,
    /// Deadlines hit (control usable).
    pub timeout: u64,
    /// Refused by the browser itself.
    pub blocked: u64,
    /// Measurements whose control failed or crawled.
    pub excluded_control: u64,
    /// Networks with at least one counted measurement: a set, because one network can show up in
    /// several minutes (and under two ASNs) and must count once.
    pub networks: BTreeSet<u32>,
    /// Counted measurements' times: empty (all zero) or `NUM_BUCKETS` bucket counts.
    pub times: Vec<u64>,
}

impl Mass {
    /// One cell-minute's counters.
    pub fn of_cell(c: &CellRollup) -> Mass {
        let mut m = Mass::default();
        for n in &c.nets {
            m.reports += u64::from(n.reports);
            m.ok += u64::from(n.ok);
            m.error += u64::from(n.error);
            m.timeout += u64::from(n.timeout);
            m.blocked += u64::from(n.blocked);
            m.excluded_control += u64::from(n.excluded_control);
            if n.counted() > 0 {
                m.networks.insert(n.network);
            }
        }
        if c.times.iter().any(|n| *n > 0) {
            m.times = c.times.iter().map(|n| u64::from(*n)).collect();
        }
        m
    }

    /// Measurements that count toward success or failure.
    pub fn counted(&self) -> u64 {
        self.ok + self.error + self.timeout
    }

    /// Whether these counters may be published on their own.
    pub fn publishable(&self, t: Thresholds) -> bool {
        self.counted() >= t.min_reports && self.networks.len() as u64 >= t.min_networks
    }

    /// Adds another set's counters.
    pub fn add(&mut self, o: &Mass) {
        self.reports += o.reports;
        self.ok += o.ok;
        self.error += o.error;
        self.timeout += o.timeout;
        self.blocked += o.blocked;
        self.excluded_control += o.excluded_control;
        self.networks.extend(o.networks.iter().copied());
        if !o.times.is_empty() {
            self.times.resize(NUM_BUCKETS, 0);
            for (a, b) in self.times.iter_mut().zip(&o.times) {
                *a += b;
            }
        }
    }

    /// The counted measurements' time histogram.
    pub fn histogram(&self) -> Histogram {
        let mut h = Histogram::default();
        for (a, b) in h.counts.iter_mut().zip(&self.times) {
            *a = u32::try_from(*b).unwrap_or(u32::MAX);
        }
        h
    }
}

/// The minute at which a bucket ending at minute `end` (exclusive) may be published: buckets with
/// `end <= settled_end(now)` are final.
pub(crate) fn settled_end(now_s: i64) -> i64 {
    (now_s - SETTLE_S).div_euclid(60)
}

/// What one bucket publishes, once computed: the numbers of a published point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Counted reports.
    pub reports: u64,
    /// Distinct networks among them.
    pub networks: u64,
    /// Of the counted reports, those that got a response.
    pub ok: u64,
    /// Median time (ms).
    pub median_ms: Option<f64>,
    /// 90th percentile time (ms).
    pub p90_ms: Option<f64>,
}

impl Summary {
    /// The published numbers of a value, `None` unless it is publishable.
    pub fn of(m: &Mass, t: Thresholds) -> Option<Summary> {
        let h = m.histogram();
        m.publishable(t).then(|| Summary {
            reports: m.counted(),
            networks: m.networks.len() as u64,
            ok: m.ok,
            median_ms: h.quantile(0.5),
            p90_ms: h.quantile(0.9),
        })
    }
}

/// Which bucket of which series: (platform, country, asn, k, m, step minutes, first minute).
pub(crate) type BucketKey = (Platform, Country, Option<u32>, u64, u64, i64, i64);

/// Settled buckets' published numbers, kept by the store in memory: a settled bucket can no
/// longer change (late reports never reach the rollups), so each is computed from the cell scan
/// once, and a dashboard polling the last day only scans the buckets that settled since. (An
/// operator's `vantage import` into the past shows in a running collector after a restart.)
#[derive(Default)]
pub struct PublishedCache {
    /// `None`: the bucket publishes nothing.
    buckets: Mutex<HashMap<BucketKey, Option<Summary>>>,
}

/// Buckets the cache holds at most (about 100 bytes each); when full it starts over.
const MAX_CACHED: usize = 500_000;

impl PublishedCache {
    /// The cached answer for `key`, if computed before.
    pub fn get(&self, key: &BucketKey) -> Option<Option<Summary>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied()
    }

    /// Remembers settled buckets' answers.
    pub fn put(&self, entries: impl IntoIterator<Item = (BucketKey, Option<Summary>)>) {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in entries {
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert(k, v);
        }
    }
}

/// A node being summed: its bucket's first minute, the blocks published so far, and the leaves
/// not yet in any block.
struct Acc {
    start: i64,
    value: Mass,
    carry: Mass,
}

/// Builds the published value of every bucket of `STEPS_MIN[top]` from cell-minutes fed in minute
/// order, bottom-up through the finer steps, holding one node per level (never a whole range).
pub(crate) struct Tree<'a> {
    t: Thresholds,
    /// Whether not-yet-published leaves are pooled into remainder blocks (country series).
    pool: bool,
    /// Index in `STEPS_MIN` of the requested step.
    top: usize,
    /// Open node per level `1..=top` (index 0 unused).
    acc: Vec<Option<Acc>>,
    /// The minute being gathered and its leaves.
    minute: Option<(i64, Vec<Mass>)>,
    /// Receives (bucket start minute, published value) of each finished top-level bucket that
    /// holds any block.
    emit: Box<dyn FnMut(i64, Mass) + 'a>,
}

impl<'a> Tree<'a> {
    /// A tree for `step` minutes (one of [`STEPS_MIN`]).
    pub(crate) fn new(step: i64, t: Thresholds, pool: bool, emit: impl FnMut(i64, Mass) + 'a) -> Tree<'a> {
        let top = STEPS_MIN.iter().position(|s| *s == step).expect("step is one of STEPS_MIN");
        Tree { t, pool, top, acc: (0..=top).map(|_| None).collect(), minute: None, emit: Box::new(emit) }
    }

    /// Adds one cell-minute (cells must come in minute order).
    pub(crate) fn cell(&mut self, c: &CellRollup) {
        let minute = c.key.minute;
        if self.minute.as_ref().is_some_and(|(m, _)| *m != minute) {
            self.close_minute();
        }
        self.minute.get_or_insert_with(|| (minute, Vec::new())).1.push(Mass::of_cell(c));
    }

    /// Finishes every open node.
    pub(crate) fn finish(mut self) {
        self.close_minute();
        for level in 1..=self.top {
            if let Some(a) = self.acc[level].take() {
                let (value, carry) = self.settle(a.value, a.carry);
                self.push(level, a.start, value, carry);
            }
        }
    }

    fn close_minute(&mut self) {
        let Some((minute, leaves)) = self.minute.take() else { return };
        let (mut value, mut carry) = (Mass::default(), Mass::default());
        for leaf in &leaves {
            if leaf.publishable(self.t) {
                value.add(leaf)
            } else {
                carry.add(leaf)
            }
        }
        let (value, carry) = self.settle(value, carry);
        self.push(0, minute, value, carry);
    }

    /// A finished node's pool becomes a block once it is publishable on its own.
    fn settle(&self, mut value: Mass, carry: Mass) -> (Mass, Mass) {
        if self.pool && carry.publishable(self.t) {
            value.add(&carry);
            return (value, Mass::default());
        }
        (value, carry)
    }

    /// Hands a finished node of `level` to its parent (or out, at the top).
    fn push(&mut self, level: usize, start: i64, value: Mass, carry: Mass) {
        if level == self.top {
            if value.counted() > 0 {
                (self.emit)(start, value);
            }
            return;
        }
        let size = STEPS_MIN[level + 1];
        let parent = start.div_euclid(size) * size;
        if self.acc[level + 1].as_ref().is_some_and(|a| a.start != parent) {
            let done = self.acc[level + 1].take().expect("checked");
            let (v, c) = self.settle(done.value, done.carry);
            self.push(level + 1, done.start, v, c);
        }
        let a = self.acc[level + 1].get_or_insert_with(|| Acc { start: parent, value: Mass::default(), carry: Mass::default() });
        a.value.add(&value);
        a.carry.add(&carry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::{CellKey, NetRollup};

    fn cell(minute: i64, asn: u32, nets: &[(u32, u32)]) -> CellRollup {
        let mut c = CellRollup::new(CellKey { minute, platform: "x".parse().unwrap(), country: "PK".parse().unwrap(), asn });
        for (network, ok) in nets {
            c.nets.push(NetRollup { network: *network, reports: *ok, ok: *ok, ..NetRollup::default() });
        }
        c
    }

    fn run(step: i64, pool: bool, cells: &[CellRollup]) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let t = Thresholds { min_reports: 10, min_networks: 3 };
        let mut tree = Tree::new(step, t, pool, |s, m| out.push((s, m.counted())));
        for c in cells {
            tree.cell(c);
        }
        tree.finish();
        out
    }

    /// Random sparse days (most cell-minutes far below k): at every step, a published bucket
    /// minus any published bucket inside it, or minus all published buckets of a finer step
    /// inside it, or minus the publishable ASN-minutes inside it, is 0 or at least k reports.
    #[test]
    fn no_difference_of_published_buckets_is_between_1_and_k_minus_1() {
        let k = 10u64;
        let mut x: u64 = 11;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _day in 0..20 {
            let mut cells = Vec::new();
            for minute in 0..1440 {
                for asn in 0..4u32 {
                    let n = match next(20) {
                        0 => 6 + next(10) as u32, // now and then a busy ASN-minute
                        1..=4 => 1 + next(3) as u32,
                        _ => 0,
                    };
                    let nets: Vec<(u32, u32)> = (0..n).map(|_| (next(50) as u32, 1)).collect();
                    if n > 0 {
                        cells.push(cell(minute, asn, &nets));
                    }
                }
            }
            let t = Thresholds { min_reports: k, min_networks: 3 };
            let leaves: Vec<(i64, u64)> = cells
                .iter()
                .map(|c| (c.key.minute, Mass::of_cell(c)))
                .filter(|(_, m)| m.publishable(t))
                .map(|(s, m)| (s, m.counted()))
                .collect();
            let mut published: Vec<(i64, i64, u64)> = Vec::new(); // (start, step, reports)
            for step in STEPS_MIN {
                for (start, reports) in run(step, true, &cells) {
                    published.push((start, step, reports));
                }
            }
            assert!(published.iter().any(|p| p.1 == 1440), "the day publishes");
            let harmless = |d: i64| d == 0 || d >= k as i64;
            for a in &published {
                assert!(a.2 >= k);
                let inside = |b: &(i64, i64, u64)| a.0 <= b.0 && b.0 + b.1 <= a.0 + a.1;
                for b in published.iter().filter(|b| inside(b) && *b != a) {
                    assert!(harmless(a.2 as i64 - b.2 as i64), "{a:?} - {b:?}");
                }
                for step in STEPS_MIN.iter().filter(|s| **s < a.1) {
                    let sum: u64 = published.iter().filter(|b| b.1 == *step && inside(b)).map(|b| b.2).sum();
                    assert!(harmless(a.2 as i64 - sum as i64), "{a:?} minus its {step}-minute buckets");
                }
                let leaf_sum: u64 = leaves.iter().filter(|(m, _)| a.0 <= *m && *m < a.0 + a.1).map(|(_, r)| r).sum();
                assert!(harmless(a.2 as i64 - leaf_sum as i64), "{a:?} minus its ASN-minutes");
            }
        }
    }

    #[test]
    fn small_leaves_pool_into_blocks_of_k_and_a_pool_below_k_is_left_out() {
        let big = cell(0, 1, &[(1, 4), (2, 4), (3, 4)]); // 12 reports, 3 networks: a leaf block
        let small = |m, asn| cell(m, asn, &[(10 + asn, 2), (20 + asn, 1)]); // 3 reports each
                                                                            // Minute 0: one big leaf and one small: the small is carried. Minutes 1..3: three more small.
        let cells = [big.clone(), small(0, 2), small(1, 2), small(2, 3), small(3, 4)];
        assert_eq!(run(1, true, &cells), [(0, 12)], "minutes publish only blocks");
        // 5 minutes: 12 + a pool of 12 reports in 6 networks.
        assert_eq!(run(5, true, &cells), [(0, 24)]);
        assert_eq!(run(5, false, &cells), [(0, 12)], "one ASN's series never pools");
        // A pool that stays below k is never published, at any step.
        assert_eq!(run(1440, true, &[big, small(7, 2)]), [(0, 12)]);
    }
}
