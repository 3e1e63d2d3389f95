//! Detector settings. Defaults follow docs/protocol.md (k = 10, m = 3, 5-minute windows) and the
//! issue; the test thresholds are explained where they are used (`classify`).
//!
//! # Evidence rules (issue 9)
//!
//! * **History before an incident** (`history_*`): a cell may open an incident only once its
//!   baseline holds at least 300 counted reports (decayed) from at least 30 distinct networks,
//!   spread over at least 2 hours between the first and the newest minute folded in. Without it
//!   the "usual" failure rate is only the prior, so ten failing reports from ten /24s in a cell
//!   nobody else reports from read as a disruption; with it, a false alarm first needs two hours
//!   of ordinary-looking traffic from 30 networks. The one exception is the cross-country rule
//!   (`peer_*`): a cell failing far more than the same platform in other countries may open
//!   without history, but only with `fresh_min_failing_networks` failing networks (20) and, for a
//!   country, failing ASNs as below.
//! * **Breadth for a country** (`min_failing_asns`): a country incident needs failures in at
//!   least 2 ASNs (an ASN counts when at least m of its networks fail and its own capped failure
//!   rate clears the minimum effect, even under k reports). One ASN failing alone, however
//!   strongly, is that ASN's incident, not the country's: a censor (or a prankster) with one
//!   ISP's address space cannot speak for the whole country. Without any ASN data (every report
//!   in ASN 0) the network rules alone apply.
//! * **Incidents end** (`close_no_data_after`): 15 consecutive windows with too few reports or
//!   networks close an open incident with `end_reason: no_data`: we can no longer back the claim.
//! * **Hiding is expensive**: each network *and* each ASN is capped at a fair share in every test
//!   (`fair_share_factor`, and an ASN weighs at most as much as all other ASNs together); the
//!   baseline failure rate is clamped at `baseline_max_failure_rate` and a window more than
//!   `poison_guard_abs` above it never teaches it, and a minute teaches it at most
//!   `fold_volume_factor` times the cell's usual volume; a platform is also judged against the
//!   same platform in other countries (`peer_*`); a surge of `ok` reports from one ASN (`surge_*`)
//!   is left out of the verdict and listed in an open incident's `suspicious_asns`.

/// Everything tunable about detection.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Window length in minutes (docs/protocol.md §4.2 `window_s` = 300).
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
    /// History rule: decayed counted reports the cell's baseline must hold before it may open
    /// an incident (see the module docs).
    pub history_min_reports: f64,
    /// History rule: distinct networks that must have reported into the baseline.
    pub history_min_networks: u64,
    /// History rule: minutes between the first and the newest minute folded into the baseline.
    pub history_min_minutes: i64,
    /// Breadth rule: ASNs that must fail for a country incident (when ASN data exists).
    pub min_failing_asns: u64,
    /// Consecutive insufficient-data windows after which an open incident ends as `no_data`.
    pub close_no_data_after: u32,
    /// Ceiling on the baseline failure rate: however the history was fed, a full block
    /// (failure rate 1) still clears `min_effect_ratio` x the baseline.
    pub baseline_max_failure_rate: f64,
    /// A window whose failure rate is this much (absolute) and 1.5x above the baseline is kept
    /// out of it even when not flagged, so failures raised step by step below the detection
    /// threshold cannot walk the baseline up.
    pub poison_guard_abs: f64,
    /// One minute teaches the baseline at most this many times the cell's usual reports per
    /// minute (scaled down in proportion), so a volume flood cannot rewrite history quickly.
    pub fold_volume_factor: f64,
    /// Cross-country rule: other countries with a testable window needed for a peer verdict.
    pub peer_min_countries: usize,
    /// Cross-country rule: smallest rise (absolute) of a cell's capped failure rate over the
    /// median of other countries' to read as blocked here, whatever the local baseline says.
    pub peer_min_effect_abs: f64,
    /// Cross-country rule: smallest ratio over that median.
    pub peer_min_effect_ratio: f64,
    /// Cross-country rule: weight in pseudo-reports of the peer rate as a Beta prior (countries
    /// differ, so it is kept humble).
    pub peer_weight: f64,
    /// Failing networks a cell without history needs to open on cross-country evidence.
    pub fresh_min_failing_networks: u64,
    /// Surge rule: an ASN's `ok` reports in a window above this many times its usual window
    /// volume flag it as suspicious (listed on any open incident, left out of the verdict).
    pub surge_factor: f64,
    /// Surge rule: and above this many `ok` reports (small ASNs swing a lot).
    pub surge_min_reports: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
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
            history_min_reports: 300.0,
            history_min_networks: 30,
            history_min_minutes: 120,
            min_failing_asns: 2,
            close_no_data_after: 15,
            baseline_max_failure_rate: 0.25,
            poison_guard_abs: 0.05,
            fold_volume_factor: 3.0,
            peer_min_countries: 2,
            peer_min_effect_abs: 0.25,
            peer_min_effect_ratio: 3.0,
            peer_weight: 200.0,
            fresh_min_failing_networks: 20,
            surge_factor: 3.0,
            surge_min_reports: 20,
        }
    }
}

impl DetectorConfig {
    /// How many minutes of rollups the caller must keep for the detector: a window plus the
    /// baseline lag (evict anything older).
    pub fn retention_minutes(&self) -> i64 {
        self.window_minutes + self.baseline_lag_minutes + 1
    }
}
