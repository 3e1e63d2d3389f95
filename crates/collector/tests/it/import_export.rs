//! `vantage import` / `vantage export` through the real binary: round trip, idempotency, bad
//! lines (also past the first stored chunk, on SQLite and ClickHouse), refused inputs, and the
//! k-anonymity rule; memory under a bound on a large file (`memory`); the public exports
//! streamed, range-limited and capped (`public`).

mod memory;
mod public;

use crate::common::*;
use serde_json::{json, Value};

fn obs(ts: &str, country: &str, platform: &str, network: u32, n: u32, outcome: &str) -> Value {
    json!({"ts": ts, "country": country, "asn": 17557, "network": network, "site": "drm",
        "platform": platform, "target": format!("{platform}.main"), "outcome": outcome, "ms": 100.0 + f64::from(n),
        "control_outcome": "ok", "control_ms": 40.0, "browser_family": "firefox", "net_type": null,
        "report_id": id(n)})
}

fn ndjson(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn run(args: &[&str], store: &str) -> std::process::Output {
    let out = vantage().args(args).args(["--store", store]).output().unwrap();
    out
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn round_trip_idempotency_and_k_anonymity() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let mut rows = Vec::new();
    // Cell A: 12 reports from 4 networks -> published.
    for n in 0..12 {
        rows.push(obs("2026-11-28T18:41:00Z", "PK", "x", n % 4, n, if n < 3 { "timeout" } else { "ok" }));
    }
    // Cell B: 12 reports from 2 networks -> suppressed (m = 3).
    for n in 100..112 {
        rows.push(obs("2026-11-28T18:41:00Z", "PK", "youtube", n % 2, n, "ok"));
    }
    // Cell C: 5 reports from 5 networks -> suppressed (k = 10).
    for n in 200..205 {
        rows.push(obs("2026-11-28T18:42:00Z", "IR", "x", n, n, "ok"));
    }
    let file = t.path().join("in.ndjson");
    std::fs::write(&file, ndjson(&rows)).unwrap();
    for _ in 0..2 {
        let out = run(&["import", file.to_str().unwrap()], &store);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(rows_in(&t), 29, "imported twice, stored once");

    let raw = run(&["export", "--raw"], &store);
    assert!(raw.status.success());
    let mut exported = lines(&raw.stdout);
    let key = |v: &Value| v["report_id"].as_str().unwrap().to_string();
    exported.sort_by_key(key);
    let mut expected = rows.clone();
    expected.sort_by_key(key);
    assert_eq!(exported, expected, "raw export is the imported data");

    let agg = lines(&run(&["export"], &store).stdout);
    assert_eq!(agg.len(), 1, "{agg:?}");
    let a = &agg[0];
    assert_eq!((a["ts"].as_str(), a["country"].as_str(), a["platform"].as_str()), (Some("2026-11-28T18:41:00Z"), Some("PK"), Some("x")));
    assert_eq!(
        (a["reports"].as_u64(), a["networks"].as_u64(), a["ok"].as_u64(), a["timeout"].as_u64()),
        (Some(12), Some(4), Some(9), Some(3))
    );
    assert_eq!(a["success_rate"].as_f64(), Some(0.75));

    let relaxed = lines(&run(&["export", "--min-reports", "5", "--min-networks", "2"], &store).stdout);
    assert_eq!(relaxed.len(), 3);
    let window = lines(&run(&["export", "--raw", "--from", "2026-11-28T18:42:00Z", "--to", "2026-11-28T18:43:00Z"], &store).stdout);
    assert_eq!(window.len(), 5);
}

#[test]
fn a_bad_line_stores_nothing_and_is_named() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let mut text = ndjson(&[obs("2026-11-28T18:41:00Z", "PK", "x", 1, 1, "ok"), obs("2026-11-28T18:41:00Z", "PK", "x", 1, 2, "ok")]);
    text.push_str(&format!("{}\n", obs("2026-11-28T18:41:00Z", "PK", "x", 1, 3, "vanished")));
    let file = t.path().join("bad.ndjson");
    std::fs::write(&file, text).unwrap();
    let out = run(&["import", file.to_str().unwrap()], &store);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3: outcome"), "{stderr}");
    assert_eq!(rows_in(&t), 0);
}

fn rows_in(t: &TestDir) -> i64 {
    rows(&t.db(), "")
}

/// A store from before cors targets gains `observations.status` at open; an `http_error` row
/// then round-trips with its status, and one without a status is refused naming the line.
#[test]
fn an_old_store_gains_status_and_http_error_round_trips() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.db().parent().unwrap()).unwrap();
    rusqlite::Connection::open(t.db())
        .unwrap()
        .execute_batch(
            "CREATE TABLE observations (ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
             site TEXT NOT NULL, platform TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, ms REAL NOT NULL,
             control_outcome TEXT NOT NULL, control_ms REAL NOT NULL, browser_family TEXT, net_type TEXT,
             report_id TEXT NOT NULL, late INTEGER NOT NULL DEFAULT 0, UNIQUE (report_id, target))",
        )
        .unwrap();
    let store = format!("sqlite:{}", t.db().display());
    let mut blocked = obs("2026-11-28T18:41:00Z", "PK", "x", 1, 1, "http_error");
    blocked["status"] = json!(451);
    let file = t.path().join("rows.ndjson");
    std::fs::write(&file, ndjson(&[blocked.clone(), obs("2026-11-28T18:41:00Z", "PK", "x", 2, 2, "ok")])).unwrap();
    let out = run(&["import", file.to_str().unwrap()], &store);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&t.db(), "WHERE outcome = 'http_error' AND status = 451"), 1);
    let back = lines(&run(&["export", "--raw"], &store).stdout);
    assert_eq!(back.iter().map(|r| r.get("status").cloned()).collect::<Vec<_>>(), [Some(json!(451)), None]);

    for (n, edit) in
        [(3, json!({"outcome": "http_error"})), (4, json!({"status": 403})), (5, json!({"outcome": "http_error", "status": 99}))]
    {
        let mut row = obs("2026-11-28T18:41:00Z", "PK", "x", 1, n, "ok");
        row.as_object_mut().unwrap().extend(edit.as_object().unwrap().clone());
        std::fs::write(&file, ndjson(&[row])).unwrap();
        let out = run(&["import", file.to_str().unwrap()], &store);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("line 1: status"), "{edit}: {stderr}");
    }
    assert_eq!(rows_in(&t), 2);
}

