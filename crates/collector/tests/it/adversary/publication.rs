//! Differencing attacks on published counts, and backdated reports.
//!
//! The scraper's model: it may ask `/v1/timeseries` (country and per-ASN), `/v1/export.ndjson`
//! and `/v1/export.csv` as often as it likes, with any `from`, `to` and step, and it knows every
//! rule of the collector. It wins if some combination of answers isolates fewer than k reports,
//! in particular the outcome of one reader's report.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vantage_collector::store::{self, Observation};

/// k and m of the default configuration.
const K: u64 = 10;
const M: u64 = 3;

#[allow(clippy::too_many_arguments)]
fn obs(ts: i64, country: &str, asn: u32, network: u32, n: u32, outcome: &str) -> Observation {
    Observation {
        ts,
        country: country.parse().unwrap(),
        asn,
        network,
        site: "drm".parse().unwrap(),
        platform: "x".parse().unwrap(),
        target: "x.main".parse().unwrap(),
        outcome: vantage_protocol::Outcome::from_wire(outcome).unwrap(),
        ms: if outcome == "ok" { 120.0 } else { 15_000.0 },
        control_outcome: vantage_protocol::Outcome::Ok,
        control_ms: 40.0,
        browser_family: None,
        net_type: None,
        report_id: id(n).parse().unwrap(),
        late: false,
        status: None,
    }
}

fn rfc(ts: i64) -> String {
    vantage_collector::store::rfc3339::format(ts)
}

/// One published number: its scope (`country` or `asn:N`), its bucket `[start, end)` in unix
/// minutes, counted reports and how many of them failed.
#[derive(Debug, Clone, PartialEq)]
struct Published {
    scope: String,
    start: i64,
    end: i64,
    reports: u64,
    failed: u64,
    networks: u64,
}

/// Every published point of one series answer (checking that `null` goes with a state that says so).
fn series_points(v: &Value, scope: &str) -> Vec<Published> {
    let step = v["step"].as_i64().unwrap_or(60) / 60;
    let mut out = Vec::new();
    for p in v["points"].as_array().unwrap() {
        let start = vantage_collector::store::rfc3339::parse(p["t"].as_str().unwrap()).unwrap() / 60;
        let Some(reports) = p["reports"].as_u64() else {
            assert!(p["networks"].is_null() && p["success_rate"].is_null() && p["median_ms"].is_null(), "{p}");
            assert_ne!(p["state"], "published", "{p}");
            continue;
        };
        if let Some(state) = p.get("state") {
            assert_eq!(state, "published", "{p}");
        }
        let ok = p["success_rate"].as_f64().map_or(reports, |rate| (rate * reports as f64).round() as u64);
        let networks = p["networks"].as_u64().unwrap();
        out.push(Published { scope: scope.into(), start, end: start + step, reports, failed: reports - ok, networks });
    }
    out
}

/// Export cells as published numbers (scope `asn:N`, one minute each).
fn export_cells(body: &[u8]) -> Vec<Published> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).unwrap();
            let start = vantage_collector::store::rfc3339::parse(a["ts"].as_str().unwrap()).unwrap() / 60;
            let (ok, error, timeout) = (a["ok"].as_u64().unwrap(), a["error"].as_u64().unwrap(), a["timeout"].as_u64().unwrap());
            let networks = a["networks"].as_u64().unwrap();
            Published {
                scope: format!("asn:{}", a["asn"]),
                start,
                end: start + 1,
                reports: ok + error + timeout,
                failed: error + timeout,
                networks,
            }
        })
        .collect()
}

/// A difference of published counts is harmless when it is 0 (the same reports) or at least k.
fn harmless(d: i64) -> bool {
    d == 0 || d.unsigned_abs() >= K
}

