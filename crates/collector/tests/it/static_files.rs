//! Static files: types, compression, caching and the security headers.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::path::Path;

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

/// A file of the checkout (what the binary was built from).
fn checkout(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)).unwrap()
}

/// Whether `dist/widget/` was built when these tests were (else the binary embeds no widget).
fn widget_built() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/widget/vantage_widget_bg.wasm").is_file()
}

/// The loader a visitor gets: the minified build, else (widget not built) the readable source.
fn expected_loader() -> Vec<u8> {
    if widget_built() {
        checkout("dist/widget/loader.js")
    } else {
        checkout("www/loader.js")
    }
}

/// Config without --www or --widget-dir: everything from inside the binary.
fn embedded_config(t: &TestDir) -> vantage_collector::Config {
    let mut c = t.config();
    c.www = None;
    c.widget_dir = None;
    c
}

#[tokio::test]
async fn loader_falls_back_to_the_sites_source_when_the_widget_dir_has_none() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    assert_eq!(oneshot(&router, get("/v1/loader.js")).await.body, b"/* loader */ console.log('vantage loader');");
    std::fs::write(t.path().join("widget/loader.js"), "built()").unwrap();
    let (rebuilt, _state) = crate::common::router(t.config());
    assert_eq!(oneshot(&rebuilt, get("/v1/loader.js")).await.body, b"built()");
}