/// `n` good rows, one report each, over 25 minutes from 2026-11-28T18:00Z.
fn many(n: u32) -> String {
    let rows: Vec<Value> = (0..n)
        .map(|i| obs(&vantage_collector::store::rfc3339::format(1_795_888_800 + i64::from(i % 25) * 60), "PK", "x", i % 7, i, "ok"))
        .collect();
    ndjson(&rows)
}

/// A bad line past the first stored chunk still stores nothing: every line is checked before
/// the first chunk is stored; the file fixed, the same import stores it.
fn bad_line_after_the_first_chunk(store: &str, t: &TestDir) {
    let good = many(25_000);
    let file = t.path().join("late-bad.ndjson");
    std::fs::write(&file, format!("{good}{}\n", obs("2026-11-28T18:41:00Z", "pk", "x", 1, 99_999, "ok"))).unwrap();
    let out = run(&["import", file.to_str().unwrap()], store);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 25001: country: must be two upper-case letters"), "{stderr}");
    assert!(run(&["export", "--raw"], store).stdout.is_empty(), "nothing stored");
    std::fs::write(&file, &good).unwrap();
    let out = run(&["import", file.to_str().unwrap()], store);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("imported 25000 new of 25000"));
    let raw = run(&["export", "--raw"], store);
    let mut exported = lines(&raw.stdout);
    let key = |v: &Value| v["report_id"].as_str().unwrap().to_string();
    exported.sort_by_key(key);
    let mut expected: Vec<Value> = good.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    expected.sort_by_key(key);
    assert_eq!(exported, expected);
}

#[test]
fn a_bad_line_after_the_first_chunk_stores_nothing() {
    let t = TestDir::new();
    bad_line_after_the_first_chunk(&format!("sqlite:{}", t.db().display()), &t);
}

#[test]
fn clickhouse_imports_and_exports_the_same_way() {
    let ch = crate::clickhouse::ClickHouse::start();
    let t = TestDir::new();
    bad_line_after_the_first_chunk(&ch.store("vantage_files", ""), &t);
}

#[test]
fn stdin_and_endless_lines_are_refused_and_store_nothing() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let out = run(&["import", "-"], &store);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a regular file") && stderr.contains("reads its file twice"), "{stderr}");
    // A file without line breaks is not read into memory whole.
    let file = t.path().join("one-line.ndjson");
    std::fs::write(&file, "x".repeat(1 << 20)).unwrap();
    let out = run(&["import", file.to_str().unwrap()], &store);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: longer than 64 KiB"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows_in(&t), 0);
}
