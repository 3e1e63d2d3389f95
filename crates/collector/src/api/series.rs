//! `GET /v1/timeseries`: one cell's reports, networks, success rate and times per step, from the
//! minute rollups, published as `store::publish` describes: steps from a fixed chain, buckets
//! aligned to the epoch, counts only from blocks of at least k reports and m networks, and only
//! once a bucket can no longer change.

use super::params::{range, Params};
use super::{blocking, json_cached};
use crate::error::AppError;
use crate::store::publish::{settled_end, Mass, Thresholds, Tree, STEPS_MIN};
use crate::store::{rfc3339, RollupFilter, SeriesQuery, Store};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;

/// Longest range one request may ask for.
pub const MAX_RANGE_S: i64 = 31 * 86_400;
/// Most points one answer may hold.
pub const MAX_POINTS: i64 = 10_000;

/// Why a point carries numbers or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointState {
    /// Counts, rate and times are published.
    Published,
    /// Fewer than k reports or m networks (or none at all): nothing is published.
    InsufficientData,
    /// The bucket ends less than `SETTLE_S` ago and may still change: nothing is published yet.
    Pending,
}

/// One step of a series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
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
pub struct SeriesRequest {
    /// Platform, country, optional ASN, minutes (aligned to `step`) and step (one of `STEPS_MIN`).
    pub query: SeriesQuery,
    /// k and m.
    pub thresholds: Thresholds,
    /// Buckets ending at or before this minute are final (`publish::settled_end`).
    pub settled_end: i64,
}

/// The published points of `r`.
pub fn compute(store: &dyn Store, r: &SeriesRequest) -> Result<Vec<Point>, String> {
    let q = &r.query;
    let scan_to = q.to.min(r.settled_end.div_euclid(q.step) * q.step);
    let mut values: HashMap<i64, Mass> = HashMap::new();
    if scan_to > q.from {
        let filter = RollupFilter { from: q.from, to: scan_to, platform: Some(q.platform.clone()), country: Some(q.country.clone()), asn: q.asn };
        let mut tree = Tree::new(q.step, r.thresholds, q.asn.is_none(), |start, m| {
            values.insert(start, m);
        });
        store.scan_rollups(&filter, &mut |c| tree.cell(&c))?;
        tree.finish();
    }
    Ok((0..q.points() as i64)
        .map(|i| {
            let start = q.from + i * q.step;
            let value = values.get(&start).filter(|m| m.publishable(r.thresholds));
            let state = match value {
                _ if start + q.step > r.settled_end => PointState::Pending,
                Some(_) => PointState::Published,
                None => PointState::InsufficientData,
            };
            let value = value.filter(|_| state == PointState::Published);
            let times = value.map(Mass::histogram);
            Point {
                t: rfc3339::format(start * 60),
                state,
                reports: value.map(Mass::counted),
                networks: value.map(|m| m.networks.len() as u64),
                success_rate: value.map(|m| m.ok as f64 / m.counted() as f64),
                median_ms: times.as_ref().and_then(|h| h.quantile(0.5)),
                p90_ms: times.as_ref().and_then(|h| h.quantile(0.9)),
            }
        })
        .collect())
}

/// The handler.
pub async fn timeseries(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
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
pub fn step_at_least(minutes: i64) -> i64 {
    STEPS_MIN.iter().copied().find(|s| *s >= minutes).unwrap_or(STEPS_MIN[STEPS_MIN.len() - 1])
}
