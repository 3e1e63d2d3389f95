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
        let e = map.entry(s.network).or_insert_with(|| NetStat { network: s.network, ..NetStat::default() });
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
        let expected = self.networks.values().map(|s| 1.0 - (s.reports as f64 * ln_ok).exp()).sum();
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
        let Some(cap) = self.network_cap(floor, factor) else {
            return (0, 0);
        };
        let (n, x) = self.capped_at(cap);
        (n.round() as u64, x.round() as u64)
    }

    /// The per-network cap `max(floor, factor x median)`, `None` without networks.
    pub fn network_cap(&self, floor: u32, factor: f64) -> Option<f64> {
        let mut per: Vec<u32> = self.networks.values().map(|s| s.reports).collect();
        if per.is_empty() {
            return None;
        }
        per.sort_unstable();
        let median = per[per.len() / 2] as f64;
        Some((median * factor).ceil().max(floor as f64))
    }

    /// (reports, failures) with every network capped at `cap` reports.
    pub fn capped_at(&self, cap: f64) -> (f64, f64) {
        let (mut n, mut x) = (0.0, 0.0);
        for s in self.networks.values() {
            let kept = (s.reports as f64).min(cap);
            n += kept;
            x += s.failures as f64 * kept / s.reports.max(1) as f64;
        }
        (n, x)
    }

    /// Networks with a failure, as a set (an incident's evidence accumulates them).
    pub fn failing_network_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.networks.values().filter(|s| s.failures > 0).map(|s| s.network)
    }

    /// Networks whose geometric-mean time is at least `ms`, as a set.
    pub fn slow_network_ids(&self, ms: f64) -> impl Iterator<Item = u32> + '_ {
        let ln = ms.max(1.0).ln();
        self.networks.values().filter(move |s| s.reports > 0 && s.log_ms_sum / s.reports as f64 >= ln).map(|s| s.network)
    }

    /// Networks whose geometric-mean time is at least `ms`: a slowdown must be broad too.
    pub fn networks_slower_than(&self, ms: f64) -> u64 {
        let ln = ms.max(1.0).ln();
        self.networks.values().filter(|s| s.reports > 0 && s.log_ms_sum / s.reports as f64 >= ln).count() as u64
    }
}

/// A country's capped counts from its ASN windows: each network capped at the country's fair
/// share (`network_cap` of `country`), then each ASN at the total of all the others, so one
/// ASN's reports (however many networks it spreads them over) cannot outweigh the rest of the
/// country. With a single ASN there is nothing to compare and only the network cap applies.
pub fn country_capped_counts(country: &WindowStats, asns: &[&WindowStats], floor: u32, factor: f64) -> (u64, u64) {
    let Some(cap) = country.network_cap(floor, factor) else {
        return (0, 0);
    };
    let per: Vec<(f64, f64)> = asns.iter().map(|w| w.capped_at(cap)).filter(|(n, _)| *n > 0.0).collect();
    let total: f64 = per.iter().map(|(n, _)| n).sum();
    let (mut n, mut x) = (0.0, 0.0);
    for &(an, ax) in &per {
        let kept = if per.len() >= 2 { an.min(total - an) } else { an };
        n += kept;
        x += ax * kept / an;
    }
    (n.round() as u64, x.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(nets: &[(u32, u32, u32)]) -> WindowStats {
        let mut w = WindowStats::default();
        for &(network, reports, failures) in nets {
            w.networks.insert(network, NetStat { network, reports, failures, log_ms_sum: 0.0 });
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
    fn one_asn_cannot_outweigh_the_rest_of_the_country() {
        // 30 failing networks over three ASNs; 200 ok networks in a fourth.
        let failing: Vec<_> = (0..30).map(|i| (i, 2, 2)).collect();
        let ok: Vec<_> = (100..300).map(|i| (i, 1, 0)).collect();
        let asns = [window(&failing[..10]), window(&failing[10..20]), window(&failing[20..]), window(&ok)];
        let mut country = WindowStats::default();
        for a in &asns {
            country.merge(a);
        }
        let refs: Vec<&WindowStats> = asns.iter().collect();
        let (n, x) = country_capped_counts(&country, &refs, 2, 2.0);
        assert_eq!((n, x), (120, 60), "the ok ASN weighs as much as the three others, no more");
        assert_eq!(country.capped_counts(2, 2.0), (260, 60), "the network cap alone lets it drown them");
    }

    #[test]
    fn capping_leaves_an_even_spread_alone() {
        let w = window(&[(1, 3, 1), (2, 3, 2), (3, 4, 4)]);
        assert_eq!(w.capped_counts(3, 2.0), (10, 7));
        assert_eq!(w.failure_rate(), Some(0.7));
    }
}
