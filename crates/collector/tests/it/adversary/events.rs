//! The live publisher under attack and under failure (issue 9 points 8, 10 and 11):
//! - a watcher polling `/v1/status` and the stream cannot follow outcomes report by report: the
//!   status moves only at wall-clock ticks, byte-identical between them;
//! - no per-ASN entry publishes a count under k (nor lets one be differenced from the country);
//! - incident opens and closes survive a locked SQLite database (a second connection holding
//!   the write lock, as a backup tool or an operator's `sqlite3` shell does): stored, streamed
//!   and sent to webhooks once each, after the lock goes, including those a catch-up found;
//! - a failing webhook's URL (a secret) never reaches the log.

use crate::common::*;
use crate::live::{get_json, loaded, receiver, seeded, seeded_with, Watcher};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vantage_collector::simulate::{self, HistorySpec, Kind};
use vantage_collector::store::Observation;

/// `x` in PK for minutes `from..to` (unix minutes): `kind` over the whole span, four ASNs.
fn import(state: &vantage_collector::AppState, from: i64, to: i64, kind: Kind, seed: u64) {
    let spec = HistorySpec {
        platforms: vec!["x".parse().unwrap()],
        country: "PK".parse().unwrap(),
        per_minute: 60.0,
        from,
        to,
        kind,
        event_minutes: if kind == Kind::Normal { 0 } else { to - from },
        seed,
    };
    simulate::history(state.store.as_ref(), &spec, |_, _| {}).unwrap();
}

