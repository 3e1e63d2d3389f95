//! The detector fed from the store's rollups: history replay (start-up and `vantage detect`),
//! the live minute step, and the quick look at a few cells between steps.

use crate::rollup::CellRollup;
use crate::store::{Incident, RollupFilter, Store, StoreError};
use std::collections::BTreeSet;
use vantage_detect::{CellStatus, Detector, DetectorConfig, Rollups, StepResult};
use vantage_protocol::{Country, Platform};

/// Minutes of rollups loaded at once during a replay.
const REPLAY_CHUNK: i64 = 60;

/// Minutes before now whose rollups can still grow: a report more than
/// `publish::LATE_AFTER_S` old is late and never enters them; one more for the minute boundary.
const FRESH_MINUTES: i64 = crate::store::publish::LATE_AFTER_S / 60 + 2;

/// A (platform, country) pair: what the live path recomputes after reports arrive.
pub(crate) type Pair = (Platform, Country);

/// A detector and the rollups it reads.
pub(crate) struct Engine {
    /// The stateful detector (baselines, streaks, open incidents).
    det: Detector,
    /// Rollups of the minutes the next step needs.
    rollups: Rollups,
    /// Newest minute loaded into `rollups` by a replay.
    loaded_to: Option<i64>,
    /// Newest minute stepped.
    pub stepped_to: Option<i64>,
    /// The last full step's statuses (their count of testable cells scales the preview's alpha).
    pub last: Vec<CellStatus>,
}

fn merge(rollups: &mut Rollups, c: &CellRollup) {
    rollups.merge_minute(&c.key.platform, c.key.country, c.key.asn, c.key.minute, &c.to_minute());
}

impl Engine {
    /// A detector without history.
    pub(crate) fn new(cfg: DetectorConfig) -> Engine {
        Engine { det: Detector::new(cfg), rollups: Rollups::new(), loaded_to: None, stepped_to: None, last: Vec::new() }
    }

    fn keep(&self) -> i64 {
        self.det.config().retention_minutes()
    }

    /// Steps every minute of `from..=to` as if live, reading rollups an hour at a time.
    pub(crate) fn replay(
        &mut self,
        store: &dyn Store,
        from: i64,
        to: i64,
        mut each: impl FnMut(i64, &StepResult),
    ) -> Result<(), StoreError> {
        let keep = self.keep();
        if self.loaded_to.is_none_or(|l| l < from - keep) {
            self.rollups = Rollups::new();
            self.loaded_to = Some(from - keep);
        }
        for t in from..=to {
            let loaded = self.loaded_to.unwrap_or(t - 1);
            if loaded < t {
                let end = (t + REPLAY_CHUNK).min(to + 1);
                let filter = RollupFilter { from: loaded + 1, to: end, ..RollupFilter::default() };
                store.scan_rollups(&filter, &mut |c| merge(&mut self.rollups, &c))?;
                self.loaded_to = Some(end - 1);
            }
            let r = self.det.step(t, &self.rollups);
            each(t, &r);
            self.last = r.statuses;
            self.stepped_to = Some(t);
            self.rollups.evict_before(t - keep + 1);
        }
        Ok(())
    }

    /// Steps minute `t` on a fresh read of its window, so reports that arrived late count.
    /// Minutes skipped since the last step (a stalled loop, a moved clock) are caught up first,
    /// and `each` sees every one of them, so their incident opens and closes are not lost.
    pub(crate) fn step_live(
        &mut self,
        store: &dyn Store,
        t: i64,
        mut each: impl FnMut(i64, &StepResult),
    ) -> Result<StepResult, StoreError> {
        let keep = self.keep();
        if let Some(s) = self.stepped_to.filter(|s| t - s > 1) {
            // Catch up minute by minute, as history.
            self.replay(store, s + 1, t - 1, &mut each)?;
        }
        // Minutes that can no longer change come from the previous step when it was minute t - 1.
        let window_from = t - keep + 1;
        let read_from = if self.stepped_to == Some(t - 1) { window_from.max(t - FRESH_MINUTES + 1) } else { window_from };
        let mut rollups = self.minutes_between(window_from, read_from, None);
        let filter = RollupFilter { from: read_from, to: t + 1, ..RollupFilter::default() };
        store.scan_rollups(&filter, &mut |c| merge(&mut rollups, &c))?;
        let r = self.det.step(t, &rollups);
        each(t, &r);
        self.rollups = rollups;
        self.loaded_to = Some(t);
        self.stepped_to = Some(t);
        self.last = r.statuses.clone();
        Ok(r)
    }

