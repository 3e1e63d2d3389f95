//! Queries: `/v1/status` and `/v1/timeseries` p50/p99 with 10 million observations stored
//! (generated through the store's own import API), against `/healthz` on the same server as the
//! baseline (the same HTTP stack doing no work).

use crate::report::{Figure, Goal};
use crate::util::{self, Server};
use anyhow::Context;
use std::time::{Duration, Instant};
use vantage_collector::store;
use vantage_collector::StoreUrl;

/// Observations to store, when `--observations` gave a number (else 10 million, 100,000 smoke).
pub(crate) static OBSERVATIONS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Why this section could not run: the collector has no read API yet (a skip, not a failure).
#[derive(Debug)]
pub(crate) struct NotAvailable(String);

impl std::fmt::Display for NotAvailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "read API not available: {}", self.0)
    }
}

impl std::error::Error for NotAvailable {}

const COUNTRIES: [&str; 10] = ["PK", "IR", "RU", "TR", "IN", "ET", "MM", "VE", "EG", "BD"];
const PLATFORMS: [&str; 8] = ["x", "facebook", "instagram", "youtube", "whatsapp", "tiktok", "telegram", "wikipedia"];

fn rfc3339(ts: i64) -> String {
    store::rfc3339::format(ts)
}

/// Sequential GETs on one keep-alive connection: milliseconds per answer; a non-200 is an error.
async fn timed_gets(client: &reqwest::Client, urls: &[String], pb: &indicatif::ProgressBar) -> anyhow::Result<(Vec<f64>, String)> {
    let mut out = Vec::with_capacity(urls.len());
    let mut last = String::new();
    for url in urls {
        let t = Instant::now();
        let r = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
        let status = r.status();
        let body = r.bytes().await.with_context(|| format!("GET {url}"))?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            anyhow::bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
        }
        pb.inc(1);
        last = String::from_utf8_lossy(&body).into_owned();
    }
    Ok((out, last))
}

/// `Ok(None)` when both read endpoints answer on an empty store; `Ok(Some(why))` when not there.
async fn probe(client: &reqwest::Client, server: &Server) -> anyhow::Result<Option<NotAvailable>> {
    let now = time_now();
    for url in [
        server.url("/v1/status?country=PK"),
        server.url(&format!("/v1/timeseries?platform=x&country=PK&from={}&to={}&step=60", rfc3339(now - 3600), rfc3339(now))),
    ] {
        let r = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        if r.status() == 404 || r.status() == 405 {
            return Ok(Some(NotAvailable(format!(
                "GET {} answered {}",
                url.split_once(&server.addr.to_string()).map_or(url.as_str(), |x| x.1),
                r.status()
            ))));
        }
    }
    Ok(None)
}

fn time_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

