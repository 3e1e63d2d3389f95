//! `vantage simulate --store` then `vantage detect` through the real binary: the block the
//! history ends with is found, with the same ids on every run.

use crate::common::*;
use serde_json::Value;

#[test]
fn detect_finds_the_simulated_block_deterministically() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let out = vantage()
        .args(["simulate", "--store", &store, "--days", "0.25", "--end", "2026-11-28T12:00:00Z", "--scenario", "block"])
        .args(["--event-minutes", "20", "--platforms", "x,youtube", "--per-minute", "80"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote"));
    let detect = || {
        let out = vantage()
            .args(["detect", "--store", &store, "--from", "2026-11-28T06:00:00Z", "--to", "2026-11-28T12:00:00Z"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = detect();
    let incidents = v["incidents"].as_array().unwrap();
    let country = incidents.iter().find(|i| i["asn"].is_null()).unwrap_or_else(|| panic!("{v}"));
    assert_eq!((country["platform"].as_str(), country["country"].as_str(), country["state"].as_str()), (Some("x"), Some("PK"), Some("disrupted")));
    let started = country["started_at"].as_str().unwrap();
    assert!(("2026-11-28T11:40:00Z".."2026-11-28T11:45:00Z").contains(&started), "{started}");
    assert!(incidents.iter().all(|i| i["platform"] == "x"), "youtube stayed normal: {v}");
    assert_eq!(detect(), v, "replays are deterministic");
    let bad = vantage().args(["detect", "--store", &store, "--from", "yesterday", "--to", "2026-11-28T12:00:00Z"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--from"));
}
