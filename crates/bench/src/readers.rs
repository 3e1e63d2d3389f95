//! Readers: reports acknowledged per second while N readers hold `/v1/stream` open (issue 10: a
//! flash crowd on a story about a block), against the same load with no reader connected, in the
//! same run. Each round gets a fresh collector at its default flags; the load is a closed loop of
//! reqwest clients (HTTP/1.1 keep-alive, unique report ids), the readers raw TCP connections that
//! read and drop whatever the stream sends.

use crate::report::{Figure, Goal};
use crate::util::{self, Server};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Readers of issue 10.
const READERS: usize = 6_000;
/// Requests in flight at once (as many as the ingest bench's wrk connections).
const IN_FLIGHT: usize = 64;
/// Rounds of each kind in a full run.
const ROUNDS: usize = 2;

/// What one round saw.
struct Round {
    /// Reports acknowledged (2xx) per second.
    rate: f64,
    /// p99 milliseconds from sending a report to its answer.
    p99_ms: f64,
    /// Answers other than 2xx, and transport errors.
    failed: u64,
    /// Readers whose stream was answered 200.
    streaming: usize,
}

impl Round {
    /// The mean rate and p99 of `rounds`, their failures summed.
    fn mean(rounds: &[Round]) -> Round {
        let n = rounds.len().max(1) as f64;
        Round {
            rate: rounds.iter().map(|r| r.rate).sum::<f64>() / n,
            p99_ms: rounds.iter().map(|r| r.p99_ms).sum::<f64>() / n,
            failed: rounds.iter().map(|r| r.failed).sum(),
            streaming: rounds.iter().map(|r| r.streaming).min().unwrap_or(0),
        }
    }
}

pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let (readers, secs) = if smoke { (500, 2) } else { (READERS, 10) };
    let rt = tokio::runtime::Runtime::new()?;
    // Interleaved rounds (one each in smoke runs), so a change in the shared machine's load
    // falls on both sides; the figures are the means.
    let (mut alone, mut crowd) = (Vec::new(), Vec::new());
    for _ in 0..if smoke { 1 } else { ROUNDS } {
        alone.push(rt.block_on(round(0, secs))?);
        let r = rt.block_on(round(readers, secs))?;
        if r.streaming < readers {
            anyhow::bail!("only {} of {readers} readers got a stream", r.streaming);
        }
        crowd.push(r);
    }
    let (alone, crowd) = (Round::mean(&alone), Round::mean(&crowd));
    let how = format!(
        "{IN_FLIGHT} reqwest clients in a closed loop for {secs} s, a fresh collector at its defaults per round, mean of {} interleaved rounds",
        if smoke { 1 } else { ROUNDS }
    );
    figures.push(
        Figure::new(
            "readers",
            "readers.reports_per_s",
            &format!("reports/s while {readers} readers are connected"),
            "reports/s",
            crowd.rate,
        )
        .baseline(alone.rate)
        .note(format!("{how}; baseline: the same load with no reader; {} + {} failed", crowd.failed, alone.failed)),
    );
    figures.push(
        Figure::new(
            "readers",
            "readers.report_p99",
            &format!("p99 report latency while {readers} readers are connected"),
            "ms",
            crowd.p99_ms,
        )
        .baseline(alone.p99_ms)
        .goal(Goal::at_most(1000.0))
        .note("issue 10: a report acknowledged within 1 s with 6,000 readers on one collector"),
    );
    Ok(())
}

/// A fresh collector, `readers` streams opened on it, then `secs` of report load.
async fn round(readers: usize, secs: u64) -> anyhow::Result<Round> {
    let dir = tempfile::tempdir()?;
    let server = Server::collector(util::collector_config(dir.path().join("vantage.db")))?;
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(IN_FLIGHT).build()?;
    // Every served target in each report, as the ingest bench's realistic traffic does.
    let (targets, version) = util::served_targets(&server.url("/v1/targets")).await?;
    let done = Arc::new(AtomicBool::new(false));
    let pb = util::bar(readers as u64, "readers");
    pb.set_message("connecting");
    let mut streaming = 0;
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..readers {
        let (addr, done) = (server.addr, done.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        held.spawn(async move { hold_stream(addr, tx, done).await });
        streaming += usize::from(rx.await.unwrap_or(false));
        pb.inc(1);
    }
    pb.finish_and_clear();

    let pb = util::timed(Duration::from_secs(secs), "readers", &format!("reports with {readers} readers"));
    let until = Instant::now() + Duration::from_secs(secs);
    let nonce = util::nonce();
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..IN_FLIGHT {
        let (client, url, targets, version) = (client.clone(), server.url("/v1/reports"), targets.clone(), version.clone());
        load.spawn(async move {
            let mut rng = vantage_detect::rng::Pcg32::new(u64::from(nonce) ^ worker as u64);
            let (mut latencies, mut failed) = (Vec::new(), 0u64);
            for n in 0u64.. {
                if Instant::now() >= until {
                    break;
                }
                let body =
                    vantage_collector::traffic::report_json(&mut rng, &format!("{nonce:08x}{worker:08x}{n:016x}"), &targets, &version);
                let sent = Instant::now();
                let res = client.post(&url).header("content-type", "text/plain;charset=UTF-8").body(body).send().await;
                match res {
                    Ok(r) if r.status().is_success() => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        });
    }
    let started = Instant::now();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    while let Some(r) = load.join_next().await {
        let (l, f) = r?;
        latencies.extend(l);
        failed += f;
        pb.set_position(started.elapsed().as_secs().min(secs));
    }
    let elapsed = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    done.store(true, Ordering::Relaxed);
    held.abort_all();
    drop(client);
    tokio::task::spawn_blocking(move || server.stop()).await??;
    Ok(Round { rate: latencies.len() as f64 / elapsed, p99_ms: util::percentile(&latencies, 99.0), failed, streaming })
}

/// One reader: opens `/v1/stream`, says whether it got 200, then reads and drops events until
/// `done`.
async fn hold_stream(addr: SocketAddr, streaming: tokio::sync::oneshot::Sender<bool>, done: Arc<AtomicBool>) {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        let _ = streaming.send(false);
        return;
    };
    if s.write_all(b"GET /v1/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n").await.is_err() {
        let _ = streaming.send(false);
        return;
    }
    let mut buf = vec![0u8; 2048];
    let n = s.read(&mut buf).await.unwrap_or(0);
    let _ = streaming.send(buf[..n].starts_with(b"HTTP/1.1 200"));
    while !done.load(Ordering::Relaxed) && s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
}
