//! Duplicates are refused whether their first copy's id is in memory, in `report_ids`, or was
//! in memory when the collector crashed; and a store of format 1 opens as format 2 unchanged.

use super::super::sqlite_flush::tests::submit;
use super::super::sqlite_raw::tests::{assert_rows, count, rows};
use super::super::sqlite_raw::{COLUMNS, VIEWS};
use super::super::{sqlite, sqlite_flush, Observation, SqliteStore, Store, Stored};
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
