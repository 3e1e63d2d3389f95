//! Store: rows/s of the collector's group-commit SQLite writer (its `Store` impl, in process)
//! against a plain rusqlite loop inserting the same rows in one transaction into the same schema,
//! and the writer's per-report cost as the number of networks grows (1, 1,000, 100,000).

use crate::report::{Figure, Goal};
use crate::util;
use anyhow::Context;
use rusqlite::params;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Instant;
use vantage_collector::store::{self, Observation, SubmitError};
use vantage_collector::StoreUrl;
use vantage_protocol::{Country, Outcome, ReportId};

const ROWS_PER_REPORT: usize = 10;
const QUEUE: usize = 4096;

/// `reports` reports of 10 rows each, unique ids, realistic columns, spread over the last
/// `span_minutes` minutes.
pub(crate) fn reports(reports: std::ops::Range<usize>, seed: u64, span_minutes: i64) -> Vec<(ReportId, Vec<Observation>)> {
    let targets = vantage_collector::targets::default_targets();
    let mut rng = util::Rng::new(seed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let countries = ["PK", "IR", "RU", "TR", "IN", "ET", "MM", "VE", "EG", "BD"];
    reports
        .map(|i| {
            let id = report_id(seed, i);
            let country = countries[rng.next_u32() as usize % countries.len()];
            let asn = 1000 + rng.next_u32() % 40;
            let network = rng.next_u32();
            let rows = (0..ROWS_PER_REPORT)
                .map(|k| {
                    let t = &targets.targets[k % targets.targets.len()];
                    let ts = (now - 60 * (i as i64 % span_minutes)) / 60 * 60;
                    measurement(&mut rng, Observation { ts, country: country.parse().expect("a country"), asn, network, ..template(t, id) })
                })
                .collect();
            (id, rows)
        })
        .collect()
}

/// Report `i` of the run seeded `seed`: 32 hex digits in random order (as the widget's), unique
/// in the run.
fn report_id(seed: u64, i: usize) -> ReportId {
    crate::util::random_order_id(seed as u32, i as u64).parse().expect("32 hex digits")
}

/// A row of report `id` for target `t`, its measurement and country still to draw.
fn template(t: &vantage_protocol::Target, id: ReportId) -> Observation {
    Observation {
        ts: 0,
        country: Country::UNKNOWN,
        asn: 0,
        network: 0,
        site: "bench".parse().expect("a site key"),
        platform: t.platform.parse().expect("the default targets' platforms are valid"),
        target: t.id.parse().expect("the default targets' ids are valid"),
        outcome: Outcome::Ok,
        ms: 0.0,
        control_outcome: Outcome::Ok,
        control_ms: 40.0,
        browser_family: Some("chromium".into()),
        net_type: Some("wifi".into()),
        report_id: id,
        late: false,
        status: None,
    }
}

/// `row` with a drawn outcome: 5 % time out at 15 s, the rest answer in 100 to 400 ms.
fn measurement(rng: &mut util::Rng, row: Observation) -> Observation {
    if rng.unit() < 0.05 {
        Observation { outcome: Outcome::Timeout, ms: 15000.0, ..row }
    } else {
        Observation { ms: 100.0 + 300.0 * rng.unit(), ..row }
    }
}

/// Submits every report to the store's writer, keeping its queue full, and waits for all acks.
fn through_store(path: &Path, data: Vec<(ReportId, Vec<Observation>)>, pb: &indicatif::ProgressBar) -> anyhow::Result<f64> {
    let store = store::open(&StoreUrl::Sqlite(path.to_path_buf()), QUEUE)?;
    let rows: usize = data.iter().map(|(_, r)| r.len()).sum();
    let started = Instant::now();
    let mut pending = VecDeque::new();
    for (id, obs) in data {
        // Acks still pending include every queued report, so the queue never refuses one.
        if pending.len() >= QUEUE {
            let ack: store::Ack = pending.pop_front().expect("pending ack");
            ack.blocking_recv().context("writer dropped an ack")??;
            pb.inc(1);
        }
        match store.submit(id, obs) {
            Ok(ack) => pending.push_back(ack),
            Err(SubmitError::Full) => anyhow::bail!("queue full below its capacity"),
            Err(SubmitError::Closed) => anyhow::bail!("store closed"),
        }
    }
    for ack in pending {
        ack.blocking_recv().context("writer dropped an ack")??;
        pb.inc(1);
    }
    let stats = store.stats();
    // Closing writes every rollup still in memory: part of the cost of these reports.
    store.close()?;
    let secs = started.elapsed().as_secs_f64();
    if stats.rows as usize != rows {
        anyhow::bail!("store wrote {} rows of {rows}", stats.rows);
    }
    Ok(rows as f64 / secs)
}

/// The baseline: one connection, one transaction, one prepared INSERT per report into the same
/// schema (created by the store itself, so tables, indexes and pragmas are identical), its
/// measurements packed as the store packs them (raw format 1: `[code, outcome, ms, status]`).
fn plain_loop(path: &Path, data: &[(ReportId, Vec<Observation>)], pb: &indicatif::ProgressBar) -> anyhow::Result<f64> {
    store::open(&StoreUrl::Sqlite(path.to_path_buf()), 1)?.close()?;
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    let mut rows = 0;
    {
        let mut codes: HashMap<(&str, &str), i64> = HashMap::new();
        let mut code = tx.prepare("INSERT INTO report_targets (platform, target) VALUES (?1, ?2)")?;
        let mut stmt = tx.prepare(
            "INSERT INTO reports (id, ts, country, asn, network, site, control_outcome, control_ms, browser_family, net_type,
                 late, measurements) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11)",
        )?;
        for (id, obs) in data {
            let mut packed = Vec::with_capacity(obs.len());
            for o in obs {
                let key = (o.platform.as_str(), o.target.as_str());
                let c = match codes.get(&key) {
                    Some(c) => *c,
                    None => {
                        code.execute(key)?;
                        *codes.entry(key).or_insert(tx.last_insert_rowid())
                    }
                };
                packed.push((c, o.outcome.as_str(), o.ms, o.status));
            }
            let Some(o) = obs.first() else { continue };
            stmt.execute(params![
                id.as_str(),
                o.ts,
                o.country.as_str(),
                o.asn,
                o.network,
                o.site.as_str(),
                o.control_outcome.as_str(),
                o.control_ms,
                o.browser_family,
                o.net_type,
                serde_json::to_string(&packed)?
            ])?;
            rows += obs.len();
            pb.inc(1);
        }
    }
    tx.commit()?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Platforms x targets per report in the network-scaling run: the built-in list, 8 x 2.