#[tokio::test]
async fn overlapping_queries_never_isolate_a_report_below_k() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    // 10:00 UTC yesterday: settled, inside one day bucket.
    let now = state.clock.now();
    let h = (now.div_euclid(86_400) - 1) * 86_400 + 10 * 3600;
    let at = |min: i64| h + min * 60;
    let mut rows = Vec::new();
    let mut n = 0;
    let mut add = |rows: &mut Vec<Observation>, minute: i64, asn: u32, nets: std::ops::Range<u32>, count: u32, outcome: &str| {
        for i in 0..count {
            rows.push(obs(at(minute), "PK", asn, nets.start + i % (nets.end - nets.start), n, outcome));
            n += 1;
        }
    };
    add(&mut rows, 10, 100, 1..5, 12, "ok"); // a minute of its own: 12 reports, 4 networks
    add(&mut rows, 11, 200, 99..100, 1, "timeout"); // THE VICTIM: the only report of its minute, and the only failure
    add(&mut rows, 20, 100, 5..8, 11, "ok"); // 11 reports, 3 networks
    add(&mut rows, 25, 300, 10..14, 4, "ok"); // three small minutes of another ASN,
    add(&mut rows, 26, 300, 14..18, 4, "ok"); //   11 reports in 11 networks together
    add(&mut rows, 27, 300, 18..21, 3, "ok");
    add(&mut rows, 70, 100, 30..34, 15, "ok"); // the next hour
    let total = rows.len() as u64;
    assert_eq!(state.store.import(&rows).unwrap(), rows.len());

    // Every combination of from, to and step a scraper might try, on the country and on each ASN.
    let offsets = [-1440, -61, -60, -17, -5, -1, 0, 1, 3, 9, 10, 11, 12, 14, 29, 45, 59, 61, 75, 119, 1440];
    let steps = [60, 120, 300, 420, 900, 3600, 86_400];
    let mut published: Vec<Published> = Vec::new();
    let mut asked = 0;
    for (i, from) in offsets.iter().enumerate() {
        for to in offsets[i + 1..].iter().filter(|to| *to - from <= 2 * 1440) {
            let range = format!("from={}&to={}", rfc(at(*from)), rfc(at(*to)));
            for step in steps {
                for (scope, filter) in [
                    ("country", String::new()),
                    ("asn:100", "&asn=100".into()),
                    ("asn:200", "&asn=200".into()),
                    ("asn:300", "&asn=300".into()),
                ] {
                    let a = oneshot(&router, get(&format!("/v1/timeseries?platform=x&country=PK&step={step}&{range}{filter}"))).await;
                    asked += 1;
                    if a.status == StatusCode::BAD_REQUEST {
                        continue; // a step outside the allowed chain, or too many points: nothing published
                    }
                    assert_eq!(a.status, StatusCode::OK);
                    published.extend(series_points(&a.json(), scope));
                }
            }
            let nd = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
            assert_eq!(nd.status, StatusCode::OK);
            published.extend(export_cells(&nd.body));
        }
    }
    assert!(asked > 1000, "{asked}");
    published.sort_by(|a, b| (&a.scope, a.start, a.end).cmp(&(&b.scope, b.start, b.end)));
    published.dedup();

    // 1. The victim's outcome is in no published number: it is the only failure there is.
    for p in &published {
        assert_eq!(p.failed, 0, "the victim's timeout is published in {p:?}");
    }
    // 2. No published number describes fewer than k reports or m networks, and the same bucket
    //    always says the same.
    for p in &published {
        assert!(p.reports >= K && p.networks >= M, "a count below k or m was published: {p:?}");
    }
    let mut by_bucket: BTreeMap<(String, i64, i64), u64> = BTreeMap::new();
    for p in &published {
        let seen = by_bucket.entry((p.scope.clone(), p.start, p.end)).or_insert(p.reports);
        assert_eq!(*seen, p.reports, "two answers for one bucket: {p:?}");
    }
    // 3. Pairwise: wherever one published bucket holds another of the same scope, or a country
    //    bucket holds an ASN's, the difference is 0 or at least k reports, never the victim's 1.
    for a in &published {
        for b in &published {
            let nested = a.start <= b.start && b.end <= a.end && a != b;
            let same = a.scope == b.scope || a.scope == "country";
            if nested && same {
                let d = a.reports as i64 - b.reports as i64;
                assert!(harmless(d), "{a:?} - {b:?} = {d} reports");
                assert_eq!(a.failed, b.failed);
            }
        }
    }
    // 4. A bucket minus everything published inside it (the complement attack), per scope and
    //    for the country against all ASNs, never leaves between 1 and k-1 reports.
    for a in published.iter().filter(|a| a.end - a.start > 1) {
        let scopes: Vec<&str> = if a.scope == "country" { vec!["country", "asn"] } else { vec![a.scope.as_str()] };
        for scope in scopes {
            for width in [1, 5, 15, 60] {
                let inside: u64 = published
                    .iter()
                    .filter(|b| b.scope.starts_with(scope) && b.end - b.start == width && a.start <= b.start && b.end <= a.end)
                    .filter(|b| !(scope == "asn" && b.scope == "country"))
                    .map(|b| b.reports)
                    .sum();
                if inside > 0 {
                    let d = a.reports as i64 - inside as i64;
                    assert!(harmless(d), "{a:?} minus the {width}-minute {scope} points inside = {d}");
                }
            }
        }
    }
    // The defence still publishes: the hour holds the two big minutes and the pooled small ones.
    let hour = published.iter().find(|p| p.scope == "country" && p.start == h / 60 && p.end == h / 60 + 60).expect("the hour is published");
    assert_eq!(hour.reports, 34);
    let day = published.iter().find(|p| p.scope == "country" && p.end - p.start == 1440).expect("the day is published");
    assert_eq!(day.reports, total - 1, "everything but the victim");

    // The CSV export says the same as the NDJSON one.
    let range = format!("from={}&to={}", rfc(at(-60)), rfc(at(120)));
    let csv = oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await;
    let text = String::from_utf8_lossy(&csv.body).to_string();
    let nd = export_cells(&oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await.body);
    assert_eq!(text.lines().count(), nd.len() + 1, "{text}");
    assert!(!text.contains(",200,x,"), "the victim's ASN-minute is listed: {text}");
}

