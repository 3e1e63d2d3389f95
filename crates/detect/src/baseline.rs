//! A cell's own history: decayed counts and time histograms per hour of day (traffic and
//! latency swing over the day) with an all-day fallback, and a Beta prior on the failure rate
//! for cells whose history is short. It also remembers how much history there is (reports,
//! networks, time span) for the history rule, and the cell's usual volume for the surge rule.

use std::collections::HashSet;

use crate::config::DetectorConfig;
use crate::hist::{quantile_of, NUM_BUCKETS};
use crate::window::WindowStats;

/// Decayed history of one slice of the day.
#[derive(Clone, Debug)]
struct Bucket {
    /// Decayed count of successful reports.
    ok: f64,
    /// Decayed count of failed reports.
    fail: f64,
    /// Decayed time histogram of counted reports (the usual median).
    times: Vec<f64>,
    /// Decayed control-time histogram (the usual control, to spot a slow visitor link).
    control: Vec<f64>,
    /// Decayed count of minutes folded in: with `ok + fail`, the usual reports per minute.
    minutes: f64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket { ok: 0.0, fail: 0.0, times: vec![0.0; NUM_BUCKETS], control: vec![0.0; NUM_BUCKETS], minutes: 0.0 }
    }
}

impl Bucket {
    /// Folds one minute in, its counts scaled by `scale` (<= 1: a flood teaches no faster
    /// than ordinary traffic).
    fn fold(&mut self, m: &WindowStats, decay: f64, scale: f64) {
        self.ok = self.ok * decay + (m.reports - m.failures) as f64 * scale;
        self.fail = self.fail * decay + m.failures as f64 * scale;
        for (w, &c) in self.times.iter_mut().zip(m.times.counts.iter()) {
            *w = *w * decay + c as f64 * scale;
        }
        for (w, &c) in self.control.iter_mut().zip(m.control_times.counts.iter()) {
            *w = *w * decay + c as f64 * scale;
        }
        self.minutes = self.minutes * decay + 1.0;
    }

    /// Usual reports per minute, once 30 minutes are folded in.
    fn per_minute(&self) -> Option<f64> {
        (self.minutes >= 30.0).then(|| self.reports() / self.minutes)
    }

    fn reports(&self) -> f64 {
        self.ok + self.fail
    }
}

/// What the detector compares a window with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expectation {
    /// Beta(a, b) on the failure rate: prior plus capped history.
    pub fail_a: f64,
    /// See `fail_a`.
    pub fail_b: f64,
    /// Usual median time, `None` until enough history (no slowdown verdict without it).
    pub median_ms: Option<f64>,
    /// Usual control median, `None` until enough history.
    pub control_median_ms: Option<f64>,
}

impl Expectation {
    /// Expected failure rate (the Beta mean).
    pub fn failure_rate(&self) -> f64 {
        self.fail_a / (self.fail_a + self.fail_b)
    }
}

/// One cell's baseline.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// Index = UTC hour of day.
    hours: Vec<Bucket>,
    /// Every hour together, for hours without enough history of their own.
    all: Bucket,
    /// First minute folded in: the span of the history rule.
    first_minute: Option<i64>,
    /// Newest minute folded in.
    last_minute: Option<i64>,
    /// Distinct networks folded in, kept only up to `NETWORKS_KEPT` (the rule needs a count).
    networks: HashSet<u32>,
}

/// Most network hashes a baseline remembers: enough for any sane `history_min_networks`.
const NETWORKS_KEPT: usize = 256;

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            hours: vec![Bucket::default(); 24],
            all: Bucket::default(),
            first_minute: None,
            last_minute: None,
            networks: HashSet::new(),
        }
    }
}

fn hour_of(minute: i64) -> usize {
    (minute.rem_euclid(1440) / 60) as usize
}

impl Baseline {
    /// Adds one minute known to be outside any incident.
    pub fn fold(&mut self, minute: i64, m: &WindowStats, cfg: &DetectorConfig) {
        // Per-fold decay so that weight halves every `baseline_half_life_days`: an hour bucket
        // is folded 60 times a day, the all-day bucket 1440 times.
        let per_day = 0.5f64.powf(1.0 / cfg.baseline_half_life_days);
        let scale = match self.all.per_minute() {
            Some(usual) if m.reports > 0 => (cfg.fold_volume_factor * usual.max(1.0) / m.reports as f64).min(1.0),
            _ => 1.0,
        };
        self.hours[hour_of(minute)].fold(m, per_day.powf(1.0 / 60.0), scale);
        self.all.fold(m, per_day.powf(1.0 / 1440.0), scale);
        self.first_minute = Some(self.first_minute.map_or(minute, |f| f.min(minute)));
        self.last_minute = Some(self.last_minute.map_or(minute, |l| l.max(minute)));
        for n in m.networks.keys() {
            if self.networks.len() >= NETWORKS_KEPT {
                break;
            }
            self.networks.insert(*n);
        }
    }

