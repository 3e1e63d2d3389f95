//! Browser tests of the measurement path against the fixture server.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{fx, is_firefox, median};
use vantage_widget::{js, measure_one, Outcome};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn fast_is_ok_with_resource_timing() {
    let m = measure_one(&fx("/fast?t=fast"), 5000).await;
    assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
    assert!(m.ms >= 0.0 && m.ms < 1000.0, "{m:?}");
    // Chromium adds no Resource Timing entry for an opaque response (its body is never read);
    // where one exists, Timing-Allow-Origin: * (sent by the fixture) exposes phases and size.
    if m.from_resource_timing {
        let p = m.phases.expect("phases with Timing-Allow-Origin");
        assert!(p[3] >= 0.0, "ttfb {p:?}");
        assert!(m.bytes.is_some(), "{m:?}");
    } else {
        assert!(m.phases.is_none() && m.bytes.is_none(), "{m:?}");
    }
}

/// `/delay/{d}` measures `d` within 10 ms once per-request overhead is removed: the median of 5
/// delayed requests minus the median of 5 immediate ones.
async fn check_delay(d: f64) {
    let mut base = Vec::new();
    let mut slow = Vec::new();
    for i in 0..5 {
        let m = measure_one(&fx(&format!("/fast?d={d}&i={i}")), 5000).await;
        assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
        base.push(m.ms);
        let m = measure_one(&fx(&format!("/delay/{d}?i={i}")), 5000).await;
        assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
        slow.push(m.ms);
    }
    let got = median(&mut slow) - median(&mut base);
    assert!((got - d).abs() <= 10.0, "delay {d}: measured {got} ms (delayed {slow:?}, immediate {base:?})");
}

#[wasm_bindgen_test]
async fn delay_100_is_measured_within_10ms() {
    check_delay(100.0).await;
}

#[wasm_bindgen_test]
async fn delay_500_is_measured_within_10ms() {
    check_delay(500.0).await;
}

#[wasm_bindgen_test]
async fn reset_is_error() {
    let m = measure_one(&fx("/reset"), 5000).await;
    assert_eq!(m.outcome, Outcome::Error, "{m:?}");
    assert!(m.ms < 5000.0, "{m:?}");
}

#[wasm_bindgen_test]
async fn hang_is_timeout_at_the_deadline() {
    let m = measure_one(&fx("/hang"), 1000).await;
    assert_eq!(m.outcome, Outcome::Timeout, "{m:?}");
    assert!(m.ms >= 990.0 && m.ms < 1500.0, "{m:?}");
}

#[wasm_bindgen_test]
async fn unresolvable_name_is_error() {
    // Chromium maps nxdomain.test to NOTFOUND (--host-resolver-rules in tests/webdriver.json);
    // in Firefox .invalid never resolves (RFC 6761; this machine has no working DNS either).
    let url =
        if is_firefox() { String::from("http://does-not-exist.invalid/") } else { format!("http://nxdomain.test:{}/fast", common::port()) };
    let m = measure_one(&url, 5000).await;
    assert_eq!(m.outcome, Outcome::Error, "{url}: {m:?}");
}

#[wasm_bindgen_test]
async fn control_path_resolves_against_our_origin() {
    let here = js::string(&js::get(&js::global(), "location"), "origin").unwrap();
    assert_eq!(vantage_widget::resolve("/v1/ping").unwrap(), format!("{here}/v1/ping"));
}

