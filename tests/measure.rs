//! Browser tests of the measurement path against the fixture server, run where the widget runs in
//! production: in a dedicated Worker (issue 11).
#![cfg(target_arch = "wasm32")]

mod common;

use common::{fx, is_firefox};
use vantage_widget::{js, measure_one, Outcome};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// The production path: a dedicated worker, no `window`, no `document`.
#[wasm_bindgen_test]
fn runs_in_a_dedicated_worker() {
    let g = js::global();
    assert!(js::get(&g, "window").is_undefined() && js::get(&g, "document").is_undefined());
    assert!(js::get(&g, "importScripts").is_function() && js::get(&g, "postMessage").is_function());
}

/// A no-cors request to another origin is timed by its Resource Timing entry in both browsers
/// (Chromium creates one for an opaque response once its body has loaded: awaited), with phases
/// and size where the host sends Timing-Allow-Origin.
#[wasm_bindgen_test]
async fn no_cors_is_timed_by_resource_timing_with_phases() {
    let m = measure_one(&fx("/fast?t=fast"), 5000, false).await;
    assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
    assert!(m.from_resource_timing, "{m:?}");
    assert!(m.ms >= 0.0 && m.ms < 1000.0, "{m:?}");
    let p = m.phases.expect("phases with Timing-Allow-Origin");
    assert!(p[3] >= 0.0, "ttfb {p:?}");
    assert!(m.bytes.is_some(), "{m:?}");
}

/// Without Timing-Allow-Origin the entry still times the request, but has no phases.
#[wasm_bindgen_test]
async fn no_timing_allow_origin_is_timed_without_phases() {
    let m = measure_one(&fx("/private"), 5000, false).await;
    assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
    assert!(m.from_resource_timing, "{m:?}");
    assert!(m.phases.is_none() && m.bytes.is_none(), "{m:?}");
}

/// cors mode: a 2xx is `ok` with its entry and phases; a readable 4xx/5xx is `http_error` with
/// its status; a host without Access-Control-Allow-Origin fails like a network error.
#[wasm_bindgen_test]
async fn cors_mode_reads_the_status() {
    let m = measure_one(&fx("/fast?t=cors"), 5000, true).await;
    assert_eq!((m.outcome, m.status), (Outcome::Ok, None), "{m:?}");
    assert!(m.from_resource_timing && m.phases.is_some(), "{m:?}");
    for code in [403u16, 451, 503] {
        let m = measure_one(&fx(&format!("/status/{code}")), 5000, true).await;
        assert_eq!((m.outcome, m.status), (Outcome::HttpError, Some(code)), "{m:?}");
        assert!(m.from_resource_timing, "{m:?}");
    }
    let m = measure_one(&fx("/private?t=cors"), 5000, true).await;
    assert_eq!((m.outcome, m.status), (Outcome::Error, None), "{m:?}");
}

/// no-cors mode cannot see a status: a 451 block page is a response like any other.
#[wasm_bindgen_test]
async fn no_cors_mode_hides_the_status() {
    let m = measure_one(&fx("/status/451"), 5000, false).await;
    assert_eq!((m.outcome, m.status), (Outcome::Ok, None), "{m:?}");
}

/// `/delay/{d}` measures `d` within 10 ms once per-request overhead is removed: the fastest of 5
/// delayed requests minus the fastest of 5 immediate ones, every one from Resource Timing. The
/// fastest, not the median: on a loaded machine the fixture server and the browser only ever add
/// time (a late wake-up of the server's timer is real time the request took, not a widget error).
async fn check_delay(d: f64) {
    let mut base = Vec::new();
    let mut slow = Vec::new();
    for i in 0..5 {
        let m = measure_one(&fx(&format!("/fast?d={d}&i={i}")), 5000, false).await;
        assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
        base.push(m.ms);
        let m = measure_one(&fx(&format!("/delay/{d}?i={i}")), 5000, false).await;
        assert_eq!(m.outcome, Outcome::Ok, "{m:?}");
        assert!(m.from_resource_timing, "{m:?}");
        slow.push(m.ms);
    }
    let got = fastest(&slow) - fastest(&base);
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
    let m = measure_one(&fx("/reset"), 5000, false).await;
    assert_eq!(m.outcome, Outcome::Error, "{m:?}");
    assert!(m.ms < 5000.0, "{m:?}");
}

