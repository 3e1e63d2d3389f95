//! One row per report: measurements come back exactly as stored, imports keep their rules, and a
//! store written with one row per measurement opens migrated, its rows and rollups unchanged.

use super::super::unflushed::by_cell;
use super::super::{Observation, RollupFilter, SqliteStore, Store, StoreError, Stored};
use crate::rollup::{CellRollup, RollupDelta};
use rusqlite::params;
use vantage_protocol::{Outcome, ReportId};

const MINUTE: i64 = 29_000_000;

/// `n` reports of `per` measurements each over 10 minutes (every outcome, some `http_error`s with
/// a status, a few late, ms that are no short decimals), rows sorted as an export writes them.
pub(in crate::store) fn rows(n: u64, per: u64) -> Vec<Observation> {
    let mut out = Vec::new();
    for r in 0..n {
        let id: ReportId = format!("{:032x}", r * 7919).parse().unwrap();
        let (ts, network) = ((MINUTE + (r % 10) as i64) * 60, (r % 300) as u32);
        for t in 0..per {
            let outcome = Outcome::ALL[((r + t) % 5) as usize];
            out.push(Observation {
                ts,
                country: ["PK", "IR", "ZZ"][(r % 3) as usize].parse().unwrap(),
                asn: (r % 4) as u32,
                network,
                site: "drm".parse().unwrap(),
                platform: ["x", "youtube"][(t % 2) as usize].parse().unwrap(),
                target: format!("t{t:02}").parse().unwrap(),
                outcome,
                ms: 0.1 + 0.2 * (r * per + t) as f64 / 3.0,
                control_outcome: if r % 9 == 0 { Outcome::Timeout } else { Outcome::Ok },
                control_ms: 40.0 + r as f64 / 7.0,
                browser_family: (r % 2 == 0).then(|| "firefox".to_string()),
                net_type: (r % 5 == 0).then(|| "wifi".to_string()),
                report_id: id,
                late: r % 25 == 0,
                status: (outcome == Outcome::HttpError).then_some(451),
            });
        }
    }
    out.sort_by(|a, b| (a.ts, a.report_id, &a.target).cmp(&(b.ts, b.report_id, &b.target)));
    out
}

/// The rollups of `rows` (one whole report per `add`), every cell.
pub(in crate::store) fn expected(rows: &[Observation]) -> Vec<CellRollup> {
    let mut d = RollupDelta::default();
    for report in rows.chunk_by(|a, b| a.report_id == b.report_id) {
        d.add(report);
    }
    normalized(by_cell(d).into_iter().map(|(k, s)| s.to_rollup(k)).collect())
}

/// Cell-minutes with `log_ms_sum` rounded: sums of floats differ in the last bits by order.
pub(in crate::store) fn normalized(mut cells: Vec<CellRollup>) -> Vec<CellRollup> {
    for n in cells.iter_mut().flat_map(|c| c.nets.iter_mut()) {
        n.log_ms_sum = (n.log_ms_sum * 1e6).round() / 1e6;
    }
    cells
}

fn rollups(store: &SqliteStore) -> Vec<CellRollup> {
    let mut out = Vec::new();
    let all = RollupFilter { from: MINUTE - 1, to: MINUTE + 11, ..RollupFilter::default() };
    store.scan_rollups(&all, &mut |c| out.push(c)).unwrap();
    normalized(out)
}

/// Asserts `got == want`, showing the first row that differs.
pub(in crate::store) fn assert_rows(got: &[Observation], want: &[Observation], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("{what}: got {g:?}, want {w:?}");
    }
}

