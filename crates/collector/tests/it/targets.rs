//! `GET /v1/targets` and target files that stop start-up naming the line.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

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
    // Every target says its fetch mode; cors only for hosts documented to send ACAO: *.
    let mode = |id: &str| targets.iter().find(|t| t["id"] == id).unwrap()["mode"].clone();
    assert_eq!((mode("x.main"), mode("x.cdn"), mode("wikipedia.cdn")), (json!("no-cors"), json!("cors"), json!("cors")));
    assert!(targets.iter().all(|t| t["mode"] == "cors" || t["mode"] == "no-cors"), "{targets:?}");
}

/// A target without `mode` is no-cors; a mode other than the two is refused naming the line.
#[test]
fn target_mode_in_a_file() {
    use vantage_collector::targets::parse_targets;
    use vantage_protocol::FetchMode;
    let file = |mode: &str| {
        format!("version = \"1\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n[[target]]\nid = \"x.a\"\nplatform = \"x\"\nurl = \"https://x.example/a\"\ntimeout_ms = 100\n{mode}")
    };
    assert_eq!(parse_targets(&file(""), "t.toml").unwrap().targets[0].mode, FetchMode::NoCors);
    assert_eq!(parse_targets(&file("mode = \"cors\"\n"), "t.toml").unwrap().targets[0].mode, FetchMode::Cors);
    let e = parse_targets(&file("mode = \"same-origin\"\n"), "t.toml").unwrap_err().to_string();
    assert!(e.starts_with("t.toml:10: unknown variant `same-origin`, expected `no-cors` or `cors`"), "{e}");
}

/// A cors target's block page is stored with its status and exported with it; any other outcome
/// is stored without one.
#[tokio::test]
async fn http_error_is_stored_with_its_status() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    let body = report_with(
        &id(1),
        r#"{"target":"x.cdn","outcome":"http_error","ms":80.5,"status":451},{"target":"x.main","outcome":"ok","ms":90}"#,
    );
    assert_eq!(oneshot(&router, post(body, "text/plain")).await.status, StatusCode::ACCEPTED);
    assert_eq!(rows(&t.db(), "WHERE target = 'x.cdn' AND outcome = 'http_error' AND status = 451"), 1);
    assert_eq!(rows(&t.db(), "WHERE target = 'x.main' AND status IS NULL"), 1);
    let out = vantage().args(["export", "--raw", "--store"]).arg(format!("sqlite:{}", t.db().display())).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let exported: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by = |target: &str| exported.iter().find(|r| r["target"] == target).unwrap().clone();
    assert_eq!((by("x.cdn")["status"].clone(), by("x.main").get("status").cloned()), (json!(451), None));
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

#[tokio::test]
async fn reload_keeps_the_previous_ids_and_updates_the_frame_csp() {
    let t = TestDir::new();
    let file = t.path().join("targets.toml");
    let list = |id: &str, url: &str| {
        format!("version = \"{id}\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n[[target]]\nid = \"{id}\"\nplatform = \"x\"\nurl = \"{url}\"\ntimeout_ms = 100\n")
    };
    std::fs::write(&file, list("x.one", "https://one.example/a.ico")).unwrap();
    let mut config = t.config();
    config.targets = vantage_collector::targets::parse_targets(&std::fs::read_to_string(&file).unwrap(), "t").unwrap();
    config.targets_file = Some(file.clone());
    let (router, state) = router(config);
    std::fs::write(&file, list("x.two", "https://two.example/b.ico")).unwrap();
    state.reload_targets().unwrap();
    let csp = oneshot(&router, get("/v1/frame.html")).await.header("content-security-policy").to_string();
    assert!(csp.contains("https://two.example") && !csp.contains("https://one.example"), "{csp}");
    assert_eq!(oneshot(&router, get("/v1/targets")).await.json()["targets"][0]["id"], "x.two");
    for (n, target) in [(1, "x.one"), (2, "x.two")] {
        let body = report_with(&id(n), &format!(r#"{{"target":"{target}","outcome":"ok","ms":1}}"#));
        assert_eq!(oneshot(&router, post(body, "text/plain")).await.status, StatusCode::ACCEPTED, "{target}");
    }
    std::fs::write(&file, "version = ").unwrap();
    assert!(state.reload_targets().is_err());
    std::fs::write(&file, list("x.three", "https://three.example/c.ico")).unwrap();
    state.reload_targets().unwrap();
    let body = report_with(&id(3), r#"{"target":"x.one","outcome":"ok","ms":1}"#);
    assert_eq!(oneshot(&router, post(body, "text/plain")).await.status, StatusCode::BAD_REQUEST, "two lists ago");
}

/// The check page may connect to every target of the list in force, and to nothing else; a
/// reload changes it.
#[tokio::test]
async fn check_page_csp_follows_the_target_list() {
    let t = TestDir::new();
    let file = t.path().join("targets.toml");
    let mut config = t.config();
    config.targets_file = Some(file.clone());
    // The site built into the binary (it holds check/), as served in production.
    config.www = None;
    let (router, state) = router(config);
    let bare = oneshot(&router, get("/check")).await;
    assert_eq!((bare.status.is_redirection(), bare.header("location")), (true, "/check/"));
    let page = oneshot(&router, get("/check/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page.body).contains("/check/check.js"));
    let csp = page.header("content-security-policy");
    assert!(csp.starts_with("default-src 'self'; script-src 'self'; connect-src 'self' "), "{csp}");
    assert!(csp.ends_with("; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"), "{csp}");
    for origin in ["https://x.com", "https://pbs.twimg.com", "https://upload.wikimedia.org"] {
        assert!(csp.contains(&format!(" {origin}")), "{csp}");
    }
    let list = "version = \"2\"\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n[[target]]\nid = \"x.a\"\nplatform = \"x\"\nurl = \"https://only.example/a\"\ntimeout_ms = 100\nmode = \"cors\"\n";
    std::fs::write(&file, list).unwrap();
    state.reload_targets().unwrap();
    let csp = oneshot(&router, get("/check/")).await.header("content-security-policy").to_string();
    assert!(csp.contains("connect-src 'self' https://only.example;") && !csp.contains("x.com"), "{csp}");
    assert_eq!(oneshot(&router, get("/v1/targets")).await.json()["targets"][0]["mode"], "cors");
}
