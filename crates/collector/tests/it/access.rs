//! Access: `/metrics` needs the admin token when one is set (401 otherwise), public routes never
//! do, raw observations are served by no route, and every answer carries the security headers.

use crate::binary::*;
use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use vantage_collector::auth::AdminToken;

const TOKEN: &str = "tok-3c9f1e7a5b2d48c6a0e1";

fn get_auth(uri: &str, authorization: &str) -> Request<Body> {
    Request::get(uri).header("authorization", authorization).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn metrics_need_the_token_public_routes_do_not() {
    let t = TestDir::new();
    let mut config = t.config();
    config.admin_token = Some(AdminToken::new(TOKEN, "test").unwrap());
    let (router, _state) = router(config);
    for auth in [
        None,
        Some("Bearer wrong-token-of-enough-length"),
        Some("Bearer tok-3c9f1e7a5b2d48c6a0e"),
        Some("Bearer tok-3c9f1e7a5b2d48c6a0e12"),
        Some(TOKEN),
        Some("Basic dG9rOnRvaw=="),
    ] {
        let req = match auth {
            Some(a) => get_auth("/metrics", a),
            None => get("/metrics"),
        };
        let a = oneshot(&router, req).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(a.header("www-authenticate"), "Bearer realm=\"vantage\"");
        assert_eq!(a.json()["error"], "unauthorized");
        assert!(!String::from_utf8_lossy(&a.body).contains("vantage_"), "no metric in a 401");
    }
    for auth in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}")] {
        let a = oneshot(&router, get_auth("/metrics", &auth)).await;
        assert_eq!(a.status, StatusCode::OK, "{auth}");
        assert!(String::from_utf8_lossy(&a.body).contains("vantage_queue_depth"));
    }
    // Public without a token: ingest, targets, ping, health, the loader, frame and pages.
    assert_eq!(oneshot(&router, post(report(&id(1)), "text/plain")).await.status, StatusCode::ACCEPTED);
    for path in ["/v1/targets", "/v1/ping", "/healthz", "/v1/loader.js", "/v1/frame.html", "/v1/w/vantage_widget.js", "/"] {
        assert_eq!(oneshot(&router, get(path)).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_metrics_stay_open() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    assert_eq!(oneshot(&router, get("/metrics")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn binary_takes_the_token_from_a_file_or_the_environment_and_never_logs_it() {
    let t = TestDir::new();
    let file = t.path().join("admin-token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let file_arg = file.display().to_string();
    for (args, env) in [(vec!["--admin-token-file", file_arg.as_str()], vec![]), (vec![], vec![("VANTAGE_ADMIN_TOKEN", TOKEN)])] {
        let mut env = env;
        env.push(("RUST_LOG", "trace"));
        let bin = Binary::start(&t, &args, &env);
        let c = client();
        assert_eq!(c.get(bin.url("/metrics")).send().await.unwrap().status(), 401, "{args:?}");
        let ok = c.get(bin.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(c.get(bin.url("/v1/targets")).send().await.unwrap().status(), 200);
        let (stdout, stderr) = (bin.stdout.clone(), bin.stderr.clone());
        assert!(bin.term().success());
        for log in [stdout, stderr] {
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!text.contains(TOKEN), "{} holds the token", log.display());
        }
    }
    // A token too short to be a secret stops start-up, naming the flag.
    std::fs::write(&file, "short\n").unwrap();
    let out = vantage()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token-file", &file_arg, "--store"])
        .arg(format!("sqlite:{}", t.db().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-token-file"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn no_route_serves_raw_observations() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let secret = "5ec7e7000000000000000000000000aa";
    assert_eq!(oneshot(&router, post(report(secret), "text/plain")).await.status, StatusCode::ACCEPTED);
    // The report id stands for every raw column: no answer may carry it, whatever is asked.
    for path in [
        "/v1/reports",
        "/v1/reports/5ec7e7000000000000000000000000aa",
        "/v1/export.ndjson?raw=true",
        "/v1/export.csv?raw=1",
        "/v1/export.ndjson?min_reports=1&min_networks=1",
        "/v1/observations",
        "/metrics",
        "/data/vantage.db",
        "/../data/vantage.db",
        "/v1/w/../../data/vantage.db",
    ] {
        let a = oneshot(&router, get(path)).await;
        let body = String::from_utf8_lossy(&a.body);
        assert!(!body.contains(secret) && !body.contains("report_id"), "{path} answered {} with raw data", a.status);
    }
}

#[tokio::test]
async fn security_headers_on_every_answer() {
    let t = TestDir::new();
    let mut config = t.config();
    config.admin_token = Some(AdminToken::new(TOKEN, "test").unwrap());
    let (router, _state) = router(config);
    let cases: Vec<(Request<Body>, &str)> = vec![
        (get("/v1/loader.js"), "cross-origin"),
        (get("/v1/frame.html"), "cross-origin"),
        (get("/v1/frame.js"), "cross-origin"),
        (get("/v1/w/vantage_widget.js"), "cross-origin"),
        (get("/v1/w/vantage_widget_bg.wasm"), "cross-origin"),
        (get("/v1/ping"), "cross-origin"),
        (get("/v1/targets"), "same-origin"),
        (get("/"), "same-origin"),
        (get("/demo/"), "same-origin"),
        (get("/healthz"), "same-origin"),
        (get("/metrics"), "same-origin"),
        (get("/missing"), "same-origin"),
        (post(report(&id(2)), "text/plain"), "same-origin"),
        (post("{", "text/plain"), "same-origin"),
        (post("{}", "text/html"), "same-origin"),
    ];
    for (req, corp) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let a = oneshot(&router, req).await;
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(a.header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(a.header("cross-origin-resource-policy"), corp, "{what}");
        let pp = a.header("permissions-policy");
        for feature in ["camera=()", "microphone=()", "geolocation=()"] {
            assert!(pp.contains(feature), "{what}: {pp:?}");
        }
        assert!(!a.headers.contains_key("set-cookie"), "{what}");
        if a.header("content-type").starts_with("text/html") {
            assert!(a.header("content-security-policy").contains("default-src"), "{what}: HTML without CSP");
        }
    }
}
