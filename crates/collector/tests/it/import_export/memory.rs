//! Import and export in constant memory: the real binary on a generated file of 64 MiB (1 GiB
//! with `VANTAGE_LONG=1`), its resident memory sampled from /proc while it runs. The bound is
//! the same for both sizes: memory must not grow with the file.

use crate::binary::{long_mode, rss_kib};
use crate::common::*;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Peak resident memory allowed to `vantage import` and `vantage export --raw`, whatever the size.
const MAX_RSS_KIB: u64 = 200 * 1024;

/// Writes NDJSON observations until the file holds `bytes`; returns the rows written. Every row
/// has its own report id; 1,000 rows a minute, over platforms, networks and ASNs.
fn generate(path: &Path, bytes: u64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let (mut written, mut rows) = (0u64, 0u64);
    let mut ts = String::new();
    while written < bytes {
        if rows % 1000 == 0 {
            ts = vantage_collector::store::rfc3339::format(1_793_491_200 + (rows / 1000) as i64 * 60);
        }
        let platform = ["x", "youtube", "facebook", "whatsapp"][(rows % 4) as usize];
        let line = format!(
            r#"{{"ts":"{ts}","country":"PK","asn":{asn},"network":{net},"site":"drm","platform":"{platform}","target":"{platform}.main","outcome":"ok","ms":{ms}.5,"control_outcome":"ok","control_ms":40.0,"browser_family":"firefox","net_type":"wifi","report_id":"{rows:032x}"}}"#,
            asn = 17557 + rows % 7,
            net = rows % 97,
            ms = 100 + rows % 900,
        );
        writeln!(out, "{line}").unwrap();
        written += line.len() as u64 + 1;
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

/// Runs `vantage ARGS` with stdout to `stdout`, sampling its VmRSS every 10 ms; returns its peak
/// in KiB. Fails the test if the command fails.
fn peak_rss(args: &[&str], stdout: &Path) -> u64 {
    let mut child =
        vantage().args(args).stdin(Stdio::null()).stdout(std::fs::File::create(stdout).unwrap()).stderr(Stdio::piped()).spawn().unwrap();
    let (pid, mut peak) = (child.id(), 0);
    let started = Instant::now();
    let status = loop {
        peak = peak.max(rss_kib(pid));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "vantage {args:?} ran for an hour");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "vantage {args:?}: {stderr}");
    eprintln!("vantage {:?}: peak RSS {} MiB in {:.1} s", args[0], peak / 1024, started.elapsed().as_secs_f64());
    peak
}

#[test]
fn a_large_file_imports_and_exports_in_constant_memory() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let bytes = if long_mode() { 1 << 30 } else { 64 << 20 };
    let (input, output) = (t.path().join("big.ndjson"), t.path().join("out.ndjson"));
    let started = Instant::now();
    let generated = generate(&input, bytes);
    eprintln!("generated {generated} rows ({} MiB) in {:.1} s", bytes >> 20, started.elapsed().as_secs_f64());

    let import = peak_rss(&["import", "--store", &store, input.to_str().unwrap()], &t.path().join("import.out"));
    std::fs::remove_file(&input).unwrap();
    assert!(import < MAX_RSS_KIB, "import of {} MiB peaked at {} MiB", bytes >> 20, import / 1024);
    assert_eq!(rows(&t.db(), "") as u64, generated);

    let export = peak_rss(&["export", "--raw", "--store", &store], &output);
    assert!(export < MAX_RSS_KIB, "raw export of {generated} rows peaked at {} MiB", export / 1024);
    let lines = std::io::BufReader::new(std::fs::File::open(&output).unwrap()).lines().count() as u64;
    assert_eq!(lines, generated, "every imported row is exported once");
}