/// Log lines written in this test's thread (the collector's tasks run on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(needle).count()
    }

    async fn wait_more(&self, needle: &str, than: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.count(needle) <= than {
            assert!(Instant::now() < deadline, "never logged {needle:?}: {}", String::from_utf8_lossy(&self.0.lock().unwrap()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Takes SQLite's write lock on `db` from a second connection until dropped (or committed).
fn lock_database(db: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(60)).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    conn
}

async fn wait_hook(got: &Arc<Mutex<Vec<Value>>>, id: &Value, event: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !got.lock().unwrap().iter().any(|v| v["id"] == *id && v["event"] == event) {
        assert!(Instant::now() < deadline, "no {event} webhook for {id}: {:?}", got.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the operator sees when the store refuses a write (any error line).
const STORE_FAILED: &str = " ERROR ";

#[tokio::test]
async fn incident_opens_and_closes_survive_a_locked_database_and_go_out_once() {
    let logs = Logs::default();
    use tracing_subscriber::util::SubscriberInitExt;
    let _subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).set_default();
    let t = TestDir::new();
    let (hook, got) = receiver().await;
    let state = seeded(&t, Some(hook));
    let server = Server::start_state(state.clone()).await;
    loaded(&server).await;
    let mut sse = Watcher::open(&server, "/v1/stream").await;
    let x_in_pk = |v: &Value| v["platform"] == "x" && v["country"] == "PK";

    // Three minutes of a full block land, then the store is locked and the clock jumps past
    // them: the detector catches up over minutes it never stepped live, opens the incident,
    // and cannot store it.
    let m0 = state.clock.now().div_euclid(60);
    import(&state, m0, m0 + 3, Kind::Block, 11);
    let lock = lock_database(&t.db());
    let failed_before = logs.count(STORE_FAILED);
    state.clock.advance(180);
    logs.wait_more(STORE_FAILED, failed_before, Duration::from_secs(90)).await;
    // Nothing is announced that the store does not hold.
    assert_eq!(sse.count("incident", |_| true), 0, "an event went out before its incident was stored");
    let open = get_json(&server, "/v1/incidents?country=PK&open=true").await;
    assert_eq!(open["incidents"].as_array().unwrap().len(), 0, "{open}");
    drop(lock);

    let i = sse
        .wait(|k, v| k == "incident" && x_in_pk(v) && v["ended_at"].is_null(), Duration::from_secs(90))
        .await
        .expect("the open after the lock went");
    let id = sse.seen[i].1["id"].clone();
    let open = get_json(&server, "/v1/incidents?country=PK&open=true").await;
    assert!(open["incidents"].as_array().unwrap().iter().any(|i| i["id"] == id), "stored: {open}");
    wait_hook(&got, &id, "incident_opened").await;

    // Normal traffic for twelve minutes, the store locked again, the clock jumps: the close is
    // found by a catch-up and cannot be stored.
    let m1 = state.clock.now().div_euclid(60);
    import(&state, m1, m1 + 12, Kind::Normal, 12);
    let lock = lock_database(&t.db());
    let failed_before = logs.count(STORE_FAILED);
    state.clock.advance(12 * 60);
    logs.wait_more(STORE_FAILED, failed_before, Duration::from_secs(90)).await;
    assert_eq!(sse.count("incident", |v| v["id"] == id && !v["ended_at"].is_null()), 0, "a close went out before it was stored");
    drop(lock);

    let closed = |k: &str, v: &Value| k == "incident" && v["id"] == id && !v["ended_at"].is_null();
    sse.wait(closed, Duration::from_secs(90)).await.expect("the close after the lock went");
    let open = get_json(&server, "/v1/incidents?country=PK&open=true").await;
    assert!(!open["incidents"].as_array().unwrap().iter().any(|i| i["id"] == id), "the stored incident is closed: {open}");
    let all = get_json(&server, "/v1/incidents?country=PK").await;
    let stored = all["incidents"].as_array().unwrap().iter().find(|i| i["id"] == id).cloned().expect("kept");
    assert!(stored["ended_at"].is_string(), "{stored}");
    wait_hook(&got, &id, "incident_closed").await;

    // Exactly once each, on the stream and the webhook, for every incident (ASN ones too),
    // also after a few more retry rounds had the chance to repeat something.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sse.wait(|_, _| false, Duration::from_secs(1)).await;
    let hooks = got.lock().unwrap().clone();
    let mut ids: Vec<&Value> = hooks.iter().map(|v| &v["id"]).collect();
    ids.dedup();
    for one in ids {
        for event in ["incident_opened", "incident_closed"] {
            let n = hooks.iter().filter(|v| v["id"] == *one && v["event"] == event).count();
            assert!(n <= 1, "{event} {one} sent {n} times");
        }
        assert!(sse.count("incident", |v| v["id"] == *one && v["ended_at"].is_null()) <= 1, "open of {one} streamed twice");
        assert!(sse.count("incident", |v| v["id"] == *one && !v["ended_at"].is_null()) <= 1, "close of {one} streamed twice");
    }
    assert_eq!(sse.count("incident", |v| v["id"] == id), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_watcher_cannot_follow_outcomes_report_by_report() {
    let t = TestDir::new();
    let interval = 10;
    let state = seeded_with(&t, None, |c| c.publish_interval_s = interval);
    let server = Server::start_state(state.clone()).await;
    loaded(&server).await;
    let mut sse = Watcher::open(&server, "/v1/stream?country=PK").await;
    let before = get_json(&server, "/v1/status?country=PK").await;

    // The attacker polls /v1/status ten times a second while reports arrive one by one, each
    // after the old debounce (250 ms) had time to publish it.
    let polls: Arc<Mutex<Vec<String>>> = Arc::default();
    let poller = {
        let (polls, url) = (polls.clone(), server.url("/v1/status?country=PK"));
        tokio::spawn(async move {
            loop {
                let body = client().get(&url).send().await.unwrap().text().await.unwrap();
                polls.lock().unwrap().push(body);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let start_s = state.clock.now();
    for i in 0..16u32 {
        let outcome = if i % 2 == 0 { "ok" } else { "timeout" };
        let body = report_with(&id(70_000 + i), &format!(r#"{{"target":"x.main","outcome":"{outcome}","ms":300}}"#));
        let res = client()
            .post(server.url("/v1/reports"))
            .header("content-type", "text/plain")
            .header("x-forwarded-for", format!("10.8.{i}.7"))
            .header("cf-ipcountry", "PK")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // The reports are published (the check is not vacuous) at a tick after the last one.
    let x_reports =
        |v: &Value| v["platforms"].as_array().and_then(|p| p.iter().find(|p| p["platform"] == "x")).and_then(|x| x["reports"].as_u64());
    let moved = |k: &str, v: &Value| k == "status" && x_reports(v) != x_reports(&before);
    sse.wait(moved, Duration::from_secs(60)).await.expect("the new reports were published");
    let end_s = state.clock.now();
    poller.abort();

    let polls = polls.lock().unwrap().clone();
    let mut versions: Vec<&String> = polls.iter().collect();
    versions.dedup();
    let ticks = (end_s.div_euclid(interval as i64) - start_s.div_euclid(interval as i64)) as usize;
    for body in &versions {
        let v: Value = serde_json::from_str(body).unwrap();
        let at = vantage_collector::store::rfc3339::parse(v["generated_at"].as_str().unwrap()).unwrap();
        assert_eq!(at % interval as i64, 0, "published off the tick: {body}");
    }
    // Every answer between two ticks is the same bytes, so at most one version per tick.
    assert!(versions.len() <= ticks + 1, "{} versions in {ticks} ticks of {} polls", versions.len(), polls.len());
    for (_, v, _) in sse.seen.iter().filter(|(k, _, _)| k == "status") {
        let at = vantage_collector::store::rfc3339::parse(v["generated_at"].as_str().unwrap()).unwrap();
        assert_eq!(at % interval as i64, 0, "streamed off the tick: {v}");
    }
    server.stop().await;
}

#[tokio::test]
async fn no_per_asn_count_under_k_is_published_or_can_be_differenced() {
    let t = TestDir::new();
    let state = seeded(&t, None);
    // A small ISP: three readers in the current window, each on its own network.
    let minute = state.clock.now().div_euclid(60) - 2;
    let rows: Vec<Observation> = (0..3u32)
        .map(|n| Observation {
            ts: minute * 60,
            country: "PK".parse().unwrap(),
            asn: 64_512,
            network: 900 + n,
            site: "drm".parse().unwrap(),
            platform: "x".parse().unwrap(),
            target: "x.main".parse().unwrap(),
            outcome: vantage_protocol::Outcome::from_wire(if n == 0 { "timeout" } else { "ok" }).unwrap(),
            ms: 150.0,
            control_outcome: vantage_protocol::Outcome::Ok,
            control_ms: 40.0,
            browser_family: None,
            net_type: None,
            report_id: id(80_000 + n).parse().unwrap(),
            late: false,
            status: None,
        })
        .collect();
    state.store.import(&rows).unwrap();
    let k = state.config.detect.min_reports;
    let server = Server::start_state(state.clone()).await;
    loaded(&server).await;

    let status = get_json(&server, "/v1/status?country=PK").await;
    let x = status["platforms"].as_array().unwrap().iter().find(|p| p["platform"] == "x").unwrap().clone();
    let asns = x["asns"].as_array().unwrap();
    let small = asns.iter().find(|a| a["asn"] == 64_512).unwrap_or_else(|| panic!("the small ASN is listed: {x}"));
    for field in ["reports", "networks", "success_rate", "median_ms"] {
        assert!(small[field].is_null(), "{field} of an ASN under k: {small}");
    }
    assert_eq!(small["state"], "insufficient_data");
    // The country's count minus the published ASN counts must not give a number under k.
    if let Some(total) = x["reports"].as_u64() {
        let published: u64 = asns.iter().filter_map(|a| a["reports"].as_u64()).sum();
        assert!(total - published >= k, "country {total} - published ASNs {published} < k: {x}");
    }
    let one = get_json(&server, "/v1/status?country=PK&asn=64512").await;
    let p = &one["platforms"][0];
    for field in ["reports", "networks", "success_rate", "median_ms", "p90_ms", "baseline_success_rate"] {
        assert!(p[field].is_null(), "{field} of an ASN under k: {one}");
    }
    assert_eq!(p["state"], "insufficient_data");
    // The map's sums count only published cells.
    let countries = get_json(&server, "/v1/countries").await;
    for c in countries["countries"].as_array().unwrap() {
        assert!(c["reports"].is_null() || c["reports"].as_u64().unwrap() >= k, "{c}");
    }
    server.stop().await;
}

#[test]
fn a_failing_webhook_url_never_reaches_the_log() {
    let t = TestDir::new();
    // An incident opened about 18 minutes ago that the store does not hold (the collector
    // died before storing it): the restarted collector announces it, to a hook that is down.
    {
        let store = vantage_collector::store::open(&vantage_collector::StoreUrl::Sqlite(t.db()), 64).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp().div_euclid(60);
        let spec = HistorySpec {
            platforms: vec!["x".parse().unwrap()],
            country: "PK".parse().unwrap(),
            per_minute: 60.0,
            from: now - 180,
            to: now,
            kind: Kind::Block,
            event_minutes: 20,
            seed: 5,
        };
        simulate::history(store.as_ref(), &spec, |_, _| {}).unwrap();
        store.close().unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret_path = "services/T0SECRETPATH";
    let secret_query = "token=QUERYSECRET";
    let hook = format!("http://127.0.0.1:{port}/{secret_path}?{secret_query}");
    let bin = crate::binary::Binary::start(&t, &["--webhook", &hook, "--history-days", "1"], &[("RUST_LOG", "debug")]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let log = loop {
        let log = std::fs::read_to_string(&bin.stderr).unwrap();
        if log.contains("webhook failed") {
            break log;
        }
        assert!(Instant::now() < deadline, "the hook was never tried: {log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (stdout, stderr) = (bin.stdout.clone(), bin.stderr.clone());
    assert!(bin.term().success());
    assert!(log.contains(&format!("127.0.0.1:{port}")), "the log names the hook's host: {log}");
    for file in [stdout, stderr] {
        let text = std::fs::read_to_string(&file).unwrap();
        for secret in ["T0SECRETPATH", "QUERYSECRET"] {
            assert!(!text.contains(secret), "{} holds the webhook secret: {text}", file.display());
        }
    }
}
