//! Duplicates are refused whether their first copy's id is in memory, in `report_ids`, or was
//! in memory when the collector crashed; and a store of format 1 opens as format 2 unchanged.

use super::super::sqlite_flush::tests::submit;
use super::super::sqlite_raw::tests::{assert_rows, count, rows};
use super::super::sqlite_raw::{COLUMNS, VIEWS};
use super::super::unflushed::Unflushed;
use super::super::{report_ids, sqlite, sqlite_flush, Observation, RollupFilter, SqliteStore, Store, Stored};
use super::{IdSet, Ids};
use vantage_protocol::ReportId;

/// `n` reports (id, rows) of `rows(n, 3)`; every 25th is late (an id, no rollup).
fn reports(n: u64) -> Vec<(ReportId, Vec<Observation>)> {
    rows(n, 3).chunk_by(|a, b| a.report_id == b.report_id).map(|r| (r[0].report_id, r.to_vec())).collect()
}

#[test]
fn a_duplicate_of_a_report_unflushed_at_a_crash_is_refused_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let all = reports(40);
    let store = SqliteStore::open(&path, 64).unwrap();
    assert!(submit(&store, &all).iter().all(|s| *s == Stored::New));
    assert_eq!(store.ids().lock().growing.len(), 40, "the ids are in memory only");
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 0);
    store.crash();

    // Recovery refills the set from the raw rows after the flush mark, late reports too.
    let conn = sqlite::connect(&path).unwrap();
    let (_, ids) = sqlite_flush::recover(&conn).unwrap();
    assert_eq!(ids.growing.len(), 40);
    assert!(all.iter().all(|(id, _)| ids.contains(id)));
    drop(conn);

    let store = SqliteStore::open(&path, 64).unwrap();
    assert!(submit(&store, &all).iter().all(|s| *s == Stored::Duplicate), "every repeat refused");
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 40);
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 40, "the rebuilt ids were flushed at open");
    store.close().unwrap();
}

#[test]
fn a_duplicate_of_a_flushed_report_is_refused_and_a_batch_refuses_its_own_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let all = reports(40);
    let store = SqliteStore::open(&path, 64).unwrap();
    assert!(submit(&store, &all[..20]).iter().all(|s| *s == Stored::New));
    // Flush from a connection of its own (the writer is idle and nothing is due yet).
    let mut conn = sqlite::connect(&path).unwrap();
    sqlite_flush::step(&mut conn, store.unflushed(), store.ids(), true).unwrap();
    assert!(!store.ids().lock().contains(&all[0].0), "dropped from memory once in report_ids");
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 20);
    assert!(submit(&store, &all[..20]).iter().all(|s| *s == Stored::Duplicate), "refused from report_ids");

    // Two copies queued together: the second is decided against the first, not yet committed.
    let twice: Vec<_> = all[20..].iter().chain(&all[20..]).cloned().collect();
    let outcomes = submit(&store, &twice);
    assert!(outcomes[..20].iter().all(|s| *s == Stored::New) && outcomes[20..].iter().all(|s| *s == Stored::Duplicate), "{outcomes:?}");
    store.close().unwrap();
    let store = SqliteStore::open(&path, 64).unwrap();
    assert!(submit(&store, &all).iter().all(|s| *s == Stored::Duplicate), "after a clean close");
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 40);
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 40);
    assert_eq!(store.import(&all[5].1).unwrap(), 0, "an import refuses it too");
    store.close().unwrap();
}

/// Format 1's `reports`: `id` the primary key.
const FORMAT1_REPORTS: &str = "CREATE TABLE reports (
    id TEXT PRIMARY KEY, ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
    site TEXT NOT NULL, control_outcome TEXT NOT NULL, control_ms REAL NOT NULL, browser_family TEXT, net_type TEXT,
    late INTEGER NOT NULL, measurements TEXT NOT NULL
);
CREATE INDEX reports_ts ON reports (ts);";

/// Rewrites a format 2 store at `path` the way format 1 kept it: no `report_ids`, `id` the key.
fn to_format1(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "BEGIN; DROP VIEW observations; DROP TABLE report_ids; DROP INDEX reports_ts; ALTER TABLE reports RENAME TO r2;
         {FORMAT1_REPORTS}
         INSERT INTO reports (rowid, {COLUMNS}) SELECT rowid, {COLUMNS} FROM r2 ORDER BY rowid; DROP TABLE r2;
         {VIEWS} PRAGMA user_version = 1; COMMIT;"
    ))
    .unwrap();
}

