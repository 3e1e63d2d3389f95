//! Turning one window and its baseline into a state.
//!
//! `disrupted` needs all of: (1) a one-sided beta-binomial test of the failure count against
//! the baseline's Beta posterior, p < alpha / cells-tested; (2) the same test still significant
//! after each network is capped to its fair share, and a network-level test (more networks with
//! a failure than the baseline explains, Poisson tail) significant too, so a few broken visitors
//! in a quiet cell cannot carry it; (3) a minimum effect (failure rate at least
//! baseline + 0.10 and at least twice baseline, on raw and capped counts), since with thousands
//! of reports a trivial rise is "significant" and not news; (4) failures on at least m networks.
//! `degraded` needs the median at least 3x its baseline, the control median normal, and the
//! slowdown on at least m networks and half of all networks.

use serde::Serialize;

use crate::baseline::Expectation;
use crate::config::Config;
use crate::stats::{beta_binomial_sf, poisson_sf};
use crate::window::WindowStats;

/// A cell's state (PROTOCOL.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Too few reports or networks to say anything (and to publish numbers).
    InsufficientData,
    /// Nothing unusual.
    Normal,
    /// Reachable but far slower than usual while visitors' links are fine (throttling).
    Degraded,
    /// Failing far more than usual, across several networks.
    Disrupted,
}

impl State {
    /// Degraded or disrupted: what incidents are made of.
    pub fn is_bad(self) -> bool {
        matches!(self, State::Degraded | State::Disrupted)
    }
}

/// The verdict on one window, with the numbers behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The window's state.
    pub state: State,
    /// Raw failure rate, `None` without reports.
    pub failure_rate: Option<f64>,
    /// p-value of the capped test, `None` when the test was not needed (effect too small).
    pub p_value: Option<f64>,
    /// The failure rate alone clears the minimum effect (used to list affected ASNs).
    pub excess: bool,
    /// The window must not teach the baseline: an excess, or one network dominating it
    /// (a flood would otherwise drag the usual rate and median its way).
    pub keep_out: bool,
}

/// Whether the window has enough reports and networks to be judged (and counted in the
/// Bonferroni denominator).
pub fn testable(w: &WindowStats, cfg: &Config) -> bool {
    w.reports >= cfg.min_reports && w.distinct_networks() >= cfg.min_networks
}

fn big_effect(x: u64, n: u64, base: f64, cfg: &Config) -> bool {
    let rate = x as f64 / n.max(1) as f64;
    n > 0 && rate >= base + cfg.min_effect_abs && rate >= base * cfg.min_effect_ratio
}

/// Judges one window against its expectation at the per-cell level `alpha_cell`.
pub fn assess(w: &WindowStats, e: &Expectation, cfg: &Config, alpha_cell: f64) -> Assessment {
    let failure_rate = w.failure_rate();
    if !testable(w, cfg) {
        return Assessment {
            state: State::InsufficientData,
            failure_rate,
            p_value: None,
            excess: false,
            keep_out: false,
        };
    }
    let base = e.failure_rate();
    let excess = big_effect(w.failures, w.reports, base, cfg);
    let (cn, cx) = w.capped_counts(cfg.cap_floor, cfg.fair_share_factor);
    let keep_out = excess || (cn as f64) < 0.5 * w.reports as f64;
    let mut p_value = None;
    // The effect checks come first: they are cheap and almost always fail in normal traffic.
    if excess && big_effect(cx, cn, base, cfg) && w.networks_with_failures() >= cfg.min_networks {
        let p_raw = beta_binomial_sf(w.failures, w.reports, e.fail_a, e.fail_b);
        let p_cap = beta_binomial_sf(cx, cn, e.fail_a, e.fail_b);
        let (failing, expected) = w.failing_networks(base);
        let p_net = poisson_sf(failing, expected);
        p_value = Some(p_raw.max(p_cap).max(p_net));
        if p_raw < alpha_cell && p_cap < alpha_cell && p_net < alpha_cell {
            return Assessment {
                state: State::Disrupted,
                failure_rate,
                p_value,
                excess,
                keep_out,
            };
        }
    }
    if slow(w, e, cfg) {
        return Assessment {
            state: State::Degraded,
            failure_rate,
            p_value,
            excess,
            keep_out,
        };
    }
    Assessment {
        state: State::Normal,
        failure_rate,
        p_value,
        excess,
        keep_out,
    }
}

fn slow(w: &WindowStats, e: &Expectation, cfg: &Config) -> bool {
    let (Some(base), Some(med)) = (e.median_ms, w.times.quantile(0.5)) else {
        return false;
    };
    if med < base * cfg.slowdown_factor {
        return false;
    }
    // Visitors' own links slow too: not the platform's doing.
    let control_ok = match (e.control_median_ms, w.control_times.quantile(0.5)) {
        (Some(cb), Some(c)) => c <= cb * cfg.control_normal_factor,
        _ => true,
    };
    let slow_nets = w.networks_slower_than(base * cfg.slowdown_factor);
    control_ok && slow_nets >= cfg.min_networks && 2 * slow_nets >= w.distinct_networks()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::NetStat;

    fn window(nets: u32, per_net: u32, fail_per_net: u32, ms: f64) -> WindowStats {
        let mut w = WindowStats::default();
        for i in 0..nets {
            let s = NetStat {
                network: i,
                reports: per_net,
                failures: fail_per_net,
                log_ms_sum: per_net as f64 * ms.ln(),
            };
            w.networks.insert(i, s);
        }
        w.reports = (nets * per_net) as u64;
        w.failures = (nets * fail_per_net) as u64;
        w.times.add(ms, nets * per_net);
        w.control_times.add(40.0, nets * per_net);
        w
    }

    fn expect() -> Expectation {
        Expectation {
            fail_a: 43.0,
            fail_b: 2057.0,
            median_ms: Some(200.0),
            control_median_ms: Some(40.0),
        }
    }

    #[test]
    fn states() {
        let cfg = Config::default();
        let a = 1e-4;
        let cases = [
            (window(2, 10, 10, 200.0), State::InsufficientData),
            (window(100, 3, 0, 200.0), State::Normal),
            (window(100, 3, 1, 200.0), State::Disrupted),
            (window(100, 3, 0, 1000.0), State::Degraded),
        ];
        for (w, want) in cases {
            assert_eq!(assess(&w, &expect(), &cfg, a).state, want);
        }
        // Slow everywhere, control included: the visitors' links, not the platform.
        let mut w = window(100, 3, 0, 1000.0);
        w.control_times.add(400.0, 600);
        assert_eq!(assess(&w, &expect(), &cfg, a).state, State::Normal);
    }

    #[test]
    fn one_network_flood_is_not_a_disruption() {
        let cfg = Config::default();
        let mut w = window(100, 3, 0, 200.0);
        w.networks.insert(
            7777,
            NetStat {
                network: 7777,
                reports: 3000,
                failures: 3000,
                log_ms_sum: 0.0,
            },
        );
        w.reports += 3000;
        w.failures += 3000;
        let r = assess(&w, &expect(), &cfg, 1e-4);
        assert!(r.excess && r.keep_out);
        assert_eq!(r.state, State::Normal);
    }
}
