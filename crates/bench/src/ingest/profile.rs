//! `VANTAGE_BENCH_PERF=DIR`: a `perf record -g` of the bench process (the in-process collector,
//! without wrk or the other servers) during each collector round, written to
//! `DIR/collector-ROUND-CONNECTIONS.data`, so a profile shows the server's CPU alone.

use std::process::{Child, Command, Stdio};

/// A running `perf record`; stopped (SIGINT, so it writes its file) when dropped.
pub(crate) struct Perf(Child);

/// Starts `perf record` on this process if `VANTAGE_BENCH_PERF` names a directory.
pub(crate) fn start(round: usize, connections: u32) -> Option<Perf> {
    let dir = std::env::var("VANTAGE_BENCH_PERF").ok()?;
    let out = format!("{dir}/collector-{round}-{connections}.data");
    // --no-inherit: wrk, started after perf attaches, is a child of this process.
    let child = Command::new("perf")
        .args(["record", "-F", "999", "-g", "--no-inherit", "-o", &out, "-p", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| eprintln!("VANTAGE_BENCH_PERF: cannot run perf: {e}"))
        .ok()?;
    Some(Perf(child))
}

impl Drop for Perf {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}
