//! The detector: every minute, judge each cell's window against its baseline (and against the
//! same platform in other countries), open and close incidents with hysteresis, and fold
//! judged-normal minutes into the baselines. The evidence rules of issue 9 are in `config`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::baseline::{Baseline, Expectation};
use crate::cells::{collect, Cell};
use crate::classify::{assess_with, fails_for_breadth, testable, Assessment, Context, State};
use crate::config::DetectorConfig;
use crate::output::{confidence, incident_id, rfc3339, CellStatus, EndReason, Incident};
use crate::rollup::Rollups;
use crate::window::{country_capped_counts, WindowStats};
use crate::{Country, Platform};

/// What one step produced.
#[derive(Clone, Debug, Default)]
pub struct StepResult {
    /// Every cell with data in the window or an open incident, in key order.
    pub statuses: Vec<CellStatus>,
    /// Incidents opened at this step.
    pub opened: Vec<Incident>,
    /// Incidents closed at this step (with `ended_at` and `end_reason`).
    pub closed: Vec<Incident>,
}

/// Per-cell memory between steps.
#[derive(Clone, Debug, Default)]
struct CellState {
    /// The cell's history.
    baseline: Baseline,
    /// Consecutive non-normal windows so far.
    bad_streak: u32,
    /// Window end of the first of them: the incident's start if it opens.
    streak_start: i64,
    /// Worst state in the streak, which the incident opens with.
    streak_worst: Option<State>,
    /// Consecutive normal windows (insufficient data neither adds nor resets).
    normal_streak: u32,
    /// Consecutive insufficient-data windows: enough of them end an incident as `no_data`.
    nodata_streak: u32,
    /// The open incident, if any.
    incident: Option<Incident>,
    /// Networks seen while the incident is open (its `networks` count).
    incident_networks: HashSet<u32>,
    /// Networks that failed (or were slow) while it is open (its `failing_networks`).
    incident_failing: HashSet<u32>,
    /// ASNs seen while it is open (its `asns` count).
    incident_asns: HashSet<u32>,
    /// Whether the cell had its history when the incident opened (for the confidence).
    incident_established: bool,
    /// Minutes inside bad or suspect windows or incidents: kept out of the baseline.
    flagged: BTreeSet<i64>,
    /// The published state and the minute it began, for `since`.
    shown: Option<(State, i64)>,
}

/// What a cell's window is judged with, beyond its counts.
struct Judged<'a> {
    /// The window, with suspicious ASNs' reports left out.
    w: &'a WindowStats,
    /// Its verdict.
    a: Assessment,
    /// Its expectation.
    e: Expectation,
    /// ASNs behind the verdict (failing ASNs for a country, the ASN itself for an ASN cell).
    affected: Vec<u32>,
    /// ASNs with reports in the window.
    asns: Vec<u32>,
    /// ASNs flagged as suspicious this step.
    suspicious: Vec<u32>,
    /// The window cannot be trusted at all (its only ASN is surging): hold every streak.
    untrusted: bool,
    /// Failing ASNs for the confidence (`None` for an ASN cell).
    failing_asns: Option<u64>,
}

/// The stateful detector; call [`Detector::step`] once a minute with the live rollups.
#[derive(Debug, Default)]
pub struct Detector {
    /// Settings.
    cfg: DetectorConfig,
    /// Every cell ever seen; their baselines are the detector's memory.
    cells: BTreeMap<Cell, CellState>,
    /// Newest minute already folded into baselines.
    folded_through: Option<i64>,
}

