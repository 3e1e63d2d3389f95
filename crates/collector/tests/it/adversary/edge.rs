//! Forged reports, spoofed headers, rate-limit evasion and cache poisoning at the HTTP edge.
//!
//! The attackers: a prankster with a web page (or an ad) shown to readers in the target country,
//! whose scripts run in those readers' browsers; a client that reaches the collector directly
//! and sends whatever headers it likes; a holder of IPv6 space, which comes in /64s, /48s and
//! /32s; and anyone who can make a shared cache keep an answer for a year.

use crate::common::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use vantage_collector::auth::AdminToken;

/// `req` as if it arrived over TCP from `peer` (what the accept loop attaches).
fn from(peer: &str, mut req: Request<Body>) -> Request<Body> {
    let ip: IpAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    req
}

/// A report POST carrying `headers`.
fn post_with(body: String, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = post(body, "text/plain;charset=UTF-8");
    for (k, v) in headers {
        req.headers_mut().insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    req
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{line_start} missing:\n{text}"))
}

#[tokio::test]
async fn a_hostile_pages_reports_from_readers_browsers_are_refused_and_store_nothing() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    // A tight limit: a refused report must not spend a token of the reader it was sent from.
    config.rate_limit_per_min = 1;
    config.rate_burst = 1;
    let server = Server::start(config).await;
    let c = client();
    // A page on another site (or an ad on it) makes 60 readers' browsers, on 60 networks of the
    // country, post made-up failures to us: browsers send its Origin, or `null` from a sandboxed
    // frame or a data: URL, and Sec-Fetch-Site: cross-site. Each body is not even valid JSON, so
    // a 400 instead of a 403 would show that the body was read.
    let forged = report_with(&id(1), r#"{"target":"x.main","outcome":"error","ms":3}"#);
    for reader in 0..60u32 {
        let xff = format!("10.{}.{}.9", 1 + reader / 200, reader % 200);
        let (origin, body) = match reader % 3 {
            0 => ("https://prank.example", forged.replace(&id(1), &id(100 + reader))),
            1 => ("null", forged.replace(&id(1), &id(100 + reader))),
            _ => ("https://ads.example.net", "{not json".to_string()),
        };
        let res = c
            .post(server.url("/v1/reports"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .header("x-forwarded-for", &xff)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{origin} from {xff}");
        assert!(res.headers().get("access-control-allow-origin").is_none(), "no CORS on ingest");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"], "forbidden_origin", "{v}");
        assert!(v["message"].as_str().unwrap().contains(&format!("http://{}", server.addr)), "names our origin: {v}");
    }
    // A hostile page cannot hide its Origin from the check by leaving it to Sec-Fetch-Site alone.
    let res = c
        .post(server.url("/v1/reports"))
        .header("content-type", "text/plain")
        .header("sec-fetch-site", "cross-site")
        .body(report(&id(99)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The same readers' own reports (our frame, same origin) still go through: no token was spent.
    for reader in 0..3u32 {
        let res = c
            .post(server.url("/v1/reports"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("origin", format!("http://{}", server.addr))
            .header("sec-fetch-site", "same-origin")
            .header("x-forwarded-for", format!("10.{}.{}.9", 1 + reader / 200, reader % 200))
            .body(report(&id(900 + reader)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "reader {reader}'s own report");
    }
    let metrics = c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&metrics, "vantage_reports_rejected_total{status=\"403\"}"), 61.0, "{metrics}");
    server.stop().await;
    assert_eq!(rows(&t.db(), ""), 6, "only the 3 real reports (2 measurements each) are stored");
    assert_eq!(rows(&t.db(), "WHERE outcome = 'error'"), 0);
}

#[tokio::test]
async fn our_own_frame_and_clients_without_origin_are_accepted() {
    let t = TestDir::new();
    let server = Server::start(t.config()).await;
    let c = client();
    let ours = format!("http://{}", server.addr);
    // fetch(keepalive) from our frame; a client that is not a browser page; sendBeacon from our
    // frame, whose no-referrer policy makes the browser send `Origin: null` on that no-cors POST
    // (Sec-Fetch-Site still says same-origin).
    for (n, origin, site) in [(1, Some(ours.as_str()), Some("same-origin")), (2, None, None), (3, Some("null"), Some("same-origin"))] {
        let mut req = c.post(server.url("/v1/reports")).header("content-type", "text/plain;charset=UTF-8").body(report(&id(n)));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        assert_eq!(req.send().await.unwrap().status(), 202, "{origin:?}");
    }
    // `null` alone (an old browser's opaque-origin page) is not ours.
    let res = c
        .post(server.url("/v1/reports"))
        .header("content-type", "text/plain")
        .header("origin", "null")
        .body(report(&id(4)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The preflight a cross-origin page would need is no longer granted.
    let pre = c
        .request(reqwest::Method::OPTIONS, server.url("/v1/reports"))
        .header("origin", "https://prank.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    assert!(!pre.status().is_success(), "{}", pre.status());
    server.stop().await;
    assert_eq!(rows(&t.db(), ""), 6);
}

#[tokio::test]
async fn behind_a_tls_proxy_the_public_origin_is_ours_and_nothing_else() {
    let t = TestDir::new();
    // Derived: Host plus X-Forwarded-Proto, believed from the trusted proxy only.
    let mut config = t.config();
    config.trusted_proxies = vec!["10.0.3.0/24".parse().unwrap()];
    let (router, _) = router(config);
    let ours = [("host", "vantage.example.org"), ("x-forwarded-proto", "https"), ("origin", "https://vantage.example.org")];
    assert_eq!(oneshot(&router, from("10.0.3.2", post_with(report(&id(1)), &ours))).await.status, StatusCode::ACCEPTED);
    // The same headers from a direct client: its X-Forwarded-Proto is not believed.
    assert_eq!(oneshot(&router, from("203.0.113.9", post_with(report(&id(2)), &ours))).await.status, StatusCode::FORBIDDEN);
    // --public-origin: whatever Host the proxy forwards.
    let t2 = TestDir::new();
    let mut config = t2.config();
    config.public_origins = vec!["https://vantage.example.org".into()];
    let (pinned, _) = crate::common::router(config);
    let ok = [("host", "10.0.3.7:8080"), ("origin", "https://vantage.example.org")];
    assert_eq!(oneshot(&pinned, from("10.0.3.2", post_with(report(&id(3)), &ok))).await.status, StatusCode::ACCEPTED);
    let evil = [("host", "prank.example"), ("origin", "https://prank.example")];
    let a = oneshot(&pinned, from("10.0.3.2", post_with(report(&id(4)), &evil))).await;
    assert_eq!((a.status, a.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_origin")));
    assert_eq!(rows(&t.db(), "") + rows(&t2.db(), ""), 4);
}

#[tokio::test]
async fn a_direct_client_faking_the_country_and_forwarded_for_is_not_believed() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    // The CDN in front is 10.0.3.0/24; the attacker reaches the origin directly from 127.0.0.1
    // (PK, AS17557 in the test databases), claiming 50 readers on 50 /24s in Germany.
    config.trusted_proxies = vec!["10.0.3.0/24".parse().unwrap()];
    config.country_header = Some("CF-IPCountry".into());
    config.rate_limit_per_min = 1;
    config.rate_burst = 5;
    let server = Server::start(config).await;
    let c = client();
    let mut statuses = Vec::new();
    for i in 0..50u32 {
        let res = c
            .post(server.url("/v1/reports"))
            .header("content-type", "text/plain")
            .header("cf-ipcountry", "DE")
            .header("x-forwarded-for", format!("85.{}.{}.1", 10 + i / 100, i % 100))
            .body(report(&id(i)))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    let w: serde_json::Value = c.get(server.url("/v1/whereami")).header("cf-ipcountry", "DE").send().await.unwrap().json().await.unwrap();
    assert_eq!(w, serde_json::json!({"country": "PK", "asn": 17557}));
    server.stop().await;
    // One client: its burst (and a token a minute), then 429s, however many addresses it names.
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert!((5..=6).contains(&accepted), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 50 - accepted, "{statuses:?}");
    assert_eq!(geo_rows(&t.db()), vec![("PK".to_string(), 17557); 2 * accepted], "its own country and network, not the header's");
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let networks: i64 = conn.query_row("SELECT count(DISTINCT network) FROM observations", [], |r| r.get(0)).unwrap();
    assert_eq!(networks, 1);
}

#[tokio::test]
async fn the_country_header_is_believed_from_the_trusted_proxy() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    config.trusted_proxies = vec!["10.0.3.0/24".parse().unwrap()];
    config.country_header = Some("CF-IPCountry".into());
    let (router, _) = router(config);
    let h = [("cf-ipcountry", "DE"), ("x-forwarded-for", "127.0.0.1")];
    assert_eq!(oneshot(&router, from("10.0.3.2", post_with(report(&id(1)), &h))).await.status, StatusCode::ACCEPTED);
    assert_eq!(oneshot(&router, from("127.0.0.1", post_with(report(&id(2)), &h))).await.status, StatusCode::ACCEPTED);
    assert_eq!(geo_rows(&t.db()), [vec![("DE".to_string(), 17557); 2], vec![("PK".to_string(), 17557); 2]].concat());
}

/// Runs `vantage` with `args`, which must make it exit at start-up: (exit code, stderr). Killed,
/// and the test failed, if it is still running after 60 s (it started serving instead).
fn refused(t: &TestDir, args: &[&str]) -> (Option<i32>, String) {
    let stderr = t.path().join("refused-stderr");
    let mut child = vantage()
        .args(args)
        .arg("--store")
        .arg(format!("sqlite:{}", t.db().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("vantage {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), std::fs::read_to_string(&stderr).unwrap())
}

#[test]
fn a_country_header_without_a_trusted_proxy_refuses_to_start() {
    let t = TestDir::new();
    let (code, err) = refused(&t, &["serve", "--listen", "127.0.0.1:0", "--country-header", "CF-IPCountry"]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(err.contains("--country-header") && err.contains("add --trusted-proxy"), "{err}");
    // The library refuses the same config.
    let mut config = t.config();
    config.country_header = Some("CF-IPCountry".into());
    assert!(vantage_collector::Collector::new(config).err().unwrap().to_string().contains("--trusted-proxy"));
}

#[tokio::test]
async fn an_ipv6_slash_64_rotating_its_interface_id_is_one_client() {
    let t = TestDir::new();
    let mut config = t.config();
    config.rate_limit_per_min = 1;
    config.rate_burst = 5;
    let (router, _) = router(config);
    let mut accepted = 0;
    // A fresh privacy address for every report, all inside 2001:db8:7:1::/64.
    for i in 0..40u32 {
        let peer = format!("2001:db8:7:1:{:x}:{:x}:{:x}:1", i * 7919 % 65536, i, i * 31);
        let a = oneshot(&router, from(&peer, post(report(&id(i)), "text/plain"))).await;
        match a.status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            s => panic!("{s}"),
        }
    }
    // One burst (and a token a minute, should this machine take that long) for the whole /64.
    assert!((5..=6).contains(&accepted), "{accepted}");
    // Another /64 (another device or home) has its own budget.
    let a = oneshot(&router, from("2001:db8:7:2::1", post(report(&id(100)), "text/plain"))).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(rows(&t.db(), ""), 2 * (accepted + 1));
}

#[tokio::test]
async fn two_hundred_slash_48s_of_one_slash_32_are_one_network() {
    let t = TestDir::new();
    let (router, _) = router(t.config());
    // The issue's attack: 200 `ok` reports from 200 /48s that one holder got from one provider.
    for i in 0..200u32 {
        let body = report_with(&id(i), r#"{"target":"x.main","outcome":"ok","ms":120}"#);
        let a = oneshot(&router, from(&format!("2001:db8:{i:x}::1"), post(body, "text/plain"))).await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    // Two IPv4 readers on two /24s, for comparison.
    for (i, peer) in [(300, "198.51.100.7"), (301, "203.0.113.7")] {
        assert_eq!(oneshot(&router, from(peer, post(report(&id(i)), "text/plain"))).await.status, StatusCode::ACCEPTED);
    }
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let count =
        |w: &str| -> i64 { conn.query_row(&format!("SELECT count(DISTINCT network) FROM observations {w}"), [], |r| r.get(0)).unwrap() };
    assert_eq!(count(""), 3, "200 /48s of one /40 are one network, plus the two IPv4 /24s");
}

#[tokio::test]
async fn versioned_urls_of_computed_answers_are_not_cached_for_a_year() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.path().join("www/assets")).unwrap();
    std::fs::write(t.path().join("www/assets/site.css"), "body{}").unwrap();
    let token = "edge-test-token-0123456789";
    let mut config = t.config();
    config.admin_token = Some(AdminToken::new(token, "test").unwrap());
    let (router, _) = router(config);
    let immutable = "public, max-age=31536000, immutable";
    // A cache in front would have kept these for a year: a status frozen in the middle of an
    // incident, one reader's country served to everyone, the operator's counters.
    let mut metrics = get("/metrics?v=1");
    metrics.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    for (what, req, want) in [
        ("status", get("/v1/status?country=PK&v=1"), "public, max-age=1, stale-while-revalidate=10"),
        ("whereami", get("/v1/whereami?v=1"), "private, no-store"),
        ("metrics", metrics, "private, no-store"),
        ("chart", get("/v1/chart.svg?platform=x&country=PK&v=1"), "public, max-age=60"),
        ("countries", get("/v1/countries?v=2"), "public, max-age=1, stale-while-revalidate=10"),
    ] {
        let a = oneshot(&router, req).await;
        assert_eq!(a.status, StatusCode::OK, "{what}");
        assert_eq!(a.header("cache-control"), want, "{what}");
    }
    // A page is not an asset: it names the assets, which change under it.
    assert_ne!(oneshot(&router, get("/index.html?v=1")).await.header("cache-control"), immutable);
    // Versioned static assets are.
    for uri in [
        "/v1/loader.js?v=1a2b3c4d",
        "/v1/frame.js?v=1",
        "/v1/w/vantage_widget.js?v=0.1.0",
        "/v1/w/vantage_widget_bg.wasm?v=0.1.0",
        "/assets/site.css?v=3",
    ] {
        let a = oneshot(&router, get(uri)).await;
        assert_eq!((a.status, a.header("cache-control")), (StatusCode::OK, immutable), "{uri}");
    }
    assert_eq!(oneshot(&router, get("/v1/loader.js")).await.header("cache-control"), "public, max-age=300");
}

#[tokio::test]
async fn no_other_site_reads_where_a_reader_is_and_the_chart_cannot_run_anything() {
    let t = TestDir::new();
    let (router, _) = router(t.config());
    let mut req = get("/v1/whereami");
    req.headers_mut().insert("origin", "https://prank.example".parse().unwrap());
    let a = oneshot(&router, req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.headers.contains_key("access-control-allow-origin"), "{:?}", a.headers);
    // Public data stays readable from anywhere.
    let mut req = get("/v1/status?country=PK");
    req.headers_mut().insert("origin", "https://news.example".parse().unwrap());
    assert_eq!(oneshot(&router, req).await.header("access-control-allow-origin"), "*");
    let chart = oneshot(&router, get("/v1/chart.svg?platform=x&country=PK")).await;
    let csp = chart.header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"), "{csp}");
}

#[test]
fn a_semicolon_in_a_target_url_never_reaches_the_frames_csp() {
    let t = TestDir::new();
    let file = t.path().join("targets.toml");
    std::fs::write(
        &file,
        "version = \"v1\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n\n[[target]]\nid = \"x.main\"\nplatform = \"x\"\nurl = \"https://x.com;script-src/favicon.ico\"\ntimeout_ms = 15000\n",
    )
    .unwrap();
    let (code, err) = refused(&t, &["serve", "--listen", "127.0.0.1:0", "--targets", file.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("targets.toml:9: target \"x.main\" url"), "{err}");
}

/// `vantage serve --listen LISTEN`: its stderr once it is listening (then it is killed).
fn startup_log(t: &TestDir, listen: &str, args: &[&str]) -> String {
    let stderr = t.path().join(format!("stderr-{}", listen.replace([':', '.'], "_")));
    let stdout = t.path().join(format!("stdout-{}", listen.replace([':', '.'], "_")));
    let mut child = vantage()
        .args(["serve", "--listen", listen, "--store"])
        .arg(format!("sqlite:{}", t.db().display()))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove(vantage_collector::auth::TOKEN_ENV)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&stdout).unwrap_or_default().contains("listening on") {
        assert!(child.try_wait().unwrap().is_none(), "exited: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
        assert!(Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::read_to_string(&stderr).unwrap()
}

#[test]
fn open_metrics_on_a_public_address_are_warned_about_at_start_up() {
    let t = TestDir::new();
    let warning = "/metrics is open to anyone";
    let public = startup_log(&t, "0.0.0.0:0", &[]);
    assert!(public.contains(warning), "{public}");
    let token = t.path().join("token");
    std::fs::write(&token, "edge-test-token-0123456789\n").unwrap();
    let with_token = startup_log(&t, "0.0.0.0:0", &["--admin-token-file", token.to_str().unwrap()]);
    assert!(!with_token.contains(warning), "{with_token}");
    let loopback = startup_log(&t, "127.0.0.1:0", &[]);
    assert!(!loopback.contains(warning), "{loopback}");
}
