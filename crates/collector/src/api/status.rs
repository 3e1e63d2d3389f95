//! `GET /v1/status`, `GET /v1/countries` (the map) and `GET /v1/whereami`.

use super::json_cached;
use super::params::Params;
use crate::error::AppError;
use crate::geo::client_ip;
use crate::AppState;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::response::Response;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use vantage_detect::State as CellState;

/// The current state of each platform in a country (one ASN's with `asn`).
pub async fn status(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref());
    let country = p.required_country("country")?;
    let asn = p.asn("asn")?;
    Ok(json_cached(c.live.status(&country, asn, c.config.detect.window_minutes * 60), 5))
}

/// Every country with data: its worst platform state, reports (summed over platforms) and
/// networks (the most any platform saw).
pub async fn countries(State(c): State<AppState>) -> Response {
    let mut by: BTreeMap<String, (CellState, u64, u64)> = BTreeMap::new();
    for s in c.live.country_cells() {
        let e = by.entry(s.country.clone()).or_insert((CellState::InsufficientData, 0, 0));
        e.0 = e.0.max(s.state);
        e.1 += s.reports;
        e.2 = e.2.max(s.networks);
    }
    let list: Vec<_> = by
        .into_iter()
        .map(|(country, (state, reports, networks))| json!({"country": country, "state": state, "reports": reports, "networks": networks}))
        .collect();
    json_cached(json!({"countries": list}), 5)
}

/// The caller's country and ASN from the same geolocation ingest uses; nothing is stored.
pub async fn whereami(State(c): State<AppState>, req: Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
    let ip = client_ip(peer, req.headers(), &c.config.trusted_proxies);
    let via_proxy = crate::geo::is_trusted_peer(peer, &c.config.trusted_proxies);
    let (country, asn) = c.geo.locate(ip, req.headers(), via_proxy);
    let mut res = json_cached(json!({"country": country, "asn": asn}), 0);
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private, no-store"));
    res
}
