//! Our own open-loop generator (wrk has no fixed rate; wrk2 is not packaged in Debian): request
//! *i* is due at its arrival time from a Poisson process at the asked rate, whatever happened to
//! the others, and latency counts from that due time (the wrk2 way, no coordinated omission).
//! Clients and bodies come from a [`Sample`], in arrival order.

use crate::traffic::{Arrivals, Sample};
use crate::util;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests in flight beyond which the next due one is shed (counted as infinitely slow).
const MAX_OUTSTANDING: u64 = 2048;

/// What a fixed-rate run saw.
#[derive(Debug, Default)]
pub(crate) struct FixedRun {
    /// Milliseconds from each answered request's due time to its full answer.
    pub latencies_ms: Vec<f64>,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered otherwise, or not at all.
    pub failed: u64,
    /// Not sent because too many were outstanding (the server fell behind).
    pub shed: u64,
    /// 2xx answers a second over the run.
    pub achieved: f64,
    /// CPU seconds the process spent during the run, minus this generator's own thread: the
    /// server's cost when the server is in process (threads of idle servers cost ~0).
    pub server_cpu_s: f64,
}

impl FixedRun {
    /// p99 with every failed or shed request counted as infinitely slow.
    pub(crate) fn p99(&self) -> f64 {
        let mut all = self.latencies_ms.clone();
        all.extend(std::iter::repeat_n(f64::INFINITY, (self.failed + self.shed) as usize));
        util::percentile(&all, 99.0)
    }

    pub(crate) fn note(&self) -> String {
        format!("achieved {:.0}/s, {} failed, {} shed", self.achieved, self.failed, self.shed)
    }
}

/// CPU seconds (user + system) from a `/proc/.../stat` line.
pub(crate) fn cpu_s(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    f.iter().sum::<f64>() / 100.0 // USER_HZ is 100 on Linux
}

/// Open-loop load at `rate` a second for `secs` against `url`.
pub(crate) fn run(url: &str, sample: &Sample, nonce: u32, rate: f64, secs: f64, label: &str) -> anyhow::Result<FixedRun> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(4096).timeout(Duration::from_secs(10)).build()?;
    let total = (rate * secs) as u64;
    let pb = util::bar(total, "ingest");
    pb.set_message(label.to_string());
    let bodies: Vec<(Arc<str>, Arc<str>)> =
        sample.bodies.iter().map(|b| b.split_once("@ID@").expect("placeholder")).map(|(a, b)| (a.into(), b.into())).collect();
    let outstanding = Arc::new(AtomicU64::new(0));
    let (proc_before, self_before) = (cpu_s("/proc/self/stat"), cpu_s("/proc/thread-self/stat"));
    let mut run = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(f64, bool)>();
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        let mut shed = 0;
        for (i, at) in Arrivals::new(rate, u64::from(nonce)).take(total as usize).enumerate() {
            let due = start + Duration::from_secs_f64(at);
            tokio::time::sleep_until(due).await;
            if i % 1000 == 0 {
                pb.set_position(i as u64);
            }
            if outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING {
                shed += 1;
                continue;
            }
            outstanding.fetch_add(1, Ordering::Relaxed);
            let (client, tx, out) = (client.clone(), tx.clone(), outstanding.clone());
            let (pre, post) = &bodies[i % bodies.len()];
            let body = format!("{pre}{}{post}", util::random_order_id(nonce, i as u64));
            let xff = sample.clients[i % sample.clients.len()].to_string();
            let url = url.to_string();
            tokio::spawn(async move {
                let res = client
                    .post(&url)
                    .header("content-type", "text/plain;charset=UTF-8")
                    .header("x-forwarded-for", xff)
                    .body(body)
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                out.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send((due.elapsed().as_secs_f64() * 1000.0, ok));
            });
        }
        drop(tx);
        let mut run = FixedRun { shed, ..FixedRun::default() };
        while let Some((ms, ok)) = rx.recv().await {
            if ok {
                run.ok += 1;
                run.latencies_ms.push(ms);
            } else {
                run.failed += 1;
            }
        }
        run.achieved = run.ok as f64 / start.elapsed().as_secs_f64();
        run
    });
    run.server_cpu_s = (cpu_s("/proc/self/stat") - proc_before) - (cpu_s("/proc/thread-self/stat") - self_before);
    pb.finish_and_clear();
    Ok(run)
}
