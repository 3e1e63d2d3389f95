//! False incidents from thin evidence, incidents that never end, and hidden real incidents.
//!
//! Each test drives the real collector: a real SQLite store, the test MaxMind databases
//! (127.0.0.0/8 is AS17557, 172.16-19.0.0/16 are AS45595, AS9541, AS23674 and AS24499, all in
//! Pakistan), reports posted through the router from a trusted proxy whose `X-Forwarded-For`
//! picks each client's address (so its /24 and ASN), and the detector run by the collector's
//! own start-up replay. The readers' ordinary history goes straight into the store, as
//! `vantage simulate` writes it; the attacker's reports come through HTTP.

use crate::common::*;
use crate::live::get_json;
use axum::extract::ConnectInfo;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use vantage_collector::store::Observation;
use vantage_collector::{app, AppState, Collector};

/// The five Pakistani ASNs of the test databases, in address-range order.
const ASNS: [u32; 5] = [17557, 45595, 9541, 23674, 24499];

/// A client address in ASN `ASNS[asn]`, in its /24 number `net` (< 250).
fn addr(asn: usize, net: u32) -> String {
    match asn {
        0 => format!("127.1.{net}.7"),
        k => format!("172.{}.{net}.9", 15 + k),
    }
}

/// A collector on the test directory's store that trusts loopback as its proxy and replays
/// `days` of history at start-up.
fn collector(t: &TestDir, days: u32) -> AppState {
    let mut c = t.config();
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    c.country_header = Some("CF-IPCountry".into());
    c.history_days = days;
    t.with_geoip(&mut c);
    Collector::new(c).unwrap()
}