impl Detector {
    /// A detector with no history (baselines start from the prior).
    pub fn new(cfg: DetectorConfig) -> Self {
        Detector { cfg, ..Detector::default() }
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// A copy with settings `cfg` holding only the cells `keep` selects: stepping it tells what
    /// those cells read right now, between minute steps, without touching `self` (the live
    /// status path; `cfg` lets the caller keep the Bonferroni share of the full step).
    pub fn subset(&self, cfg: DetectorConfig, keep: impl Fn(&Cell) -> bool) -> Detector {
        let cells = self.cells.iter().filter(|(k, _)| keep(k)).map(|(k, c)| (k.clone(), c.clone())).collect();
        Detector { cfg, cells, folded_through: self.folded_through }
    }

    /// Incidents open now.
    pub fn open_incidents(&self) -> Vec<Incident> {
        self.cells.values().filter_map(|c| c.incident.clone()).collect()
    }

    /// Judges the window ending with minute `now` (inclusive). `rollups` must hold at least
    /// `config().retention_minutes()` minutes before `now`.
    pub fn step(&mut self, now: i64, rollups: &Rollups) -> StepResult {
        self.fold_baselines(now, rollups);
        let mut windows = collect(rollups, now - self.cfg.window_minutes + 1, now);
        for (k, c) in &self.cells {
            if c.incident.is_some() {
                windows.entry(k.clone()).or_default();
            }
        }
        for k in windows.keys() {
            self.cells.entry(k.clone()).or_default();
        }
        // Bonferroni over the cells actually tested this minute.
        let tested = windows.values().filter(|w| testable(w, &self.cfg)).count().max(1);
        let alpha_cell = self.cfg.alpha / tested as f64;
        let suspicious = self.surges(now, &windows);
        // Country windows rebuilt without suspicious ASNs' reports.
        let mut trusted: BTreeMap<Cell, Cow<'_, WindowStats>> = BTreeMap::new();
        for (k, w) in &windows {
            if k.asn.is_some() {
                continue;
            }
            let t = match suspicious.get(&(k.platform.clone(), k.country)) {
                Some(bad) if !bad.is_empty() => {
                    let mut t = WindowStats::default();
                    for (ak, aw) in asn_windows(&windows, k) {
                        if !bad.contains(&ak) {
                            t.merge(aw);
                        }
                    }
                    Cow::Owned(t)
                }
                _ => Cow::Borrowed(w),
            };
            trusted.insert(k.clone(), t);
        }
        let expect: BTreeMap<Cell, Expectation> =
            windows.keys().map(|k| (k.clone(), self.cells[k].baseline.expect(now, &self.cfg))).collect();
        let peers = self.peer_rates(&trusted, &expect);
        let mut out = StepResult::default();
        // ASN cells first, so a country can count the ASNs failing under it.
        let mut failing: BTreeMap<(Platform, Country), (Vec<u32>, u64)> = BTreeMap::new();
        for (key, w) in windows.iter().filter(|(k, _)| k.asn.is_some()) {
            let asn = key.asn.unwrap_or(0);
            let e = expect[key];
            // A surging ASN cell holds its own incident's streaks (its only ASN cannot be
            // trusted); without an incident it is judged as usual (the fold cap bounds it).
            let sus = self.cells[key].incident.is_some()
                && suspicious.get(&(key.platform.clone(), key.country)).is_some_and(|b| b.contains(&asn));
            let (peer_rate, global) = peer_for(&peers, key, &self.cfg);
            let ctx = Context { established: self.cells[key].baseline.established(&self.cfg), peer_rate, global, ..Context::default() };
            let a = assess_with(w, &e, &self.cfg, alpha_cell, &ctx);
            let surging = suspicious.get(&(key.platform.clone(), key.country)).is_some_and(|b| b.contains(&asn));
            if !surging {
                let f = failing.entry((key.platform.clone(), key.country)).or_default();
                if fails_for_breadth(w, &e, &self.cfg) {
                    f.0.push(asn);
                }
                if e.median_ms.is_some_and(|m| w.networks_slower_than(m * self.cfg.slowdown_factor) > 0) {
                    f.1 += 1;
                }
            }
            let j = Judged {
                w,
                affected: vec![asn],
                asns: vec![asn],
                suspicious: if sus { vec![asn] } else { Vec::new() },
                untrusted: sus,
                failing_asns: None,
                a,
                e,
            };
            let status = self.update(key, now, &j, &mut out);
            out.statuses.push(status);
        }
        for (key, w) in trusted.iter() {
            let w: &WindowStats = w;
            let e = expect[key];
            let pc = (key.platform.clone(), key.country);
            let bad = suspicious.get(&pc).cloned().unwrap_or_default();
            let parts: Vec<(u32, &WindowStats)> = asn_windows(&windows, key).filter(|(a, _)| !bad.contains(a)).collect();
            let asns: Vec<u32> = parts.iter().map(|(a, _)| *a).collect();
            // Without ASN data (every report in ASN 0) only the network rules can apply.
            let asn_data = parts.iter().any(|(a, w)| *a != 0 && w.reports > 0);
            let refs: Vec<&WindowStats> = parts.iter().map(|(_, w)| *w).collect();
            let (fail_asns, slow_asns) = failing.get(&pc).cloned().unwrap_or_default();
            let (peer_rate, global) = peer_for(&peers, key, &self.cfg);
            let ctx = Context {
                established: self.cells[key].baseline.established(&self.cfg),
                capped: Some(country_capped_counts(w, &refs, self.cfg.cap_floor, self.cfg.fair_share_factor)),
                failing_asns: asn_data.then_some(fail_asns.len() as u64),
                slow_asns: asn_data.then_some(slow_asns),
                peer_rate,
                global,
            };
            let a = assess_with(w, &e, &self.cfg, alpha_cell, &ctx);
            let j = Judged {
                w,
                a,
                e,
                affected: fail_asns.clone(),
                asns,
                suspicious: bad.into_iter().collect(),
                untrusted: false,
                failing_asns: Some(if asn_data { fail_asns.len() as u64 } else { 1 }),
            };
            let status = self.update(key, now, &j, &mut out);
            out.statuses.push(status);
        }
        out.statuses.sort_by(|a, b| (&a.platform, &a.country, a.asn).cmp(&(&b.platform, &b.country, b.asn)));
        out
    }

    /// The surge rule: the ASNs whose `ok` reports in the window exceed `surge_factor` times
    /// their usual window volume (and `surge_min_reports`). Their reports are left out of the
    /// verdict, always: during an incident so that a flood of "it works" cannot close it, and
    /// before one so that a flood started ahead of a block cannot keep it from opening.
    fn surges(&self, now: i64, windows: &BTreeMap<Cell, WindowStats>) -> BTreeMap<(Platform, Country), BTreeSet<u32>> {
        let mut out: BTreeMap<(Platform, Country), BTreeSet<u32>> = BTreeMap::new();
        for (k, w) in windows.iter().filter(|(k, _)| k.asn.is_some()) {
            let pc = (k.platform.clone(), k.country);
            let ok = w.reports - w.failures;
            // A cell without half an hour of history has no usual volume to surge above (and
            // the ASN cap bounds what it can do to its country anyway).
            let Some(usual) = self.cells.get(k).and_then(|c| c.baseline.usual_per_minute(now)) else {
                continue;
            };
            let limit = (self.cfg.surge_factor * usual * self.cfg.window_minutes as f64).max(self.cfg.surge_min_reports as f64);
            if ok as f64 > limit {
                out.entry(pc).or_default().insert(k.asn.unwrap_or(0));
            }
        }
        out
    }

    /// Per platform, every testable country's capped failure rate and whether it clears the
    /// minimum effect over its own baseline: the material of the cross-country rule.
    fn peer_rates(&self, trusted: &BTreeMap<Cell, Cow<'_, WindowStats>>, expect: &BTreeMap<Cell, Expectation>) -> PeerRates {
        let mut out = PeerRates::new();
        for (k, w) in trusted {
            if !testable(w, &self.cfg) {
                continue;
            }
            let (n, x) = w.capped_counts(self.cfg.cap_floor, self.cfg.fair_share_factor);
            if n == 0 {
                continue;
            }
            let rate = x as f64 / n as f64;
            let base = expect[k].failure_rate();
            let failing = rate >= base + self.cfg.min_effect_abs && rate >= base * self.cfg.min_effect_ratio;
            out.entry(k.platform.clone()).or_default().push((k.country, rate, failing));
        }
        out
    }

    /// Adds every minute up to `now - lag` that no bad window or incident touched.
    fn fold_baselines(&mut self, now: i64, rollups: &Rollups) {
        let last = now - self.cfg.baseline_lag_minutes;
        let oldest = now - self.cfg.retention_minutes() + 1;
        let first = self.folded_through.map_or(last, |f| (f + 1).max(oldest));
        for t in first..=last {
            for (key, m) in collect(rollups, t, t) {
                let c = self.cells.entry(key).or_default();
                if !c.flagged.contains(&t) {
                    c.baseline.fold(t, &m, &self.cfg);
                }
            }
            for c in self.cells.values_mut() {
                c.flagged = c.flagged.split_off(&(t + 1));
            }
        }
        self.folded_through = Some(last.max(self.folded_through.unwrap_or(last)));
    }

    fn update(&mut self, key: &Cell, now: i64, j: &Judged<'_>, out: &mut StepResult) -> CellStatus {
        let cfg = &self.cfg;
        let (w, a, e) = (j.w, &j.a, &j.e);
        let c = self.cells.get_mut(key).expect("cell created by step");
        if j.untrusted {
            // Its only ASN is surging: this window says nothing either way.
        } else if a.state.is_bad() {
            if c.bad_streak == 0 {
                c.streak_start = now;
                c.streak_worst = None;
            }
            c.bad_streak += 1;
            c.streak_worst = c.streak_worst.max(Some(a.state));
            c.normal_streak = 0;
            c.nodata_streak = 0;
        } else {
            c.bad_streak = 0;
            c.normal_streak += u32::from(a.state == State::Normal);
            if a.state == State::InsufficientData {
                c.nodata_streak += 1;
            } else {
                c.nodata_streak = 0;
            }
        }
        let rate = a.failure_rate.unwrap_or(0.0);
        let established = c.baseline.established(cfg);
        let opening = c.incident.is_none() && c.bad_streak >= cfg.open_after;
        if opening {
            let start = c.streak_start;
            c.incident_networks = w.networks.keys().copied().collect();
            c.incident_failing.clear();
            c.incident_asns.clear();
            c.incident_established = established;
            c.incident = Some(Incident {
                id: incident_id(&key.platform, key.country, key.asn, start),
                platform: key.platform.clone(),
                country: key.country,
                asn: key.asn,
                state: c.streak_worst.unwrap_or(a.state),
                started_at: rfc3339(start),
                ended_at: None,
                peak_failure_rate: rate,
                affected_asns: Vec::new(),
                reports: w.reports,
                networks: 0,
                asns: 0,
                failing_networks: 0,
                // Rounded like `confidence`: a published figure, not a working value.
                baseline_failure_rate: (e.failure_rate() * 1e4).round() / 1e4,
                confidence: 0.0,
                cross_country: false,
                suspicious_asns: Vec::new(),
                end_reason: None,
                start_minute: start,
                end_minute: None,
            });
        } else if let Some(inc) = c.incident.as_mut() {
            inc.reports += w.newest_minute_reports;
            c.incident_networks.extend(w.networks.keys().copied());
            if a.state.is_bad() {
                inc.state = inc.state.max(a.state);
            }
        }
        if let Some(inc) = c.incident.as_mut() {
            if !j.untrusted {
                inc.peak_failure_rate = inc.peak_failure_rate.max(rate);
            }
            if a.state.is_bad() || opening {
                for asn in &j.affected {
                    if !inc.affected_asns.contains(asn) {
                        inc.affected_asns.push(*asn);
                        inc.affected_asns.sort_unstable();
                    }
                }
                match inc.state {
                    State::Degraded => {
                        let slow = e.median_ms.map_or(f64::INFINITY, |m| m * cfg.slowdown_factor);
                        c.incident_failing.extend(w.slow_network_ids(slow));
                    }
                    _ => c.incident_failing.extend(w.failing_network_ids()),
                }
                inc.cross_country |= a.cross_country;
            }
            for asn in &j.suspicious {
                if !inc.suspicious_asns.contains(asn) {
                    inc.suspicious_asns.push(*asn);
                    inc.suspicious_asns.sort_unstable();
                }
            }
            c.incident_asns.extend(j.asns.iter().copied());
            inc.networks = c.incident_networks.len() as u64;
            inc.asns = c.incident_asns.len() as u64;
            inc.failing_networks = c.incident_failing.len() as u64;
            let failing_asns = j.failing_asns.map(|_| {
                if key.asn.is_none() && inc.affected_asns.iter().all(|a| *a == 0) {
                    1
                } else {
                    inc.affected_asns.len() as u64
                }
            });
            inc.confidence = confidence(inc.failing_networks, failing_asns, c.incident_established);
            if opening {
                out.opened.push(inc.clone());
            }
        }
        // Suspicious ASNs' reports are out of the verdict but still in the raw minutes the
        // baseline folds: keep those minutes out too.
        if a.state.is_bad() || a.keep_out || c.incident.is_some() || j.untrusted || !j.suspicious.is_empty() {
            for t in now - cfg.window_minutes + 1..=now {
                c.flagged.insert(t);
            }
        }
        let end = if j.untrusted {
            None
        } else if c.normal_streak >= cfg.close_after {
            Some((now - cfg.close_after as i64 + 1, EndReason::Recovered))
        } else if c.nodata_streak >= cfg.close_no_data_after {
            // Ended when the data ran out: the first silent window.
            Some((now - cfg.close_no_data_after as i64 + 1, EndReason::NoData))
        } else {
            None
        };
        if let Some((end, reason)) = end {
            if let Some(mut inc) = c.incident.take() {
                inc.ended_at = Some(rfc3339(end));
                inc.end_minute = Some(end);
                inc.end_reason = Some(reason);
                out.closed.push(inc);
                c.incident_networks.clear();
                c.incident_failing.clear();
                c.incident_asns.clear();
            }
        }
        let shown = match (&c.incident, a.state) {
            (_, State::InsufficientData) => State::InsufficientData,
            (Some(_), s) if s.is_bad() => s,
            (Some(inc), _) => inc.state,
            (None, _) => State::Normal,
        };
        if c.shown.map(|(s, _)| s) != Some(shown) {
            c.shown = Some((shown, now));
        }
        let since = match &c.incident {
            Some(inc) if shown.is_bad() => inc.start_minute,
            _ => c.shown.map_or(now, |(_, t)| t),
        };
        let publish = testable(w, cfg);
        CellStatus {
            platform: key.platform.clone(),
            country: key.country,
            asn: key.asn,
            state: shown,
            window_state: a.state,
            reports: w.reports,
            networks: w.distinct_networks(),
            success_rate: a.failure_rate.filter(|_| publish).map(|f| 1.0 - f),
            median_ms: w.times.quantile(0.5).filter(|_| publish),
            p90_ms: w.times.quantile(0.9).filter(|_| publish),
            baseline_success_rate: 1.0 - e.failure_rate(),
            baseline_median_ms: e.median_ms,
            p_value: a.p_value,
            since: rfc3339(since),
            global: a.held == Some(crate::classify::Held::Global),
            held: a.held,
        }
    }
}

/// Per platform, each testable country's (country, capped failure rate, failing over its own
/// baseline): what the cross-country rule compares with.
type PeerRates = BTreeMap<Platform, Vec<(Country, f64, bool)>>;

/// The ASN windows of a country cell `k`, with their ASN.
fn asn_windows<'a>(windows: &'a BTreeMap<Cell, WindowStats>, k: &'a Cell) -> impl Iterator<Item = (u32, &'a WindowStats)> + 'a {
    let from = Cell { platform: k.platform.clone(), country: k.country, asn: Some(0) };
    windows
        .range(from..)
        .take_while(move |(ak, _)| ak.platform == k.platform && ak.country == k.country)
        .filter_map(|(ak, w)| ak.asn.map(|a| (a, w)))
}

/// The cross-country view of cell `k`: the median capped failure rate of the same platform in
/// other countries (with at least `peer_min_countries` of them), and whether most of them
/// (at least two) fail too, which makes the platform broken rather than blocked.
fn peer_for(peers: &PeerRates, k: &Cell, cfg: &DetectorConfig) -> (Option<f64>, bool) {
    let Some(list) = peers.get(&k.platform) else {
        return (None, false);
    };
    let mut rates: Vec<f64> = list.iter().filter(|(c, _, _)| *c != k.country).map(|(_, r, _)| *r).collect();
    if rates.len() < cfg.peer_min_countries {
        return (None, false);
    }
    let failing = list.iter().filter(|(c, _, f)| *c != k.country && *f).count();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    (Some(median), failing >= 2 && 2 * failing > rates.len())
}