/// Returns a [`NotAvailable`] error when the read API is missing.
pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("vantage-bench-query-").tempdir()?;
    let db = dir.path().join("vantage.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;

    // Is there a read API at all? Ask an empty collector before generating millions of rows.
    {
        let empty = Server::collector(util::collector_config(dir.path().join("probe.db")))?;
        if let Some(why) = rt.block_on(probe(&client, &empty))? {
            return Err(why.into());
        }
    }

    let (rows, requests) = if smoke { (100_000usize, 30usize) } else { (10_000_000, 300) };
    let rows = OBSERVATIONS.get().copied().unwrap_or(rows);
    let reports = rows / 10;
    let span = 3 * 1440; // three days: ~29 reports per (platform, country) minute, above k = 10
    let chunk = 50_000; // reports per import transaction
    let pb = util::bar(reports as u64, "query");
    pb.set_message(format!("storing {rows} observations"));
    let load_started = Instant::now();
    let store = store::open(&StoreUrl::Sqlite(db.clone()), 16)?;
    let mut start = 0;
    while start < reports {
        let end = (start + chunk).min(reports);
        let flat: Vec<_> = crate::store::reports(start..end, 11, span).into_iter().flat_map(|(_, r)| r).collect();
        store.import(&flat)?;
        pb.set_position(end as u64);
        start = end;
    }
    store.close()?;
    let load_s = load_started.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let started = Instant::now();
    let server = Server::collector(util::collector_config(db))?;
    // Ready = /v1/status lists platforms: the collector replays stored history into its detector
    // in the background after start-up, and answers empty until then.
    let ready = rt.block_on(async {
        while started.elapsed() < Duration::from_secs(900) {
            if let Ok(r) = client.get(server.url("/v1/status?country=PK")).send().await {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if v["platforms"].as_array().is_some_and(|p| !p.is_empty()) {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    let startup_s = started.elapsed().as_secs_f64();

    let now = time_now();
    let status_urls: Vec<String> =
        (0..requests).map(|i| server.url(&format!("/v1/status?country={}", COUNTRIES[i % COUNTRIES.len()]))).collect();
    let series_urls: Vec<String> = (0..requests)
        .map(|i| {
            server.url(&format!(
                "/v1/timeseries?platform={}&country={}&from={}&to={}&step=60",
                PLATFORMS[i % PLATFORMS.len()],
                COUNTRIES[(i / PLATFORMS.len()) % COUNTRIES.len()],
                rfc3339(now - 86_400),
                rfc3339(now)
            ))
        })
        .collect();
    let health_urls: Vec<String> = (0..requests).map(|_| server.url("/healthz")).collect();
    let pb = util::bar(3 * requests as u64 + 30, "query");
    pb.set_message("GET /v1/status, /v1/timeseries, /healthz");
    let (status, series, health) = rt.block_on(async {
        // Warm-up: first touches of the file and any caches.
        timed_gets(&client, &status_urls[..10.min(requests)], &pb).await?;
        timed_gets(&client, &series_urls[..10.min(requests)], &pb).await?;
        timed_gets(&client, &health_urls[..10.min(requests)], &pb).await?;
        let s = timed_gets(&client, &status_urls, &pb).await?;
        let t = timed_gets(&client, &series_urls, &pb).await?;
        let h = timed_gets(&client, &health_urls, &pb).await?.0;
        Ok::<_, anyhow::Error>((s, t, h))
    })?;
    pb.finish_and_clear();
    server.stop()?;

    let ((status, status_body), (series, series_body)) = (status, series);
    // What the answers held, so a fast empty answer cannot pass for a fast full one.
    let status_json: serde_json::Value = serde_json::from_str(&status_body).unwrap_or_default();
    let series_json: serde_json::Value = serde_json::from_str(&series_body).unwrap_or_default();
    let platforms = status_json["platforms"].as_array().map_or(0, Vec::len);
    let points = series_json["points"].as_array().map_or(0, Vec::len);
    let reports_in_series: u64 = series_json["points"].as_array().into_iter().flatten().filter_map(|p| p["reports"].as_u64()).sum();
    let (h50, h99) = (util::median(&health), util::percentile(&health, 99.0));
    let data = format!("{rows} observations over 3 days, 10 countries x 40 ASNs x 16 targets; {requests} sequential GETs on one keep-alive connection each; baseline: GET /healthz on the same server");
    figures
        .push(Figure::new("query", "query.status_p50", "GET /v1/status p50", "ms", util::median(&status)).baseline(h50).note(data.clone()));
    figures.push(
        Figure::new("query", "query.status_p99", "GET /v1/status p99", "ms", util::percentile(&status, 99.0))
            .baseline(h99)
            .goal(Goal::at_most(20.0))
            .note(format!("last answer: {} B, {platforms} platforms", status_body.len())),
    );
    figures.push(
        Figure::new("query", "query.timeseries_p50", "GET /v1/timeseries p50 (24 h, step 60)", "ms", util::median(&series))
            .baseline(h50)
            .note("1440 points a query, platform and country rotating"),
    );
    figures.push(
        Figure::new("query", "query.timeseries_p99", "GET /v1/timeseries p99 (24 h, step 60)", "ms", util::percentile(&series, 99.0))
            .baseline(h99)
            .goal(Goal::at_most(20.0))
            .note(format!("last answer: {} B, {points} points holding {reports_in_series} reports", series_body.len())),
    );
    figures.push(
        Figure::new("query", "query.load_rows_per_s", "generating the data set through Store::import", "rows/s", rows as f64 / load_s)
            .note(format!("{load_s:.1} s for {rows} rows, {chunk} reports a transaction")),
    );
    figures.push(
        Figure::new("query", "query.startup_s", "start-up on that store until /v1/status lists platforms", "s", startup_s).note(if ready {
            "the detector's history replay"
        } else {
            "gave up after 900 s: status still empty"
        }),
    );
    Ok(())
}
