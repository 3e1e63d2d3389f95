//! Shared pieces: in-process servers (the collector and the trivial baseline), percentiles,
//! progress bars, report bodies.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use vantage_collector::{Config, StoreUrl};

/// The repository root (the bench is always built from the workspace).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A server running on its own multi-threaded tokio runtime in a thread, as `vantage serve`
/// runs it (`Runtime::new()`: one worker per core).
pub(crate) struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    fn spawn<F, Fut>(name: &str, body: F) -> anyhow::Result<Server>
    where
        F: FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
    {
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(std::io::Error::new(e.kind(), e.to_string())));
                            return Err(anyhow::Error::new(e).context("bind 127.0.0.1:0"));
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr());
                    body(listener, stopped).await
                })
            })
            .with_context(|| format!("cannot start the {name} thread"))?;
        let addr =
            ready_rx.recv().context("the thread ended").and_then(|addr| Ok(addr?)).with_context(|| format!("{name} did not start"))?;
        Ok(Server { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The real collector (`vantage_collector::run`) with `config`.
    pub(crate) fn collector(config: Config) -> anyhow::Result<Server> {
        // Opening the store happens before the listener in `run`; do it here so errors surface.
        let state = vantage_collector::Collector::new(config)?;
        Server::spawn("bench-collector", move |listener, stopped| async move {
            vantage_collector::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .context("collector")
        })
    }

    /// The baseline: a trivial axum handler that reads the body and answers 202, served the
    /// same way (same runtime, same `axum::serve`, same connect-info service).
    pub(crate) fn baseline() -> anyhow::Result<Server> {
        use axum::http::StatusCode;
        use axum::routing::post;
        Server::spawn("bench-baseline", |listener, stopped| async move {
            let app = axum::Router::new().route(
                "/v1/reports",
                post(|_body: axum::body::Bytes| async {
                    (StatusCode::ACCEPTED, [("content-type", "application/json")], "{\"accepted\":true}")
                }),
            );
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .context("baseline server")
        })
    }

    /// The fixture server of the test kit (`/delay/{ms}` and friends).
    pub(crate) fn fixtures() -> anyhow::Result<Server> {
        Server::spawn("bench-fixtures", |listener, stopped| async move {
            tokio::select! {
                _ = vantage_testkit::fixtures::run(listener) => {}
                _ = stopped => {}
            }
            Ok(())
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops gracefully (the collector commits what is queued) and joins the thread.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A collector configuration for benchmarks: SQLite at `db`, rate limit off, the static files
/// compiled into the collector (as served in production).
pub(crate) fn collector_config(db: PathBuf) -> Config {
    let mut c = collector_config_for(StoreUrl::Sqlite(db));
    c.rate_limit_per_min = 0;
    c
}

/// The defaults of `vantage serve` (rate limit on) with `store`; static files compiled in.
pub(crate) fn collector_config_for(store: StoreUrl) -> Config {
    Config::new(store)
}

/// Nearest-rank percentile (q in 0..=100) of unsorted samples.
pub(crate) fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub(crate) fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// A bar of `len` steps with a label.
pub(crate) fn bar(len: u64, label: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} ({elapsed})").expect("template").progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar that fills over a known duration (a timed load run).
pub(crate) fn timed(d: Duration, label: &str, msg: &str) -> ProgressBar {
    let pb = bar(d.as_secs().max(1), label);
    pb.set_message(msg.to_string());
    pb
}

/// A random 32-hex-digit report id prefix source: run nonce from the clock and pid.
pub(crate) fn nonce() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
}

/// Hex digits of a report id.
pub(crate) const ID_LEN: usize = 32;

/// The `i`th report id of run `nonce`: 32 hex digits in random order, as the widget's are (they
/// come from `crypto.getRandomValues`), so the store's id index is exercised as in production.
/// Distinct for distinct `(nonce, i)` with `i < 2^32`: the first half is splitmix64's finalizer,
/// a bijection of u64, applied to `nonce << 32 | i`.
pub(crate) fn random_order_id(nonce: u32, i: u64) -> String {
    let mut id = [0; ID_LEN];
    write_random_order_id(nonce, i, &mut id);
    String::from_utf8(id.to_vec()).expect("hex digits")
}

/// [`random_order_id`] written in place: the open-loop generator splices it into a pre-built
/// request without allocating.
pub(crate) fn write_random_order_id(nonce: u32, i: u64, out: &mut [u8; ID_LEN]) {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let hi = mix(u64::from(nonce) << 32 | (i & 0xffff_ffff));
    let lo = mix(hi ^ 0x9e37_79b9_7f4a_7c15);
    std::io::Write::write_fmt(&mut &mut out[..], format_args!("{hi:016x}{lo:016x}")).expect("32 hex digits fit");
}

/// `/proc/loadavg`'s first three fields: how busy the shared machine was.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// SplitMix64: seeded, so generated data sets are the same every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The served target list: ids and version (reports name every target, as the widget does).
pub(crate) async fn served_targets(url: &str) -> anyhow::Result<(Vec<String>, String)> {
    let v: serde_json::Value = reqwest::get(url).await?.json().await?;
    let ids: Vec<String> =
        v["targets"].as_array().context("no targets in /v1/targets")?.iter().filter_map(|t| t["id"].as_str().map(String::from)).collect();
    if ids.is_empty() {
        anyhow::bail!("empty target list");
    }
    Ok((ids, v["version"].as_str().unwrap_or_default().to_string()))
}

#[cfg(test)]
mod tests {
    use super::random_order_id;

    /// Ids are valid report ids, never repeat within or across runs, and do not arrive in order
    /// (the point: sorted ids would append to the store's index and flatter it).
    #[test]
    fn random_order_ids_are_distinct_and_unordered() {
        let ids: Vec<String> = (0..2u32).flat_map(|nonce| (0..50_000u64).map(move |i| random_order_id(nonce, i))).collect();
        assert!(ids.iter().all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let ascending = ids.windows(2).filter(|w| w[0] < w[1]).count();
        assert!((40_000..60_000).contains(&ascending), "{ascending} of {} steps ascend", ids.len() - 1);
    }
}