#[test]
fn a_store_of_format_1_opens_as_format_2_with_its_rows_rowids_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let all = rows(300, 2);
    let (flushed, unflushed) = all.split_at(400);
    let store = SqliteStore::open(&path, 64).unwrap();
    store.import(flushed).unwrap();
    store.close().unwrap();
    // The rest unflushed when it stopped: after the mark, rebuilt at open.
    let store = SqliteStore::open(&path, 64).unwrap();
    store.import(unflushed).unwrap();
    store.crash();
    to_format1(&path);
    let listing = |path| -> Vec<(i64, String)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT rowid, id FROM reports ORDER BY rowid").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let before = listing(&path);
    assert_eq!(before.len(), 300);

    let store = SqliteStore::open(&path, 64).unwrap();
    assert_eq!(count(&path, "PRAGMA user_version"), 2);
    assert_eq!(count(&path, "SELECT count(*) FROM pragma_table_info('reports') WHERE pk > 0"), 0, "no key on reports");
    assert_eq!(count(&path, "SELECT count(*) FROM pragma_index_list('reports') WHERE name = 'reports_ts'"), 1);
    assert_eq!(listing(&path), before, "every report kept, in rowid order");
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 300);
    let mut got = store.observations(None, None).unwrap();
    got.sort_by(|a, b| (a.ts, a.report_id, &a.target).cmp(&(b.ts, b.report_id, &b.target)));
    assert_rows(&got, &all, "every row read back");
    let (first, last) = (&all[..2], &all[all.len() - 2..]);
    for rows in [first, last] {
        assert_eq!(store.submit(rows[0].report_id, rows.to_vec()).unwrap().blocking_recv().unwrap().unwrap(), Stored::Duplicate);
    }
    let new: ReportId = "e".repeat(32).parse().unwrap();
    let fresh: Vec<_> = first.iter().map(|o| Observation { report_id: new, ..o.clone() }).collect();
    assert_eq!(store.submit(new, fresh).unwrap().blocking_recv().unwrap().unwrap(), Stored::New);
    store.close().unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 301);
}

/// A flush that crashed between two of its id chunks: part of the sealed ids are in
/// `report_ids`, the mark has not moved, and every id is still refused, before and after the
/// restart (whose replay writes the rest, the ones already there ignored).
#[test]
fn a_duplicate_is_refused_when_a_flush_stopped_between_id_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let all = reports(report_ids::ID_CHUNK as u64 * 2 + 300);
    let store = SqliteStore::open(&path, 64).unwrap();
    assert_eq!(store.import(&all.iter().flat_map(|(_, r)| r.clone()).collect::<Vec<_>>()).unwrap(), all.len() * 3);
    // The writer stops with everything unflushed; the flush below runs without it, chunk by chunk.
    store.crash();
    let mut conn = sqlite::connect(&path).unwrap();
    let (state, recovered) = sqlite_flush::recover(&conn).unwrap();
    let (unflushed, ids) = (Unflushed::default(), Ids::default());
    *unflushed.lock() = state;
    *ids.lock() = recovered;
    unflushed.lock().seal();
    ids.lock().seal();
    // The cells' chunks, then the first id chunk.
    while count(&path, "SELECT count(*) FROM report_ids") == 0 {
        sqlite_flush::step(&mut conn, &unflushed, &ids, false).unwrap();
    }
    let moved = count(&path, "SELECT count(*) FROM report_ids");
    assert_eq!(moved, report_ids::ID_CHUNK as i64, "one id chunk written");
    assert_eq!(ids.lock().sealed.len(), all.len() - report_ids::ID_CHUNK, "the written ids left memory");
    assert_eq!(count(&path, "SELECT through FROM rollup_flushed"), 0, "the mark waits for the last id");
    let refused =
        |ids: &IdSet, conn: &rusqlite::Connection| all.iter().all(|(id, _)| ids.contains(id) || report_ids::flushed(conn, id).unwrap());
    assert!(refused(&ids.lock(), &conn), "each id in memory or in report_ids");
    drop(conn);

    // The crash: the memory is gone. Reopening replays every sealed id, writes the rest.
    let store = SqliteStore::open(&path, all.len()).unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), all.len() as i64);
    assert!(submit(&store, &all).iter().all(|s| *s == Stored::Duplicate), "every repeat refused");
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), all.len() as i64);
    let mut reports_counted = 0;
    let minutes = all.iter().map(|(_, r)| r[0].ts.div_euclid(60));
    let every = RollupFilter { from: minutes.clone().min().unwrap(), to: minutes.max().unwrap() + 1, ..RollupFilter::default() };
    store.scan_rollups(&every, &mut |c| reports_counted += c.nets.iter().map(|n| u64::from(n.reports)).sum::<u64>()).unwrap();
    // rows(n, 3): platforms x and youtube alternate, so an on-time report counts on both.
    let on_time = all.iter().filter(|(_, r)| !r[0].late).count() as u64;
    assert_eq!(reports_counted, on_time * 2, "each on-time report's rollups counted once");
    store.close().unwrap();
}