const TARGETS_PER_REPORT: usize = 16;
/// Countries and ASNs the networks of the network-scaling run belong to.
const COUNTRIES: usize = 30;
const ASNS: u32 = 200;
/// Zipf exponent of how often each network reports: a few busy networks, a long tail.
const ZIPF_S: f64 = 0.6;

/// A population of `networks` networks, each with its own ASN (of [`ASNS`]) and country (of
/// [`COUNTRIES`]), drawn Zipf-like: what a news site's readers look like.
struct Population {
    /// Cumulative Zipf weights, for drawing a network by binary search.
    cdf: Vec<f64>,
}

impl Population {
    fn new(networks: usize) -> Population {
        let mut sum = 0.0;
        let cdf = (0..networks)
            .map(|i| {
                sum += 1.0 / ((i + 1) as f64).powf(ZIPF_S);
                sum
            })
            .collect();
        Population { cdf }
    }

    /// (network hash, ASN, country index) of a random reader.
    fn draw(&self, rng: &mut util::Rng) -> (u32, u32, usize) {
        let total = self.cdf.last().copied().unwrap_or(1.0);
        let i = self.cdf.partition_point(|c| *c < rng.unit() * total).min(self.cdf.len() - 1);
        let h = util::Rng::new(i as u64).next_u64();
        let asn = 1000 + (h % u64::from(ASNS)) as u32;
        (h as u32, asn, asn as usize % COUNTRIES)
    }
}

