//! The public exports streamed: the same rows as reading every cell at once, a range limit
//! (400), and a cap on exports running at once (503 + Retry-After while the slots are held).

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use vantage_collector::export::aggregate;
use vantage_collector::store::{Observation, RollupFilter};

/// 2026-11-28T00:00:00Z.
const DAY: i64 = 1_795_824_000;

/// Six hours of cells (several of the export's time chunks, a body of several pieces): each
/// minute has two published cells (facebook and x: 12 reports, 4 networks), a youtube cell of 2
/// networks (withheld) and an IR cell of 5 reports (withheld).
fn six_hours() -> Vec<Observation> {
    let mut rows = Vec::new();
    let mut n = 0;
    for minute in 0..360 {
        let ts = vantage_collector::store::rfc3339::format(DAY + minute * 60);
        let mut add = |country: &str, platform: &str, network: u32, outcome: &str| {
            n += 1;
            rows.push(serde_json::from_value(super::obs(&ts, country, platform, network, n, outcome)).unwrap());
        };
        for r in 0..12 {
            add("PK", "facebook", r % 4, if r < 3 { "timeout" } else { "ok" });
            add("PK", "x", r % 4, if r < 3 { "timeout" } else { "ok" });
            add("PK", "youtube", r % 2, "ok");
        }
        for r in 0..5 {
            add("IR", "x", r, "ok");
        }
    }
    rows
}

/// The answer as it was built before streaming: every cell of the range read, kept when
/// publishable, one NDJSON line each.
fn all_at_once(state: &vantage_collector::AppState, from_minute: i64, to_minute: i64) -> String {
    let (k, m) = (state.config.detect.min_reports as usize, state.config.detect.min_networks as usize);
    let mut out = String::new();
    let filter = RollupFilter { from: from_minute, to: to_minute, ..RollupFilter::default() };
    state.store.scan_rollups(&filter, &mut |c| out.extend(aggregate(&c, k, m).map(|a| serde_json::to_string(&a).unwrap() + "\n"))).unwrap();
    out
}

/// `got` is `expected`, line for line; a failure shows the first line that differs.
fn same_lines(got: &str, expected: &str) {
    if let Some((n, (g, e))) = got.lines().zip(expected.lines()).enumerate().find(|(_, (g, e))| g != e) {
        panic!("line {}:\n got      {g}\n expected {e}", n + 1);
    }
    assert_eq!(got.lines().count(), expected.lines().count());
    assert_eq!(got, expected);
}

#[tokio::test]
async fn streamed_exports_equal_the_whole_answer() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    let rows = six_hours();
    assert_eq!(state.store.import(&rows).unwrap(), rows.len());
    let expected = all_at_once(&state, DAY / 60, DAY / 60 + 360);
    assert_eq!(expected.lines().count(), 720, "two published cells a minute");
    assert!(expected.len() > 2 * 64 * 1024, "the body spans several pieces");

    let range = "from=2026-11-28T00:00:00Z&to=2026-11-28T06:00:00Z";
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
    assert_eq!(nd.status, StatusCode::OK);
    same_lines(&String::from_utf8(nd.body).unwrap(), &expected);
    // Gzipped (what browsers and fetch ask for): the compression layer reads the stream to its
    // end and past it; the body must decode to the same lines, not be cut off.
    let gz =
        oneshot(&router, Request::get(format!("/v1/export.ndjson?{range}")).header("accept-encoding", "gzip").body(Body::empty()).unwrap())
            .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.headers["content-encoding"], "gzip");
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain).unwrap();
    same_lines(&plain, &expected);
    let csv = oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await;
    let text = String::from_utf8(csv.body).unwrap();
    let first: Value = serde_json::from_str(expected.lines().next().unwrap()).unwrap();
    assert_eq!(text.lines().count(), 721, "a header and a line per published cell");
    assert!(
        text.lines().nth(1).unwrap().starts_with(&format!("{},PK,17557,facebook,12,4,9,0,3,", first["ts"].as_str().unwrap())),
        "{text:.400}"
    );

    // `vantage export` writes the same lines (the store is closed to the binary first: SQLite
    // allows one writer, and the router's state holds it).
    drop(router);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.close()).await.unwrap().unwrap();
    let cli = vantage()
        .args(["export", "--from", "2026-11-28T00:00:00Z", "--to", "2026-11-28T06:00:00Z", "--store"])
        .arg(format!("sqlite:{}", t.db().display()))
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    same_lines(&String::from_utf8(cli.stdout).unwrap(), &expected);
}

#[tokio::test]
async fn a_range_over_31_days_is_a_400_naming_from() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    for path in ["/v1/export.ndjson", "/v1/export.csv"] {
        let over = oneshot(&router, get(&format!("{path}?from=2026-10-28T00:00:00Z&to=2026-11-28T00:00:01Z"))).await;
        assert_eq!(over.status, StatusCode::BAD_REQUEST, "{path}");
        let v = over.json();
        assert_eq!((v["error"].as_str(), v["parameter"].as_str()), (Some("invalid_parameter"), Some("from")), "{v}");
        assert!(v["message"].as_str().unwrap().contains("31 days"), "{v}");
        let limit = oneshot(&router, get(&format!("{path}?from=2026-10-28T00:00:00Z&to=2026-11-28T00:00:00Z"))).await;
        assert_eq!(limit.status, StatusCode::OK, "{path}: exactly 31 days");
    }
}

#[tokio::test]
async fn exports_beyond_the_cap_are_503_until_one_ends() {
    let t = TestDir::new();
    let mut config = t.config();
    config.max_exports = 2;
    let (router, state) = router(config);
    let rows = six_hours();
    state.store.import(&rows).unwrap();
    let range = "from=2026-11-28T00:00:00Z&to=2026-11-28T06:00:00Z";
    let start = |path: &str| router.clone().oneshot(get(&format!("{path}?{range}")));
    // Two exports whose bodies are not read yet: both slots are taken until they are.
    let (a, b) = (start("/v1/export.ndjson").await.unwrap(), start("/v1/export.csv").await.unwrap());
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let refused = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.header("retry-after"), "5");
    let v = refused.json();
    assert_eq!(v["error"], "overloaded", "{v}");
    assert!(v["message"].as_str().unwrap().contains("exports"), "{v}");
    // Status is not an export: it still answers.
    assert_eq!(oneshot(&router, get("/v1/status?country=PK")).await.status, StatusCode::OK);
    // One body read to its end frees one slot; one abandoned frees another.
    let a_body = axum::body::to_bytes(a.into_body(), usize::MAX).await.unwrap();
    assert_eq!(a_body.iter().filter(|&&b| b == b'\n').count(), 720);
    let c = start("/v1/export.ndjson").await.unwrap();
    assert_eq!(c.status(), StatusCode::OK);
    assert_eq!(oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await.status, StatusCode::SERVICE_UNAVAILABLE);
    drop((b, c));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // An abandoned body's reading task notices at its next piece: wait for it, generously.
        let again = oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await;
        if again.status == StatusCode::OK {
            assert_eq!(String::from_utf8(again.body).unwrap().lines().count(), 721);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slots of dropped bodies were never freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