#[tokio::test]
async fn embedded_files_have_their_types_caching_and_revalidation() {
    let t = TestDir::new();
    let (router, _state) = router(embedded_config(&t));
    for (path, file, ty) in [
        ("/", "www/index.html", "text/html; charset=utf-8"),
        ("/privacy.html", "www/privacy.html", "text/html; charset=utf-8"),
        ("/demo/", "www/demo/index.html", "text/html; charset=utf-8"),
        ("/v1/frame.html", "www/frame.html", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "www/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/assets/states.css", "www/assets/states.css", "text/css"),
        ("/i18n/ur.json", "www/i18n/ur.json", "application/json"),
        ("/v1/embed.js", "www/v1/embed.js", "text/javascript; charset=utf-8"),
    ] {
        let a = oneshot(&router, get(path)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.header("content-type"), ty, "{path}");
        assert_eq!(a.body, checkout(file), "{path}");
    }
    let loader = oneshot(&router, get("/v1/loader.js")).await;
    assert_eq!(loader.body, expected_loader());
    assert_eq!(loader.header("cache-control"), "public, max-age=300");
    assert_eq!(loader.header("access-control-allow-origin"), "*");
    let frame = oneshot(&router, get("/v1/frame.html")).await;
    assert!(frame.header("content-security-policy").starts_with("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'"));
    assert_eq!(oneshot(&router, get("/assets/states.css?v=1")).await.header("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(oneshot(&router, get("/assets/states.css")).await.header("cache-control"), "");

    let gz = oneshot(&router, get_with("/", "gzip")).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let head = oneshot(&router, Request::head("/privacy.html").body(Body::empty()).unwrap()).await;
    assert_eq!((head.status, head.header("content-type"), head.body.len()), (StatusCode::OK, "text/html; charset=utf-8", 0));

    let etag = oneshot(&router, get("/dashboard/app.js")).await.header("etag").to_string();
    let again = Request::get("/dashboard/app.js").header("if-none-match", &etag).body(Body::empty()).unwrap();
    let again = oneshot(&router, again).await;
    assert_eq!((again.status, again.header("etag"), again.body.len()), (StatusCode::NOT_MODIFIED, etag.as_str(), 0));
    let gzip_tag = format!("{}-gzip\"", etag.trim_end_matches('"'));
    let again = Request::get("/dashboard/app.js").header("if-none-match", gzip_tag).body(Body::empty()).unwrap();
    assert_eq!(oneshot(&router, again).await.status, StatusCode::NOT_MODIFIED);
    let stale = Request::get("/dashboard/app.js").header("if-none-match", "\"other\"").body(Body::empty()).unwrap();
    assert_eq!(oneshot(&router, stale).await.status, StatusCode::OK);

    let demo = oneshot(&router, get("/demo?x=1")).await;
    assert_eq!((demo.status, demo.header("location")), (StatusCode::TEMPORARY_REDIRECT, "/demo/?x=1"));
    for missing in ["/missing", "/v1/w/missing.js", "/../Cargo.toml", "/%2e%2e/Cargo.toml", "/dashboard/"] {
        let a = oneshot(&router, get(missing)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{missing}");
    }
}

#[tokio::test]
async fn embedded_widget_is_served_when_it_was_built() {
    let t = TestDir::new();
    let (router, _state) = router(embedded_config(&t));
    let wasm = oneshot(&router, get_with("/v1/w/vantage_widget_bg.wasm?v=0.1.0", "br")).await;
    if !widget_built() {
        // A binary built before the widget: no wasm, and the loader is the readable source.
        assert_eq!(wasm.status, StatusCode::NOT_FOUND);
        return;
    }
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.header("content-type"), "application/wasm");
    assert_eq!(wasm.header("content-encoding"), "br");
    assert_eq!(wasm.header("cache-control"), "public, max-age=31536000, immutable");
    let glue = oneshot(&router, get("/v1/w/vantage_widget.js")).await;
    assert_eq!(glue.body, checkout("dist/widget/vantage_widget.js"));
    assert_eq!(oneshot(&router, get("/v1/frame.js")).await.body, checkout("dist/widget/frame.js"));
}

/// The real binary, started the way the systemd unit and the k8s manifest start it: another
/// working directory, no asset flags.
#[tokio::test]
async fn the_binary_serves_everything_from_outside_the_checkout() {
    let t = TestDir::new();
    std::fs::remove_dir_all(t.path().join("www")).unwrap();
    let bin = crate::binary::Binary::start_self_contained(&t, &[]);
    let c = client();
    let mut wanted = vec![
        ("/", checkout("www/index.html"), "text/html; charset=utf-8"),
        ("/privacy.html", checkout("www/privacy.html"), "text/html; charset=utf-8"),
        ("/dashboard/app.js", checkout("www/dashboard/app.js"), "text/javascript; charset=utf-8"),
        ("/v1/loader.js", expected_loader(), "text/javascript; charset=utf-8"),
        ("/v1/frame.html", checkout("www/frame.html"), "text/html; charset=utf-8"),
    ];
    if widget_built() {
        wanted.push(("/v1/frame.js", checkout("dist/widget/frame.js"), "text/javascript; charset=utf-8"));
        wanted.push(("/v1/w/vantage_widget_bg.wasm", checkout("dist/widget/vantage_widget_bg.wasm"), "application/wasm"));
    }
    for (path, body, ty) in wanted {
        let r = c.get(bin.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        assert_eq!(r.bytes().await.unwrap(), body, "{path}");
    }
    let badge = c.get(bin.url("/v1/badge?country=PK&platforms=x")).send().await.unwrap();
    assert_eq!(badge.status(), 200);
    assert_eq!(badge.bytes().await.unwrap(), checkout("www/badge/index.html"));
    assert_eq!(c.get(bin.url("/nothing-here")).send().await.unwrap().status(), 404);
}

/// `vantage serve ARGS`'s exit status and stderr; fails if it is still running after 20 s.
fn refused(t: &TestDir, args: &[&std::ffi::OsStr]) -> String {
    let stderr = t.path().join("refused.stderr");
    let mut child = crate::binary::serve_command(t)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("vantage serve {args:?} kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success(), "{args:?}");
    std::fs::read_to_string(&stderr).unwrap()
}

#[test]
fn an_override_directory_lacking_a_served_file_stops_start_up() {
    let t = TestDir::new();
    let (www, widget) = (t.path().join("www"), t.path().join("widget"));
    std::fs::remove_file(www.join("frame.html")).unwrap();
    let err = refused(&t, &["--www".as_ref(), www.as_os_str()]);
    assert!(err.contains(&format!("--www {}: frame.html is missing there", www.display())), "{err}");
    assert!(err.contains("or leave --www out to serve the site built into this binary"), "{err}");

    std::fs::remove_file(widget.join("vantage_widget_bg.wasm")).unwrap();
    let err = refused(&t, &["--widget-dir".as_ref(), widget.as_os_str()]);
    assert!(err.contains("vantage_widget_bg.wasm is missing there; build the widget with ./build.sh build"), "{err}");

    let nowhere = t.path().join("nowhere");
    let err = refused(&t, &["--www".as_ref(), nowhere.as_os_str()]);
    assert!(err.contains(&format!("--www {}: no such directory", nowhere.display())), "{err}");
    assert!(!t.db().exists(), "a refused start-up created the store");
}

/// The 10-minute rule is written in the two scripts that enforce it as `< 6e5` (milliseconds, the
/// shortest form for the byte budget); it must stay the protocol's `MIN_MEASURE_INTERVAL_S`.
#[test]
fn the_scripts_ten_minute_rule_is_the_protocols() {
    let written = format!("< {}e5", vantage_protocol::MIN_MEASURE_INTERVAL_S / 100);
    for script in ["www/loader.js", "www/worker.js"] {
        let source = String::from_utf8(checkout(script)).unwrap();
        assert_eq!(source.matches(&written).count(), 1, "{script} must compare with `{written}` (MIN_MEASURE_INTERVAL_S ms) once");
    }
}
