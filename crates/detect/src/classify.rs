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

use serde::{Deserialize, Serialize};

use crate::baseline::Expectation;
use crate::config::DetectorConfig;
use crate::stats::{beta_binomial_sf, poisson_sf};
use crate::window::WindowStats;

/// A cell's state (docs/protocol.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// The wire name (docs/protocol.md §4), as serde writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::InsufficientData => "insufficient_data",
            State::Normal => "normal",
            State::Degraded => "degraded",
            State::Disrupted => "disrupted",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a window that looked bad was not given a bad verdict (issue 9's evidence rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// The cell lacks the history the history rule asks for (and no cross-country evidence
    /// broad enough stood in for it).
    NoHistory,
    /// A country window failing in fewer ASNs than the breadth rule asks for: at most an ASN
    /// incident.
    TooFewAsns,
    /// The platform fails in most other countries too: broken, not blocked.
    Global,
}

/// What the detector knows about a window beyond its own counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// The cell's history clears the history rule.
    pub established: bool,
    /// Capped (reports, failures) to test instead of the window's own network-capped counts
    /// (a country passes its ASN-capped counts).
    pub capped: Option<(u64, u64)>,
    /// For a country with ASN data: how many of its ASNs fail (`None`: rule not applicable).
    pub failing_asns: Option<u64>,
    /// For a country with ASN data: how many of its ASNs have slow networks.
    pub slow_asns: Option<u64>,
    /// Median failure rate of the same platform in other countries, when enough report.
    pub peer_rate: Option<f64>,
    /// The platform fails in most other countries as well.
    pub global: bool,
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
    /// The capped failure rate alone clears the minimum effect (used to list affected ASNs).
    pub excess: bool,
    /// The window must not teach the baseline: an excess, a rate well above the baseline
    /// (poisoning), or one network dominating it (a flood would drag the usual rate its way).
    pub keep_out: bool,
    /// Why a bad-looking window was held back, if it was.
    pub held: Option<Held>,
    /// The verdict rests (also) on the cross-country comparison.
    pub cross_country: bool,
}

/// Whether the window has enough reports and networks to be judged (and counted in the
/// Bonferroni denominator).
pub fn testable(w: &WindowStats, cfg: &DetectorConfig) -> bool {
    w.reports >= cfg.min_reports && w.distinct_networks() >= cfg.min_networks
}

/// Whether an ASN's window counts toward a country's breadth: at least m of its networks fail
/// and its capped failure rate clears the minimum effect over its own expectation. It need not
/// be testable on its own (a small ASN's share of a national block may be under k reports).
pub fn fails_for_breadth(w: &WindowStats, e: &Expectation, cfg: &DetectorConfig) -> bool {
    let (n, x) = w.capped_counts(cfg.cap_floor, cfg.fair_share_factor);
    w.networks_with_failures() >= cfg.min_networks && big_effect(x, n, e.failure_rate(), cfg)
}

fn big_effect(x: u64, n: u64, base: f64, cfg: &DetectorConfig) -> bool {
    effect(x, n, base, cfg.min_effect_abs, cfg.min_effect_ratio)
}

fn effect(x: u64, n: u64, base: f64, abs: f64, ratio: f64) -> bool {
    let rate = x as f64 / n.max(1) as f64;
    n > 0 && rate >= base + abs && rate >= base * ratio
}

/// Judges one window against its expectation at the per-cell level `alpha_cell`, as for an
/// established cell with no other context (the unit tests' entry point).
pub fn assess(w: &WindowStats, e: &Expectation, cfg: &DetectorConfig, alpha_cell: f64) -> Assessment {
    let ctx = Context { established: true, ..Context::default() };
    assess_with(w, e, cfg, alpha_cell, &ctx)
}

