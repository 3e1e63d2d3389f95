//! The detector: every minute, judge each cell's window against its baseline, open and close
//! incidents with hysteresis, and fold judged-normal minutes into the baselines.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::baseline::{Baseline, Expectation};
use crate::cells::{collect, CellKey};
use crate::classify::{assess, testable, Assessment, State};
use crate::config::Config;
use crate::output::{incident_id, rfc3339, CellStatus, Incident};
use crate::rollup::Rollups;
use crate::window::WindowStats;

/// What one step produced.
#[derive(Clone, Debug, Default)]
pub struct StepResult {
    /// Every cell with data in the window or an open incident, in key order.
    pub statuses: Vec<CellStatus>,
    /// Incidents opened at this step.
    pub opened: Vec<Incident>,
    /// Incidents closed at this step (with `ended_at`).
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
    /// The open incident, if any.
    incident: Option<Incident>,
    /// Networks seen while the incident is open (its `networks` count).
    incident_networks: HashSet<u32>,
    /// Minutes inside bad or suspect windows or incidents: kept out of the baseline.
    flagged: BTreeSet<i64>,
    /// The published state and the minute it began, for `since`.
    shown: Option<(State, i64)>,
}

/// The stateful detector; call [`Detector::step`] once a minute with the live rollups.
#[derive(Debug, Default)]
pub struct Detector {
    /// Settings.
    cfg: Config,
    /// Every cell ever seen; their baselines are the detector's memory.
    cells: BTreeMap<CellKey, CellState>,
    /// Newest minute already folded into baselines.
    folded_through: Option<i64>,
}

impl Detector {
    /// A detector with no history (baselines start from the prior).
    pub fn new(cfg: Config) -> Self {
        Detector {
            cfg,
            ..Detector::default()
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A copy with settings `cfg` holding only the cells `keep` selects: stepping it tells what
    /// those cells read right now, between minute steps, without touching `self` (the live
    /// status path; `cfg` lets the caller keep the Bonferroni share of the full step).
    pub fn subset(&self, cfg: Config, keep: impl Fn(&CellKey) -> bool) -> Detector {
        let cells = self.cells.iter().filter(|(k, _)| keep(k)).map(|(k, c)| (k.clone(), c.clone())).collect();
        Detector { cfg, cells, folded_through: self.folded_through }
    }

    /// Incidents open now.
    pub fn open_incidents(&self) -> Vec<Incident> {
        self.cells
            .values()
            .filter_map(|c| c.incident.clone())
            .collect()
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
        // Bonferroni over the cells actually tested this minute.
        let tested = windows
            .values()
            .filter(|w| testable(w, &self.cfg))
            .count()
            .max(1);
        let alpha_cell = self.cfg.alpha / tested as f64;
        let mut out = StepResult::default();
        // ASN cells first, so a country incident can name the ASNs behind it.
        let mut excess: BTreeMap<(String, [u8; 2]), Vec<u32>> = BTreeMap::new();
        let (asn_cells, country_cells): (Vec<_>, Vec<_>) =
            windows.iter().partition(|(k, _)| k.asn.is_some());
        for (key, w) in asn_cells.into_iter().chain(country_cells) {
            let e = self
                .cells
                .entry(key.clone())
                .or_default()
                .baseline
                .expect(now, &self.cfg);
            let a = assess(w, &e, &self.cfg, alpha_cell);
            let affected = match key.asn {
                Some(asn) => {
                    if a.excess || a.state.is_bad() {
                        excess
                            .entry((key.platform.clone(), key.country))
                            .or_default()
                            .push(asn);
                    }
                    vec![asn]
                }
                None => excess
                    .get(&(key.platform.clone(), key.country))
                    .cloned()
                    .unwrap_or_default(),
            };
            let status = self.update(key, now, w, &a, &e, affected, &mut out);
            out.statuses.push(status);
        }
        out.statuses.sort_by(|a, b| {
            (&a.platform, &a.country, a.asn).cmp(&(&b.platform, &b.country, b.asn))
        });
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

    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        key: &CellKey,
        now: i64,
        w: &WindowStats,
        a: &Assessment,
        e: &Expectation,
        affected: Vec<u32>,
        out: &mut StepResult,
    ) -> CellStatus {
        let cfg = &self.cfg;
        let c = self.cells.get_mut(key).expect("cell created by step");
        if a.state.is_bad() {
            if c.bad_streak == 0 {
                c.streak_start = now;
                c.streak_worst = None;
            }
            c.bad_streak += 1;
            c.streak_worst = c.streak_worst.max(Some(a.state));
            c.normal_streak = 0;
        } else {
            c.bad_streak = 0;
            c.normal_streak += u32::from(a.state == State::Normal);
        }
        let rate = a.failure_rate.unwrap_or(0.0);
        let opening = c.incident.is_none() && c.bad_streak >= cfg.open_after;
        if opening {
            let start = c.streak_start;
            c.incident_networks = w.networks.keys().copied().collect();
            c.incident = Some(Incident {
                id: incident_id(&key.platform, &key.country_str(), key.asn, start),
                platform: key.platform.clone(),
                country: key.country_str(),
                asn: key.asn,
                state: c.streak_worst.unwrap_or(a.state),
                started_at: rfc3339(start),
                ended_at: None,
                peak_failure_rate: rate,
                affected_asns: Vec::new(),
                reports: w.reports,
                networks: 0,
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
            inc.peak_failure_rate = inc.peak_failure_rate.max(rate);
            for asn in affected {
                if !inc.affected_asns.contains(&asn) {
                    inc.affected_asns.push(asn);
                    inc.affected_asns.sort_unstable();
                }
            }
            inc.networks = c.incident_networks.len() as u64;
            if opening {
                out.opened.push(inc.clone());
            }
        }
        if a.state.is_bad() || a.keep_out || c.incident.is_some() {
            for t in now - cfg.window_minutes + 1..=now {
                c.flagged.insert(t);
            }
        }
        if c.normal_streak >= cfg.close_after {
            if let Some(mut inc) = c.incident.take() {
                let end = now - cfg.close_after as i64 + 1;
                inc.ended_at = Some(rfc3339(end));
                inc.end_minute = Some(end);
                out.closed.push(inc);
                c.incident_networks.clear();
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
            country: key.country_str(),
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
        }
    }
}
