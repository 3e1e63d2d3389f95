//! The collector's per-request front in isolation, one thread, no HTTP and no store: what
//! `ingest::post_report` does before a report reaches the store queue (client address from
//! `X-Forwarded-For`, rate-limit key and check, country and ASN lookup, network hash), over the
//! realistic sample, at 1 and 100,000 networks. Baseline in the same run: parsing and
//! validating the report body (`vantage_protocol::parse_report`), which every request pays too.

use crate::traffic::{GeoFiles, Sample};
use axum::http::{HeaderMap, HeaderValue};
use std::net::IpAddr;
use std::time::Instant;
use vantage_collector::geo::{client_ip, is_trusted_peer, Cidr, Geo, NetworkHasher};
use vantage_collector::ratelimit::{RateLimiter, DEFAULT_BURST, DEFAULT_PER_MIN};

/// Nanoseconds a request, front and body parsing.
pub(crate) struct FrontCost {
    /// Address, rate limit, geo and hash.
    pub front_ns: f64,
    /// `parse_report` of the request's body.
    pub parse_ns: f64,
}

/// Runs `requests` requests of `sample` through the front, then through the parser.
pub(crate) fn measure(sample: &Sample, geo: &GeoFiles, requests: usize) -> anyhow::Result<FrontCost> {
    let geo = Geo::open(Some(&geo.country), Some(&geo.asn), None)?;
    let hasher = NetworkHasher::default();
    let limiter = RateLimiter::new(DEFAULT_PER_MIN, DEFAULT_BURST);
    let trusted: Vec<Cidr> = vec!["127.0.0.0/8".parse()?];
    let peer: Option<IpAddr> = Some("127.0.0.1".parse()?);
    let headers: Vec<HeaderMap> = sample
        .clients
        .iter()
        .cycle()
        .take(requests)
        .map(|ip| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_str(&ip.to_string()).expect("header"));
            h
        })
        .collect();
    let (mut refused, mut sink) = (0u64, 0u64);
    let started = Instant::now();
    // A virtual clock spreads the requests over time as at 20,000 a second.
    let t0 = Instant::now();
    for (i, h) in headers.iter().enumerate() {
        let via_proxy = is_trusted_peer(peer, &trusted);
        let ip = client_ip(peer, h, &trusted);
        let now = t0 + std::time::Duration::from_micros(50 * i as u64);
        refused += u64::from(limiter.check(hasher.client(ip), now).is_err());
        let (country, asn) = geo.locate(ip, h, via_proxy);
        sink = sink.wrapping_add(u64::from(hasher.network(ip)) ^ u64::from(asn) ^ country.len() as u64);
    }
    let front_ns = started.elapsed().as_nanos() as f64 / headers.len().max(1) as f64;
    let bodies: Vec<String> =
        (0..headers.len()).map(|i| sample.bodies[i % sample.bodies.len()].replace("@ID@", &format!("{i:032x}"))).collect();
    let started = Instant::now();
    for b in &bodies {
        sink = sink.wrapping_add(vantage_protocol::parse_report(b.as_bytes(), |_| true).map_or(0, |r| r.measurements.len() as u64));
    }
    let parse_ns = started.elapsed().as_nanos() as f64 / bodies.len().max(1) as f64;
    std::hint::black_box((sink, refused));
    Ok(FrontCost { front_ns, parse_ns })
}