pub(in crate::store) fn count(path: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn measurements_read_back_exactly_one_row_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let store = SqliteStore::open(&path, 64).unwrap();
    let all = rows(40, 16);
    let by_report: Vec<_> = all.chunk_by(|a, b| a.report_id == b.report_id).collect();
    // Half through the writer (in a shuffled order: the export sorts), half imported.
    for report in by_report[..20].iter().rev() {
        let mut shuffled = report.to_vec();
        shuffled.reverse();
        let ack = store.submit(report[0].report_id, shuffled).unwrap();
        assert_eq!(ack.blocking_recv().unwrap().unwrap(), Stored::New);
    }
    assert_eq!(store.import(&by_report[20..].concat()).unwrap(), 20 * 16);
    let back = store.observations(None, None).unwrap();
    assert_rows(&back, &all, "every value, ms to the last bit, in export order");
    assert_eq!(rollups(&store), expected(&all));
    // Stored as one row a report; the view still shows one row a measurement.
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 40);
    assert_eq!(count(&path, "SELECT count(*) FROM observations"), 640);
    assert_eq!(count(&path, "SELECT count(*) FROM observations WHERE outcome = 'http_error' AND status = 451"), 128);
    // The same report again, by either path, changes nothing.
    let ack = store.submit(all[0].report_id, by_report[0].to_vec()).unwrap();
    assert_eq!(ack.blocking_recv().unwrap().unwrap(), Stored::Duplicate);
    assert_eq!(store.import(by_report[30]).unwrap(), 0);
    store.close().unwrap();
    let store = SqliteStore::open(&path, 64).unwrap();
    assert_rows(&store.observations(None, None).unwrap(), &all, "reopened");
    assert_eq!(rollups(&store), expected(&all));
}

#[test]
fn an_import_keeps_a_repeated_target_once_and_refuses_a_report_whose_rows_disagree() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("v.db"), 64).unwrap();
    let report = rows(1, 3);
    let mut repeated = report.clone();
    repeated.push(Observation { ms: 9.0, ..report[1].clone() });
    assert_eq!(store.import(&repeated).unwrap(), 3);
    assert_rows(&store.observations(None, None).unwrap(), &report, "the first row of a repeated target is kept");

    let other = rows(2, 2).split_off(2);
    let mut split = other.clone();
    split[1].network += 1;
    match store.import(&split) {
        Err(StoreError::SplitReport { column, .. }) => assert_eq!(column, "network"),
        other => panic!("{other:?}"),
    }
    assert_rows(&store.observations(None, None).unwrap(), &report, "nothing of a refused import is stored");
}

