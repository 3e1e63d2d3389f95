//! Ingest: `POST /v1/reports` under realistic traffic (`crate::traffic`: clients drawn Zipf-like
//! from 100,000 /24s and /48s in 240 ASNs and 40 countries, sent as `X-Forwarded-For` by a
//! trusted loopback "proxy"; 16-measurement reports; the default rate limit on).
//!
//! - Throughput: `wrk` against the collector, and in the same run against two baselines fed the
//!   same script: nginx answering a constant 202, and a trivial axum handler; at 64, 256 and
//!   1,024 connections, interleaved, with the collector's group commits counted per count.
//! - The single-address figure of earlier runs (every report from one address, rate limit off).
//! - Latency at a fixed 10,000 reports/s, open loop, Poisson arrivals.
//! - Cost per report (server CPU) at 1, 1,000 and 100,000 distinct networks, same rate.
//! - The throughput and latency figures again on `--store clickhouse:` (a clickhouse-server of
//!   the harness's own on loopback).

mod front;
mod http1;
mod nginx;
mod open_loop;
mod profile;
#[cfg(test)]
mod test_server;
mod wrk;

use crate::report::{Figure, Goal};
use crate::traffic::{self, GeoFiles, Model, ModelSpec, Sample};
use crate::util::{self, Server};
use anyhow::Context;
use open_loop::FixedRun;
use std::path::Path;
use vantage_collector::{Config, StoreUrl};
use wrk::{Script, WrkRun};

/// Fixed rate of the latency runs.
const FIXED_RATE: f64 = 10_000.0;
/// Rate of the distinct-network table: low enough that the collector keeps up with every row.
const TABLE_RATE: f64 = 2_000.0;
/// Distinct networks of the table's rows.
const TABLE_NETWORKS: [usize; 3] = [1, 1_000, 100_000];

/// Connections of the wrk throughput runs. 64 is the figure of earlier runs; more is what a
/// flash crowd looks like (thousands of browsers, each its own connection), and lets the writer's
/// group commit take more reports per fsync.
const CONNECTIONS: [u32; 3] = [64, 256, 1024];
/// The connection count of the headline figure `ingest.throughput` (BENCHMARKS.md says why).
const HEADLINE_CONNECTIONS: u32 = 256;

/// The wrk runs at one connection count, every server.
#[derive(Default)]
struct Throughput {
    /// wrk's `-c`.
    connections: u32,
    /// Runs of nginx, the axum handler and the collector, in that order, one per round.
    runs: [Vec<WrkRun>; 3],
    /// The collector's counters over its runs.
    counters: Counters,
    /// CPU seconds of this process (the collector's threads: the baselines idle meanwhile, and
    /// wrk is a process of its own) over the collector's runs: its cost per report at saturation.
    server_cpu_s: f64,
}

impl Throughput {
    /// Worst-round p99 of server `i` (0 nginx, 1 axum, 2 collector), ms.
    fn p99_ms(&self, i: usize) -> f64 {
        self.runs[i].iter().map(|r| r.p99_us).fold(0.0, f64::max) / 1000.0
    }

    /// The group commits of the collector's runs: how many, reports per commit, the cycle.
    fn commits(&self) -> String {
        let runs = &self.runs[2];
        let ok: u64 = runs.iter().map(WrkRun::ok).sum();
        let secs: f64 = runs.iter().map(|r| r.duration_us as f64 / 1e6).sum();
        let n = self.counters.batches.max(1);
        format!(
            "{n} commits, {:.1} reports a commit, one every {:.2} ms; server CPU {:.1} us a report",
            ok as f64 / n as f64,
            secs * 1000.0 / n as f64,
            self.server_cpu_s * 1e6 / ok.max(1) as f64
        )
    }
}

/// How long each kind of run lasts.
struct Lengths {
    /// Seconds of one wrk run.
    wrk_s: u64,
    /// Interleaved rounds of the realistic throughput runs.
    rounds: usize,
    /// Seconds of one open-loop run.
    fixed_s: f64,
    /// Client addresses in the sample (wrk cycles through them).
    clients: usize,
    /// A smoke run: the fewest runs that still exercise every kind (`./build.sh test`).
    smoke: bool,
    /// Rate of the latency runs: [`FIXED_RATE`], a tenth of it in smoke runs (draining a
    /// second of 10,000 requests from a debug build took most of the smoke's time).
    fixed_rate: f64,
}

