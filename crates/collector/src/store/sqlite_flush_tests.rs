//! Rollups read back equal the rollups of the raw rows, exactly once, whether they are unflushed,
//! partly flushed, or rebuilt after a crash.

use super::super::unflushed::by_cell;
use super::super::{Observation, RollupFilter, SqliteStore, Store, Stored};
use crate::rollup::{CellRollup, RollupDelta};
use vantage_protocol::{Outcome, ReportId};

const FIRST_MINUTE: i64 = 1_000_000;

/// Reports over 20 minutes, 2 countries, 3 ASNs and about 9,000 networks (more network rows than
/// one flush chunk), every outcome, control failures, and every 50th report late.
fn reports() -> Vec<(ReportId, Vec<Observation>)> {
    let mut x: u64 = 11;
    let mut next = |m: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    (0..6000u64)
        .map(|r| {
            // A report's rows share its time and control, as ingest makes them (one raw row holds it once).
            let ts = (FIRST_MINUTE + next(20) as i64) * 60 + next(60) as i64;
            let control_outcome = if next(10) == 0 { Outcome::Error } else { Outcome::Ok };
            let (country, asn, network) = (["PK", "IR"][next(2) as usize], next(3) as u32, next(9000) as u32);
            let id: ReportId = format!("{r:032x}").parse().unwrap();
            let rows = ["x", "youtube"]
                .iter()
                .map(|platform| Observation {
                    ts,
                    country: country.parse().unwrap(),
                    asn,
                    network,
                    site: "s".parse().unwrap(),
                    platform: platform.parse().unwrap(),
                    target: format!("{platform}.t").parse().unwrap(),
                    outcome: Outcome::from_wire(["ok", "ok", "error", "timeout", "blocked_by_client"][next(5) as usize]).unwrap(),
                    ms: 10.0 + next(5000) as f64,
                    control_outcome,
                    control_ms: 50.0,
                    browser_family: None,
                    net_type: None,
                    report_id: id,
                    late: r % 50 == 0,
                    status: None,
                })
                .collect();
            (id, rows)
        })
        .collect()
}

/// Cell-minutes with `log_ms_sum` rounded: sums of floats differ in the last bits by order.
fn normalized(mut cells: Vec<CellRollup>) -> Vec<CellRollup> {
    for c in &mut cells {
        for n in &mut c.nets {
            n.log_ms_sum = (n.log_ms_sum * 1e6).round() / 1e6;
        }
    }
    cells
}

/// What the rollups of `reports` are, computed directly from the rows.
fn expected(reports: &[(ReportId, Vec<Observation>)], f: &RollupFilter) -> Vec<CellRollup> {
    let mut d = RollupDelta::default();
    for (_, rows) in reports {
        d.add(rows.iter());
    }
    let cells = by_cell(d).into_iter().filter(|(k, _)| super::super::unflushed::matches(k, f));
    normalized(cells.map(|(k, s)| s.to_rollup(k)).collect())
}

fn read(store: &SqliteStore, f: &RollupFilter) -> Vec<CellRollup> {
    let mut out = Vec::new();
    store.scan_rollups(f, &mut |c| out.push(c)).unwrap();
    normalized(out)
}

fn filters() -> Vec<RollupFilter> {
    let all = RollupFilter { from: FIRST_MINUTE - 5, to: FIRST_MINUTE + 25, ..RollupFilter::default() };
    vec![
        all.clone(),
        RollupFilter { platform: Some("x".parse().unwrap()), country: Some("PK".parse().unwrap()), ..all.clone() },
        RollupFilter { from: FIRST_MINUTE + 7, to: FIRST_MINUTE + 9, asn: Some(1), ..all },
    ]
}

fn assert_reads(store: &SqliteStore, reports: &[(ReportId, Vec<Observation>)], when: &str) {
    for f in filters() {
        let (got, want) = (read(store, &f), expected(reports, &f));
        assert!(!want.is_empty());
        assert_eq!(got.len(), want.len(), "{when}: cells of {f:?}");
        assert!(got == want, "{when}: {f:?} differs, e.g. {:?}", got.iter().zip(&want).find(|(a, b)| a != b));
    }
}

/// Queues every report at once (so the writer commits them in a few batches), then waits.
pub(in crate::store) fn submit(store: &SqliteStore, reports: &[(ReportId, Vec<Observation>)]) -> Vec<Stored> {
    let acks: Vec<_> = reports.iter().map(|(id, rows)| store.submit(*id, rows.clone()).unwrap()).collect();
    acks.into_iter().map(|a| a.blocking_recv().unwrap().unwrap()).collect()
}

#[test]
fn reads_count_every_report_once_unflushed_partly_flushed_and_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let all = reports();
    let (live, imported) = all.split_at(3500);
    let store = SqliteStore::open(&path, 4096).unwrap();
    assert!(submit(&store, live).iter().all(|s| *s == Stored::New));
    for chunk in imported.chunks(700) {
        store.import(&chunk.iter().flat_map(|(_, r)| r.clone()).collect::<Vec<_>>()).unwrap();
    }
    assert_reads(&store, &all, "all unflushed");
    let entries = store.unflushed().lock().growing.entries;
    assert!(entries > 2 * super::CHUNK_ENTRIES, "{entries} network entries: too few for a partial flush");

    // Seal and write one chunk, from a connection of its own (the writer held off): part of the
    // generation is in the tables, the rest in memory.
    let mut conn = super::super::sqlite::connect(&path).unwrap();
    store.unflushed().hold_flush.store(true, std::sync::atomic::Ordering::SeqCst);
    store.unflushed().lock().seal();
    super::step(&mut conn, store.unflushed(), store.ids(), false).unwrap();
    let left = store.unflushed().lock().sealed.entries;
    assert!(left > 0 && left < entries, "one chunk written: {left} of {entries} left");
    assert_reads(&store, &all, "partly flushed");
    // A repeated report changes nothing.
    let (id, rows) = &live[0];
    assert_eq!(store.submit(*id, rows.clone()).unwrap().blocking_recv().unwrap().unwrap(), Stored::Duplicate);
    assert_eq!(store.import(&imported[0].1).unwrap(), 0);

    // A crash now: the sealed rest and nothing else was unflushed. Reopening rebuilds exactly it
    // from the raw rows and writes it to the tables before taking reports.
    store.crash();
    let store = SqliteStore::open(&path, 4096).unwrap();
    let held = {
        let s = store.unflushed().lock();
        s.sealed.entries + s.growing.entries
    };
    assert_eq!(held, 0, "the rebuilt rollups were written at start-up");
    assert_reads(&store, &all, "after the crash");
    let marks = super::marks(&conn).unwrap();
    assert!(marks.sealed.is_none());
    assert_eq!(marks.through, conn.query_row("SELECT max(rowid) FROM reports", [], |r| r.get::<_, i64>(0)).unwrap());

    // More reports after a restart are added on top, and a clean close flushes them.
    // New ids: the first hex digit (0 in every generated id) becomes b.
    let more: Vec<_> =
        reports().into_iter().map(|(id, rows)| (format!("b{}", &id.as_str()[1..]).parse().unwrap(), rows)).take(500).collect();
    assert!(submit(&store, &more).iter().all(|s| *s == Stored::New));
    let both: Vec<_> = all.iter().chain(&more).cloned().collect();
    assert_reads(&store, &both, "more after the restart");
    store.close().unwrap();
    let store = SqliteStore::open(&path, 4096).unwrap();
    assert_eq!(store.unflushed().lock().growing.entries, 0, "nothing left to rebuild after a clean close");
    assert_reads(&store, &both, "after a clean close");
    store.close().unwrap();
}