/// The tables of a store before raw format 1, as that version's writer created them.
const LEGACY_SCHEMA: &str = "
CREATE TABLE reports (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE observations (
    ts INTEGER NOT NULL, country TEXT NOT NULL, asn INTEGER NOT NULL, network INTEGER NOT NULL,
    site TEXT NOT NULL, platform TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
    ms REAL NOT NULL, control_outcome TEXT NOT NULL, control_ms REAL NOT NULL,
    browser_family TEXT, net_type TEXT, report_id TEXT NOT NULL, late INTEGER NOT NULL DEFAULT 0, status INTEGER
);
CREATE INDEX observations_ts ON observations (ts);
CREATE TABLE rollup_flushed (
    id INTEGER PRIMARY KEY CHECK (id = 0), through INTEGER NOT NULL, sealed_to INTEGER,
    done_minute INTEGER, done_platform TEXT, done_country TEXT, done_asn INTEGER
);
";

/// A legacy store holding `rows` the way its writer inserted them (a report's rows together,
/// reports in the order of `rows`, but the row of `apart` after every other), none of them rolled
/// up yet: as a crash left it. The rows come from a store of format 1 through its view.
fn legacy_store(path: &std::path::Path, rows: &[Observation], apart: (ReportId, &str)) {
    let source = path.with_extension("source.db");
    let store = SqliteStore::open(&source, 4).unwrap();
    store.import(rows).unwrap();
    store.close().unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(LEGACY_SCHEMA).unwrap();
    conn.execute("ATTACH ?1 AS source", [source.to_str().unwrap()]).unwrap();
    conn.execute(
        "INSERT INTO observations SELECT ts, country, asn, network, site, platform, target, outcome, ms, control_outcome,
         control_ms, browser_family, net_type, report_id, late, status FROM source.observations
         ORDER BY report_id = ?1 AND target = ?2, rowid",
        params![apart.0.as_str(), apart.1],
    )
    .unwrap();
    conn.execute_batch("INSERT INTO reports SELECT id FROM source.reports; INSERT INTO rollup_flushed (id, through) VALUES (0, 0);")
        .unwrap();
}

#[test]
fn a_store_of_one_row_per_measurement_opens_migrated_with_its_rows_and_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // 7 rows a report: more rows than one migration batch, and a report across the batches' edge.
    let all = rows(3_000, 7);
    assert!(all.len() as i64 > super::super::sqlite_migrate::BATCH_ROWS);
    // One report's last row written apart from the rest, after every other report.
    legacy_store(&path, &all, (all[3].report_id, all[3].target.as_str()));
    let last: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT target FROM observations ORDER BY rowid DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last, all[3].target.as_str(), "the row apart is last");

    let store = SqliteStore::open(&path, 64).unwrap();
    assert_rows(&store.observations(None, None).unwrap(), &all, "every row exported as before, in the same order");
    assert_eq!(rollups(&store), expected(&all), "the unflushed rows were rolled up once");
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 3_000);
    assert_eq!(count(&path, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'observations'"), 1);
    assert_eq!(count(&path, "PRAGMA user_version"), super::FORMAT);
    let ack = store.submit(all[0].report_id, all[..7].to_vec()).unwrap();
    assert_eq!(ack.blocking_recv().unwrap().unwrap(), Stored::Duplicate, "a migrated report is still known");
    store.close().unwrap();
    let store = SqliteStore::open(&path, 64).unwrap();
    assert_eq!(rollups(&store), expected(&all), "reopened: nothing counted twice");
    assert_rows(&store.observations(None, None).unwrap(), &all, "reopened");
}

#[test]
fn a_store_of_a_later_format_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    SqliteStore::open(&path, 4).unwrap().close().unwrap();
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", super::FORMAT + 1).unwrap();
    match SqliteStore::open(&path, 4) {
        Err(e @ StoreError::NewerFormat { .. }) => assert!(e.to_string().contains("newer vantage"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(count(&path, "PRAGMA user_version"), super::FORMAT + 1);
}

#[test]
fn retention_deletes_old_reports_in_batches_but_never_the_newest_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let store = SqliteStore::open(&path, 4).unwrap();
    let old = rows(2_500, 2);
    store.import(&old).unwrap();
    let mut recent = rows(1, 2);
    for o in &mut recent {
        (o.ts, o.report_id) = (o.ts + 86_400, "f".repeat(32).parse().unwrap());
    }
    store.import(&recent).unwrap();
    store.close().unwrap();
    let mut conn = super::super::sqlite::connect(&path).unwrap();
    let cutoff = recent[0].ts;
    assert_eq!(super::super::sqlite::delete_raw_before(&mut conn, cutoff).unwrap(), 2_500, "three batches of old reports");
    assert_eq!(count(&path, "SELECT count(*) FROM reports"), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM report_ids"), 1, "the deleted reports' ids went with them");
    // Now the only report is the newest row: old or not, it stays.
    assert_eq!(super::super::sqlite::delete_raw_before(&mut conn, cutoff + 60).unwrap(), 0);
    let store = SqliteStore::open(&path, 4).unwrap();
    assert_rows(&store.observations(None, None).unwrap(), &recent, "the recent report");
}

#[test]
fn an_interrupted_migration_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let all = rows(3_000, 7);
    legacy_store(&path, &all, (all[3].report_id, all[3].target.as_str()));
    // Its rollups flushed before (so the open replays none), and a row the first batch does not
    // reach fails its check: the migration stops after that batch.
    let last = all.last().unwrap();
    let broken = "UPDATE observations SET country = 'pk' WHERE report_id = ?1;
                  UPDATE rollup_flushed SET through = (SELECT max(rowid) FROM observations);";
    rusqlite::Connection::open(&path).unwrap().execute_batch(&broken.replace("?1", &format!("'{}'", last.report_id.as_str()))).unwrap();
    let e = SqliteStore::open(&path, 4).err().expect("the broken row stops the migration");
    assert!(e.to_string().contains("moving observations into reports"), "{e}");
    let moved = count(&path, "SELECT count(*) FROM reports");
    let left = count(&path, "SELECT count(*) FROM observations");
    assert!(moved > 0 && left > 0 && left < 21_000 - super::super::sqlite_migrate::BATCH_ROWS + 7, "{moved} moved, {left} left");

    let fixed = "UPDATE observations SET country = ?2 WHERE report_id = ?1";
    rusqlite::Connection::open(&path).unwrap().execute(fixed, [last.report_id.as_str(), last.country.as_str()]).unwrap();
    let store = SqliteStore::open(&path, 64).unwrap();
    assert_rows(&store.observations(None, None).unwrap(), &all, "resumed: every row once");
    assert_eq!(rollups(&store), [], "the rollups the old store had (none here) and nothing more");
}