#[tokio::test]
async fn a_bucket_still_filling_is_not_published_until_it_is_final() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    let now = state.clock.now();
    let minute = now.div_euclid(60) * 60;
    let rows: Vec<Observation> = (0..12).map(|n| obs(minute, "PK", 100, n % 4, n, "ok")).collect();
    state.store.import(&rows).unwrap();
    let url = format!("/v1/timeseries?platform=x&country=PK&from={}&to={}", rfc(minute), rfc(minute + 60));
    let point = |v: Value| v["points"][0].clone();
    // Two reads a second apart would isolate whatever arrived between them: the minute is held back.
    let p = point(oneshot(&router, get(&url)).await.json());
    assert_eq!((p["state"].as_str(), p["reports"].as_u64()), (Some("pending"), None), "{p}");
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?from={}&to={}", rfc(minute), rfc(minute + 60)))).await;
    assert!(nd.body.is_empty(), "{}", String::from_utf8_lossy(&nd.body));
    // Once late reports can no longer reach it (6 minutes on), it is published for good.
    state.clock.advance(60 + 360);
    let p = point(oneshot(&router, get(&url)).await.json());
    assert_eq!((p["state"].as_str(), p["reports"].as_u64()), (Some("published"), Some(12)), "{p}");
}

#[tokio::test]
async fn a_backdated_report_is_stored_raw_but_does_not_rewrite_the_past() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    // An hour ago, 12 on-time reports were published (no geo: country ZZ, ASN 0).
    let now = state.clock.now();
    let age_s = 3600;
    let minute = (now - age_s).div_euclid(60) * 60;
    let rows: Vec<Observation> = (0..12).map(|n| obs(minute, "ZZ", 0, n % 4, n, "ok")).collect();
    state.store.import(&rows).unwrap();
    let series = format!("/v1/timeseries?platform=x&country=ZZ&from={}&to={}", rfc(minute), rfc(minute + 60));
    let export = format!("/v1/export.ndjson?from={}&to={}", rfc(minute), rfc(minute + 60));
    let before = (oneshot(&router, get(&series)).await.json(), oneshot(&router, get(&export)).await.body);
    assert_eq!(before.0["points"][0]["reports"], 12);
    // Reports that claim to be an hour old: failures, to flip that minute.
    for n in 0..5u32 {
        let body = report_with(&id(1000 + n), r#"{"target":"x.main","outcome":"error","ms":3.1}"#)
            .replace("\"age_s\":4", &format!("\"age_s\":{age_s}"));
        let a = oneshot(&router, post(body, "text/plain")).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&a.body));
    }
    let after = (oneshot(&router, get(&series)).await.json(), oneshot(&router, get(&export)).await.body);
    assert_eq!(after.0, before.0, "the published minute changed");
    assert_eq!(after.1, before.1, "the export changed");
    // The reports themselves are kept (a 202 means stored), flagged late in the raw export.
    assert_eq!(rows_in(&t, &format!("WHERE late = 1 AND ts = {minute}")), 5);
    let raw = state.store.observations(Some(minute), Some(minute + 60)).unwrap();
    assert_eq!(raw.iter().filter(|o| o.late).count(), 5);
    let line = serde_json::to_string(raw.iter().find(|o| o.late).unwrap()).unwrap();
    assert!(line.contains("\"late\":true"), "{line}");
    // The late channel: counted for the operator (`vantage_store_late_rows_total`), not published.
    assert_eq!(state.store.stats().late_rows, 5);
    assert!(String::from_utf8_lossy(&oneshot(&router, get("/metrics")).await.body).contains("vantage_store_late_rows_total 5"));
    // A retry of a late report is still a duplicate.
    let body = report_with(&id(1000), r#"{"target":"x.main","outcome":"error","ms":3.1}"#).replace("\"age_s\":4", "\"age_s\":3700");
    assert_eq!(oneshot(&router, post(body, "text/plain")).await.status, StatusCode::OK);
    // An on-time report still counts (age 4 s: this minute, still unflushed, yet in every rollup read).
    let a = oneshot(&router, post(report(&id(2000)), "text/plain")).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let mut rolled = 0;
    let filter = store::RollupFilter {
        from: now.div_euclid(60) - 1,
        to: now.div_euclid(60) + 2,
        platform: Some("x".parse().unwrap()),
        ..Default::default()
    };
    state.store.scan_rollups(&filter, &mut |c| rolled += c.nets.iter().map(|n| n.counted()).sum::<u32>()).unwrap();
    assert_eq!(rolled, 1);
}

