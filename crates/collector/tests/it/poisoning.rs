//! Poisoning: thousands of failure reports from one network (one /24) must open no incident,
//! and the attack must show in the metrics. The same number of failures spread over many
//! networks does open one, so the first half can fail.

use crate::common::*;
use crate::live::{get_json, loaded, post_block, seeded_with, x_state};
use std::time::Duration;

/// Failure reports of `x.main` from addresses all inside 10.66.6.0/24; returns (accepted, 429s).
async fn flood_from_one_network(server: &Server, first: u32, n: u32) -> (u32, u32) {
    let (mut accepted, mut limited) = (0, 0);
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let sends = chunk.iter().map(|i| {
            client()
                .post(server.url("/v1/reports"))
                .header("content-type", "text/plain")
                .header("x-forwarded-for", format!("10.66.6.{}", 1 + i % 254))
                .header("cf-ipcountry", "PK")
                .body(report_with(&id(first + i), r#"{"target":"x.main","outcome":"error","ms":3.1}"#))
                .send()
        });
        for res in futures_util::future::join_all(sends).await {
            match res.unwrap().status().as_u16() {
                202 => accepted += 1,
                429 => limited += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    (accepted, limited)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"))
}

#[tokio::test]
async fn a_flood_from_one_network_opens_no_incident_and_shows_in_metrics() {
    let t = TestDir::new();
    // A per-address limit, tighter than the default so that the test does not depend on how
    // fast this machine posts (tokens refill in real time). The attacker has a whole /24.
    let state = seeded_with(&t, None, |c| {
        c.rate_limit_per_min = 6;
        c.rate_burst = 20;
    });
    let server = Server::start_state(state.clone()).await;
    loaded(&server).await;

    // Three minutes of flooding, each followed by the minute step: more than the 2 bad windows
    // an incident needs.
    let (mut total_accepted, mut total_limited) = (0, 0);
    for minute in 0..3u32 {
        let (accepted, limited) = flood_from_one_network(&server, 10_000 * (minute + 1), 3000).await;
        total_accepted += accepted;
        total_limited += limited;
        state.clock.advance(60);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert!(total_accepted > 4000, "the flood reached the store ({total_accepted} accepted)");
    assert!(total_limited > 0, "the per-address limit shed part of the flood");
    let incidents = get_json(&server, "/v1/incidents?country=PK").await;
    assert_eq!(incidents["incidents"].as_array().unwrap().len(), 0, "no incident from one /24: {incidents}");
    let status = get_json(&server, "/v1/status?country=PK").await;
    assert_ne!(x_state(&status).as_deref(), Some("disrupted"), "{status}");

    let metrics = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metric(&metrics, "vantage_reports_rejected_total{status=\"429\"}") > 0.0, "{metrics}");
    assert!(metric(&metrics, "vantage_reports_total{result=\"accepted\"}") >= f64::from(total_accepted), "{metrics}");

    // The counter-test: the same detector, fewer failures but from 50 networks -> an incident.
    post_block(&server, 900_000, 100).await;
    state.clock.advance(60);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    post_block(&server, 901_000, 100).await;
    state.clock.advance(60);
    let mut opened = false;
    for _ in 0..50 {
        let list = get_json(&server, "/v1/incidents?country=PK&open=true").await;
        if !list["incidents"].as_array().unwrap().is_empty() {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened, "failures from many networks must open an incident");
    server.stop().await;
}
