//! `GET /v1/timeseries`: one cell's reports, networks, success rate and times per step, from the
//! minute rollups, published as `store::publish` describes: steps from a fixed chain, buckets
//! aligned to the epoch, counts only from blocks of at least k reports and m networks, and only
//! once a bucket can no longer change.

use super::params::{range, Params};
use super::{blocking, json_cached};
use crate::error::AppError;
use crate::store::publish::{settled_end, BucketKey, Mass, Summary, Thresholds, Tree, STEPS_MIN};
use crate::store::{rfc3339, RollupFilter, SeriesQuery, Store, StoreError};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;

/// Longest range one request may ask for.
pub(crate) const MAX_RANGE_S: i64 = 31 * 86_400;
/// Most points one answer may hold.
pub(crate) const MAX_POINTS: i64 = 10_000;

/// Why a point carries numbers or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PointState {
    /// Counts, rate and times are published.
    Published,
    /// Fewer than k reports or m networks (or none at all): nothing is published.
    InsufficientData,
    /// The bucket ends less than `SETTLE_S` ago and may still change: nothing is published yet.
    Pending,
}

/// One step of a series.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    /// Start of the step (RFC 3339), a multiple of the step since the unix epoch.
    pub t: String,
    /// Whether the numbers below are published.
    pub state: PointState,
    /// Counted reports (control usable, not blocked by the browser); `null` unless published.
    pub reports: Option<u64>,
    /// Distinct networks among them; `null` unless published.
    pub networks: Option<u64>,
    /// Share that succeeded; `null` unless published.
    pub success_rate: Option<f64>,
    /// Median time in ms; `null` unless published.
    pub median_ms: Option<f64>,
    /// 90th percentile time in ms; `null` unless published.
    pub p90_ms: Option<f64>,
}

/// What one series covers, and the thresholds its numbers need.
pub(crate) struct SeriesRequest {
    /// Platform, country, optional ASN, minutes (aligned to `step`) and step (one of `STEPS_MIN`).
    pub query: SeriesQuery,
    /// k and m.
    pub thresholds: Thresholds,
    /// Buckets ending at or before this minute are final (`publish::settled_end`).
    pub settled_end: i64,
}

/// The published points of `r`: settled buckets from the store's cache when computed before,
/// the others from one scan of the cell-minutes they span.
pub(crate) fn compute(store: &dyn Store, r: &SeriesRequest) -> Result<Vec<Point>, StoreError> {
    let q = &r.query;
    let t = r.thresholds;
    let key = |start: i64| -> BucketKey { (q.platform.clone(), q.country, q.asn, t.min_reports, t.min_networks, q.step, start) };
    let starts: Vec<i64> = (0..q.points() as i64).map(|i| q.from + i * q.step).collect();
    let settled = |start: i64| start + q.step <= r.settled_end;
    let mut known: HashMap<i64, Option<Summary>> = HashMap::new();
    if let Some(cache) = store.published_cache() {
        known.extend(starts.iter().filter(|s| settled(**s)).filter_map(|s| Some((*s, cache.get(&key(*s))?))));
    }
    let missing: Vec<i64> = starts.iter().copied().filter(|s| settled(*s) && !known.contains_key(s)).collect();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        let (from, to) = (*first, *last + q.step);
        let mut values: HashMap<i64, Mass> = HashMap::new();
        let filter = RollupFilter { from, to, platform: Some(q.platform.clone()), country: Some(q.country), asn: q.asn };
        let mut tree = Tree::new(q.step, t, q.asn.is_none(), |start, m| {
            values.insert(start, m);
        });
        store.scan_rollups(&filter, &mut |c| tree.cell(&c))?;
        tree.finish();
        let fresh: Vec<(i64, Option<Summary>)> =
            (from..to).step_by(q.step as usize).map(|s| (s, values.get(&s).and_then(|m| Summary::of(m, t)))).collect();
        if let Some(cache) = store.published_cache() {
            cache.put(fresh.iter().map(|(s, v)| (key(*s), *v)));
        }
        known.extend(fresh);
    }
    Ok(starts
        .into_iter()
        .map(|start| {
            let value = known.get(&start).copied().flatten().filter(|_| settled(start));
            let state = match value {
                _ if !settled(start) => PointState::Pending,
                Some(_) => PointState::Published,
                None => PointState::InsufficientData,
            };
            Point {
                t: rfc3339::format(start * 60),
                state,
                reports: value.map(|v| v.reports),
                networks: value.map(|v| v.networks),
                success_rate: value.map(|v| v.ok as f64 / v.reports as f64),
                median_ms: value.and_then(|v| v.median_ms),
                p90_ms: value.and_then(|v| v.p90_ms),
            }
        })
        .collect())
}

/// The handler.
pub(crate) async fn timeseries(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref());
    let platform = p.required_platform("platform")?;
    let country = p.required_country("country")?;
    let asn = p.asn("asn")?;
    let step = p.step("step")?;
    let (from, to) = range(&p, c.clock.now(), 86_400, MAX_RANGE_S)?;
    // Whole steps from the epoch, whatever the range asked: every query cuts the same buckets.
    let (from, to) = (from.div_euclid(step) * step, (to + step - 1).div_euclid(step) * step);
    if (to - from) / step > MAX_POINTS {
        return Err(AppError::param("step", format!("the range would give more than {MAX_POINTS} points; use a larger step")));
    }
    let cfg = &c.config.detect;
    let query = SeriesQuery { platform, country, asn, from, to, step };
    let thresholds = Thresholds { min_reports: cfg.min_reports, min_networks: cfg.min_networks };
    let req = SeriesRequest { query, thresholds, settled_end: settled_end(c.clock.now()) };
    let store = c.store.clone();
    let points = blocking(move || compute(store.as_ref(), &req)).await?;
    Ok(json_cached(serde_json::json!({"step": step * 60, "points": points}), 30))
}

/// The smallest allowed step (minutes) of at least `minutes`.
pub(crate) fn step_at_least(minutes: i64) -> i64 {
    STEPS_MIN.iter().copied().find(|s| *s >= minutes).unwrap_or(STEPS_MIN[STEPS_MIN.len() - 1])
}