fn rows_in(t: &TestDir, sql_where: &str) -> i64 {
    rows(&t.db(), sql_where)
}

#[tokio::test]
async fn raw_rows_older_than_the_retention_go_and_rollups_stay() {
    let t = TestDir::new();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let old = (now - 500 * 86_400).div_euclid(60) * 60;
    let recent = (now - 10 * 86_400).div_euclid(60) * 60;
    let mut rows: Vec<Observation> = (0..2500).map(|n| obs(old, "PK", 100, n % 4, n, "ok")).collect();
    rows.extend((3000..3012).map(|n| obs(recent, "PK", 100, n % 4, n, "ok")));
    let db = t.db();
    tokio::task::spawn_blocking(move || {
        use vantage_collector::store::Store;
        let store = vantage_collector::store::SqliteStore::open(&db, 16).unwrap();
        store.import(&rows).unwrap();
        store.close().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(rows_in(&t, &format!("WHERE ts = {old}")), 2500);

    // A collector with the default retention (400 days) deletes the old raw rows in the background.
    let config = t.config();
    assert_eq!(config.retention_days, 400);
    let (router, _state) = router(config);
    let deadline = Instant::now() + Duration::from_secs(120);
    while rows_in(&t, &format!("WHERE ts = {old}")) > 0 {
        assert!(Instant::now() < deadline, "old raw rows were not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rows_in(&t, &format!("WHERE ts = {recent}")), 12, "recent rows are kept");
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let ids: i64 = conn.query_row("SELECT count(*) FROM reports", [], |r| r.get(0)).unwrap();
    assert_eq!(ids, 12, "the deleted rows' report ids go with them");
    // The aggregates of that old minute are still published.
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?from={}&to={}", rfc(old), rfc(old + 60)))).await;
    let cells = export_cells(&nd.body);
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].reports, 2500);
}

/// A report measures a platform at up to two targets (`x.main`, `x.cdn`): five readers give ten
/// counted measurements, which met k, and the export printed `reports: 5`. No row may describe
/// fewer than k readers' reports.
#[tokio::test]
async fn an_export_row_never_describes_fewer_than_k_reports() {
    let t = TestDir::new();
    let (router, state) = router(t.config());
    let minute = (state.clock.now().div_euclid(60) - 30) * 60;
    let mut rows = Vec::new();
    for reader in 0..5u32 {
        for target in ["x.main", "x.cdn"] {
            rows.push(Observation { target: target.parse().unwrap(), ..obs(minute, "PK", 100, reader, reader, "ok") });
        }
    }
    assert_eq!(state.store.import(&rows).unwrap(), rows.len());
    let range = format!("from={}&to={}", rfc(minute), rfc(minute + 60));
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
    assert_eq!(nd.status, StatusCode::OK);
    assert!(nd.body.is_empty(), "five readers published: {}", String::from_utf8_lossy(&nd.body));
    let csv = oneshot(&router, get(&format!("/v1/export.csv?{range}"))).await;
    assert_eq!(String::from_utf8_lossy(&csv.body).lines().count(), 1, "header only: {}", String::from_utf8_lossy(&csv.body));
    // Ten readers (twenty measurements) are published, as ten reports.
    let more: Vec<Observation> = (5..10u32)
        .flat_map(|r| {
            ["x.main", "x.cdn"].map(|target| Observation { target: target.parse().unwrap(), ..obs(minute, "PK", 100, r, r, "ok") })
        })
        .collect();
    state.store.import(&more).unwrap();
    let nd = oneshot(&router, get(&format!("/v1/export.ndjson?{range}"))).await;
    let row: Value = serde_json::from_slice(nd.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(row["reports"], 10, "{row}");
}
