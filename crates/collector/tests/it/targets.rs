//! `GET /v1/targets` and target files that stop start-up naming the line.

use crate::common::*;
use axum::http::StatusCode;

#[tokio::test]
async fn built_in_target_list() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let a = oneshot(&router, get("/v1/targets")).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(v["control"], serde_json::json!({"id": "control.self", "url": "/v1/ping", "timeout_ms": 5000}));
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 16);
    let x = targets.iter().find(|t| t["id"] == "x.main").unwrap();
    assert_eq!(x["platform"], "x");
    assert_eq!(x["cache_bust"], true);
    assert!(targets.iter().all(|t| t["url"].as_str().unwrap().starts_with("https://")));
}

#[test]
fn a_bad_targets_file_stops_start_up_naming_the_line() {
    let t = TestDir::new();
    let file = t.path().join("bad.toml");
    std::fs::write(
        &file,
        "version = \"1\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n\n[[target]]\nid = \"x.main\"\nplatform = \"x\"\nurl = \"http://x.com/favicon.ico\"\ntimeout_ms = 100\n",
    )
    .unwrap();
    let out = vantage()
        .args(["serve", "--listen", "127.0.0.1:0", "--targets"])
        .arg(&file)
        .arg("--store")
        .arg(format!("sqlite:{}", t.db().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:9: url"), "{stderr}");
    assert!(out.stdout.is_empty(), "never started listening");

    std::fs::write(&file, "version = \"1\"\n[control\nurl = 1\n").unwrap();
    let out = vantage().args(["serve", "--targets"]).arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:2:"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn clickhouse_is_not_supported_yet() {
    let out = vantage().args(["serve", "--listen", "127.0.0.1:0", "--store", "clickhouse:http://localhost:8123/vantage"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported yet"));
}
