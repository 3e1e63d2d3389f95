//! The read API: 400s that name the parameter, k-anonymous exports, XML that parses, hostile
//! strings never echoed, the map's country list, whereami and the badge route.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{json, Value};
use vantage_collector::store::Observation;

/// Fails unless `text` is well-formed XML.
pub(crate) fn assert_xml(text: &str) {
    let mut r = quick_xml::Reader::from_str(text);
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not XML ({e}): {text}"),
        }
    }
}

fn obs(minute_ts: i64, country: &str, platform: &str, network: u32, n: u32, outcome: &str) -> Observation {
    Observation {
        ts: minute_ts,
        country: country.parse().unwrap(),
        asn: 17557,
        network,
        site: "drm".parse().unwrap(),
        platform: platform.parse().unwrap(),
        target: format!("{platform}.main").parse().unwrap(),
        outcome: vantage_protocol::Outcome::from_wire(outcome).unwrap(),
        ms: 100.0,
        control_outcome: vantage_protocol::Outcome::Ok,
        control_ms: 40.0,
        browser_family: None,
        net_type: None,
        report_id: id(n).parse().unwrap(),
        late: false,
        status: None,
    }
}

#[tokio::test]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let cases = [
        ("/v1/status", "country"),
        ("/v1/status?country=Pakistan", "country"),
        ("/v1/status?country=PK&asn=AS1", "asn"),
        ("/v1/timeseries?country=PK", "platform"),
        ("/v1/timeseries?platform=x", "country"),
        ("/v1/timeseries?platform=%3Cscript%3E&country=PK", "platform"),
        ("/v1/timeseries?platform=x&country=PK&from=yesterday", "from"),
        ("/v1/timeseries?platform=x&country=PK&to=2026-13-01T00:00:00Z", "to"),
        ("/v1/timeseries?platform=x&country=PK&from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z", "to"),
        ("/v1/timeseries?platform=x&country=PK&from=2026-01-01T00:00:00Z&to=2026-11-27T00:00:00Z", "from"),
        ("/v1/timeseries?platform=x&country=PK&step=90", "step"),
        ("/v1/timeseries?platform=x&country=PK&step=0", "step"),
        ("/v1/incidents?open=yes", "open"),
        ("/v1/incidents?country=P1", "country"),
        ("/v1/incidents.atom?platform=X!", "platform"),
        ("/v1/export.csv?from=now", "from"),
        ("/v1/export.ndjson?to=2026-11-28", "to"),
        ("/v1/chart.svg?platform=x&country=PK&hours=0", "hours"),
        ("/v1/chart.svg?platform=%22%3E%3Csvg%20onload%3Dalert(1)%3E&country=PK", "platform"),
        ("/v1/badge?platforms=x", "country"),
        ("/v1/badge?country=PK&platforms=x,%3Cb%3E", "platforms"),
        ("/v1/badge?country=PK&lang=%3Cscript%3E", "lang"),
        ("/v1/stream?country=12", "country"),
    ];
    for (uri, parameter) in cases {
        let a = oneshot(&router, get(uri)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        let v = a.json();
        assert_eq!((v["error"].as_str(), v["parameter"].as_str()), (Some("invalid_parameter"), Some(parameter)), "{uri}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        let body = String::from_utf8_lossy(&a.body);
        assert!(!body.contains('<'), "{uri} echoed input: {body}");
    }
}

#[tokio::test]
async fn exports_publish_only_k_anonymous_cells() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    let ts = 1_795_891_260; // 2026-11-28T18:41:00Z
    let mut rows = Vec::new();
    for n in 0..12 {
        rows.push(obs(ts, "PK", "x", n % 4, n, if n < 3 { "timeout" } else { "ok" }));
    }
    for n in 100..112 {
        rows.push(obs(ts, "PK", "youtube", n % 2, n, "ok")); // 2 networks: suppressed
    }
    for n in 200..205 {
        rows.push(obs(ts + 60, "IR", "x", n, n, "ok")); // 5 reports: suppressed
    }
    assert_eq!(state.store.import(&rows).unwrap(), 29);
    let range = "from=2026-11-28T18:00:00Z&to=2026-11-28T19:00:00Z";
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
    assert_eq!(nd.status, StatusCode::OK);
    assert!(nd.header("content-type").starts_with("application/x-ndjson"));
    let lines: Vec<Value> = String::from_utf8_lossy(&nd.body).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let a = &lines[0];
    assert_eq!((a["ts"].as_str(), a["country"].as_str(), a["platform"].as_str()), (Some("2026-11-28T18:41:00Z"), Some("PK"), Some("x")));
    assert_eq!(
        (a["reports"].as_u64(), a["networks"].as_u64(), a["ok"].as_u64(), a["timeout"].as_u64()),
        (Some(12), Some(4), Some(9), Some(3))
    );
    assert_eq!(a["success_rate"].as_f64(), Some(0.75));
    let csv = oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await;
    assert!(csv.header("content-type").starts_with("text/csv"));
    let text = String::from_utf8_lossy(&csv.body).to_string();
    let csv_lines: Vec<&str> = text.lines().collect();
    assert_eq!(csv_lines.len(), 2, "{text}");
    assert!(csv_lines[0].starts_with("ts,country,asn,platform,reports,networks,"));
    assert!(csv_lines[1].starts_with("2026-11-28T18:41:00Z,PK,17557,x,12,4,9,0,3,"), "{text}");
    // The same rows through time series: a point under k or m publishes no number at all.
    let series = oneshot(&router, get(&format!("/v1/timeseries?platform=x&country=IR&{range}"))).await.json();
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 60);
    let p = points.iter().find(|p| p["t"] == "2026-11-28T18:42:00Z").unwrap();
    assert_eq!((p["reports"].as_u64(), p["networks"].as_u64()), (None, None));
    assert_eq!(p["state"], "insufficient_data");
    assert!(p["success_rate"].is_null() && p["median_ms"].is_null() && p["p90_ms"].is_null());
    let pk = oneshot(&router, get(&format!("/v1/timeseries?platform=x&country=PK&step=3600&{range}"))).await.json();
    assert_eq!(pk["step"], 3600);
    assert_eq!(
        pk["points"],
        json!([{"t": "2026-11-28T18:00:00Z", "state": "published", "reports": 12, "networks": 4, "success_rate": 0.75,
        "median_ms": pk["points"][0]["median_ms"], "p90_ms": pk["points"][0]["p90_ms"]}])
    );
    let med = pk["points"][0]["median_ms"].as_f64().unwrap();
    assert!((med / 100.0 - 1.0).abs() < 0.1, "{med}");
}

