//! Minute-grain rollups per (minute, platform, country, asn): the only thing the detector reads.
//! Live ingestion and the scenario generator both fill them through [`Rollups::add_n`].

use std::collections::{BTreeMap, VecDeque};

use crate::hist::Histogram;
use crate::{Country, DetectInput, Outcome, Platform};

/// Reports from one network (one /24 or /48 hash) in one minute of one cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetStat {
    /// The network hash; kept only to count distinct networks and cap each one's weight.
    pub network: u32,
    /// Counted reports (control fine, not `blocked_by_client`): the denominator of its share.
    pub reports: u32,
    /// Of those, `error` or `timeout`: tells whether failures come from many networks or one.
    pub failures: u32,
    /// Sum of ln(ms) over its reports, so a slowdown can be checked network by network.
    pub log_ms_sum: f64,
}

/// Everything the detector needs from one minute of one cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinuteRollup {
    /// Reports with a usable control, by outcome in `Outcome::ALL` order (ok, error, timeout,
    /// blocked_by_client; `http_error` is counted as error); blocked ones are kept for display
    /// but never counted either way.
    pub outcomes: [u64; 4],
    /// Reports whose control failed or was far too slow: the visitor's own connection was bad.
    pub excluded_control: u64,
    /// Per-network counts of counted reports, sorted by hash: the distinct-network set.
    pub networks: Vec<NetStat>,
    /// Times of counted reports (ok, error, timeout), for median and p90.
    pub times: Histogram,
    /// Control times of every report whose control answered, to tell throttling from a slow link.
    pub control_times: Histogram,
}

impl MinuteRollup {
    /// Reports that count toward success or failure.
    pub fn counted(&self) -> u64 {
        self.outcomes[0] + self.outcomes[1] + self.outcomes[2]
    }
}

/// Identifies a rollup series: platform (interned), country, ASN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Index into [`Rollups::platform_name`]; ordering by it first groups a platform's cells.
    pub platform: u16,
    /// ISO country code; second in the order so a country's ASNs are adjacent.
    pub country: Country,
    /// Autonomous system, 0 when unknown.
    pub asn: u32,
}

/// Running estimate of a cell's usual control time, for the "5x its baseline" exclusion.
#[derive(Clone, Debug, Default)]
struct ControlRef {
    /// Exponentially weighted mean of ln(control ms).
    mean_ln: f64,
    /// Samples seen, so the relative rule waits until the estimate means something.
    samples: u64,
}

/// One cell's minutes, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// (unix minute, rollup), ascending by minute.
    pub minutes: VecDeque<(i64, MinuteRollup)>,
    /// The cell's control baseline (see [`Rollups::control_rel_limit`]).
    control: ControlRef,
}

impl Series {
    /// The rollup of minute `t`, if any report fell in it.
    pub fn minute(&self, t: i64) -> Option<&MinuteRollup> {
        let i = self.minutes.partition_point(|(m, _)| *m < t);
        self.minutes.get(i).filter(|(m, _)| *m == t).map(|(_, r)| r)
    }

    /// (minute, rollup) for the minutes in `from..=to` that have one.
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &MinuteRollup)> {
        let i = self.minutes.partition_point(|(m, _)| *m < from);
        self.minutes.range(i..).take_while(move |(m, _)| *m <= to).map(|(m, r)| (*m, r))
    }

    fn minute_mut(&mut self, t: i64) -> &mut MinuteRollup {
        let i = self.minutes.partition_point(|(m, _)| *m < t);
        if self.minutes.get(i).map(|(m, _)| *m) != Some(t) {
            self.minutes.insert(i, (t, MinuteRollup::default()));
        }
        &mut self.minutes[i].1
    }
}

