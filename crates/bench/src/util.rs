//! Shared pieces: in-process servers (the collector and the trivial baseline), percentiles,
//! progress bars, report bodies.

use indicatif::{ProgressBar, ProgressStyle};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use vantage_collector::{Config, StoreUrl};

/// The repository root (the bench is always built from the workspace).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A server running on its own multi-threaded tokio runtime in a thread, as `vantage serve`
/// runs it (`Runtime::new()`: one worker per core).
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Server {
    fn spawn<F, Fut>(name: &str, body: F) -> Result<Server, String>
    where
        F: FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return Err(e.to_string());
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                    body(listener, stopped).await
                })
            })
            .map_err(|e| e.to_string())?;
        let addr = ready_rx.recv().map_err(|_| format!("{name} did not start"))??;
        Ok(Server { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The real collector (`vantage_collector::run`) with `config`.
    pub fn collector(config: Config) -> Result<Server, String> {
        // Opening the store happens before the listener in `run`; do it here so errors surface.
        let state = vantage_collector::Collector::new(config)?;
        Server::spawn("bench-collector", move |listener, stopped| async move {
            vantage_collector::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
        })
    }

    /// The baseline: a trivial axum handler that reads the body and answers 202, served the
    /// same way (same runtime, same `axum::serve`, same connect-info service).
    pub fn baseline() -> Result<Server, String> {
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
                .map_err(|e| e.to_string())
        })
    }

    /// The fixture server of the test kit (`/delay/{ms}` and friends).
    pub fn fixtures() -> Result<Server, String> {
        Server::spawn("bench-fixtures", |listener, stopped| async move {
            tokio::select! {
                _ = vantage_testkit::fixtures::run(listener) => {}
                _ = stopped => {}
            }
            Ok(())
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops gracefully (the collector commits what is queued) and joins the thread.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "server thread panicked".to_string())?,
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
pub fn collector_config(db: PathBuf) -> Config {
    let mut c = Config::new(StoreUrl::Sqlite(db));
    c.rate_limit_per_min = 0;
    c
}

/// Nearest-rank percentile (q in 0..=100) of unsorted samples.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// A bar of `len` steps with a label.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} ({elapsed})").expect("template").progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar that fills over a known duration (a timed load run).
pub fn timed(d: Duration, label: &str, msg: &str) -> ProgressBar {
    let pb = bar(d.as_secs().max(1), label);
    pb.set_message(msg.to_string());
    pb
}

/// A random 32-hex-digit report id prefix source: run nonce from the clock and pid.
pub fn nonce() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
}

/// A valid report body with `ids.len()` measurements (docs/protocol.md §1).
pub fn report_body(id: &str, targets: &[String]) -> String {
    let outcomes = ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "error", "ok", "timeout"];
    let ms: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let outcome = outcomes[i % outcomes.len()];
            let ms = if outcome == "timeout" { 15000.0 } else { 120.0 + 17.0 * i as f64 };
            format!("{{\"target\":\"{t}\",\"outcome\":\"{outcome}\",\"ms\":{ms:.1}}}")
        })
        .collect();
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"site\":\"bench\",\"widget\":\"0.1.0\",\"targets_version\":\"2026-11-28.1\",\"age_s\":0,\
\"browser\":{{\"family\":\"chromium\",\"major\":130}},\"net\":{{\"type\":\"wifi\",\"effective\":\"4g\",\"rtt_ms\":50,\"downlink_kbps\":10000,\"save_data\":false}},\
\"control\":{{\"target\":\"control.self\",\"outcome\":\"ok\",\"ms\":41.2}},\"measurements\":[{}]}}",
        ms.join(",")
    )
}

/// `n` target ids from the served list (repeating if it is shorter).
pub fn pick_targets(served: &[String], n: usize) -> Vec<String> {
    (0..n).map(|i| served[i % served.len()].clone()).collect()
}

/// `/proc/loadavg`'s first three fields: how busy the shared machine was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// SplitMix64: seeded, so generated data sets are the same every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