#[tokio::test]
async fn chart_and_feed_are_valid_xml_and_nothing_hostile_comes_back() {
    let t = TestDir::new();
    let mut config = t.config();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.country_header = Some("CF-IPCountry".into());
    let (router, state) = router(config);
    let hostile = "<script>alert(1)</script>";
    let body = report_with(&id(1), r#"{"target":"x.main","outcome":"ok","ms":100}"#)
        .replace(r#""widget":"0.1.0""#, &format!(r#""widget":"{hostile}""#));
    assert_eq!(oneshot(&router, post(body, "text/plain")).await.status, StatusCode::ACCEPTED);
    let now = state.clock.now();
    // Ten minutes ago: a minute is charted once it is final (store::publish::SETTLE_S).
    let ts = now.div_euclid(60) * 60 - 600;
    let rows: Vec<Observation> = (0..20).map(|n| obs(ts, "PK", "x", n % 5, 10 + n, "ok")).collect();
    state.store.import(&rows).unwrap();
    let chart = oneshot(&router, get("/v1/chart.svg?platform=x&country=pk&hours=2")).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(chart.header("content-type").starts_with("image/svg+xml"));
    let svg = String::from_utf8(chart.body.clone()).unwrap();
    assert_xml(&svg);
    assert!(svg.contains("<title>x in PK: last 2 h</title>") && svg.contains("<path d=\"M"), "{svg}");
    for uri in [
        "/v1/status?country=PK",
        "/v1/status?country=ZZ",
        "/v1/countries",
        "/v1/incidents",
        "/v1/incidents.atom",
        "/v1/export.csv",
        "/v1/export.ndjson",
        "/v1/timeseries?platform=x&country=ZZ",
        "/v1/whereami",
    ] {
        let a = oneshot(&router, get(uri)).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        let text = String::from_utf8_lossy(&a.body);
        assert!(!text.contains("<script") && !text.contains("alert(1)"), "{uri}: {text}");
        if uri.ends_with(".atom") {
            assert_xml(&text);
            assert!(a.header("content-type").starts_with("application/atom+xml"));
        }
    }
}

#[tokio::test]
async fn countries_whereami_and_the_badge_route() {
    let t = TestDir::new();
    let mut config = t.config();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.country_header = Some("CF-IPCountry".into());
    let (router, _state) = router(config);
    assert_eq!(oneshot(&router, get("/v1/countries")).await.json(), json!({"countries": []}));
    // From the trusted proxy (the country header is believed from nobody else).
    let mut req = axum::http::Request::get("/v1/whereami").header("cf-ipcountry", "pk").body(axum::body::Body::empty()).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let a = oneshot(&router, req).await;
    assert_eq!(a.json(), json!({"country": "PK", "asn": 0}));
    assert_eq!(a.header("cache-control"), "private, no-store");
    assert_eq!(oneshot(&router, get("/v1/badge?country=PK&platforms=x,youtube")).await.status, StatusCode::NOT_FOUND);
    std::fs::create_dir_all(t.path().join("www/badge")).unwrap();
    std::fs::write(t.path().join("www/badge/index.html"), "<!doctype html><title>badge</title>").unwrap();
    let b = oneshot(&router, get("/v1/badge?country=PK&platforms=x,youtube&lang=ur")).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.header("content-type"), "text/html; charset=utf-8");
    let csp = b.header("content-security-policy");
    for part in ["frame-ancestors *", "script-src 'self'", "connect-src 'self'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!b.headers.contains_key("x-frame-options"));
    let s = oneshot(&router, get("/v1/status?country=pk")).await;
    assert_eq!(s.header("access-control-allow-origin"), "*");
    let v = s.json();
    assert_eq!((v["country"].as_str(), v["window_s"].as_i64(), v["platforms"].clone()), (Some("PK"), Some(300), json!([])));
}
