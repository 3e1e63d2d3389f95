//! Crash: `kill -9` in the middle of a load run, restart on the same database. Every acknowledged
//! report is there exactly once; re-sending the unacknowledged ones with the same ids (the
//! widget's retry) fills the rest, and re-sending acknowledged ones answers 200 duplicate.

use crate::binary::*;
use crate::common::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_report_and_stores_none_twice() {
    let t = TestDir::new();
    let mut bin = Binary::start(&t, &["--queue-capacity", "64"], &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let stop = stop.clone();
        tokio::spawn(load(bin.url("/v1/reports"), 0, 0.0, 48, move || stop.load(Ordering::Relaxed)))
    };
    // Kill once the store has committed a good number of reports, with requests in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stored_count(&t) < 300 {
        assert!(std::time::Instant::now() < deadline, "no progress before the kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| bin.kill9());
    stop.store(true, Ordering::Relaxed);
    let run = running.await.unwrap();
    let acked = run.acknowledged();
    let sent = run.sent();
    let unacked: HashSet<String> = sent.difference(&acked).cloned().collect();
    assert!(acked.len() >= 100, "{} acknowledged", acked.len());
    assert!(!unacked.is_empty(), "the kill caught no request in flight");
    assert!(run.other.iter().all(|(_, e)| !e.starts_with(char::is_numeric)), "an HTTP error before the kill: {:?}", run.other.first());

    // Restart: the WAL is recovered; every acknowledged report is there with both rows, once.
    let bin = Binary::start(&t, &[], &[]);
    let after_crash = stored(&t.db());
    let missing: Vec<_> = acked.iter().filter(|id| !after_crash.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged reports lost, e.g. {:?}", missing.len(), missing.first());
    assert!(after_crash.values().all(|n| *n == 2), "a report stored partly or twice");
    assert!(after_crash.keys().all(|id| sent.contains(id)), "a report nobody sent");
    let committed_unacked = after_crash.len() - acked.len();

    // The widget's retry: unacknowledged reports again, same ids. Committed-but-unanswered ones are
    // duplicates (200), the rest are stored now (202).
    let client = client();
    for id in &unacked {
        let res = client.post(bin.url("/v1/reports")).header("content-type", "text/plain").body(report(id)).send().await.unwrap();
        let want = if after_crash.contains_key(id) { 200 } else { 202 };
        assert_eq!(res.status(), want, "{id}");
    }
    for id in acked.iter().take(200) {
        let res = client.post(bin.url("/v1/reports")).header("content-type", "text/plain").body(report(id)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{id}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"accepted": true, "id": id, "duplicate": true}));
    }
    assert!(bin.term().success());
    let fin = stored(&t.db());
    assert_eq!(fin.keys().cloned().collect::<HashSet<_>>(), sent, "the store holds exactly what was sent");
    assert!(fin.values().all(|n| *n == 2));
    assert_eq!(rows(&t.db(), ""), 2 * sent.len() as i64, "no row twice");
    // The rollups too: the kill lost the unflushed ones from memory, the restart rebuilt them
    // from the raw rows, and every row counts once (in exactly one of these columns).
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let rolled: i64 = conn
        .query_row("SELECT coalesce(sum(ok + error + timeout + blocked + excluded_control), 0) FROM rollup_nets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rolled, 2 * sent.len() as i64, "every row in the rollups once");
    eprintln!(
        "crash: {} sent, {} acknowledged before kill -9, {} unacknowledged of which {} were committed; all {} present after retry",
        sent.len(),
        acked.len(),
        unacked.len(),
        committed_unacked,
        fin.len()
    );
}

fn stored_count(t: &TestDir) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(t.db()) else { return 0 };
    conn.query_row("SELECT count(*) FROM reports", [], |r| r.get(0)).unwrap_or(0)
}
