//! Every response of docs/protocol.md §1, plus the origin rule (no CORS).

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn stored_202_then_duplicate_200_stored_once() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let a = oneshot(&router, post(report(&id(1)), "text/plain;charset=UTF-8")).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.json(), serde_json::json!({"accepted": true, "id": id(1)}));
    assert!(a.header("content-type").starts_with("application/json"));
    assert_eq!(rows(&t.db(), ""), 2, "committed before the 202");
    let again = oneshot(&router, post(report(&id(1)), "application/json")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json(), serde_json::json!({"accepted": true, "id": id(1), "duplicate": true}));
    assert_eq!(rows(&t.db(), ""), 2);
    let m = oneshot(&router, get("/metrics")).await;
    let text = String::from_utf8(m.body).unwrap();
    assert!(text.contains("vantage_reports_total{result=\"accepted\"} 1"), "{text}");
    assert!(text.contains("vantage_reports_total{result=\"duplicate\"} 1"), "{text}");
    assert!(text.contains("vantage_store_rows_total 2"), "{text}");
}

/// A browser's beacon says `Accept-Encoding: gzip, deflate, br, zstd`; the answer is some 60
/// bytes, which compression only makes longer, so it goes out as it is, byte for byte.
#[tokio::test]
async fn the_answer_is_never_compressed_and_keeps_its_bytes() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let beacon = |body: String| {
        let mut req = post(body, "text/plain;charset=UTF-8");
        req.headers_mut().insert("accept-encoding", "gzip, deflate, br, zstd".parse().unwrap());
        req
    };
    let a = oneshot(&router, beacon(report(&id(3)))).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.header("content-encoding"), "");
    assert_eq!(String::from_utf8_lossy(&a.body), format!(r#"{{"accepted":true,"id":"{}"}}"#, id(3)));
    assert_eq!(a.header("content-type"), "application/json");
    let again = oneshot(&router, beacon(report(&id(3)))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("content-encoding"), "");
    assert_eq!(String::from_utf8_lossy(&again.body), format!(r#"{{"accepted":true,"duplicate":true,"id":"{}"}}"#, id(3)));
}

#[tokio::test]
async fn stored_row_columns() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    assert_eq!(oneshot(&router, post(report(&id(2)), "text/plain")).await.status, StatusCode::ACCEPTED);
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let (ts, country, asn, platform, outcome, control, browser, net): (i64, String, u32, String, String, String, String, String) = conn
        .query_row(
            "SELECT ts, country, asn, platform, outcome, control_outcome, browser_family, net_type FROM observations WHERE target = 'youtube.cdn'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .unwrap();
    assert_eq!(ts % 60, 0, "truncated to the minute");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(now - ts < 130, "receive time minus age_s");
    assert_eq!((country.as_str(), asn), ("ZZ", 0), "unknown without geo sources");
    assert_eq!((platform.as_str(), outcome.as_str(), control.as_str()), ("youtube", "timeout", "ok"));
    assert_eq!((browser.as_str(), net.as_str()), ("chromium", "wifi"));
}

#[tokio::test]
async fn invalid_400_names_the_field_and_stores_nothing() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let bad = report(&id(3)).replace("15000", "120001");
    let a = oneshot(&router, post(bad, "text/plain")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["error"], "invalid_report");
    assert_eq!(a.json()["field"], "measurements[1].ms");
    let unknown = report_with(&id(4), r#"{"target":"myspace.main","outcome":"ok","ms":1}"#);
    let a = oneshot(&router, post(unknown, "text/plain")).await;
    assert_eq!((a.status, a.json()["field"].as_str()), (StatusCode::BAD_REQUEST, Some("measurements[0].target")));
    let a = oneshot(&router, post("{not json", "application/json")).await;
    assert_eq!((a.status, a.json()["field"].as_str()), (StatusCode::BAD_REQUEST, Some("")));
    assert_eq!(rows(&t.db(), ""), 0);
}

#[tokio::test]
async fn too_large_413() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let big = format!("{}{}", report(&id(5)), " ".repeat(17 * 1024));
    let a = oneshot(&router, post(big.clone(), "text/plain")).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.json()["error"], "too_large");
    let declared = Request::post("/v1/reports")
        .header("content-type", "text/plain")
        .header("content-length", big.len())
        .body(Body::from(big))
        .unwrap();
    assert_eq!(oneshot(&router, declared).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(rows(&t.db(), ""), 0);
}

#[tokio::test]
async fn unsupported_media_type_415() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    for ct in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/html"] {
        let a = oneshot(&router, post(report(&id(6)), ct)).await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(a.json()["error"], "unsupported_media_type");
    }
    let none = Request::post("/v1/reports").body(Body::from(report(&id(6)))).unwrap();
    assert_eq!(oneshot(&router, none).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(oneshot(&router, post(report(&id(6)), "Text/Plain; charset=utf-8")).await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn rate_limited_429_with_retry_after() {
    let t = TestDir::new();
    let mut config = t.config();
    config.rate_limit_per_min = 6;
    config.rate_burst = 2;
    let server = Server::start(config).await;
    assert_eq!(send(&server, report(&id(10)), None).await.status(), 202);
    assert_eq!(send(&server, report(&id(11)), None).await.status(), 202);
    let limited = send(&server, report(&id(12)), None).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(limited.json::<serde_json::Value>().await.unwrap()["error"], "rate_limited");
    // Other routes are not limited.
    assert_eq!(client().get(server.url("/v1/targets")).send().await.unwrap().status(), 200);
    server.stop().await;
    assert_eq!(rows(&t.db(), ""), 4);
}

#[tokio::test]
async fn overloaded_503_when_the_queue_is_full() {
    let t = TestDir::new();
    let mut config = t.config();
    config.queue_capacity = 1;
    let server = Server::start(config).await;
    assert_eq!(send(&server, report(&id(20)), None).await.status(), 202, "creates the database");
    // Another writer holds the database: the collector's writer blocks on its first batch.
    let blocker = rusqlite::Connection::open(t.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = tokio::spawn(send_owned(server.url("/v1/reports"), report(&id(21))));
    wait_for_queue(&server, 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = tokio::spawn(send_owned(server.url("/v1/reports"), report(&id(22))));
    wait_for_queue(&server, 1).await;
    let third = send(&server, report(&id(23)), None).await;
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    assert_eq!(third.json::<serde_json::Value>().await.unwrap()["error"], "overloaded");
    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(first.await.unwrap(), 202);
    assert_eq!(second.await.unwrap(), 202);
    server.stop().await;
    assert_eq!(rows(&t.db(), ""), 6, "the 503 report stored nothing");
}

async fn send_owned(url: String, body: String) -> u16 {
    client().post(url).header("content-type", "text/plain").body(body).send().await.unwrap().status().as_u16()
}

async fn wait_for_queue(server: &Server, depth: usize) {
    let want = format!("vantage_queue_depth {depth}\n");
    for _ in 0..100 {
        let text = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if text.contains(&want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("queue never reached {depth}");
}

#[tokio::test]
async fn no_cors_no_foreign_origin_and_no_cookies() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    // Reports come only from our own frame (same origin): no preflight is granted any more.
    let preflight = Request::options("/v1/reports")
        .header("origin", "https://news.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let a = oneshot(&router, preflight).await;
    assert!(!a.status.is_success(), "{}", a.status);
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    let mut req = post(report(&id(30)), "text/plain");
    req.headers_mut().insert("origin", "https://news.example".parse().unwrap());
    let a = oneshot(&router, req).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "forbidden_origin");
    let mut req = post(report(&id(31)), "text/plain");
    req.headers_mut().insert("host", "collector.example".parse().unwrap());
    req.headers_mut().insert("origin", "http://collector.example".parse().unwrap());
    let a = oneshot(&router, req).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    assert!(!a.headers.contains_key("set-cookie"));
    assert_eq!(rows(&t.db(), ""), 2);
}