    /// The history rule (see `config`): enough reports, from enough networks, over long enough
    /// for the cell's usual rate to mean something.
    pub fn established(&self, cfg: &DetectorConfig) -> bool {
        let span = match (self.first_minute, self.last_minute) {
            (Some(f), Some(l)) => l - f,
            _ => return false,
        };
        self.all.reports() >= cfg.history_min_reports
            && self.networks.len() as u64 >= cfg.history_min_networks
            && span >= cfg.history_min_minutes
    }

    /// Usual counted reports per minute at `minute` (its hour of day when known), `None`
    /// without half an hour of history.
    pub fn usual_per_minute(&self, minute: i64) -> Option<f64> {
        self.hours[hour_of(minute)].per_minute().or_else(|| self.all.per_minute())
    }

    /// The expectation for a window ending at `minute`.
    pub fn expect(&self, minute: i64, cfg: &DetectorConfig) -> Expectation {
        let min = cfg.baseline_min_reports;
        let hour = &self.hours[hour_of(minute)];
        let b = if hour.reports() >= min {
            Some(hour)
        } else if self.all.reports() >= min {
            Some(&self.all)
        } else {
            None
        };
        // History weight is capped: the real rate drifts and is overdispersed across windows,
        // so even months of data must not make the expected rate look exact.
        let (ok, fail) = match b {
            Some(b) => {
                let scale = (cfg.baseline_max_weight / b.reports()).min(1.0);
                let (ok, fail) = (b.ok * scale, b.fail * scale);
                // The ceiling: history fed by a patient attacker cannot make failing normal.
                let max = cfg.baseline_max_failure_rate;
                (ok, fail.min(ok * max / (1.0 - max)))
            }
            None => (0.0, 0.0),
        };
        let prior_fail = 1.0 - cfg.prior_success_rate;
        Expectation {
            fail_a: cfg.prior_weight * prior_fail + fail,
            fail_b: cfg.prior_weight * cfg.prior_success_rate + ok,
            median_ms: b.and_then(|b| quantile_of(&b.times, 0.5)),
            control_median_ms: b.and_then(|b| quantile_of(&b.control, 0.5)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(ok: u64, fail: u64, ms: f64) -> WindowStats {
        let mut w = WindowStats { reports: ok + fail, failures: fail, ..WindowStats::default() };
        w.times.add(ms, (ok + fail) as u32);
        w.control_times.add(40.0, (ok + fail) as u32);
        w
    }

    #[test]
    fn prior_alone_then_hour_of_day_history() {
        let cfg = DetectorConfig::default();
        let mut b = Baseline::default();
        let e = b.expect(0, &cfg);
        assert!((e.failure_rate() - 0.03).abs() < 1e-12);
        assert_eq!(e.median_ms, None);
        // Nights (hour 2) are slow and failing, days (hour 14) fast and clean.
        for d in 0..3 {
            for m in 0..60 {
                b.fold(d * 1440 + 120 + m, &minute(50, 10, 900.0), &cfg);
                b.fold(d * 1440 + 840 + m, &minute(60, 0, 100.0), &cfg);
            }
        }
        let night = b.expect(5 * 1440 + 130, &cfg);
        let day = b.expect(5 * 1440 + 850, &cfg);
        assert!(night.failure_rate() > 0.15 && day.failure_rate() < 0.01, "{night:?} {day:?}");
        assert!((night.median_ms.unwrap() / 900.0 - 1.0).abs() < 0.1);
        assert!((day.median_ms.unwrap() / 100.0 - 1.0).abs() < 0.1);
        // An hour never seen falls back to the whole day.
        let other = b.expect(5 * 1440 + 600, &cfg);
        assert!(other.failure_rate() > day.failure_rate() && other.failure_rate() < night.failure_rate());
        assert!(night.fail_a + night.fail_b <= cfg.baseline_max_weight + cfg.prior_weight + 1e-6);
    }
}
