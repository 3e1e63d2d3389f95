//! Store: rows/s of the collector's group-commit SQLite writer (its `Store` impl, in process)
//! against a plain rusqlite loop inserting the same rows in one transaction into the same schema.

use crate::report::{Figure, Goal};
use crate::util;
use rusqlite::params;
use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;
use vantage_collector::store::{self, Observation, SubmitError};
use vantage_collector::StoreUrl;

const ROWS_PER_REPORT: usize = 10;
const QUEUE: usize = 4096;

/// `reports` reports of 10 rows each, unique ids, realistic columns, spread over the last
/// `span_minutes` minutes.
pub fn reports(reports: std::ops::Range<usize>, seed: u64, span_minutes: i64) -> Vec<(String, Vec<Observation>)> {
    let targets = vantage_collector::targets::default_targets();
    let mut rng = util::Rng::new(seed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let countries = ["PK", "IR", "RU", "TR", "IN", "ET", "MM", "VE", "EG", "BD"];
    reports
        .map(|i| {
            let id = format!("{:016x}{:016x}", seed, i);
            let country = countries[rng.next_u32() as usize % countries.len()];
            let asn = 1000 + rng.next_u32() % 40;
            let network = rng.next_u32();
            let rows = (0..ROWS_PER_REPORT)
                .map(|k| {
                    let t = &targets.targets[k % targets.targets.len()];
                    let fail = rng.unit() < 0.05;
                    Observation {
                        ts: (now - 60 * (i as i64 % span_minutes)) / 60 * 60,
                        country: country.into(),
                        asn,
                        network,
                        site: "bench".into(),
                        platform: t.platform.clone(),
                        target: t.id.clone(),
                        outcome: if fail { "timeout".into() } else { "ok".into() },
                        ms: if fail { 15000.0 } else { 100.0 + 300.0 * rng.unit() },
                        control_outcome: "ok".into(),
                        control_ms: 40.0,
                        browser_family: Some("chromium".into()),
                        net_type: Some("wifi".into()),
                        report_id: id.clone(),
                        late: false,
                        status: None,
                    }
                })
                .collect();
            (id, rows)
        })
        .collect()
}

/// Submits every report to the store's writer, keeping its queue full, and waits for all acks.
fn through_store(path: &Path, data: Vec<(String, Vec<Observation>)>, pb: &indicatif::ProgressBar) -> Result<f64, String> {
    let store = store::open(&StoreUrl::Sqlite(path.to_path_buf()), QUEUE)?;
    let rows: usize = data.iter().map(|(_, r)| r.len()).sum();
    let started = Instant::now();
    let mut pending = VecDeque::new();
    for (id, obs) in data {
        // Acks still pending include every queued report, so the queue never refuses one.
        if pending.len() >= QUEUE {
            let ack: store::Ack = pending.pop_front().expect("pending ack");
            ack.blocking_recv().map_err(|_| "writer dropped an ack")??;
            pb.inc(1);
        }
        match store.submit(id, obs) {
            Ok(ack) => pending.push_back(ack),
            Err(SubmitError::Full) => return Err("queue full below its capacity".into()),
            Err(SubmitError::Closed) => return Err("store closed".into()),
        }
    }
    for ack in pending {
        ack.blocking_recv().map_err(|_| "writer dropped an ack")??;
        pb.inc(1);
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = store.stats();
    store.close()?;
    if stats.rows as usize != rows {
        return Err(format!("store wrote {} rows of {rows}", stats.rows));
    }
    Ok(rows as f64 / secs)
}

/// The baseline: one connection, one transaction, one prepared INSERT per row, into the same
/// schema (created by the store itself, so tables, indexes and pragmas are identical).
fn plain_loop(path: &Path, data: &[(String, Vec<Observation>)], pb: &indicatif::ProgressBar) -> Result<f64, String> {
    store::open(&StoreUrl::Sqlite(path.to_path_buf()), 1)?.close()?;
    let err = |e: rusqlite::Error| e.to_string();
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    let started = Instant::now();
    let tx = conn.transaction().map_err(err)?;
    let mut rows = 0;
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO observations (ts, country, asn, network, site, platform, target, outcome, ms,
                 control_outcome, control_ms, browser_family, net_type, report_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .map_err(err)?;
        for (_, obs) in data {
            for o in obs {
                stmt.execute(params![
                    o.ts,
                    o.country,
                    o.asn,
                    o.network,
                    o.site,
                    o.platform,
                    o.target,
                    o.outcome,
                    o.ms,
                    o.control_outcome,
                    o.control_ms,
                    o.browser_family,
                    o.net_type,
                    o.report_id
                ])
                .map_err(err)?;
                rows += 1;
            }
            pb.inc(1);
        }
    }
    tx.commit().map_err(err)?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

pub fn run(smoke: bool, figures: &mut Vec<Figure>) -> Result<(), String> {
    let (n, rounds) = if smoke { (5_000, 1) } else { (100_000, 2) };
    let dir = tempfile::Builder::new().prefix("vantage-bench-store-").tempdir().map_err(|e| e.to_string())?;
    let (mut best_store, mut best_plain) = (0.0f64, 0.0f64);
    let mut per_round = Vec::new();
    for r in 0..rounds {
        let data = reports(0..n, 7 + r as u64, 1440);
        let pb = util::bar(n as u64, "store");
        pb.set_message(format!("plain rusqlite loop {}/{rounds}", r + 1));
        let plain = plain_loop(&dir.path().join(format!("plain-{r}.db")), &data, &pb)?;
        pb.set_position(0);
        pb.set_message(format!("collector store writer {}/{rounds}", r + 1));
        let writer = through_store(&dir.path().join(format!("store-{r}.db")), data, &pb)?;
        pb.finish_and_clear();
        per_round.push(format!("{writer:.0}/{plain:.0}"));
        best_store = best_store.max(writer);
        best_plain = best_plain.max(plain);
    }
    figures.push(
        Figure::new("store", "store.rows_per_s", "rows/s through the collector's batch writer", "rows/s", best_store)
            .baseline(best_plain)
            .goal(Goal::ratio_at_least(0.7))
            .note(format!(
                "{n} reports x {ROWS_PER_REPORT} rows, queue {QUEUE}, fresh file each; best of {rounds} (writer/plain per round: {}); baseline: plain rusqlite loop, one transaction, same schema and pragmas (WAL, synchronous=FULL)",
                per_round.join(", ")
            )),
    );
    Ok(())
}