fn list(targets: &[(&str, String, u32, bool)]) -> JsValue {
    let ts: Vec<String> = targets
        .iter()
        .map(|(id, url, t, cb)| format!(r#"{{"id":"{id}","platform":"x","url":"{url}","timeout_ms":{t},"cache_bust":{cb}}}"#))
        .collect();
    let json = format!(
        r#"{{"version":"test.1","control":{{"id":"control.self","url":"{}","timeout_ms":5000}},"targets":[{}]}}"#,
        fx("/fast"),
        ts.join(",")
    );
    js_sys::JSON::parse(&json).unwrap()
}

/// A whole run: the report JSON built by the widget passes the collector's own validation
/// (`vantage_protocol::parse_report`) and carries the expected outcomes.
#[wasm_bindgen_test]
async fn run_builds_a_report_the_collector_accepts() {
    let l = list(&[
        ("t.fast", fx("/fast"), 5000, true),
        ("t.reset", fx("/reset"), 5000, true),
        ("t.hang", fx("/hang"), 500, false),
        ("t.delay", fx("/delay/50"), 5000, true),
        ("BAD ID", fx("/fast"), 5000, true),
    ]);
    let json = vantage_widget::run_list(&l, "test-site").await.expect("a report").as_string().unwrap();
    let known = ["t.fast", "t.reset", "t.hang", "t.delay"];
    let r = vantage_protocol::parse_report(json.as_bytes(), |id| known.contains(&id)).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(r.site, "test-site");
    assert_eq!(r.widget, env!("CARGO_PKG_VERSION"));
    assert_eq!(r.targets_version, "test.1");
    assert_eq!(r.age_s, 0);
    assert_eq!(r.control.outcome, vantage_protocol::Outcome::Ok, "{json}");
    let expect = browser_family();
    assert_eq!(r.browser.as_ref().map(|b| b.family), Some(expect), "{json}");
    let outcomes: Vec<(&str, &str)> = r.measurements.iter().map(|m| (m.target.as_str(), m.outcome.as_str())).collect();
    assert_eq!(outcomes, [("t.fast", "ok"), ("t.reset", "error"), ("t.hang", "timeout"), ("t.delay", "ok")], "{json}");
    // A second report gets a fresh id.
    let again = vantage_widget::run_list(&l, "test-site").await.unwrap().as_string().unwrap();
    let r2 = vantage_protocol::parse_report(again.as_bytes(), |id| known.contains(&id)).unwrap();
    assert_ne!(r.id, r2.id);
}

fn browser_family() -> vantage_protocol::BrowserFamily {
    if is_firefox() {
        vantage_protocol::BrowserFamily::Firefox
    } else {
        vantage_protocol::BrowserFamily::Chromium
    }
}

/// At most 3 requests at once, and they do overlap: six 300 ms targets take two rounds.
#[wasm_bindgen_test]
async fn run_measures_three_at_a_time() {
    let targets: Vec<(String, String)> = (0..6).map(|i| (format!("t.d{i}"), fx(&format!("/delay/300?n={i}")))).collect();
    let l = list(&targets.iter().map(|(id, u)| (id.as_str(), u.clone(), 5000, true)).collect::<Vec<_>>());
    let t0 = js::now();
    let json = vantage_widget::run_list(&l, "s").await.unwrap().as_string().unwrap();
    let took = js::now() - t0;
    assert!((600.0..1150.0).contains(&took), "6 x 300 ms in {took} ms: {json}");
    assert_eq!(json.matches("\"outcome\":\"ok\"").count(), 7, "{json}");
}

/// `snapshot()` (used on pagehide) reports what has finished while a run is still going.
#[wasm_bindgen_test]
async fn snapshot_reports_completed_targets_mid_run() {
    assert!(vantage_widget::snapshot().is_undefined());
    let l = list(&[("t.fast", fx("/fast"), 5000, true), ("t.hang", fx("/hang"), 1500, true)]);
    let finished = std::rc::Rc::new(std::cell::Cell::new(false));
    let done = finished.clone();
    wasm_bindgen_futures::spawn_local(async move {
        vantage_widget::run(l, "s".into()).await;
        done.set(true);
    });
    js::sleep(500.0).await;
    let snap = vantage_widget::snapshot().as_string().expect("a partial report");
    let r = vantage_protocol::parse_report(snap.as_bytes(), |id| id == "t.fast" || id == "t.hang").unwrap();
    assert_eq!(r.measurements.len(), 1, "{snap}");
    assert_eq!(r.measurements[0].target, "t.fast");
    while !finished.get() {
        js::sleep(100.0).await;
    }
    assert!(vantage_widget::snapshot().is_undefined());
}

#[wasm_bindgen_test]
fn browser_family_from_user_agent() {
    let b = vantage_widget::browser;
    assert_eq!(
        b("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"),
        ("chromium", 156)
    );
    assert_eq!(
        b("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0"),
        ("chromium", 120)
    );
    assert_eq!(b("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"), ("firefox", 128));
    assert_eq!(
        b("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
        ("safari", 17)
    );
    assert_eq!(b("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0 Mobile/15E148 Safari/604.1"), ("safari", 0));
    assert_eq!(b("curl/8.0"), ("other", 0));
}

/// src/wire.rs mirrors vantage-protocol (kept out of the wasm for size): they must agree.
#[wasm_bindgen_test]
fn wire_mirror_matches_protocol() {
    use vantage_protocol as p;
    use vantage_widget::wire as w;
    let ours = [w::Outcome::Ok, w::Outcome::Error, w::Outcome::Timeout, w::Outcome::BlockedByClient];
    for (a, b) in ours.iter().zip(p::Outcome::ALL.iter()) {
        assert_eq!(a.as_str(), b.as_str());
    }
    assert_eq!(w::CONTROL_ID, p::CONTROL_ID);
    assert_eq!(w::VERSION, p::VERSION);
    assert_eq!(w::MAX_MS, p::MAX_MS);
    assert_eq!(w::MAX_MEASUREMENTS, p::MAX_MEASUREMENTS);
    assert_eq!(w::family::CHROMIUM, p::BrowserFamily::Chromium.as_str());
    assert_eq!(w::family::FIREFOX, p::BrowserFamily::Firefox.as_str());
    assert_eq!(w::family::SAFARI, p::BrowserFamily::Safari.as_str());
    assert_eq!(w::family::OTHER, p::BrowserFamily::Other.as_str());
    for id in ["x.favicon", "a", "BAD", "", "a b", "a/b", &"x".repeat(65), &"x".repeat(64)] {
        assert_eq!(w::is_valid_target_id(id), p::is_valid_target_id(id), "{id:?}");
    }
}