/// All rollups the collector holds in memory: a few minutes more than a window plus the
/// detector's baseline lag; older minutes are evicted by the caller.
#[derive(Clone, Debug)]
pub struct Rollups {
    /// Platform names; series keys carry the index so adding a report allocates nothing.
    platforms: Vec<Platform>,
    /// The series, ordered so each (platform, country) is contiguous.
    series: BTreeMap<SeriesKey, Series>,
    /// A control slower than this (ms) always means a bad visitor connection ([`vantage_protocol::CONTROL_LIMIT_MS`]).
    pub control_abs_limit_ms: f64,
    /// A control slower than this many times the cell's usual control is excluded too.
    pub control_rel_limit: f64,
}

impl Default for Rollups {
    fn default() -> Self {
        Rollups {
            platforms: Vec::new(),
            series: BTreeMap::new(),
            control_abs_limit_ms: vantage_protocol::CONTROL_LIMIT_MS,
            control_rel_limit: 5.0,
        }
    }
}

/// Control samples before the relative rule applies: earlier the estimate is noise.
const CONTROL_REF_MIN_SAMPLES: u64 = 50;
/// Weight of each new control sample: remembers roughly the last 500 reports.
const CONTROL_REF_ALPHA: f64 = 0.002;

impl Rollups {
    /// Empty rollups with the control limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one observation.
    pub fn add(&mut self, obs: &DetectInput) {
        self.add_n(obs, 1);
    }

    /// Adds `n` identical observations at once (a flood, or pre-aggregated counts).
    pub fn add_n(&mut self, obs: &DetectInput, n: u32) {
        if n == 0 {
            return;
        }
        let platform = self.platform_index(&obs.platform);
        let key = SeriesKey { platform, country: obs.country, asn: obs.asn };
        let (abs, rel) = (self.control_abs_limit_ms, self.control_rel_limit);
        let series = self.series.entry(key).or_default();
        let answered = obs.control_ok && obs.control_ms.is_finite() && obs.control_ms <= abs;
        let cref = &mut series.control;
        let too_slow = cref.samples >= CONTROL_REF_MIN_SAMPLES && obs.control_ms.max(1.0).ln() > cref.mean_ln + rel.ln();
        if answered {
            // The estimate follows the cell slowly, so one bad visitor barely moves it.
            let x = obs.control_ms.max(1.0).ln();
            let w = 1.0 - (1.0 - CONTROL_REF_ALPHA).powi(n.min(10_000) as i32);
            cref.mean_ln = if cref.samples == 0 { x } else { cref.mean_ln + w * (x - cref.mean_ln) };
            cref.samples += n as u64;
        }
        let m = series.minute_mut(obs.minute);
        if obs.control_ok {
            m.control_times.add(obs.control_ms, n);
        }
        if !answered || too_slow {
            m.excluded_control += n as u64;
            return;
        }
        // `http_error` (a cors target's readable 4xx/5xx, a block page) is counted as `error`: to
        // the detector both mean the platform did not answer; the raw row keeps the difference.
        let counted_as = if obs.outcome == Outcome::HttpError { Outcome::Error } else { obs.outcome };
        let idx = Outcome::ALL.iter().position(|o| *o == counted_as).unwrap_or(0);
        m.outcomes[idx] += n as u64;
        if obs.outcome == Outcome::BlockedByClient {
            return;
        }
        m.times.add(obs.ms, n);
        let i = m.networks.partition_point(|s| s.network < obs.network);
        if m.networks.get(i).map(|s| s.network) != Some(obs.network) {
            m.networks.insert(i, NetStat { network: obs.network, ..NetStat::default() });
        }
        let s = &mut m.networks[i];
        s.reports += n;
        if matches!(counted_as, Outcome::Error | Outcome::Timeout) {
            s.failures += n;
        }
        s.log_ms_sum += n as f64 * obs.ms.max(1.0).ln();
    }

