//! Values read back go through the same checks as values coming in: a row that fails its type's
//! check (written by something else, or changed since) is an error naming its column, never a
//! panic and never passed on. And an incident reads back as the detector made it, including a
//! document stored before this store kept `vantage_detect::Incident` itself.

use super::{Incident, IncidentFilter, Observation, RollupFilter, SqliteStore, Store, StoreError};

/// An incident document as stores wrote it before issue 9 (no `asns`, `confidence`, ...).
const OLD_DOC: &str = r#"{"id":"00000000000000a1","platform":"x","country":"PK","asn":null,"state":"disrupted",
    "started_at":"1970-01-01T01:40:00Z","ended_at":null,"peak_failure_rate":0.9,"affected_asns":[17557],
    "reports":120,"networks":40}"#;

/// One raw row, as `vantage export --raw` writes it.
fn row() -> Observation {
    let line = r#"{"ts":"1970-01-01T01:40:00Z","country":"PK","asn":17557,"network":7,"site":"drm","platform":"x",
        "target":"x.main","outcome":"ok","ms":120.0,"control_outcome":"ok","control_ms":40.0,"browser_family":null,
        "net_type":null,"report_id":"0123456789abcdef0123456789abcdef"}"#;
    super::json_row::decode(line.as_bytes()).unwrap()
}

fn incident() -> Incident {
    let mut i: Incident = serde_json::from_str(OLD_DOC).unwrap();
    (i.start_minute, i.confidence, i.end_reason) = (100, 0.77, None);
    i
}

/// A store holding [`row`] (its rollups flushed by the close) and [`incident`], after `sql` ran
/// on its file.
fn store_changed_by(sql: &str) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let store = SqliteStore::open(&path, 4).unwrap();
    store.import(&[row()]).unwrap();
    store.upsert_incidents(&[incident()]).unwrap();
    store.close().unwrap();
    rusqlite::Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    (dir, SqliteStore::open(&path, 4).unwrap())
}

fn corrupt_column(e: StoreError) -> String {
    match e {
        StoreError::Corrupt { column, .. } => column,
        other => panic!("not a corrupt row: {other}"),
    }
}

#[test]
fn a_raw_row_that_fails_its_check_fails_the_export_naming_the_column() {
    let (_dir, store) = store_changed_by("UPDATE reports SET country = 'pk'");
    let e = store.observations(None, None).unwrap_err();
    let message = e.to_string();
    assert!(message.contains("\"pk\" must be two upper-case letters"), "{message}");
    assert_eq!(corrupt_column(e), "country");
}

#[test]
fn packed_measurements_that_are_not_format_1_fail_the_export_naming_the_column() {
    for (sql, says) in [
        ("UPDATE reports SET measurements = '[[1,\"ok\"'", "is not packed measurements: EOF"),
        ("UPDATE reports SET measurements = '[[1,\"fine\",1.0,null]]'", "\"fine\" is not an outcome"),
        ("UPDATE reports SET measurements = '[[99,\"ok\",1.0,null]]'", "no target has code 99"),
        ("UPDATE report_targets SET target = 'X'", "\"X\" must be"),
    ] {
        let (_dir, store) = store_changed_by(sql);
        let e = store.observations(None, None).unwrap_err();
        let message = e.to_string();
        assert!(message.contains(says), "{sql}: {message}");
        let column = corrupt_column(e);
        assert!(["measurements", "target"].contains(&column.as_str()), "{sql}: {column}");
    }
}

#[test]
fn a_rollup_row_that_fails_its_check_fails_the_read_naming_the_column() {
    let (_dir, store) = store_changed_by("UPDATE rollup_nets SET platform = 'x.main'");
    let filter = RollupFilter { from: 0, to: 1000, ..RollupFilter::default() };
    assert_eq!(corrupt_column(store.scan_rollups(&filter, &mut |_| {}).unwrap_err()), "platform");
}

#[test]
fn an_incident_document_that_is_no_incident_fails_the_read_naming_the_field() {
    let (_dir, store) = store_changed_by(r#"UPDATE incidents SET doc = replace(doc, '"disrupted"', '"broken"')"#);
    let all = IncidentFilter { limit: 10, ..IncidentFilter::default() };
    assert_eq!(corrupt_column(store.incidents(&all).unwrap_err()), "doc.state");
}

#[test]
fn an_incident_reads_back_as_stored_and_an_old_document_still_reads() {
    let (_dir, store) = store_changed_by("");
    let all = IncidentFilter { limit: 10, ..IncidentFilter::default() };
    assert_eq!(store.incidents(&all).unwrap(), [incident()]);
    let sql = format!("UPDATE incidents SET doc = '{}'", OLD_DOC.replace('\n', ""));
    let (_dir, store) = store_changed_by(&sql);
    let old = store.incidents(&all).unwrap();
    assert_eq!(old, [Incident { confidence: 0.0, ..incident() }], "the fields added since read their defaults");
}