#[wasm_bindgen_test]
async fn hang_is_timeout_at_the_deadline() {
    let m = measure_one(&fx("/hang"), 1000, false).await;
    assert_eq!(m.outcome, Outcome::Timeout, "{m:?}");
    assert!(m.ms >= 990.0 && m.ms < 1500.0, "{m:?}");
}

#[wasm_bindgen_test]
async fn unresolvable_name_is_error() {
    // Chromium maps nxdomain.test to NOTFOUND (--host-resolver-rules in tests/webdriver.json);
    // in Firefox .invalid never resolves (RFC 6761; this machine has no working DNS either).
    let url =
        if is_firefox() { String::from("http://does-not-exist.invalid/") } else { format!("http://nxdomain.test:{}/fast", common::port()) };
    let m = measure_one(&url, 5000, false).await;
    assert_eq!(m.outcome, Outcome::Error, "{url}: {m:?}");
}

#[wasm_bindgen_test]
async fn control_path_resolves_against_our_origin() {
    let here = js::string(&js::get(&js::global(), "location"), "origin").unwrap();
    assert_eq!(vantage_widget::resolve("/v1/ping").unwrap(), format!("{here}/v1/ping"));
}

fn fastest(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn list(targets: &[(&str, String, u32, bool)]) -> JsValue {
    let ts: Vec<String> = targets
        .iter()
        .map(|(id, url, t, cb)| {
            // Ids ending in `.cors` are measured in cors mode.
            let mode = if id.ends_with(".cors") { "cors" } else { "no-cors" };
            format!(r#"{{"id":"{id}","platform":"x","url":"{url}","timeout_ms":{t},"cache_bust":{cb},"mode":"{mode}"}}"#)
        })
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
        ("t.451.cors", fx("/status/451"), 5000, true),
        ("BAD ID", fx("/fast"), 5000, true),
    ]);
    let json = vantage_widget::run_list(&l, "test-site", JsValue::UNDEFINED).await.expect("a report").as_string().unwrap();
    let known = ["t.fast", "t.reset", "t.hang", "t.delay", "t.451.cors"];
    let r = vantage_protocol::parse_report(json.as_bytes(), |id| known.contains(&id)).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(r.site, "test-site");
    assert_eq!(r.widget, env!("CARGO_PKG_VERSION"));
    assert_eq!(r.targets_version, "test.1");
    assert_eq!(r.age_s, 0);
    assert_eq!(r.control.outcome, vantage_protocol::Outcome::Ok, "{json}");
    let expect = browser_family();
    assert_eq!(r.browser.as_ref().map(|b| b.family), Some(expect), "{json}");
    let outcomes: Vec<(&str, &str)> = r.measurements.iter().map(|m| (m.target.as_str(), m.outcome.as_str())).collect();
    assert_eq!(
        outcomes,
        [("t.fast", "ok"), ("t.reset", "error"), ("t.hang", "timeout"), ("t.delay", "ok"), ("t.451.cors", "http_error")],
        "{json}"
    );
    let statuses: Vec<Option<u16>> = r.measurements.iter().map(|m| m.status).collect();
    assert_eq!(statuses, [None, None, None, None, Some(451)], "{json}");
    // Which clock: Resource Timing for every response, performance.now() for the aborted request.
    use vantage_protocol::Timing::{Now, ResourceTiming};
    assert_eq!(r.control.timing, Some(ResourceTiming), "{json}");
    let timings: Vec<_> = r.measurements.iter().map(|m| (m.target.as_str(), m.timing)).collect();
    assert_eq!(timings[0], ("t.fast", Some(ResourceTiming)), "{json}");
    assert_eq!(timings[2], ("t.hang", Some(Now)), "{json}");
    assert_eq!(timings[3], ("t.delay", Some(ResourceTiming)), "{json}");
    assert_eq!(timings[4], ("t.451.cors", Some(ResourceTiming)), "{json}");
    // A second report gets a fresh id.
    let again = vantage_widget::run_list(&l, "test-site", JsValue::UNDEFINED).await.unwrap().as_string().unwrap();
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
    let json = vantage_widget::run_list(&l, "s", JsValue::UNDEFINED).await.unwrap().as_string().unwrap();
    let took = js::now() - t0;
    assert!((600.0..1150.0).contains(&took), "6 x 300 ms in {took} ms: {json}");
    assert_eq!(json.matches("\"outcome\":\"ok\"").count(), 7, "{json}");
}