    /// Adds an already aggregated minute (a store's rollup rows read back) to the cell's
    /// series, summing with whatever is there. The control exclusion was applied when the
    /// minute was aggregated, so the cell's control estimate is left alone.
    pub fn merge_minute(&mut self, platform: &Platform, country: Country, asn: u32, minute: i64, add: &MinuteRollup) {
        let platform = self.platform_index(platform);
        let m = self.series.entry(SeriesKey { platform, country, asn }).or_default().minute_mut(minute);
        for (a, b) in m.outcomes.iter_mut().zip(add.outcomes) {
            *a += b;
        }
        m.excluded_control += add.excluded_control;
        for s in &add.networks {
            let i = m.networks.partition_point(|n| n.network < s.network);
            if m.networks.get(i).map(|n| n.network) != Some(s.network) {
                m.networks.insert(i, NetStat { network: s.network, ..NetStat::default() });
            }
            let n = &mut m.networks[i];
            n.reports += s.reports;
            n.failures += s.failures;
            n.log_ms_sum += s.log_ms_sum;
        }
        m.times.merge(&add.times);
        m.control_times.merge(&add.control_times);
    }

    /// Drops every minute before `minute`, and series left empty (memory stays bounded).
    pub fn evict_before(&mut self, minute: i64) {
        self.series.retain(|_, s| {
            while s.minutes.front().is_some_and(|(m, _)| *m < minute) {
                s.minutes.pop_front();
            }
            !s.minutes.is_empty()
        });
    }

    /// All series in key order.
    pub fn series(&self) -> impl Iterator<Item = (&SeriesKey, &Series)> {
        self.series.iter()
    }

    /// The platform name behind a key's index.
    pub fn platform_name(&self, idx: u16) -> &Platform {
        &self.platforms[idx as usize]
    }

    fn platform_index(&mut self, name: &Platform) -> u16 {
        match self.platforms.iter().position(|p| p == name) {
            Some(i) => i as u16,
            None => {
                self.platforms.push(name.clone());
                (self.platforms.len() - 1) as u16
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(minute: i64, network: u32, outcome: Outcome, control_ok: bool, control_ms: f64) -> DetectInput {
        let (country, platform) = (Country::try_from("PK").unwrap(), Platform::try_from("x").unwrap());
        DetectInput { minute, country, asn: 1, network, platform, outcome, ms: 100.0, control_ok, control_ms }
    }

    #[test]
    fn bad_control_and_blocked_count_neither_way() {
        let mut r = Rollups::new();
        r.add(&obs(5, 1, Outcome::Ok, true, 40.0));
        r.add(&obs(5, 2, Outcome::Error, false, 0.0));
        r.add(&obs(5, 3, Outcome::Timeout, true, 12_000.0));
        r.add(&obs(5, 4, Outcome::BlockedByClient, true, 40.0));
        let (_, s) = r.series().next().unwrap();
        let m = s.minute(5).unwrap();
        assert_eq!(m.counted(), 1);
        assert_eq!(m.excluded_control, 2);
        assert_eq!(m.outcomes[3], 1);
        assert_eq!(m.networks.len(), 1);
    }

    /// A block page read through cors is a failure: counted with `error`, from its network.
    #[test]
    fn http_error_counts_as_error() {
        let mut r = Rollups::new();
        r.add(&obs(5, 1, Outcome::Ok, true, 40.0));
        r.add(&obs(5, 2, Outcome::HttpError, true, 40.0));
        let m = r.series().next().unwrap().1.minute(5).unwrap().clone();
        assert_eq!((m.counted(), m.outcomes[1]), (2, 1));
        assert_eq!(m.networks.iter().map(|n| n.failures).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn control_five_times_slower_than_usual_is_excluded() {
        let mut r = Rollups::new();
        r.add_n(&obs(1, 1, Outcome::Ok, true, 40.0), 100);
        r.add(&obs(2, 2, Outcome::Error, true, 400.0));
        r.add(&obs(2, 3, Outcome::Error, true, 120.0));
        let (_, s) = r.series().next().unwrap();
        assert_eq!(s.minute(2).unwrap().excluded_control, 1);
        assert_eq!(s.minute(2).unwrap().counted(), 1);
        r.evict_before(2);
        assert!(r.series().next().unwrap().1.minute(1).is_none());
        r.evict_before(3);
        assert!(r.series().next().is_none());
    }
}