/// Judges one window with everything the detector knows about it. Every test runs on capped
/// counts (each network, and in a country each ASN, at a fair share).
pub fn assess_with(w: &WindowStats, e: &Expectation, cfg: &DetectorConfig, alpha_cell: f64, ctx: &Context) -> Assessment {
    let failure_rate = w.failure_rate();
    let mut out = Assessment {
        state: State::InsufficientData,
        failure_rate,
        p_value: None,
        excess: false,
        keep_out: false,
        held: None,
        cross_country: false,
    };
    if !testable(w, cfg) {
        return out;
    }
    let base = e.failure_rate();
    let (cn, cx) = ctx.capped.unwrap_or_else(|| w.capped_counts(cfg.cap_floor, cfg.fair_share_factor));
    out.excess = big_effect(cx, cn, base, cfg);
    let p_cap = || beta_binomial_sf(cx, cn, e.fail_a, e.fail_b);
    // The poisoning guard: a window well above the baseline, and significantly so, never
    // teaches it, flagged or not.
    let guard = effect(cx, cn, base, cfg.poison_guard_abs, 1.5) && p_cap() < 1e-3;
    out.keep_out = out.excess || guard || (cn as f64) < 0.5 * w.reports as f64;
    let failing_nets = w.networks_with_failures();
    let mut bad = None;
    // The effect checks come first: they are cheap and almost always fail in normal traffic.
    if out.excess && failing_nets >= cfg.min_networks {
        let (failing, expected) = w.failing_networks(base);
        let p = p_cap().max(poisson_sf(failing, expected));
        out.p_value = Some(p);
        if p < alpha_cell {
            bad = Some(State::Disrupted);
        }
    }
    // Blocked here whatever the local baseline says: far above the same platform elsewhere.
    if let Some(peer) = ctx.peer_rate {
        if effect(cx, cn, peer, cfg.peer_min_effect_abs, cfg.peer_min_effect_ratio) && failing_nets >= cfg.min_networks {
            let a = cfg.peer_weight * peer.max(1e-3);
            let b = cfg.peer_weight * (1.0 - peer).max(1e-3);
            let (failing, expected) = w.failing_networks(peer);
            let p = beta_binomial_sf(cx, cn, a, b).max(poisson_sf(failing, expected));
            if p < alpha_cell {
                let fresh_ok = ctx.established || failing_nets >= cfg.fresh_min_failing_networks;
                if bad.is_none() && fresh_ok {
                    out.p_value = Some(out.p_value.map_or(p, |q| q.min(p)));
                }
                if fresh_ok {
                    out.cross_country = true;
                    bad = Some(State::Disrupted);
                }
            }
        }
    }
    if bad.is_none() && slow(w, e, cfg) {
        bad = Some(State::Degraded);
    }
    let Some(state) = bad else {
        out.state = State::Normal;
        return out;
    };
    let asns = match state {
        State::Disrupted => ctx.failing_asns,
        _ => ctx.slow_asns,
    };
    out.held = if ctx.global {
        Some(Held::Global)
    } else if !ctx.established && !out.cross_country {
        Some(Held::NoHistory)
    } else if asns.is_some_and(|n| n < cfg.min_failing_asns) {
        Some(Held::TooFewAsns)
    } else {
        None
    };
    out.state = if out.held.is_some() { State::Normal } else { state };
    out.keep_out |= out.held.is_some();
    out
}

fn slow(w: &WindowStats, e: &Expectation, cfg: &DetectorConfig) -> bool {
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

    #[test]
    fn the_display_name_is_the_serde_name() {
        for s in [State::InsufficientData, State::Normal, State::Degraded, State::Disrupted] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_string(), "{s:?}");
            assert_eq!(serde_json::from_value::<State>(s.as_str().into()).unwrap(), s);
        }
    }

    fn window(nets: u32, per_net: u32, fail_per_net: u32, ms: f64) -> WindowStats {
        let mut w = WindowStats::default();
        for i in 0..nets {
            let s = NetStat { network: i, reports: per_net, failures: fail_per_net, log_ms_sum: per_net as f64 * ms.ln() };
            w.networks.insert(i, s);
        }
        w.reports = (nets * per_net) as u64;
        w.failures = (nets * fail_per_net) as u64;
        w.times.add(ms, nets * per_net);
        w.control_times.add(40.0, nets * per_net);
        w
    }

    fn expect() -> Expectation {
        Expectation { fail_a: 43.0, fail_b: 2057.0, median_ms: Some(200.0), control_median_ms: Some(40.0) }
    }

    #[test]
    fn states() {
        let cfg = DetectorConfig::default();
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
        let cfg = DetectorConfig::default();
        let mut w = window(100, 3, 0, 200.0);
        w.networks.insert(7777, NetStat { network: 7777, reports: 3000, failures: 3000, log_ms_sum: 0.0 });
        w.reports += 3000;
        w.failures += 3000;
        let r = assess(&w, &expect(), &cfg, 1e-4);
        assert!(r.keep_out, "a flood never teaches the baseline");
        assert_eq!(r.state, State::Normal);
    }
}