/// `run`'s progress callback (kept by the frame for pagehide) gets the report of what has
/// finished while the run is still going, then the whole one.
#[wasm_bindgen_test]
async fn progress_reports_completed_targets_mid_run() {
    use std::{cell::RefCell, rc::Rc};
    let l = list(&[("t.fast", fx("/fast"), 5000, true), ("t.hang", fx("/hang"), 1500, true)]);
    let seen: Rc<RefCell<Vec<(f64, String)>>> = Rc::default();
    let sink = seen.clone();
    let progress = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |r: JsValue| {
        sink.borrow_mut().push((js::now(), r.as_string().unwrap()));
    });
    let t0 = js::now();
    let out = vantage_widget::run_list(&l, "s", progress.as_ref().clone()).await.unwrap().as_string().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let known = |id: &str| id == "t.fast" || id == "t.hang";
    let first = vantage_protocol::parse_report(seen[0].1.as_bytes(), known).unwrap();
    assert_eq!(first.measurements.len(), 1, "{seen:?}");
    assert_eq!(first.measurements[0].target, "t.fast");
    assert!(seen[0].0 - t0 < 1000.0, "the partial report came before the hang ended: {seen:?}");
    let last = vantage_protocol::parse_report(seen[1].1.as_bytes(), known).unwrap();
    assert_eq!(last.measurements.len(), 2, "{seen:?}");
    let out = vantage_protocol::parse_report(out.as_bytes(), known).unwrap();
    assert_eq!(out.measurements, last.measurements);
    // One id for the whole run: the collector stores a run once whichever of its reports arrive
    // (the worker queues each as it grows; the frame beacons the latest on pagehide).
    assert_eq!((first.id, last.id), (out.id.clone(), out.id), "{seen:?}");
}

/// The widget's own HTTP (gloo-net): the target list is fetched and parsed; a report's delivery
/// is done on 2xx and on a 4xx other than 429, and kept for a retry otherwise.
#[wasm_bindgen_test]
async fn target_list_and_delivery_over_gloo_net() {
    use vantage_widget::http::{deliver, targets};
    let l = targets(fx("/list.json")).await;
    assert_eq!(js::string(&l, "version").as_deref(), Some("fixtures.1"));
    assert!(targets(fx("/status/404")).await.is_undefined());
    assert!(targets(fx("/fast")).await.is_undefined(), "not JSON");
    assert!(targets(fx("/reset")).await.is_undefined());
    for (path, done) in
        [("/fast", true), ("/status/202", true), ("/status/400", true), ("/status/429", false), ("/status/503", false), ("/reset", false)]
    {
        assert_eq!(deliver(fx(path), "{}".into()).await, done, "{path}");
    }
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
    let ours = [w::Outcome::Ok, w::Outcome::Error, w::Outcome::Timeout, w::Outcome::BlockedByClient, w::Outcome::HttpError];
    assert_eq!(ours.map(|o| o.as_str()), p::Outcome::ALL.map(|o| o.as_str()));
    assert_eq!(w::timing::RESOURCE_TIMING, p::Timing::ResourceTiming.as_str());
    assert_eq!(w::timing::NOW, p::Timing::Now.as_str());
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
