//! `GET /v1/timeseries`: one cell's reports, networks, success rate and times per step, from
//! the minute rollups. A point under k reports or m networks keeps its counts but publishes no
//! rate or time.

use super::params::{range, Params};
use super::{blocking, json_cached};
use crate::error::AppError;
use crate::store::{rfc3339, SeriesQuery, Store};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use vantage_detect::hist::Histogram;

/// Longest range one request may ask for.
pub const MAX_RANGE_S: i64 = 31 * 86_400;
/// Most points one answer may hold.
pub const MAX_POINTS: i64 = 10_000;

/// One step of a series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Start of the step (RFC 3339).
    pub t: String,
    /// Counted reports (control usable, not blocked by the browser).
    pub reports: u64,
    /// Distinct networks among them.
    pub networks: u64,
    /// Share that succeeded; `null` under k reports or m networks.
    pub success_rate: Option<f64>,
    /// Median time in ms; `null` like `success_rate`.
    pub median_ms: Option<f64>,
    /// 90th percentile time in ms; `null` like `success_rate`.
    pub p90_ms: Option<f64>,
}

/// What one series covers, and the thresholds its rates need.
pub struct SeriesRequest {
    /// Platform, country, optional ASN, minutes and step.
    pub query: SeriesQuery,
    /// k: fewest reports a published rate may describe.
    pub min_reports: u64,
    /// m: fewest networks a published rate may describe.
    pub min_networks: u64,
}

/// Computes the points of `r` from the store's per-point sums.
pub fn compute(store: &dyn Store, r: &SeriesRequest) -> Result<Vec<Point>, String> {
    let q = &r.query;
    let sums = store.series(q)?;
    Ok(sums
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let reports = a.ok + a.failed;
            let networks = a.networks;
            let publish = reports >= r.min_reports && networks >= r.min_networks;
            let mut times = Histogram::default();
            for (h, c) in times.counts.iter_mut().zip(&a.times) {
                *h = u32::try_from(*c).unwrap_or(u32::MAX);
            }
            Point {
                t: rfc3339::format((q.from + i as i64 * q.step) * 60),
                reports,
                networks,
                success_rate: publish.then(|| a.ok as f64 / reports as f64),
                median_ms: times.quantile(0.5).filter(|_| publish),
                p90_ms: times.quantile(0.9).filter(|_| publish),
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
    let step_s = p.int("step", 60, 86_400, 60)?;
    if step_s % 60 != 0 {
        return Err(AppError::param("step", "must be a multiple of 60 seconds"));
    }
    let (from, to) = range(&p, c.clock.now(), 86_400, MAX_RANGE_S)?;
    let step = step_s / 60;
    if (to - from) / step > MAX_POINTS {
        return Err(AppError::param("step", format!("the range would give more than {MAX_POINTS} points; use a larger step")));
    }
    let cfg = &c.config.detect;
    let query = SeriesQuery { platform, country, asn, from, to, step };
    let req = SeriesRequest { query, min_reports: cfg.min_reports, min_networks: cfg.min_networks };
    let store = c.store.clone();
    let points = blocking(move || compute(store.as_ref(), &req)).await?;
    Ok(json_cached(serde_json::json!({"points": points}), 30))
}
