//! The real `vantage` binary as a child process: port 0, stdout and stderr captured to files,
//! SIGKILL or SIGTERM, resident memory from /proc, and a load generator with unique report ids.

use crate::common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `vantage serve`; killed on drop if still running.
pub(crate) struct Binary {
    pub child: Child,
    /// `host:port` it printed.
    pub addr: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Binary {
    /// `vantage serve` on 127.0.0.1:0 with `t`'s store and files, no rate limit unless `args`
    /// say otherwise (later flags win), logs to `logs/{stdout,stderr}.N`.
    pub(crate) fn start(t: &TestDir, args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut cmd = serve_command(t);
        cmd.arg("--www").arg(t.path().join("www")).arg("--widget-dir").arg(t.path().join("widget")).args(args).envs(env.iter().copied());
        Binary::launch(t, cmd)
    }

    /// `vantage serve` as an operator runs it: working directory `t` (outside the checkout), no
    /// `--www` or `--widget-dir`, so every static file comes from inside the binary.
    pub(crate) fn start_self_contained(t: &TestDir, args: &[&str]) -> Binary {
        let mut cmd = serve_command(t);
        cmd.args(args).current_dir(t.path());
        Binary::launch(t, cmd)
    }

    /// Spawns `cmd` with its output in `logs/{stdout,stderr}.N` and waits for its address.
    fn launch(t: &TestDir, mut cmd: std::process::Command) -> Binary {
        let logs = t.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let n = std::fs::read_dir(&logs).unwrap().count();
        let (stdout, stderr) = (logs.join(format!("stdout.{n}")), logs.join(format!("stderr.{n}")));
        cmd.stdin(Stdio::null()).stdout(std::fs::File::create(&stdout).unwrap()).stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(line) = text.lines().find_map(|l| l.strip_prefix("vantage listening on http://")) {
                return Binary { child, addr: line.trim().to_string(), stdout, stderr };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("vantage exited {status}: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "vantage never printed its address");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident set size in KiB (VmRSS from /proc).
    pub(crate) fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// SIGKILL: no flush, no goodbye.
    pub(crate) fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for the exit.
    pub(crate) fn term(mut self) -> ExitStatus {
        let ok = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

/// `vantage serve` on 127.0.0.1:0 with `t`'s store, no rate limit, no admin token or log filter
/// from the environment.
pub(crate) fn serve_command(t: &TestDir) -> std::process::Command {
    let mut cmd = vantage();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0", "--store"])
        .arg(format!("sqlite:{}", t.db().display()))
        .env_remove("RUST_LOG")
        .env_remove(vantage_collector::auth::TOKEN_ENV);
    cmd
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Held by the tests that load the machine hard or measure against its speed (the overload
/// test's capacity, the limits test's timings, the readers test's 6,000 connections): they run
/// one at a time, since a capacity measured while another of them shares the 2 cores is wrong.
pub(crate) async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Resident set size of process `pid` in KiB (VmRSS from /proc; 0 once it is gone).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// What a load run saw, by report id.
#[derive(Default)]
pub(crate) struct Tally {
    /// 202: stored now.
    pub accepted: HashSet<String>,
    /// 200: already stored.
    pub duplicate: HashSet<String>,
    /// 503, each with a Retry-After.
    pub shed: HashSet<String>,
    /// 503 without Retry-After (must stay empty).
    pub shed_without_retry_after: usize,
    /// Any other status, or no answer (connection refused or reset).
    pub other: Vec<(String, String)>,
}

impl Tally {
    pub(crate) fn acknowledged(&self) -> HashSet<String> {
        self.accepted.union(&self.duplicate).cloned().collect()
    }

    /// Every id sent.
    pub(crate) fn sent(&self) -> HashSet<String> {
        let mut all = self.acknowledged();
        all.extend(self.shed.iter().cloned());
        all.extend(self.other.iter().map(|(id, _)| id.clone()));
        all
    }
}

/// Sends reports with ids `first, first+1, ...` to `url` until `stop` says so: `rate` per second
/// in total (open loop, like real browsers that do not wait for each other), at most `in_flight`
/// at once (`rate == 0`: closed loop, as fast as `in_flight` requests allow).
pub(crate) async fn load(url: String, first: u32, rate: f64, in_flight: usize, stop: impl Fn() -> bool) -> Tally {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(in_flight).timeout(Duration::from_secs(30)).build().unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(AtomicU32::new(first));
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let start = Instant::now();
    let mut sent = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while !stop() {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let permit = permits.clone().acquire_owned().await.unwrap();
        sent += 1;
        let id = id(next.fetch_add(1, Ordering::Relaxed));
        let (client, url, tally) = (client.clone(), url.clone(), tally.clone());
        tasks.spawn(async move {
            let res = client.post(url).header("content-type", "text/plain;charset=UTF-8").body(report(&id)).send().await;
            drop(permit);
            let mut t = tally.lock().unwrap();
            match res {
                Ok(r) if r.status() == 202 => drop(t.accepted.insert(id)),
                Ok(r) if r.status() == 200 => drop(t.duplicate.insert(id)),
                Ok(r) if r.status() == 503 => {
                    if r.headers().contains_key("retry-after") {
                        t.shed.insert(id);
                    } else {
                        t.shed_without_retry_after += 1;
                    }
                }
                Ok(r) => t.other.push((id, r.status().to_string())),
                Err(e) => t.other.push((id, e.to_string())),
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
}

/// Every report id in the store with its number of observation rows.
pub(crate) fn stored(db: &Path) -> std::collections::HashMap<String, i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT r.id, (SELECT count(*) FROM observations o WHERE o.report_id = r.id) FROM reports r").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Whether the long mode (`VANTAGE_LONG=1`) was asked for.
pub(crate) fn long_mode() -> bool {
    std::env::var("VANTAGE_LONG").is_ok_and(|v| v == "1")
}