/// `VANTAGE_BENCH_WRK_CONNECTIONS=N`: a quick run for A/B comparisons of two builds in the same
/// minutes: the wrk rounds at N connections only and the fixed-rate runs, none of the other parts.
fn quick_connections() -> anyhow::Result<Option<u32>> {
    match std::env::var("VANTAGE_BENCH_WRK_CONNECTIONS") {
        Ok(n) => Ok(Some(n.parse().with_context(|| format!("VANTAGE_BENCH_WRK_CONNECTIONS={n:?} is not a connection count"))?)),
        Err(_) => Ok(None),
    }
}

/// A collector configured as a deployment behind a proxy on loopback: `X-Forwarded-For` from
/// loopback believed, the model's geo databases, the rate limit at its default (or off).
fn collector_config(store: StoreUrl, geo: &GeoFiles, rate_limit: bool) -> Config {
    let mut c = util::collector_config_for(store);
    c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr"), "::1/128".parse().expect("cidr")];
    c.geoip_country = Some(geo.country.clone());
    c.geoip_asn = Some(geo.asn.clone());
    if !rate_limit {
        c.rate_limit_per_min = 0;
    }
    c
}

/// One counter of the collector's `/metrics` (the line `NAME VALUE`, labels included in `name`).
async fn metric(url: &str, name: &str) -> anyhow::Result<u64> {
    let text = reqwest::get(url).await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {name} in /metrics"))
}

/// The collector's counters that the throughput figures read around the measured runs.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    /// Requests refused 429 by the rate limit.
    refused_429: u64,
    /// Store transactions committed (one per group commit).
    batches: u64,
}

impl Counters {
    async fn read(metrics_url: &str) -> anyhow::Result<Counters> {
        Ok(Counters {
            refused_429: metric(metrics_url, "vantage_reports_rejected_total{status=\"429\"}").await?,
            batches: metric(metrics_url, "vantage_store_batches_total").await?,
        })
    }

    fn since(self, before: Counters) -> Counters {
        Counters { refused_429: self.refused_429 - before.refused_429, batches: self.batches - before.batches }
    }
}

/// Reports and raw rows in a SQLite store: one row per observation in `observations` before raw
/// format 1, one per report in `reports` since (`observations` is a view of it then).
fn stored(db: &Path) -> anyhow::Result<(i64, i64)> {
    let conn = rusqlite::Connection::open(db)?;
    let count =
        |table: &str| conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).with_context(|| format!("count {table}"));
    let per_observation: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'observations')", [], |r| r.get(0))?;
    Ok((count("reports")?, count(if per_observation { "observations" } else { "reports" })?))
}

/// One warm-up run; proves the server answers 2xx to the script.
fn warm_up(name: &str, url: &str, script: &Script) -> anyhow::Result<WrkRun> {
    let w = wrk::run(url, script, CONNECTIONS[0], 1, &format!("warm-up {name}"))?;
    if w.ok() == 0 {
        anyhow::bail!("{name}: no 2xx answer in the warm-up ({w:?})");
    }
    Ok(w)
}

pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let len = if smoke {
        Lengths { wrk_s: 1, rounds: 1, fixed_s: 1.0, clients: 10_000, smoke: true, fixed_rate: FIXED_RATE / 10.0 }
    } else {
        Lengths { wrk_s: 10, rounds: 2, fixed_s: 10.0, clients: 500_000, smoke: false, fixed_rate: FIXED_RATE }
    };
    let dir = tempfile::Builder::new().prefix("vantage-bench-ingest-").tempdir()?;
    // `VANTAGE_BENCH_INGEST_PART=networks`: the cost-by-networks table alone (about a minute),
    // to compare builds on it alternately.
    if std::env::var("VANTAGE_BENCH_INGEST_PART").is_ok_and(|p| p == "networks") {
        let collector = Server::collector(util::collector_config_for(StoreUrl::Sqlite(dir.path().join("targets.db"))))?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (targets, version) = rt.block_on(util::served_targets(&collector.url("/v1/targets")))?;
        collector.stop()?;
        return network_table(figures, &len, dir.path(), &targets, &version);
    }
    let model = Model::new(&ModelSpec::default());
    let geo = traffic::write_geo(&model, &dir.path().join("geo"))?;
    let db = dir.path().join("vantage.db");
    let collector = Server::collector(collector_config(StoreUrl::Sqlite(db.clone()), &geo, true))?;
    let baseline = Server::baseline()?;
    let nginx = nginx::Nginx::start(&dir.path().join("nginx"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (targets, version) = rt.block_on(util::served_targets(&collector.url("/v1/targets")))?;
    let sample = traffic::sample(&model, len.clients, &targets, &version, 1);
    let realistic = Script::write(dir.path(), "realistic", &sample)?;

    // Interleaved rounds, so a burst of someone else's load hits every server and count alike.
    let servers = [("nginx", nginx.url("/v1/reports")), ("axum", baseline.url("/v1/reports")), ("collector", collector.url("/v1/reports"))];
    for (name, url) in &servers {
        warm_up(name, url, &realistic)?;
    }
    let metrics_url = collector.url("/metrics");
    let only = quick_connections()?;
    let counts: Vec<u32> = only.map_or(CONNECTIONS.to_vec(), |c| vec![c]);
    let mut sweep: Vec<Throughput> = counts.iter().map(|&connections| Throughput { connections, ..Throughput::default() }).collect();
    for r in 0..len.rounds {
        for at in sweep.iter_mut() {
            for (i, (name, url)) in servers.iter().enumerate() {
                let before = rt.block_on(Counters::read(&metrics_url))?;
                let label = format!("wrk -c{} {name} {}/{}", at.connections, r + 1, len.rounds);
                let cpu_before = open_loop::cpu_s("/proc/self/stat");
                let perf = if *name == "collector" { profile::start(r, at.connections) } else { None };
                at.runs[i].push(wrk::run(url, &realistic, at.connections, len.wrk_s, &label)?);
                drop(perf);
                if *name == "collector" {
                    at.server_cpu_s += open_loop::cpu_s("/proc/self/stat") - cpu_before;
                    let after = rt.block_on(Counters::read(&metrics_url))?.since(before);
                    at.counters =
                        Counters { refused_429: at.counters.refused_429 + after.refused_429, batches: at.counters.batches + after.batches };
                }
            }
        }
    }
    let fc = open_loop::run(&collector.url("/v1/reports"), &sample, util::nonce(), len.fixed_rate, len.fixed_s, "10k/s collector")?;
    collector.stop()?;
    // The baseline once the collector has stopped: run right after the wrk rounds, beside the
    // collector in this process, it shed requests in two of five quick runs (the collector's
    // leftover work on the same cores, likely); after the stop, in none so far.
    let fb = open_loop::run(&baseline.url("/v1/reports"), &sample, util::nonce(), len.fixed_rate, len.fixed_s, "10k/s axum")?;
    generator_check(figures, &len, &sample, &baseline.url("/v1/reports"), &nginx.url("/v1/reports"), &fb)?;
    let acked = sweep.iter().flat_map(|at| &at.runs[2]).map(WrkRun::ok).sum::<u64>() + fc.ok;
    let (stored_reports, stored_rows) = stored(&db)?;
    if (stored_reports as u64) < acked {
        anyhow::bail!("{acked} reports acknowledged but only {stored_reports} stored");
    }
    let headline = sweep.iter().find(|at| at.connections == only.unwrap_or(HEADLINE_CONNECTIONS)).expect("headline count in the sweep");
    let n_rate = wrk::rate(&headline.runs[0]);
    throughput_figures(figures, &len, headline, &sample, nginx.reads_body);
    for at in sweep.iter().filter(|at| at.connections != HEADLINE_CONNECTIONS) {
        other_count_figure(figures, at);
    }
    latency_figures(figures, "ingest.fixed_rate", "", &fc, &fb, &len);
    figures.push(
        Figure::new(
            "ingest",
            "ingest.rows_per_report",
            "stored raw rows per stored report",
            "rows",
            stored_rows as f64 / stored_reports.max(1) as f64,
        )
        .note(format!("{stored_reports} reports stored, {acked} acknowledged by the measured runs; {} targets a report", targets.len())),
    );
    if only.is_some() {
        return Ok(());
    }

    single_address(figures, &len, dir.path(), &geo, &baseline, &targets, &version)?;
    drop(baseline);
    network_table(figures, &len, dir.path(), &targets, &version)?;
    clickhouse(figures, &len, dir.path(), &geo, &realistic, &sample, n_rate)?;
    Ok(())
}

fn throughput_figures(figures: &mut Vec<Figure>, len: &Lengths, at: &Throughput, sample: &Sample, nginx_reads: bool) {
    let [n_runs, b_runs, c_runs] = &at.runs;
    let (n_rate, b_rate, c_rate) = (wrk::rate(n_runs), wrk::rate(b_runs), wrk::rate(c_runs));
    let per_round: Vec<String> =
        (0..c_runs.len()).map(|r| format!("{:.0}/{:.0}/{:.0}", c_runs[r].rate(), n_runs[r].rate(), b_runs[r].rate())).collect();
    let requests: u64 = c_runs.iter().map(|r| r.requests).sum();
    let c_errors: u64 = c_runs.iter().map(WrkRun::errors).sum();
    let how = format!(
        "wrk -t{} -c{}, {}x{} s interleaved with the baselines and the other connection counts (collector/nginx/axum per round: {}); {}; realistic traffic: {} client addresses in arrival order from {} distinct networks of the model's 100,000 (/24s and /48s, 240 ASNs, 40 countries, Zipf s=0.8) as X-Forwarded-For from a trusted loopback proxy, 16 measurements a report; SQLite synchronous=FULL, 202 after commit; rate limit at its default (120/min, burst 120 per client address)",
        wrk::THREADS,
        at.connections,
        len.rounds,
        len.wrk_s,
        per_round.join(", "),
        at.commits(),
        sample.clients.len(),
        sample.networks,
    );
    let nginx_how =
        if nginx_reads { "nginx reading each body (echo module) and answering a constant 202" } else { "nginx answering return 202" };
    figures.push(
        Figure::new("ingest", "ingest.throughput", "reports acknowledged per second, realistic traffic", "reports/s", c_rate)
            .baseline(n_rate)
            .goal(Goal::at_least(20_000.0))
            .note(format!("{how}; baseline: {nginx_how}, same script")),
    );
    figures.push(
        Figure::new("ingest", "ingest.throughput_ratio", "collector rate / nginx rate", "ratio", c_rate / n_rate)
            .goal(Goal::at_least(0.2))
            .note(format!("same wrk runs as ingest.throughput (-c{})", at.connections)),
    );
    figures.push(
        Figure::new("ingest", "ingest.axum_throughput", "trivial axum handler, same script", "reports/s", b_rate)
            .baseline(n_rate)
            .note(format!("-c{}; collector / axum: {:.3}", at.connections, c_rate / b_rate)),
    );
    let all_requests: u64 = at.counters.refused_429 + requests;
    figures.push(
        Figure::new(
            "ingest",
            "ingest.refused_429_share",
            "share of requests refused 429 by the default rate limit",
            "ratio",
            at.counters.refused_429 as f64 / requests.max(1) as f64,
        )
        .note(format!(
            "{} of {requests} requests in the collector's measured -c{} wrk runs (its /metrics; {all_requests} with the 429s counted twice); all errors or non-2xx: {c_errors}",
            at.counters.refused_429, at.connections
        )),
    );
    figures.push(
        Figure::new("ingest", "ingest.saturated_p99", "p99 latency at saturation (wrk)", "ms", at.p99_ms(2))
            .baseline(at.p99_ms(0))
            .note(format!("-c{}, worst round; baseline: nginx", at.connections)),
    );
}

/// The row of a connection count other than the headline's: kept so no count is hidden.
fn other_count_figure(figures: &mut Vec<Figure>, at: &Throughput) {
    let [n_runs, b_runs, c_runs] = &at.runs;
    let (n_rate, b_rate, c_rate) = (wrk::rate(n_runs), wrk::rate(b_runs), wrk::rate(c_runs));
    let c = at.connections;
    figures.push(
        Figure::new("ingest", &format!("ingest.throughput_c{c}"), &format!("reports/s, realistic traffic, wrk -c{c}"), "reports/s", c_rate)
            .baseline(n_rate)
            .note(format!(
                "same script, server and rounds as ingest.throughput, {c} connections; axum {b_rate:.0}/s (collector / axum {:.3}); {}; p99 {:.1} ms (nginx {:.1} ms); {} errors or non-2xx; baseline: nginx at -c{c}",
                c_rate / b_rate,
                at.commits(),
                at.p99_ms(2),
                at.p99_ms(0),
                c_runs.iter().map(WrkRun::errors).sum::<u64>()
            )),
    );
}

fn latency_figures(figures: &mut Vec<Figure>, key: &str, what: &str, c: &FixedRun, b: &FixedRun, len: &Lengths) {
    let (secs, rate) = (len.fixed_s, len.fixed_rate);
    figures.push(
        Figure::new(
            "ingest",
            &format!("{key}_p50"),
            &format!("p50 latency at 10,000 reports/s{what}"),
            "ms",
            util::median(&c.latencies_ms),
        )
        .baseline(util::median(&b.latencies_ms)),
    );
    figures.push(
        Figure::new("ingest", &format!("{key}_p99"), &format!("p99 latency at 10,000 reports/s{what}"), "ms", c.p99())
            .baseline(b.p99())
            .goal(Goal::at_most(25.0))
            .note(format!(
                "own open-loop generator (HTTP/1.1 over {} keep-alive connections, pre-built requests, {secs} s at {rate:.0}/s, Poisson arrivals, realistic clients and bodies), latency from each request's due time (no coordinated omission; a wait for a free connection counts); collector {}; baseline (trivial axum handler, run after the collector stopped) {}",
                open_loop::CONNECTIONS,
                c.note(),
                b.note()
            )),
    );
}

/// Whether the open-loop generator itself delivers the fixed rate, and twice it: its p99 against
/// the trivial axum handler (`axum_at_rate`: the fixed-rate baseline run) and nginx, which cost
/// the server next to nothing, so what shows is the generator's (and the machine's) share. Run
/// once the collector has stopped, so none of its leftover work shares the cores with these runs.
fn generator_check(
    figures: &mut Vec<Figure>,
    len: &Lengths,
    sample: &Sample,
    axum: &str,
    nginx: &str,
    axum_at_rate: &FixedRun,
) -> anyhow::Result<()> {
    let twice = len.fixed_rate * 2.0;
    let axum_at_twice = open_loop::run(axum, sample, util::nonce(), twice, len.fixed_s, &format!("{twice:.0}/s axum"))?;
    for (rate, a) in [(len.fixed_rate, axum_at_rate), (twice, &axum_at_twice)] {
        let n = open_loop::run(nginx, sample, util::nonce(), rate, len.fixed_s, &format!("{rate:.0}/s nginx"))?;
        figures.push(
            Figure::new("ingest", &format!("ingest.generator_p99_{}k", (rate / 1000.0) as u64), &format!("open-loop generator check: p99 at {rate:.0}/s, trivial axum handler"), "ms", a.p99())
                .baseline(n.p99())
                .note(format!(
                    "the generator of ingest.fixed_rate_p99 ({} keep-alive connections, one thread) at {rate:.0}/s for {} s, after the collector stopped, against the trivial axum handler: p50 {:.2} ms, {}; baseline: nginx, p50 {:.2} ms, {}",
                    open_loop::CONNECTIONS,
                    len.fixed_s,
                    util::median(&a.latencies_ms),
                    a.note(),
                    util::median(&n.latencies_ms),
                    n.note()
                )),
        );
    }
    Ok(())
}

/// Every report from one address, rate limit off: the figure of earlier runs, kept as a row.
fn single_address(
    figures: &mut Vec<Figure>,
    len: &Lengths,
    dir: &Path,
    geo: &GeoFiles,
    baseline: &Server,
    targets: &[String],
    version: &str,
) -> anyhow::Result<()> {
    let script = Script::write(dir, "single", &traffic::single_client("203.0.113.7".parse().expect("ip"), 1, targets, version))?;
    let collector = Server::collector(collector_config(StoreUrl::Sqlite(dir.join("single.db")), geo, false))?;
    warm_up("collector (one address)", &collector.url("/v1/reports"), &script)?;
    let b = wrk::run(&baseline.url("/v1/reports"), &script, CONNECTIONS[0], len.wrk_s, "wrk axum, one address")?;
    let c = wrk::run(&collector.url("/v1/reports"), &script, CONNECTIONS[0], len.wrk_s, "wrk collector, one address")?;
    collector.stop()?;
    figures.push(
        Figure::new("ingest", "ingest.single_address_throughput", "reports/s, every report from one address", "reports/s", c.rate())
            .baseline(b.rate())
            .note(format!("earlier runs' traffic: one client, rate limit off (the default would refuse almost all); wrk 1x{} s; baseline: trivial axum handler; {} errors or non-2xx", len.wrk_s, c.errors())),
    );
    Ok(())
}

/// Server CPU per report at 1, 1,000 and 100,000 distinct networks, same rate: flat is the goal.
fn network_table(figures: &mut Vec<Figure>, len: &Lengths, dir: &Path, targets: &[String], version: &str) -> anyhow::Result<()> {
    let rate = if len.smoke { TABLE_RATE / 4.0 } else { TABLE_RATE };
    let mut first = None;
    // Smoke: the ends of the table only.
    for n in TABLE_NETWORKS.into_iter().filter(|n| !len.smoke || *n != 1_000) {
        let model = Model::new(&ModelSpec::with_networks(n));
        let geo = traffic::write_geo(&model, &dir.join(format!("geo-{n}")))?;
        let sample = traffic::sample(&model, (rate * len.fixed_s) as usize + 1, targets, version, 2);
        let requests = if len.smoke { 5_000 } else { 200_000 };
        let front = front::measure(&sample, &geo, requests)?;
        figures.push(
            Figure::new(
                "ingest",
                &format!("ingest.front_ns_{n}_networks"),
                &format!("per-request front (XFF, rate limit, geo, hashes), {n} networks"),
                "ns",
                front.front_ns,
            )
            .baseline(front.parse_ns)
            .note(format!(
                "one thread, no HTTP, {requests} requests cycling the {} sampled clients of this row, default rate limit; baseline: parse_report of the same requests' bodies",
                sample.clients.len()
            )),
        );
        let collector = Server::collector(collector_config(StoreUrl::Sqlite(dir.join(format!("networks-{n}.db"))), &geo, false))?;
        let threads_before = thread_cpu_s();
        let run = open_loop::run(&collector.url("/v1/reports"), &sample, util::nonce(), rate, len.fixed_s, &format!("{n} networks"))?;
        let by_thread = cpu_by_thread_name(&threads_before, &thread_cpu_s(), run.ok);
        collector.stop()?;
        let us = run.server_cpu_s * 1e6 / run.ok.max(1) as f64;
        let base = *first.get_or_insert(us);
        figures.push(
            Figure::new("ingest", &format!("ingest.cpu_per_report_{n}_networks"), &format!("server CPU per report, {n} distinct networks"), "us", us)
                .baseline(base)
                .note(format!(
                    "open loop at {rate:.0} reports/s for {} s, Poisson arrivals, {} networks drawn; p99 {:.1} ms; {}; CPU of the bench process minus the generator's thread (includes the commit; the collector's own thread pool and writer); by thread, us a report: {by_thread}; rate limit off (one /24 at this rate is 8 reports/s per host); baseline: the 1-network row",
                    len.fixed_s,
                    sample.networks,
                    run.p99(),
                    run.note()
                )),
        );
    }
    Ok(())
}

/// CPU seconds of each of this process's threads, by thread id, with its name.
fn thread_cpu_s() -> std::collections::HashMap<String, (String, f64)> {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten();
    tasks
        .map(|t| {
            let tid = t.file_name().to_string_lossy().into_owned();
            let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
            (tid.clone(), (name, open_loop::cpu_s(&format!("/proc/self/task/{tid}/stat"))))
        })
        .collect()
}

/// Where a row's CPU went: us a report by thread name (threads that ended meanwhile are not
/// counted), largest first, so growth with networks can be attributed.
fn cpu_by_thread_name(
    before: &std::collections::HashMap<String, (String, f64)>,
    after: &std::collections::HashMap<String, (String, f64)>,
    reports: u64,
) -> String {
    let mut by_name: std::collections::BTreeMap<&str, f64> = Default::default();
    for (tid, (name, cpu)) in after {
        *by_name.entry(name).or_default() += cpu - before.get(tid).map_or(0.0, |(_, c)| *c);
    }
    let mut named: Vec<_> = by_name.into_iter().filter(|(_, s)| *s > 0.0).collect();
    named.sort_by(|a, b| b.1.total_cmp(&a.1));
    named.iter().map(|(name, s)| format!("{name} {:.1}", s * 1e6 / reports.max(1) as f64)).collect::<Vec<_>>().join(", ")
}

/// The same throughput and latency on `--store clickhouse:` against a clickhouse-server of our
/// own: with the store's default batching (at most one insert a second, so wrk's 64 connections,
/// each waiting for its commit, allow about 64 reports a second), and with `batch_ms=10`.
fn clickhouse(
    figures: &mut Vec<Figure>,
    len: &Lengths,
    dir: &Path,
    geo: &GeoFiles,
    script: &Script,
    sample: &Sample,
    nginx_rate: f64,
) -> anyhow::Result<()> {
    let server = ClickHouseServer::start(&dir.join("clickhouse"))?;
    // Smoke: the batch_ms=10 collector only (the default one waits a second a batch).
    for (key, settings) in
        [("clickhouse", ""), ("clickhouse_batch10ms", "?batch_ms=10")].into_iter().filter(|(_, s)| !len.smoke || !s.is_empty())
    {
        let store = StoreUrl::ClickHouse(format!("http://127.0.0.1:{}/{key}{settings}", server.port));
        let collector = Server::collector(collector_config(store, geo, true))?;
        warm_up(&format!("collector ({key})"), &collector.url("/v1/reports"), script)?;
        let c = wrk::run(&collector.url("/v1/reports"), script, CONNECTIONS[0], len.wrk_s, &format!("wrk collector ({key})"))?;
        let fc =
            open_loop::run(&collector.url("/v1/reports"), sample, util::nonce(), len.fixed_rate, len.fixed_s, &format!("10k/s ({key})"))?;
        collector.stop()?;
        let batching = if settings.is_empty() { "default batching (batch_ms=1000, batch_rows=5000)" } else { "batch_ms=10" };
        figures.push(
            Figure::new("ingest", &format!("ingest.{key}_throughput"), &format!("reports/s, realistic traffic, ClickHouse store, {batching}"), "reports/s", c.rate())
                .baseline(nginx_rate)
                .goal(Goal::at_least(20_000.0))
                .note(format!(
                    "--store clickhouse:...{settings} against Debian's clickhouse-server on loopback (scripts/clickhouse.sh), 202 after the insert; wrk 1x{} s, same script and rate limit as ingest.throughput; p99 {:.1} ms; {} errors or non-2xx; baseline: nginx rate of ingest.throughput",
                    len.wrk_s,
                    c.p99_us / 1000.0,
                    c.errors()
                )),
        );
        figures.push(
            Figure::new(
                "ingest",
                &format!("ingest.{key}_fixed_rate_p99"),
                &format!("p99 latency at 10,000 reports/s, ClickHouse store, {batching}"),
                "ms",
                fc.p99(),
            )
            .goal(Goal::at_most(25.0))
            .note(format!(
                "open loop as ingest.fixed_rate_p99; collector {}; p50 {:.2} ms",
                fc.note(),
                util::median(&fc.latencies_ms)
            )),
        );
    }
    Ok(())
}

/// A clickhouse-server of the harness's own (`scripts/clickhouse.sh`), stopped on drop.
struct ClickHouseServer {
    /// Its data, logs and pid file.
    dir: std::path::PathBuf,
    /// Its HTTP port on loopback.
    port: u16,
}

impl ClickHouseServer {
    /// Starts one on HTTP port P (native P+1, interserver P+2), P below the ephemeral range: the
    /// load runs before it leave tens of thousands of ephemeral ports in TIME_WAIT, and a
    /// clickhouse-server that finds P+1 taken exits. Up to five tries on other ports.
    fn start(dir: &Path) -> anyhow::Result<ClickHouseServer> {
        let script = util::root().join("scripts/clickhouse.sh");
        let mut last_error = String::new();
        for attempt in 0..5u32 {
            let port = 20_000 + (util::nonce().wrapping_add(attempt * 7_919) % 4_000) as u16 * 3;
            if !(0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
                continue;
            }
            let out = std::process::Command::new("bash")
                .arg(&script)
                .arg("start")
                .arg(dir)
                .arg(port.to_string())
                .output()
                .with_context(|| script.display().to_string())?;
            if out.status.success() {
                return Ok(ClickHouseServer { dir: dir.to_path_buf(), port });
            }
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        anyhow::bail!("clickhouse-server did not start in five tries: {last_error}")
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash").arg(util::root().join("scripts/clickhouse.sh")).arg("stop").arg(&self.dir).status();
    }
}