    /// What the cells of `pairs` read at minute `now` (a partial minute), without changing the
    /// detector: a copy of those cells steps on their window, of which only the minutes that can
    /// still change (`FRESH_MINUTES`) are read again; older ones come from the last step.
    pub(crate) fn preview(&self, store: &dyn Store, now: i64, pairs: &BTreeSet<Pair>) -> Result<Vec<CellStatus>, StoreError> {
        let window_from = now - self.keep() + 1;
        // The last step's minutes are only reusable when it was recent (a stalled loop re-reads).
        let reuse = self.stepped_to.is_some_and(|s| s >= now - 2);
        let read_from = if reuse { window_from.max(now - FRESH_MINUTES + 1) } else { window_from };
        let mut rollups = if reuse { self.minutes_between(window_from, read_from, Some(pairs)) } else { Rollups::new() };
        for (platform, country) in pairs {
            let filter =
                RollupFilter { from: read_from, to: now + 1, platform: Some(platform.clone()), country: Some(*country), asn: None };
            store.scan_rollups(&filter, &mut |c| merge(&mut rollups, &c))?;
        }
        let chosen = |p: &Platform, c: Country| pairs.contains(&(p.clone(), c));
        // Keep the full step's Bonferroni share: alpha x (cells tested here / cells tested overall).
        let cfg = self.det.config().clone();
        let counted = |s: &&CellStatus| s.reports >= cfg.min_reports && s.networks >= cfg.min_networks;
        let total = self.last.iter().filter(counted).count().max(1);
        let here = self.last.iter().filter(counted).filter(|s| chosen(&s.platform, s.country)).count().max(1);
        let mut sub_cfg = cfg.clone();
        sub_cfg.alpha = cfg.alpha * here as f64 / total as f64;
        let mut sub = self.det.subset(sub_cfg, |k| chosen(&k.platform, k.country));
        Ok(sub.step(now, &rollups).statuses)
    }

    /// The minutes `from <= minute < to` of the last step's rollups, for the cells of `pairs`
    /// (`None`: every cell).
    fn minutes_between(&self, from: i64, to: i64, pairs: Option<&BTreeSet<Pair>>) -> Rollups {
        let mut out = Rollups::new();
        for (key, series) in self.rollups.series() {
            let platform = self.rollups.platform_name(key.platform);
            if pairs.is_some_and(|pairs| !pairs.contains(&(platform.clone(), key.country))) {
                continue;
            }
            for (minute, m) in series.range(from, to - 1) {
                out.merge_minute(platform, key.country, key.asn, minute, m);
            }
        }
        out
    }

    /// Incidents open in the detector now.
    pub(crate) fn open_incidents(&self) -> Vec<vantage_detect::Incident> {
        self.det.open_incidents()
    }
}

/// `vantage detect`: replays minutes `from..to` as if live and returns every incident seen
/// (closed ones with their end, open ones as they stand at the end), oldest first.
pub fn detect(store: &dyn Store, cfg: DetectorConfig, from: i64, to: i64) -> Result<Vec<crate::store::Incident>, StoreError> {
    Ok(detect_opened(store, cfg, from, to)?.into_iter().map(|(i, _)| i).collect())
}

/// [`detect`], each incident with the minute it opened: the step that saw its `open_after`-th
/// bad window, plus one (the step judges minute t once t has ended, so a live collector opens it
/// at the start of minute t + 1). `started_at` is earlier: the newest minute of its first bad
/// window.
pub fn detect_opened(store: &dyn Store, cfg: DetectorConfig, from: i64, to: i64) -> Result<Vec<(crate::store::Incident, i64)>, StoreError> {
    let mut engine = Engine::new(cfg);
    let mut seen: std::collections::BTreeMap<String, (Incident, i64)> = std::collections::BTreeMap::new();
    engine.replay(store, from, to - 1, |t, r| {
        for i in &r.opened {
            seen.insert(i.id.clone(), (i.clone(), t + 1));
        }
        for i in &r.closed {
            let opened = seen.get(&i.id).map_or(t + 1, |(_, at)| *at);
            seen.insert(i.id.clone(), (i.clone(), opened));
        }
    })?;
    for i in engine.open_incidents() {
        let opened = seen.get(&i.id).map_or(to, |(_, at)| *at);
        seen.insert(i.id.clone(), (i, opened));
    }
    let mut list: Vec<(Incident, i64)> = seen.into_values().collect();
    list.sort_by(|(a, _), (b, _)| (a.start_minute, &a.platform, a.asn).cmp(&(b.start_minute, &b.platform, b.asn)));
    Ok(list)
}
