//! `GET /v1/export.csv` and `GET /v1/export.ndjson`: k-anonymous aggregates per (minute,
//! country, asn, platform) over `from`/`to` (default the last 24 h, at most 31 days), from the
//! same code as `vantage export`: only cells of at least k counted reports and m networks, only
//! minutes that can no longer change (`store::publish`).

use super::params::{range, Params};
use super::{blocking, with_type};
use crate::error::AppError;
use crate::export::{aggregates, Aggregate};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

async fn load(c: &AppState, q: Option<&str>) -> Result<Vec<Aggregate>, AppError> {
    let p = Params::parse(q);
    let (from, to) = range(&p, c.clock.now(), 86_400, super::series::MAX_RANGE_S)?;
    let (k, m) = (c.config.detect.min_reports as usize, c.config.detect.min_networks as usize);
    let store = c.store.clone();
    let settled = crate::store::publish::settled_end(c.clock.now());
    blocking(move || aggregates(store.as_ref(), Some(from * 60), Some(to * 60), k, m, settled)).await
}

/// NDJSON, one aggregate a line.
pub async fn ndjson(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let mut body = String::new();
    for a in load(&c, q.as_deref()).await? {
        body.push_str(&serde_json::to_string(&a).expect("aggregates serialize"));
        body.push('\n');
    }
    Ok(with_type(body.into_response(), Some("application/x-ndjson; charset=utf-8"), 60))
}

/// CSV with a header line.
pub async fn csv(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let mut body = String::from(
        "ts,country,asn,platform,reports,networks,ok,error,timeout,blocked_by_client,excluded_control,success_rate,median_ms\n",
    );
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for a in load(&c, q.as_deref()).await? {
        let row = [
            a.ts,
            a.country,
            a.asn.to_string(),
            a.platform,
            a.reports.to_string(),
            a.networks.to_string(),
            a.ok.to_string(),
            a.error.to_string(),
            a.timeout.to_string(),
            a.blocked_by_client.to_string(),
            a.excluded_control.to_string(),
            num(a.success_rate),
            num(a.median_ms),
        ];
        body.push_str(&row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        body.push('\n');
    }
    let mut res = with_type(body.into_response(), Some("text/csv; charset=utf-8"), 60);
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"vantage-export.csv\""),
    );
    Ok(res)
}

/// Quotes a field when it holds a separator, quote or line break; a leading `=+-@` is
/// prefixed with `'` so spreadsheets do not run it as a formula.
fn csv_field(s: &str) -> String {
    let s =
        if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
