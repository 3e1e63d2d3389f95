//! `POST /v1/reports` (docs/protocol.md §1): check the origin, check, anonymize, queue, answer
//! after the commit.

use crate::error::AppError;
use crate::geo::{client_ip, is_trusted_peer};
use crate::rollup::FastHash;
use crate::store::{Observation, Stored, SubmitError};
use crate::web::Uncompressed;
use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use vantage_protocol::{parse_report, Country, IdError, Platform, Report, ReportId, SiteKey, TargetId, ValidationError, MAX_BODY_BYTES};

/// The route handler: counts every refusal by status, then renders it.
pub(crate) async fn post_report(State(c): State<AppState>, req: Request) -> Response {
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
    let (country, asn) = c.geo.locate_country(ip, &parts.headers, via_proxy);
    let network = c.hasher.network_at(ip, received);
    let (id, rows) = {
        let targets = c.targets.read().unwrap_or_else(|e| e.into_inner());
        let report = parse_report(&bytes, |t| targets.platform(t).is_some()).map_err(AppError::InvalidReport)?;
        let id = ReportId::try_from(report.id.as_str()).map_err(|e| refused("id".into(), e))?;
        let ts = (received - i64::from(report.age_s)).div_euclid(60) * 60;
        let rows = observations(&report, id, ts, country, asn, network, |t| targets.platform(t).unwrap_or("unknown"))?;
        (id, rows)
    };
    let mut platforms: Vec<Platform> = rows.iter().map(|o| o.platform.clone()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let ack = c.store.submit(id, rows).map_err(|e| match e {
        SubmitError::Full => AppError::Overloaded(1, "the collector is over capacity"),
        SubmitError::Closed => AppError::Overloaded(5, "the collector is shutting down"),
    })?;
    match ack.await {
        Ok(Ok(Stored::New)) => {
            c.metrics.accepted();
            c.live.touch(country, platforms);
            Ok(answer(StatusCode::ACCEPTED, id))
        }
        Ok(Ok(Stored::Duplicate)) => {
            c.metrics.duplicate();
            Ok(answer(StatusCode::OK, id))
        }
        _ => Err(AppError::Overloaded(5, "the store is unavailable")),
    }
}

/// The body of a 202 or a duplicate's 200 (docs/protocol.md §1), serialized straight from the
/// id: no JSON value tree built per answer. Marked [`Uncompressed`]: some 60 bytes gain nothing
/// from gzip or brotli, whose encoders a browser's `Accept-Encoding` would otherwise start for
/// every report.
fn answer(status: StatusCode, id: ReportId) -> Response {
    let body = Answer { accepted: true, duplicate: (status == StatusCode::OK).then_some(true), id: id.as_str() };
    let mut res = (status, Json(body)).into_response();
    res.extensions_mut().insert(Uncompressed);
    res
}

/// What [`answer`] sends.
#[derive(Serialize)]
struct Answer<'a> {
    /// Always true: a refusal is an error status with its own body.
    accepted: bool,
    /// Present (true) when the id was already stored. (Fields in key order: the bytes are those
    /// of the sorted `json!` map this once replaced.)
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
    /// The report's id, echoed.
    id: &'a str,
}

/// One row per measurement of a report `parse_report` accepted, its names as the store's types
/// (a name the wire check let through and the type refuses would be a bug between the two: a 400
/// that names the field, never a panic).
fn observations<'t>(
    report: &Report,
    report_id: ReportId,
    ts: i64,
    country: Country,
    asn: u32,
    network: u32,
    platform: impl Fn(&str) -> &'t str,
) -> Result<Vec<Observation>, AppError> {
    let site = SiteKey::try_from(report.site.as_str()).map_err(|e| refused("site".into(), e))?;
    let browser_family: Option<String> = report.browser.as_ref().map(|b| b.family.as_str().into());
    let net_type = report.net.as_ref().and_then(|n| n.kind.clone());
    // Measured too long ago to enter a published or judged minute (store/publish.rs).
    let late = i64::from(report.age_s) > crate::store::publish::LATE_AFTER_S;
    // Filled in a loop, not collected from a fallible iterator: that collect cannot see the
    // length, and grew the vector of 16 large rows by copying it three times.
    let mut rows = Vec::with_capacity(report.measurements.len());
    for (i, m) in report.measurements.iter().enumerate() {
        let (platform, target) = names(&m.target, platform(&m.target)).map_err(|e| refused(format!("measurements[{i}].target"), e))?;
        rows.push(Observation {
            ts,
            country,
            asn,
            network,
            site: site.clone(),
            platform,
            target,
            outcome: m.outcome,
            ms: m.ms,
            control_outcome: report.control.outcome,
            control_ms: report.control.ms,
            browser_family: browser_family.clone(),
            net_type: net_type.clone(),
            report_id,
            late,
            status: m.status,
        });
    }
    Ok(rows)
}

/// Most (target, platform) pairs a runtime thread keeps as shared names: the catalog's targets
/// (current and previous list) are far fewer; past it the memory starts over.
const MAX_NAMES: usize = 4096;

thread_local! {
    /// Each target's names as the store's shared types, by target id, with the platform they were
    /// made for: a report's 16 measurements then clone two `Arc`s each instead of allocating two
    /// new names (BENCHMARKS.md, issue 10: allocations per report).
    static NAMES: RefCell<HashMap<Box<str>, (Platform, TargetId), FastHash>> = RefCell::new(HashMap::default());
}

/// The shared `(platform, target)` names of `target` measured for `platform`.
fn names(target: &str, platform: &str) -> Result<(Platform, TargetId), IdError> {
    NAMES.with_borrow_mut(|names| {
        if let Some((p, t)) = names.get(target).filter(|(p, _)| p.as_str() == platform) {
            return Ok((p.clone(), t.clone()));
        }
        let made = (Platform::try_from(platform)?, TargetId::try_from(target)?);
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(target.into(), made.clone());
        Ok(made)
    })
}

/// A name the wire check passed and its type refused, as the 400 of field `field`.
fn refused(field: String, e: IdError) -> AppError {
    AppError::InvalidReport(ValidationError { field, message: e.to_string() })
}

/// `text/plain` (any parameters: what sendBeacon sends) or `application/json`; else 415.
fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let essence = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or("").trim());
    // Compared without case, not lowercased into a copy: no allocation per report.
    match essence {
        Some(e) if e.eq_ignore_ascii_case("text/plain") || e.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(AppError::UnsupportedMediaType),
    }
}
