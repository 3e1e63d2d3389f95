//! `GET /v1/status`, `GET /v1/countries` (the map) and `GET /v1/whereami`.

use super::params::Params;
use super::{json_cached, snapshot};
use crate::error::AppError;
use crate::geo::client_ip;
use crate::live::publish::Snapshot;
use crate::AppState;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use vantage_detect::State as CellState;

/// The state of each platform in a country (one ASN's with `asn`) as of the last publication
/// tick: between ticks every answer is byte-identical, and revalidates with its ETag.
pub(super) async fn status(State(c): State<AppState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref());
    let country = p.required_country("country")?;
    let asn = p.asn("asn")?;
    let body = c.live.status_body(country, asn, c.config.detect.window_minutes * 60);
    Ok(snapshot::answer(&c, &body, &headers))
}

/// Every country with data: its worst platform state, reports (summed over the platforms
/// whose numbers are published) and networks (the most any of them saw); `null` when no
/// platform of the country publishes numbers, so no count under k can be read off the sum.
/// Made once per tick, like the status.
pub(super) async fn countries(State(c): State<AppState>, headers: HeaderMap) -> Response {
    let body = c.live.answer("countries".into(), |cells, _| countries_doc(cells));
    snapshot::answer(&c, &body, &headers)
}

fn countries_doc(cells: &Snapshot) -> serde_json::Value {
    let mut by: BTreeMap<&str, (CellState, Option<u64>, Option<u64>)> = BTreeMap::new();
    for (country, s) in cells.iter().flat_map(|(c, m)| m.values().filter(|s| s.asn.is_none()).map(move |s| (c.as_str(), s))) {
        let e = by.entry(country).or_insert((CellState::InsufficientData, None, None));
        e.0 = e.0.max(s.state);
        if let (Some(r), Some(n)) = (s.reports, s.networks) {
            e.1 = Some(e.1.unwrap_or(0) + r);
            e.2 = Some(e.2.unwrap_or(0).max(n));
        }
    }
    let list: Vec<_> = by
        .into_iter()
        .map(|(country, (state, reports, networks))| json!({"country": country, "state": state, "reports": reports, "networks": networks}))
        .collect();
    json!({"countries": list})
}

/// The caller's country and ASN from the same geolocation ingest uses; nothing is stored.
pub(super) async fn whereami(State(c): State<AppState>, req: Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
    let ip = client_ip(peer, req.headers(), &c.config.trusted_proxies);
    let via_proxy = crate::geo::is_trusted_peer(peer, &c.config.trusted_proxies);
    let (country, asn) = c.geo.locate(ip, req.headers(), via_proxy);
    let mut res = json_cached(json!({"country": country, "asn": asn}), 0);
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private, no-store"));
    res
}
