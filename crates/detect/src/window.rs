//! A sliding window: the sum of a cell's minute rollups (or, for a country, of all its ASNs').

use std::collections::HashMap;

use crate::hist::Histogram;
use crate::rollup::{MinuteRollup, NetStat};

/// Counts over one window of one cell.
#[derive(Clone, Debug, Default)]
pub struct WindowStats {
    /// Counted reports (ok + error + timeout with a usable control).
    pub reports: u64,
    /// Counted reports that failed (error or timeout).
    pub failures: u64,
    /// `blocked_by_client` reports: shown for context, never a failure.
    pub blocked: u64,
    /// Reports dropped because the visitor's control failed or was far too slow.
    pub excluded_control: u64,
    /// Counted reports in the newest minute only, so incidents can total reports without
    /// counting each minute five times.
    pub newest_minute_reports: u64,
    /// Per-network totals over the window: distinct networks and each one's share.
    pub networks: HashMap<u32, NetStat>,
    /// Times of counted reports.
    pub times: Histogram,
    /// Times of answered controls.
    pub control_times: Histogram,
}

impl WindowStats {
    /// Adds one minute's rollup; `newest` marks the window's last minute.
    pub fn add_minute(&mut self, m: &MinuteRollup, newest: bool) {
        let counted = m.counted();
        self.reports += counted;
        self.failures += m.outcomes[1] + m.outcomes[2];
        self.blocked += m.outcomes[3];
        self.excluded_control += m.excluded_control;
        if newest {
            self.newest_minute_reports += counted;
        }
        for s in &m.networks {
            Self::add_net(&mut self.networks, s);
        }
        self.times.merge(&m.times);
        self.control_times.merge(&m.control_times);
    }

    /// Adds another window (an ASN's window into its country's).
    pub fn merge(&mut self, o: &WindowStats) {
        self.reports += o.reports;
        self.failures += o.failures;
        self.blocked += o.blocked;
        self.excluded_control += o.excluded_control;
        self.newest_minute_reports += o.newest_minute_reports;
        for s in o.networks.values() {
            Self::add_net(&mut self.networks, s);
        }
        self.times.merge(&o.times);
        self.control_times.merge(&o.control_times);
    }

    fn add_net(map: &mut HashMap<u32, NetStat>, s: &NetStat) {
        let e = map.entry(s.network).or_insert_with(|| NetStat {
            network: s.network,
            ..NetStat::default()
        });
        e.reports += s.reports;
        e.failures += s.failures;
        e.log_ms_sum += s.log_ms_sum;
    }

    /// Distinct networks with counted reports.
    pub fn distinct_networks(&self) -> u64 {
        self.networks.len() as u64
    }

    /// Distinct networks with at least one failure: failures must not come from one place.
    pub fn networks_with_failures(&self) -> u64 {
        self.networks.values().filter(|s| s.failures > 0).count() as u64
    }

    /// (networks with a failure, how many would have one if each report failed with `p`):
    /// the network-level evidence, where a visitor failing a hundred times counts once.
    pub fn failing_networks(&self, p: f64) -> (u64, f64) {
        let ln_ok = (1.0 - p).max(1e-12).ln();
        let expected = self
            .networks
            .values()
            .map(|s| 1.0 - (s.reports as f64 * ln_ok).exp())
            .sum();
        (self.networks_with_failures(), expected)
    }

    /// Failed share of counted reports, `None` with no reports.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.reports > 0).then(|| self.failures as f64 / self.reports as f64)
    }

    /// The counts after capping each network at its fair share: `max(floor, factor x the
    /// median per-network report count)`, its failures scaled down in proportion. One /24
    /// sending thousands of reports then weighs like a few ordinary ones.
    pub fn capped_counts(&self, floor: u32, factor: f64) -> (u64, u64) {
        let mut per: Vec<u32> = self.networks.values().map(|s| s.reports).collect();
        if per.is_empty() {
            return (0, 0);
        }
        per.sort_unstable();
        let median = per[per.len() / 2] as f64;
        let cap = (median * factor).ceil().max(floor as f64);
        let (mut n, mut x) = (0.0, 0.0);
        for s in self.networks.values() {
            let kept = (s.reports as f64).min(cap);
            n += kept;
            x += s.failures as f64 * kept / s.reports.max(1) as f64;
        }
        (n.round() as u64, x.round() as u64)
    }

    /// Networks whose geometric-mean time is at least `ms`: a slowdown must be broad too.
    pub fn networks_slower_than(&self, ms: f64) -> u64 {
        let ln = ms.max(1.0).ln();
        self.networks
            .values()
            .filter(|s| s.reports > 0 && s.log_ms_sum / s.reports as f64 >= ln)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(nets: &[(u32, u32, u32)]) -> WindowStats {
        let mut w = WindowStats::default();
        for &(network, reports, failures) in nets {
            w.networks.insert(
                network,
                NetStat {
                    network,
                    reports,
                    failures,
                    log_ms_sum: 0.0,
                },
            );
            w.reports += reports as u64;
            w.failures += failures as u64;
        }
        w
    }

    #[test]
    fn one_flooding_network_is_capped_to_a_fair_share() {
        let mut nets: Vec<(u32, u32, u32)> = (1..=50).map(|i| (i, 2, 0)).collect();
        nets.push((999, 5000, 5000));
        let w = window(&nets);
        assert_eq!(w.networks_with_failures(), 1);
        let (n, x) = w.capped_counts(3, 2.0);
        assert_eq!((n, x), (104, 4));
    }

    #[test]
    fn capping_leaves_an_even_spread_alone() {
        let w = window(&[(1, 3, 1), (2, 3, 2), (3, 4, 4)]);
        assert_eq!(w.capped_counts(3, 2.0), (10, 7));
        assert_eq!(w.failure_rate(), Some(0.7));
    }
}
