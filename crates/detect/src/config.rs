//! Detector settings. Defaults follow PROTOCOL.md (k = 10, m = 3, 5-minute windows) and the
//! issue; the test thresholds are explained where they are used (`classify`).

/// Everything tunable about detection.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Window length in minutes (PROTOCOL.md `window_s` = 300).
    pub window_minutes: i64,
    /// k: fewer counted reports than this reads `insufficient_data`.
    pub min_reports: u64,
    /// m: fewer distinct networks than this reads `insufficient_data`; also the number of
    /// networks that must show failures before a cell can be `disrupted`.
    pub min_networks: u64,
    /// Family-wise false-alarm rate per step, split (Bonferroni) over the cells tested. The
    /// detector tests every cell every minute, ~500k steps a year, so this must be tiny for
    /// false windows to stay rare over time (1e-6: about one false window per 3 years; two in a
    /// row are needed to open an incident).
    pub alpha: f64,
    /// Smallest failure-rate rise over baseline worth calling a disruption (absolute).
    pub min_effect_abs: f64,
    /// Smallest failure-rate ratio over baseline worth calling a disruption.
    pub min_effect_ratio: f64,
    /// A median this many times its baseline (control normal) reads `degraded`.
    pub slowdown_factor: f64,
    /// The window's control median may be at most this many times its baseline for a slowdown
    /// to be blamed on the platform rather than on visitors' links.
    pub control_normal_factor: f64,
    /// Each network's reports are capped at `max(cap_floor, fair_share_factor x median)`.
    pub fair_share_factor: f64,
    /// See `fair_share_factor`.
    pub cap_floor: u32,
    /// Consecutive non-normal windows before an incident opens.
    pub open_after: u32,
    /// Consecutive normal windows before an incident closes.
    pub close_after: u32,
    /// Prior mean success rate for a cell without history.
    pub prior_success_rate: f64,
    /// Prior weight in pseudo-reports: how much history it takes to move the prior.
    pub prior_weight: f64,
    /// Most pseudo-reports of history the baseline may carry (keeps it humble; see baseline).
    pub baseline_max_weight: f64,
    /// History halves in weight every this many days.
    pub baseline_half_life_days: f64,
    /// Reports an hour-of-day bucket needs before it is used instead of the all-day one.
    pub baseline_min_reports: f64,
    /// A minute joins the baseline this long after it happened, once every window that
    /// contains it has been judged (so incident minutes can be left out).
    pub baseline_lag_minutes: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_minutes: 5,
            min_reports: 10,
            min_networks: 3,
            alpha: 1e-6,
            min_effect_abs: 0.10,
            min_effect_ratio: 2.0,
            slowdown_factor: 3.0,
            control_normal_factor: 2.0,
            fair_share_factor: 2.0,
            cap_floor: 2,
            open_after: 2,
            close_after: 3,
            prior_success_rate: 0.97,
            prior_weight: 100.0,
            baseline_max_weight: 2000.0,
            baseline_half_life_days: 7.0,
            baseline_min_reports: 300.0,
            baseline_lag_minutes: 15,
        }
    }
}

impl Config {
    /// How many minutes of rollups the caller must keep for the detector: a window plus the
    /// baseline lag (evict anything older).
    pub fn retention_minutes(&self) -> i64 {
        self.window_minutes + self.baseline_lag_minutes + 1
    }
}
