//! The public read API (docs/protocol.md §4 and its additions): status, time series,
//! incidents (JSON and Atom), the SSE stream, k-anonymous exports, the map's country list,
//! whereami, the chart image and the badge page.

mod badge;
mod chart;
mod export;
mod incidents;
pub(crate) mod params;
pub(crate) mod series;
mod snapshot;
mod status;
mod stream;

use crate::error::AppError;
use crate::store::StoreError;
use crate::AppState;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};

/// The read routes; any origin may GET them (public data, no credentials), except
/// `/v1/whereami`, which says where the caller is: only our own pages (same origin) read it, so
/// no other site may learn its readers' country and network through their browsers.
pub(crate) fn routes() -> Router<AppState> {
    let cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]).max_age(Duration::from_secs(86_400));
    let public = Router::new()
        .route("/v1/status", get(status::status))
        .route("/v1/countries", get(status::countries))
        .route("/v1/timeseries", get(series::timeseries))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents.atom", get(incidents::atom))
        .route("/v1/stream", get(stream::stream))
        .route("/v1/export.csv", get(export::csv))
        .route("/v1/export.ndjson", get(export::ndjson))
        .route("/v1/chart.svg", get(chart::chart))
        .route("/v1/badge", get(badge::badge))
        .layer(cors);
    Router::new().route("/v1/whereami", get(status::whereami)).merge(public)
}

/// Runs a blocking store read off the async workers; a failed read is a 500 (`From<StoreError>`).
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, AppError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(|e| AppError::Internal(e.to_string()))??)
}

/// A JSON answer that caches may keep for `max_age` seconds.
pub(crate) fn json_cached(body: serde_json::Value, max_age: u32) -> Response {
    with_type(Json(body).into_response(), None, max_age)
}

/// Sets the content type (when given) and `Cache-Control: public, max-age=N`.
pub(crate) fn with_type(mut res: Response, content_type: Option<&'static str>, max_age: u32) -> Response {
    let h = res.headers_mut();
    if let Some(t) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
    }
    let cache = HeaderValue::try_from(format!("public, max-age={max_age}")).expect("ascii");
    h.insert(header::CACHE_CONTROL, cache);
    res
}

/// Escapes text for XML and HTML (element content and quoted attributes alike).
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
