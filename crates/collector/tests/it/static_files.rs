//! Static files: types, compression, caching and the security headers.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};

fn get_with(uri: &str, accept_encoding: &str) -> Request<Body> {
    Request::get(uri).header("accept-encoding", accept_encoding).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn widget_files_have_types_compression_and_versioned_caching() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let wasm = oneshot(&router, get_with("/v1/w/vantage_widget_bg.wasm", "br")).await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.header("content-type"), "application/wasm");
    assert_eq!(wasm.header("content-encoding"), "br");
    let js = oneshot(&router, get_with("/v1/w/vantage_widget.js?v=0.1.0", "gzip")).await;
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(js.header("content-encoding"), "gzip");
    assert_eq!(js.header("cache-control"), "public, max-age=31536000, immutable");
    let plain = oneshot(&router, get("/v1/w/vantage_widget.js")).await;
    assert!(plain.body.starts_with(b"export function"));
    assert_ne!(plain.header("cache-control"), "public, max-age=31536000, immutable");
}

#[tokio::test]
async fn loader_frame_and_pages() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let loader = oneshot(&router, get("/v1/loader.js")).await;
    assert_eq!(loader.status, StatusCode::OK);
    assert_eq!(loader.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(loader.header("cache-control"), "public, max-age=300");
    assert_eq!(loader.header("access-control-allow-origin"), "*");

    let frame = oneshot(&router, get("/v1/frame.html")).await;
    assert_eq!(frame.status, StatusCode::OK);
    assert_eq!(frame.header("content-type"), "text/html; charset=utf-8");
    let csp = frame.header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' "), "{csp}");
    for origin in ["https://x.com", "https://pbs.twimg.com", "https://i.ytimg.com", "https://upload.wikimedia.org"] {
        assert!(csp.contains(&format!(" {origin}")), "{csp}");
    }
    assert!(csp.contains("base-uri 'none'; form-action 'none'"));
    assert!(!csp.contains("frame-ancestors"));
    assert!(!frame.headers.contains_key("x-frame-options"));
    assert_eq!(oneshot(&router, get("/v1/frame.js")).await.header("content-type"), "text/javascript; charset=utf-8");
    // The frame may start its measurement worker, and the worker (whose CSP is its own response's)
    // runs under the frame's policy.
    assert!(csp.contains("; worker-src 'self'; "), "{csp}");
    let worker = oneshot(&router, get("/v1/worker.js")).await;
    assert_eq!(worker.status, StatusCode::OK);
    assert_eq!(worker.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(worker.header("content-security-policy"), csp);

    let demo = oneshot(&router, get("/demo/")).await;
    assert_eq!(demo.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&demo.body).contains("article"));
    assert_eq!(
        demo.header("content-security-policy"),
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    for page in ["/", "/demo/", "/v1/frame.html", "/v1/targets", "/healthz", "/v1/ping", "/missing"] {
        let a = oneshot(&router, get(page)).await;
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{page}");
        assert_eq!(a.header("referrer-policy"), "no-referrer", "{page}");
        assert!(!a.headers.contains_key("set-cookie"), "{page}");
    }
}

#[tokio::test]
async fn ping_healthz_metrics() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let ping = oneshot(&router, get("/v1/ping")).await;
    assert_eq!(ping.status, StatusCode::OK);
    assert!(!ping.body.is_empty() && ping.body.len() < 16);
    assert_eq!(ping.header("cache-control"), "no-store");
    assert_eq!(ping.header("timing-allow-origin"), "*");
    assert_eq!(oneshot(&router, get("/healthz")).await.status, StatusCode::OK);
    let m = oneshot(&router, get("/metrics")).await;
    assert!(m.header("content-type").starts_with("text/plain"));
    assert!(String::from_utf8_lossy(&m.body).contains("vantage_queue_depth 0"));
}
