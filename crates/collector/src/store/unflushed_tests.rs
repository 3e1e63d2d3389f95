//! The one-pass accumulation counts exactly what `RollupDelta` counts, and a read of one
//! (platform, country) pair finds exactly the cells a full scan would.

use super::super::sqlite_raw::tests::{expected, normalized, rows};
use super::super::RollupFilter;
use super::{matches, CellKey, Generation, State};
use crate::rollup::CellRollup;

/// The cells of a generation as the store hands them out, in key order.
fn cells(g: &Generation) -> Vec<CellRollup> {
    normalized(g.iter().map(|(k, s)| s.to_rollup(k.clone())).collect())
}

/// A generation of `rows`, a report at a time.
fn generation_of(rows: &[super::Observation]) -> Generation {
    let mut g = Generation::default();
    for report in rows.chunk_by(|a, b| a.report_id == b.report_id) {
        g.add_report(report);
    }
    g
}

#[test]
fn reports_added_in_place_count_what_a_delta_counts() {
    // Rows alternate platforms within a report (x, youtube, x, ...), so a platform's rows are not
    // consecutive; every 25th report is late; reports repeat minutes, countries, ASNs, networks.
    let all = rows(400, 6);
    let g = generation_of(&all);
    let want = expected(&all);
    assert_eq!(cells(&g), want);
    assert_eq!(g.entries, want.iter().map(|c| c.nets.len()).sum::<usize>(), "every network entry counted once");

    // The same rows with each report's platforms grouped count the same.
    let mut grouped = Generation::default();
    for report in all.chunk_by(|a, b| a.report_id == b.report_id) {
        let mut r = report.to_vec();
        r.sort_by(|a, b| a.platform.cmp(&b.platform));
        grouped.add_report(&r);
    }
    assert_eq!(cells(&grouped), want);
}

#[test]
fn a_read_of_one_pair_finds_the_cells_a_full_scan_finds() {
    let all = rows(400, 6);
    let mut s = State::default();
    let (first, second) = all.split_at(all.len() / 2);
    s.add_reports(first.chunk_by(|a, b| a.report_id == b.report_id), 1);
    s.seal();
    s.add_reports(second.chunk_by(|a, b| a.report_id == b.report_id), 2);
    let want = expected(&all);
    let minutes = (want[0].key.minute, want[want.len() - 1].key.minute);
    for platform in ["x", "youtube", "facebook"] {
        for country in ["PK", "IR", "ZZ", "DE"] {
            for (from, to) in [(i64::MIN, i64::MAX), (minutes.0 + 2, minutes.1), (minutes.1, minutes.1 + 1)] {
                for asn in [None, Some(1)] {
                    let f = RollupFilter { from, to, platform: platform.parse().ok(), country: country.parse().ok(), asn };
                    let got: Vec<_> = s.copy(&f).into_iter().map(|(k, c)| c.to_rollup(k)).collect();
                    let full: Vec<_> = want.iter().filter(|c| matches(&c.key, &f)).cloned().collect();
                    assert_eq!(normalized(got), full, "{f:?}");
                }
            }
        }
    }
    let all_cells = RollupFilter { from: i64::MIN, to: i64::MAX, ..RollupFilter::default() };
    assert_eq!(normalized(s.copy(&all_cells).into_iter().map(|(k, c)| c.to_rollup(k)).collect()), want);
}

#[test]
fn cells_up_to_a_flushed_key_are_dropped_with_their_entries() {
    let all = rows(120, 4);
    let mut g = generation_of(&all);
    let want = expected(&all);
    let done: CellKey = want[want.len() / 2].key.clone();
    g.retain_after(&done);
    let kept: Vec<_> = want.into_iter().filter(|c| c.key > done).collect();
    assert_eq!(cells(&g), kept);
    assert_eq!(g.entries, kept.iter().map(|c| c.nets.len()).sum::<usize>());
}