/// Report ids never repeat within a test process.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Posts one `x.main` report from `client` in PK through the router, as the proxy would.
async fn post_from(router: &axum::Router, client: &str, outcome: &str) {
    let ms = if outcome == "ok" { 190.0 } else { 80.0 };
    let body =
        report_with(&id(NEXT_ID.fetch_add(1, Ordering::Relaxed)), &format!(r#"{{"target":"x.main","outcome":"{outcome}","ms":{ms}}}"#));
    let mut req = post(body, "text/plain");
    req.headers_mut().insert("x-forwarded-for", client.parse().unwrap());
    req.headers_mut().insert("cf-ipcountry", "PK".parse().unwrap());
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let res = oneshot(router, req).await;
    assert_eq!(res.status, 202, "{}", String::from_utf8_lossy(&res.body));
}

/// A real block as readers see it in one minute: two failing reports from each of `nets`
/// /24s, spread over the first `asns` ASNs.
async fn block_minute(router: &axum::Router, nets: u32, asns: usize) {
    for n in 0..nets {
        for _ in 0..2 {
            post_from(router, &addr(n as usize % asns, n / asns as u32), "error").await;
        }
    }
}

/// Ordinary readers' history in the store: minutes `from..to`, `per_asn` reports a minute in
/// each of the five ASNs over 40 /24s each, failing where `fails(minute, serial)` says.
fn history(state: &AppState, from: i64, to: i64, per_asn: u32, fails: impl Fn(i64, u64) -> bool) {
    let mut rows = Vec::new();
    let mut serial = 0u64;
    for t in from..to {
        for asn in ASNS {
            for k in 0..per_asn {
                serial += 1;
                rows.push(observation(t, asn, (t as u32).wrapping_mul(per_asn).wrapping_add(k) % 40, fails(t, serial), serial));
            }
        }
        if rows.len() >= 50_000 {
            state.store.import(&rows).unwrap();
            rows.clear();
        }
    }
    state.store.import(&rows).unwrap();
}

/// One stored observation of `x` in PK (`net` stands for a /24's keyed hash).
fn observation(minute: i64, asn: u32, net: u32, fail: bool, serial: u64) -> Observation {
    Observation {
        ts: minute * 60,
        country: "PK".parse().unwrap(),
        asn,
        network: asn.wrapping_mul(7919) ^ net,
        site: "simulated".parse().unwrap(),
        platform: "x".parse().unwrap(),
        target: "x.main".parse().unwrap(),
        outcome: vantage_protocol::Outcome::from_wire(if fail { "error" } else { "ok" }).unwrap(),
        ms: if fail { 80.0 } else { 200.0 },
        control_outcome: vantage_protocol::Outcome::Ok,
        control_ms: 40.0,
        browser_family: Some("chromium".into()),
        net_type: None,
        report_id: format!("{:016x}{serial:016x}", minute as u64 ^ ((asn as u64) << 40)).parse().unwrap(),
        late: false,
        status: None,
    }
}

/// Starts a server on `state` (its start-up replay runs the detector over the store and
/// persists every incident it saw) and returns PK's incidents once the replay is done. Waits
/// first until the writer has committed the `posted` reports that came through HTTP.
async fn replayed_incidents(t: &TestDir, state: &AppState, posted: i64) -> (Server, Vec<Value>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while rows(&t.db(), "WHERE site = 'drm'") < posted {
        assert!(std::time::Instant::now() < deadline, "the posted reports never reached the store");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let server = Server::start_state(state.clone()).await;
    // A week of history replays in tens of seconds on a busy debug build: wait generously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !state.live.history_loaded() {
        assert!(std::time::Instant::now() < deadline, "the start-up replay never finished");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let list = get_json(&server, "/v1/incidents?country=PK").await;
    let incidents = list["incidents"].as_array().unwrap().clone();
    (server, incidents)
}

fn country_incident(incidents: &[Value]) -> Option<&Value> {
    incidents.iter().find(|i| i["asn"].is_null() && i["platform"] == "x")
}

#[tokio::test]
async fn ten_failing_reports_from_ten_networks_in_a_fresh_cell_open_nothing() {
    let t = TestDir::new();
    let state = collector(&t, 1);
    let router = app(state.clone());
    // The prankster: ten /24s, one failing report each, in a cell nobody else reports from.
    for n in 0..10 {
        post_from(&router, &addr(0, n), "error").await;
    }
    state.clock.advance(180);
    let (server, incidents) = replayed_incidents(&t, &state, 10).await;
    assert!(incidents.is_empty(), "no history, no incident: {incidents:?}");
    // The reader is told why ten failures read as no disruption, once a tick has published.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = get_json(&server, "/v1/status?country=PK").await;
        let x = status["platforms"].as_array().and_then(|p| p.iter().find(|p| p["platform"] == "x").cloned());
        if let Some(x) = x {
            assert_eq!(x["held"], "no_history", "{x}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "x never published: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn an_incident_whose_cell_falls_silent_ends_with_no_data() {
    let t = TestDir::new();
    let state = collector(&t, 1);
    let now = state.clock.now().div_euclid(60);
    history(&state, now - 180, now, 6, |_, s| s * 37 % 100 < 3);
    let router = app(state.clone());
    // A real block seen from 30 networks in 3 ASNs for three minutes; then nobody reports
    // (the readers are gone, or the whole country is offline).
    for _ in 0..3 {
        block_minute(&router, 30, 3).await;
        state.clock.advance(60);
    }
    state.clock.advance(40 * 60);
    let (server, incidents) = replayed_incidents(&t, &state, 3 * 60).await;
    let inc = country_incident(&incidents).unwrap_or_else(|| panic!("the block opened an incident: {incidents:?}"));
    assert_eq!(inc["end_reason"], "no_data", "{inc}");
    assert!(inc["ended_at"].is_string(), "{inc}");
    assert!(inc["confidence"].as_f64().unwrap() > 0.5 && inc["failing_networks"].as_u64().unwrap() >= 30, "{inc}");
    assert!(inc["asns"].as_u64().unwrap() >= 3, "{inc}");
    assert_eq!(get_json(&server, "/v1/incidents?country=PK&open=true").await["incidents"], serde_json::json!([]));
    let atom = client().get(server.url("/v1/incidents.atom?country=PK")).send().await.unwrap().text().await.unwrap();
    crate::api::assert_xml(&atom);
    assert!(atom.contains("ended: no data"), "{atom}");
    let stored: vantage_collector::store::Incident = serde_json::from_value(inc.clone()).unwrap();
    let hook = vantage_collector::webhook::body(&stored);
    assert_eq!((hook["event"].as_str(), hook["end_reason"].as_str()), (Some("incident_closed"), Some("no_data")), "{hook}");
    assert!(hook["text"].as_str().unwrap().contains("lack of data"), "{hook}");
    server.stop().await;
}

#[tokio::test]
async fn an_ok_flood_from_one_asn_does_not_cancel_a_multi_asn_incident() {
    let t = TestDir::new();
    let state = collector(&t, 1);
    let now = state.clock.now().div_euclid(60);
    history(&state, now - 180, now, 6, |_, s| s * 37 % 100 < 3);
    let router = app(state.clone());
    for minute in 0..10 {
        block_minute(&router, 30, 3).await;
        if minute >= 3 {
            // The censor: 200 "it works" reports a minute from 200 /24s of AS23674.
            for n in 0..200 {
                post_from(&router, &addr(3, n), "ok").await;
            }
        }
        state.clock.advance(60);
    }
    let (server, incidents) = replayed_incidents(&t, &state, 10 * 60 + 7 * 200).await;
    let inc = country_incident(&incidents).unwrap_or_else(|| panic!("{incidents:?}"));
    assert!(inc["ended_at"].is_null(), "the ok flood closed the incident: {inc}");
    assert_eq!(inc["suspicious_asns"], serde_json::json!([23674]), "{inc}");
    assert_eq!(inc["affected_asns"], serde_json::json!([9541, 17557, 45595]), "{inc}");
    server.stop().await;
}

/// Minute 12:00 UTC of the day after `minute`.
fn next_noon(minute: i64) -> i64 {
    (minute.div_euclid(1440) + 1) * 1440 + 720
}

#[tokio::test]
async fn slow_baseline_poisoning_does_not_hide_a_later_block() {
    let t = TestDir::new();
    let state = collector(&t, 9);
    // Eight days of history whose days start at midnight UTC, ending at 12:10 on the ninth.
    let real = state.clock.now().div_euclid(60);
    let day0 = next_noon(real) - 720;
    let onset = day0 + 8 * 1440 + 730;
    state.clock.advance((onset - real) * 60 + 5);
    history(&state, day0, onset, 2, |_, s| s * 37 % 100 < 3);
    // The censor, on its own networks (400 /24s in each of three ASNs), each day between 12:00
    // and 12:55: failing at the day's rate, each day just under what a baseline that had
    // followed would flag, at twice the previous day's volume (up to 8x).
    const SCHEDULE: [f64; 7] = [0.12, 0.2, 0.28, 0.36, 0.44, 0.5, 0.54];
    let mut rows = Vec::new();
    let mut serial = 1u64 << 32;
    for (d, rate) in SCHEDULE.iter().enumerate() {
        let n = 15u32 << d.min(3);
        let failing = (rate * n as f64).round() as u32;
        for t in day0 + (d as i64 + 1) * 1440 + 720..day0 + (d as i64 + 1) * 1440 + 775 {
            for asn in &ASNS[..3] {
                for k in 0..n {
                    serial += 1;
                    let net = 1000 + ((t as u32).wrapping_mul(n) + k) % 400;
                    rows.push(observation(t, *asn, net, k < failing, serial));
                }
            }
        }
    }
    state.store.import(&rows).unwrap();
    // The block: half of every reader's requests fail, in every ASN, through HTTP (as many
    // readers as usual, each minute from other /24s).
    let router = app(state.clone());
    for minute in 0..6 {
        for (i, _) in ASNS.iter().enumerate() {
            for n in 0..2 {
                post_from(&router, &addr(i, minute * 2 + n), if n == 0 { "error" } else { "ok" }).await;
            }
        }
        state.clock.advance(60);
    }
    let (server, incidents) = replayed_incidents(&t, &state, 6 * 10).await;
    let started = |i: &&Value| vantage_collector::store::rfc3339::parse(i["started_at"].as_str().unwrap()).unwrap() / 60;
    let during: Vec<&Value> = incidents.iter().filter(|i| i["asn"].is_null() && started(i) >= onset).collect();
    let status = get_json(&server, "/v1/status?country=PK").await;
    let rows_by_minute = {
        let conn = rusqlite::Connection::open(t.db()).unwrap();
        let mut q = conn
            .prepare("SELECT ts / 60 - ?1, count(*), sum(outcome = 'error') FROM observations WHERE ts >= (?1 - 6) * 60 GROUP BY ts / 60")
            .unwrap();
        q.query_map([onset], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    };
    assert!(!during.is_empty(), "the block after a week of poisoning opened no country incident: {status}\n(minute - onset, rows, errors): {rows_by_minute:?}\n{incidents:?}");
    println!("after the poisoning: {status}");
    server.stop().await;
}