/// `n` reports in arrival order (all measured now, so they share the current minute or two),
/// from readers of a population of `networks` networks, 16 rows each.
fn arrivals(n: usize, networks: usize, seed: u64) -> (Vec<(ReportId, Vec<Observation>)>, usize) {
    let targets = vantage_collector::targets::default_targets();
    let countries: Vec<Country> = (0..COUNTRIES)
        .map(|i| format!("{}{}", (b'A' + (i / 26) as u8) as char, (b'A' + (i % 26) as u8) as char).parse().expect("two letters"))
        .collect();
    let population = Population::new(networks);
    let mut rng = util::Rng::new(seed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let mut seen = std::collections::HashSet::new();
    let data = (0..n)
        .map(|i| {
            let id = report_id(seed, i);
            let (network, asn, country) = population.draw(&mut rng);
            seen.insert(network);
            let rows = targets.targets[..TARGETS_PER_REPORT]
                .iter()
                .map(|t| {
                    let row = Observation { ts: now, country: countries[country], asn, network, ..template(t, id) };
                    measurement(&mut rng, row)
                })
                .collect();
            (id, rows)
        })
        .collect();
    (data, seen.len())
}

/// Per-report cost of the store's writer at 1, 1,000 and 100,000 networks: it must stay flat as
/// adoption grows. Baseline: the plain loop inserting the same raw rows.
fn by_networks(smoke: bool, dir: &Path, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let n = if smoke { 3_000 } else { 60_000 };
    let mut table =
        vec![format!("{:>9} {:>9} {:>12} {:>12} {:>10} {:>10}", "networks", "seen", "reports/s", "us/report", "plain us", "ratio")];
    let mut first_cost = None;
    for (i, networks) in [1usize, 1_000, 100_000].into_iter().enumerate() {
        let (data, seen) = arrivals(n, networks, 100 + i as u64);
        let pb = util::bar(n as u64, "store");
        pb.set_message(format!("plain loop, {networks} networks"));
        let plain = plain_loop(&dir.join(format!("nets-plain-{networks}.db")), &data, &pb)? / TARGETS_PER_REPORT as f64;
        pb.set_position(0);
        pb.set_message(format!("store writer, {networks} networks"));
        let writer = through_store(&dir.join(format!("nets-store-{networks}.db")), data, &pb)? / TARGETS_PER_REPORT as f64;
        pb.finish_and_clear();
        let cost = 1e6 / writer;
        table.push(format!("{networks:>9} {seen:>9} {writer:>12.0} {cost:>12.1} {:>10.1} {:>10.2}", 1e6 / plain, writer / plain));
        let first = *first_cost.get_or_insert(cost);
        let key = format!("store.reports_per_s.networks_{networks}");
        figures.push(
            Figure::new("store", &key, &format!("reports/s through the writer, {networks} networks"), "reports/s", writer)
                .baseline(plain)
                .goal(Goal::at_least(20_000.0))
                .note(format!(
                    "{n} reports x {TARGETS_PER_REPORT} rows in arrival order, Zipf({ZIPF_S}) over {networks} networks ({seen} seen) in {ASNS} ASNs and {COUNTRIES} countries; {:.2}x the per-report cost at 1 network; baseline: plain rusqlite loop of the same raw rows",
                    cost / first
                )),
        );
    }
    eprintln!("   per-report cost of the store writer by networks:\n   {}", table.join("\n   "));
    Ok(())
}

pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let (n, rounds) = if smoke { (5_000, 1) } else { (100_000, 2) };
    let dir = tempfile::Builder::new().prefix("vantage-bench-store-").tempdir()?;
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
    by_networks(smoke, dir.path(), figures)
}
