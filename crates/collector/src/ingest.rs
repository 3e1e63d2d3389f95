//! `POST /v1/reports` (docs/protocol.md §1): check the origin, check, anonymize, queue, answer
//! after the commit.

use crate::error::AppError;
use crate::geo::{client_ip, is_trusted_peer};
use crate::store::{Observation, Stored, SubmitError};
use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Instant;
use vantage_protocol::{parse_report, Report, MAX_BODY_BYTES};

/// The route handler: counts every refusal by status, then renders it.
pub async fn post_report(State(c): State<AppState>, req: Request) -> Response {
    match ingest(&c, req).await {
        Ok(response) => response,
        Err(e) => {
            c.metrics.rejected(e.status().as_u16());
            e.into_response()
        }
    }
}

async fn ingest(c: &AppState, req: Request) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    // The address stays in this function: it is hashed, looked up, and dropped.
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
    let via_proxy = is_trusted_peer(peer, &c.config.trusted_proxies);
    // Before anything is read or a token spent: a hostile page's reports cost us nothing.
    crate::origin::check(&parts.headers, &c.config.public_origins, via_proxy)?;
    check_content_type(&parts.headers)?;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(AppError::TooLarge);
    }
    let ip = client_ip(peer, &parts.headers, &c.config.trusted_proxies);
    c.limiter.check(c.hasher.client(ip), Instant::now()).map_err(AppError::RateLimited)?;
    // A slow client gets `--body-timeout` for the whole body, not per chunk: a byte every few
    // seconds does not keep the connection.
    let bytes = tokio::time::timeout(c.config.body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
        .map_err(|_| AppError::BodyTimeout)?
        .map_err(|_| AppError::TooLarge)?;
    let received = c.clock.now();
    let (country, asn) = c.geo.locate(ip, &parts.headers, via_proxy);
    let network = c.hasher.network_at(ip, received);
    let (report, rows) = {
        let targets = c.targets.read().unwrap_or_else(|e| e.into_inner());
        let report = parse_report(&bytes, |t| targets.platform(t).is_some()).map_err(AppError::InvalidReport)?;
        let ts = (received - i64::from(report.age_s)).div_euclid(60) * 60;
        let base = Observation {
            ts,
            country,
            asn,
            network,
            site: report.site.clone(),
            platform: String::new(),
            target: String::new(),
            outcome: String::new(),
            ms: 0.0,
            control_outcome: report.control.outcome.as_str().into(),
            control_ms: report.control.ms,
            browser_family: report.browser.as_ref().map(|b| b.family.as_str().into()),
            net_type: report.net.as_ref().and_then(|n| n.kind.clone()),
            report_id: report.id.clone(),
            // Measured too long ago to enter a published or judged minute (store/publish.rs).
            late: i64::from(report.age_s) > crate::store::publish::LATE_AFTER_S,
            status: None,
        };
        let rows = observations(&report, &base, |t| targets.platform(t).unwrap_or("unknown").to_string());
        (report, rows)
    };
    let mut platforms: Vec<String> = rows.iter().map(|o| o.platform.clone()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let country = rows.first().map(|o| o.country.clone()).unwrap_or_default();
    let ack = c.store.submit(report.id.clone(), rows).map_err(|e| match e {
        SubmitError::Full => AppError::Overloaded(1, "the collector is over capacity"),
        SubmitError::Closed => AppError::Overloaded(5, "the collector is shutting down"),
    })?;
    match ack.await {
        Ok(Ok(Stored::New)) => {
            c.metrics.accepted();
            c.live.touch(&country, platforms);
            Ok((StatusCode::ACCEPTED, Json(json!({"accepted": true, "id": report.id}))).into_response())
        }
        Ok(Ok(Stored::Duplicate)) => {
            c.metrics.duplicate();
            Ok((StatusCode::OK, Json(json!({"accepted": true, "id": report.id, "duplicate": true}))).into_response())
        }
        _ => Err(AppError::Overloaded(5, "the store is unavailable")),
    }
}

/// One row per measurement; `base` carries the per-report columns.
fn observations(report: &Report, base: &Observation, platform: impl Fn(&str) -> String) -> Vec<Observation> {
    report
        .measurements
        .iter()
        .map(|m| Observation {
            platform: platform(&m.target),
            target: m.target.clone(),
            outcome: m.outcome.as_str().into(),
            ms: m.ms,
            status: m.status,
            ..base.clone()
        })
        .collect()
}

/// `text/plain` (any parameters: what sendBeacon sends) or `application/json`; else 415.
fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/plain" | "application/json") => Ok(()),
        _ => Err(AppError::UnsupportedMediaType),
    }
}
