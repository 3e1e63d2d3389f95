//! Country and ASN from the testkit MaxMind files, X-Forwarded-For trust, country header (from a
//! trusted proxy).

use crate::common::*;
use axum::http::StatusCode;

#[tokio::test]
async fn loopback_is_pakistan_ptcl() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    let server = Server::start(config).await;
    assert_eq!(send(&server, report(&id(1)), None).await.status(), 202);
    // Without --trusted-proxy, X-Forwarded-For from the peer is ignored.
    assert_eq!(send(&server, report(&id(2)), Some("10.1.2.3")).await.status(), 202);
    server.stop().await;
    assert_eq!(geo_rows(&t.db()), vec![("PK".to_string(), 17557); 4]);
}

#[tokio::test]
async fn forwarded_for_is_believed_from_a_trusted_proxy() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = Server::start(config).await;
    // Right-most untrusted entry: 10.1.2.3 (127.0.0.5 is another trusted proxy, 8.8.8.8 is spoofable).
    assert_eq!(send(&server, report(&id(1)), Some("8.8.8.8, 10.1.2.3, 127.0.0.5")).await.status(), 202);
    // An address the databases do not know.
    assert_eq!(send(&server, report(&id(2)), Some("192.0.2.7")).await.status(), 202);
    server.stop().await;
    let rows = geo_rows(&t.db());
    assert_eq!(rows[..2], vec![("IR".to_string(), 58224); 2]);
    assert_eq!(rows[2..], vec![("ZZ".to_string(), 0); 2]);
}

#[tokio::test]
async fn country_header_wins_over_the_database() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.country_header = Some("CF-IPCountry".into());
    let (router, _state) = router(config);
    let mut req = post(report(&id(3)), "text/plain");
    req.headers_mut().insert("cf-ipcountry", "de".parse().unwrap());
    // From the trusted proxy: the header is believed from nobody else (adversary::edge).
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40_000))));
    assert_eq!(oneshot(&router, req).await.status, StatusCode::ACCEPTED);
    assert_eq!(geo_rows(&t.db())[0].0, "DE");
}
