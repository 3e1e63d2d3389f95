//! The ClickHouse store against a real clickhouse-server (Debian's 18.16, installed by
//! scripts/setup.sh) started on loopback from a temp dir: two real `vantage` binaries share it
//! (reports to one, reads and status from the other), duplicates across nodes, 503 while
//! ClickHouse is down and recovery when it is back without restarting the collector; and the
//! same rollups, detection, export and import as the SQLite store on the same history.
//!
//! A missing clickhouse-server FAILS these tests (it never skips): CI installs it.

use crate::binary::Binary;
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use vantage_collector::rollup::CellRollup;
use vantage_collector::simulate::{self, HistorySpec, Kind};
use vantage_collector::store::{self, Incident, IncidentFilter, RollupFilter, Store};
use vantage_collector::StoreUrl;

/// A clickhouse-server of this test's own, on free loopback ports.
pub(crate) struct ClickHouse {
    dir: TempDir,
    pub http_port: u16,
    ports: [u16; 2],
    child: Option<Child>,
}

fn server_binary() -> PathBuf {
    let candidates = [PathBuf::from("/usr/sbin/clickhouse-server"), PathBuf::from("/usr/bin/clickhouse-server")];
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("clickhouse-server"));
    candidates.into_iter().chain(on_path).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "clickhouse-server is not installed, so the ClickHouse store cannot be tested. \
             Install it with scripts/setup.sh (Debian package clickhouse-server); this test fails rather than skips."
        )
    })
}

fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

impl ClickHouse {
    pub(crate) fn start() -> ClickHouse {
        let [http_port, tcp, interserver] = free_ports::<3>();
        let mut ch = ClickHouse { dir: tempfile::tempdir().unwrap(), http_port, ports: [tcp, interserver], child: None };
        ch.restart();
        ch
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server (again) on the same directory and ports; waits until it answers.
    pub(crate) fn restart(&mut self) {
        let d = self.path().to_path_buf();
        for sub in ["data", "tmp", "uf", "fs"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let arg = |k: &str, v: String| format!("--{k}={v}");
        let child = Command::new(server_binary())
            .arg("--config-file=/etc/clickhouse-server/config.xml")
            .arg("--")
            .arg(arg("path", format!("{}/data/", d.display())))
            .arg(arg("tmp_path", format!("{}/tmp/", d.display())))
            .arg(arg("user_files_path", format!("{}/uf/", d.display())))
            .arg(arg("format_schema_path", format!("{}/fs/", d.display())))
            .arg(arg("http_port", self.http_port.to_string()))
            .arg(arg("tcp_port", self.ports[0].to_string()))
            .arg(arg("interserver_http_port", self.ports[1].to_string()))
            .arg("--listen_host=127.0.0.1")
            .arg(arg("logger.log", format!("{}/log", d.display())))
            .arg(arg("logger.errorlog", format!("{}/err", d.display())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("stdout")).unwrap())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /ping HTTP/1.0\r\n\r\n");
                let mut got = String::new();
                let _ = s.read_to_string(&mut got);
                if got.starts_with("HTTP/1.0 200") || got.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let err = std::fs::read_to_string(d.join("err")).unwrap_or_default();
                panic!("clickhouse-server exited {status}: {}", err.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
            }
            assert!(Instant::now() < deadline, "clickhouse-server did not answer on port {} within 30 s", self.http_port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: ClickHouse vanishes as in a crash or a network cut.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP or SIGCONT: a hung server (connections open, no answers) and its recovery.
    pub(crate) fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    }

    /// The `--store` value for database `db`.
    pub(crate) fn store(&self, db: &str, settings: &str) -> String {
        format!("clickhouse:http://127.0.0.1:{}/{db}{settings}", self.http_port)
    }

    /// One SQL statement over HTTP; the body of the answer.
    pub(crate) async fn query(&self, sql: &str) -> String {
        let res = client().post(format!("http://127.0.0.1:{}/", self.http_port)).body(sql.to_string()).send().await.unwrap();
        assert!(res.status().is_success(), "{sql}: {}", res.status());
        res.text().await.unwrap()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `vantage serve` on port 0 with a ClickHouse store; trusts X-Forwarded-For and CF-IPCountry
/// from loopback, so each test report can come from its own network and country.
fn node(t: &TestDir, store: &str, extra: &[&str]) -> Binary {
    let logs = t.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let n = std::fs::read_dir(&logs).unwrap().count();
    let (stdout, stderr) = (logs.join(format!("stdout.{n}")), logs.join(format!("stderr.{n}")));
    let child = vantage()
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0", "--store", store])
        .args(["--trusted-proxy", "127.0.0.1/32", "--country-header", "CF-IPCountry", "--history-days", "1"])
        .arg("--www")
        .arg(t.path().join("www"))
        .arg("--widget-dir")
        .arg(t.path().join("widget"))
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove(vantage_collector::auth::TOKEN_ENV)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut b = Binary { child, addr: String::new(), stdout, stderr };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&b.stdout).unwrap_or_default();
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("vantage listening on http://")) {
            b.addr = line.trim().to_string();
            return b;
        }
        if let Some(status) = b.child.try_wait().unwrap() {
            panic!("vantage exited {status}: {}", std::fs::read_to_string(&b.stderr).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "vantage never printed its address");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Posts report `n` (one youtube measurement, ok) from network 10.1.{n % 4}.0/24 in IR.
async fn post(node: &Binary, n: u32) -> reqwest::Response {
    client()
        .post(node.url("/v1/reports"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("x-forwarded-for", format!("10.1.{}.1", n % 4))
        .header("cf-ipcountry", "IR")
        .body(report_with(&id(n), r#"{"target":"youtube.cdn","outcome":"ok","ms":120}"#))
        .send()
        .await
        .unwrap()
}

async fn get_json(node: &Binary, path: &str) -> Value {
    let res = client().get(node.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// Counted reports and the most networks in a minute of youtube in IR over the last hour, as
/// any node reads the shared rollups (the published series holds these minutes back until they
/// are final, `store::publish::SETTLE_S`, so the rollups are read as the nodes read them).
async fn series_totals(url: &str) -> (u64, u64) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let s = store::open(&url.parse::<StoreUrl>().unwrap(), 4).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
        let filter = RollupFilter {
            from: now - 60,
            to: now + 2,
            platform: Some("youtube".parse().unwrap()),
            country: Some("IR".parse().unwrap()),
            asn: None,
        };
        let (mut reports, mut nets) = (0u64, std::collections::BTreeMap::<i64, std::collections::BTreeSet<u32>>::new());
        s.scan_rollups(&filter, &mut |c| {
            for n in c.nets.iter().filter(|n| n.counted() > 0) {
                reports += u64::from(n.counted());
                nets.entry(c.key.minute).or_default().insert(n.network);
            }
        })
        .unwrap();
        s.close().unwrap();
        (reports, nets.values().map(|n| n.len() as u64).max().unwrap_or(0))
    })
    .await
    .unwrap()
}

fn youtube(status: &Value) -> Option<Value> {
    status["platforms"].as_array()?.iter().find(|p| p["platform"] == "youtube").cloned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_else(|| panic!("{name} missing in {text}"))
}

#[tokio::test]
async fn two_collectors_share_one_clickhouse_and_survive_its_outage() {
    let started = Instant::now();
    let mut ch = ClickHouse::start();
    let t = TestDir::new();
    let url = ch.store("vantage_it", "?batch_ms=200");
    let a = node(&t, &url, &[]);
    let b = node(&t, &url, &[]);

    // Twelve reports at once to A: each 202 only after its batch is in ClickHouse; few inserts.
    let answers = futures_util::future::join_all((1..=12).map(|n| post(&a, n))).await;
    for r in answers {
        assert_eq!(r.status(), 202);
    }
    let batches = metric(&client().get(a.url("/metrics")).send().await.unwrap().text().await.unwrap(), "vantage_store_batches_total");
    assert!((1..12).contains(&batches), "12 concurrent reports took {batches} inserts");

    // Repeated ids: on the same node and across nodes, acknowledged as duplicates, stored once.
    for (node, n) in [(&a, 1), (&b, 2), (&b, 12)] {
        let r = post(node, n).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["duplicate"], true);
    }
    assert_eq!(ch.query("SELECT count(), uniqExact(report_id) FROM vantage_it.observations").await.trim(), "12\t12");

    // B reads what A stored: the time series at once, the status as soon as its live task
    // notices the new rollups (it polls ClickHouse every second), here within a few seconds.
    let polled = Instant::now();
    assert_eq!(series_totals(&url).await, (12, 4));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = get_json(&b, "/v1/status?country=IR").await;
        // B may have polled between A's inserts (11 of 12 already say normal): wait for all 12.
        if youtube(&s).is_some_and(|y| y["state"] == "normal" && y["reports"] == 12) {
            break s;
        }
        assert!(Instant::now() < deadline, "B never showed A's reports in its status: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("B's status showed A's reports {} ms after the last 202", polled.elapsed().as_millis());
    let y = youtube(&status).unwrap();
    assert_eq!(y["networks"].as_u64(), Some(4), "{y}");
    assert_eq!(get_json(&a, "/v1/incidents").await, get_json(&b, "/v1/incidents").await);
    // The minute is not final yet (a late report could still be on its way): not exported yet.
    let export = client().get(b.url("/v1/export.ndjson")).send().await.unwrap().text().await.unwrap();
    assert!(!export.contains(r#""platform":"youtube""#), "{export}");

    // ClickHouse goes away: 503 with Retry-After, nothing queued without bound.
    ch.kill();
    let r = post(&a, 100).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let r = post(&b, 101).await;
    assert_eq!(r.status(), 503);

    // It comes back on the same data: the same collectors store again, no restart.
    ch.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = post(&a, 100).await.status();
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "while recovering");
        assert!(Instant::now() < deadline, "A did not recover after ClickHouse came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(post(&b, 100).await.status(), 200, "B sees A's report as stored");
    assert_eq!(post(&b, 101).await.status(), 202);
    assert_eq!(series_totals(&url).await.0, 14);

    for n in [a, b] {
        assert!(n.term().success());
    }
    println!("two collectors on ClickHouse: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_hung_clickhouse_sheds_load_with_retry_after_and_recovers() {
    let ch = ClickHouse::start();
    let t = TestDir::new();
    let a = node(&t, &ch.store("vantage_hung", "?batch_ms=100&insert_timeout_ms=1000"), &["--queue-capacity", "4"]);
    assert_eq!(post(&a, 1).await.status(), 202);
    // The writer gathers reports for `batch_ms` after an insert starts: a burst arriving inside
    // that window after a fast first insert would all join one batch (all 503 after the timeout,
    // the queue never full). Past the window, the writer takes only what is queued, hangs on the
    // insert, and the bounded queue must refuse the rest at once. A wait of at least 3x the
    // window holds whatever the machine's load.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Connections open, no answers: inserts time out, the queue stays bounded, nobody hangs.
    ch.signal("-STOP");
    let sent = Instant::now();
    let answers = futures_util::future::join_all((10..40).map(|n| post(&a, n))).await;
    let took = sent.elapsed();
    let mut retry_after: Vec<String> = Vec::new();
    for r in &answers {
        assert_eq!(r.status(), 503);
        retry_after.push(r.headers()["retry-after"].to_str().unwrap().to_string());
    }
    assert!(retry_after.iter().any(|r| r == "1"), "a full queue answers at once: {retry_after:?}");
    assert!(retry_after.iter().any(|r| r == "5"), "a timed-out insert: {retry_after:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");

    ch.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = post(&a, 99).await.status();
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery after the server resumed: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(a.term().success());
}

fn all_cells(s: &dyn Store, from: i64, to: i64) -> Vec<CellRollup> {
    let mut out = Vec::new();
    s.scan_rollups(&RollupFilter { from, to, ..RollupFilter::default() }, &mut |c| out.push(c)).unwrap();
    out
}

#[test]
fn clickhouse_keeps_the_same_rollups_incidents_and_rows_as_sqlite() {
    let ch = ClickHouse::start();
    let t = TestDir::new();
    let sqlite = store::open(&StoreUrl::Sqlite(t.db()), 16).unwrap();
    let url = ch.store("vantage_same", "");
    let clickhouse = store::open(&url.parse::<StoreUrl>().unwrap(), 16).unwrap();
    let end = 29_000_000;
    let spec = HistorySpec {
        platforms: vec!["x".parse().unwrap(), "youtube".parse().unwrap()],
        country: "PK".parse().unwrap(),
        per_minute: 20.0,
        from: end - 240,
        to: end,
        kind: Kind::Block,
        event_minutes: 40,
        seed: 3,
    };
    let n = simulate::history(sqlite.as_ref(), &spec, |_, _| {}).unwrap();
    assert_eq!(simulate::history(clickhouse.as_ref(), &spec, |_, _| {}).unwrap(), n);
    // Importing the same rows again adds nothing (idempotent per report_id + target).
    let rows = sqlite.observations(None, None).unwrap();
    assert_eq!(clickhouse.import(&rows).unwrap(), 0);
    let back = clickhouse.observations(None, None).unwrap();
    assert_eq!(back.len(), rows.len());
    // 18.16 parses floats to within an ulp or two: times agree to far below a microsecond.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let same = |a: &store::Observation, b: &store::Observation| {
        close(a.ms, b.ms)
            && close(a.control_ms, b.control_ms)
            && a == &store::Observation { ms: a.ms, control_ms: a.control_ms, ..b.clone() }
    };
    if let Some((a, b)) = rows.iter().zip(&back).find(|(a, b)| !same(a, b)) {
        panic!("export differs:\n sqlite     {a:?}\n clickhouse {b:?}");
    }

    let (s, c) = (all_cells(sqlite.as_ref(), end - 300, end + 1), all_cells(clickhouse.as_ref(), end - 300, end + 1));
    assert_eq!(s.len(), c.len());
    for (a, b) in s.iter().zip(&c) {
        assert_eq!((&a.key, &a.times, &a.control_times), (&b.key, &b.times, &b.control_times));
        assert_eq!(a.nets.len(), b.nets.len());
        for (x, y) in a.nets.iter().zip(&b.nets) {
            assert_eq!(
                (x.network, x.reports, x.ok, x.error, x.timeout, x.blocked, x.excluded_control),
                (y.network, y.reports, y.ok, y.error, y.timeout, y.blocked, y.excluded_control)
            );
            assert!((x.log_ms_sum - y.log_ms_sum).abs() < 1e-6);
        }
    }
    assert_eq!(sqlite.rollup_bounds().unwrap(), clickhouse.rollup_bounds().unwrap());
    // The time series' per-point sums: each store's fast path, and the cell scan they replace.
    for (platform, asn, step) in [("x", None, 1), ("youtube", None, 1), ("x", None, 7), ("x", None, 60), ("youtube", Some(0), 5)] {
        let q = store::SeriesQuery {
            platform: platform.parse().unwrap(),
            country: "PK".parse().unwrap(),
            asn,
            from: end - 250,
            to: end + 3,
            step,
        };
        let reference = store::series::from_rollups(sqlite.as_ref(), &q).unwrap();
        assert!(asn.is_some() || reference.iter().any(|p| p.networks > 0), "{q:?}");
        assert_eq!(sqlite.series(&q).unwrap(), reference, "sqlite {q:?}");
        assert_eq!(clickhouse.series(&q).unwrap(), reference, "clickhouse {q:?}");
    }

    let cfg = vantage_detect::DetectorConfig::default();
    let (si, ci) = (
        vantage_collector::engine::detect(sqlite.as_ref(), cfg.clone(), end - 240, end).unwrap(),
        vantage_collector::engine::detect(clickhouse.as_ref(), cfg, end - 240, end).unwrap(),
    );
    assert!(!si.is_empty(), "the block is detected");
    let ids = |l: &[Incident]| l.iter().map(|i| (i.id.clone(), i.state, i.reports)).collect::<Vec<_>>();
    assert_eq!(ids(&si), ids(&ci));

    // Incidents: written by every node, read once each; the most complete version wins
    // whatever the order of the writes (a lagging node's open copy never reopens a closed one).
    let open = si[0].clone();
    let mut closed = open.clone();
    closed.ended_at = Some(store::rfc3339::format((open.start_minute + 30) * 60));
    closed.end_minute = Some(open.start_minute + 30);
    closed.reports += 5;
    for batch in [vec![open.clone()], vec![closed.clone()], vec![open.clone()], si.clone()] {
        clickhouse.upsert_incidents(&batch).unwrap();
    }
    let all = clickhouse.incidents(&IncidentFilter { limit: 100, ..IncidentFilter::default() }).unwrap();
    assert_eq!(all.len(), si.len(), "one row per id");
    assert_eq!(all.iter().find(|i| i.id == open.id).unwrap(), &closed);
    let open_now = clickhouse.incidents(&IncidentFilter { open_only: true, limit: 100, ..IncidentFilter::default() }).unwrap();
    assert!(open_now.iter().all(|i| i.id != open.id && i.is_open()));

    // Rows written by something else, which no report could have carried, read back as errors
    // that name the column: the same checks as on the way in.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let minute = end + 10;
    runtime.block_on(ch.query(&format!(
        "INSERT INTO vantage_same.rollup_nets (ts, platform, country, asn, network, reports, ok) SELECT toDateTime({}), 'x', 'pk', 1, 1, 1, 1",
        minute * 60
    )));
    let e = clickhouse.scan_rollups(&RollupFilter { from: minute, to: minute + 1, ..RollupFilter::default() }, &mut |_| {}).unwrap_err();
    assert!(matches!(&e, store::StoreError::Corrupt { column, .. } if column == "country"), "{e}");
    runtime.block_on(ch.query(&format!(
        "INSERT INTO vantage_same.incidents (id, platform, country, started, ended, doc, version) SELECT 'bad', 'x', 'PK', {}, -1, '{{\"id\":\"bad\",\"state\":\"broken\"}}', 1",
        end + 100
    )));
    let e = clickhouse.incidents(&IncidentFilter { limit: 100, ..IncidentFilter::default() }).unwrap_err();
    assert!(matches!(&e, store::StoreError::Corrupt { column, .. } if column == "doc" || column.starts_with("doc.")), "{e}");
    sqlite.close().unwrap();
    clickhouse.close().unwrap();
}

#[test]
fn a_bad_or_unreachable_clickhouse_stops_start_up_with_a_message() {
    let [port] = free_ports::<1>();
    for (store, says) in [
        (format!("clickhouse:http://127.0.0.1:{port}/vantage"), "cannot reach ClickHouse"),
        ("clickhouse:http://127.0.0.1:8123/".to_string(), "the path must name the database"),
        ("clickhouse:http://127.0.0.1:8123/v?batch_ms=x".to_string(), "batch_ms"),
    ] {
        let out = vantage().args(["serve", "--listen", "127.0.0.1:0", "--store", &store]).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{store}: {err}");
    }
}

/// The tables and views as a store created before late reports were set apart had them.
const OLD_SCHEMA: &[&str] = &[
    "CREATE DATABASE vantage_old",
    "CREATE TABLE vantage_old.observations (
        ts DateTime('UTC'), country String, asn UInt32, network UInt32, site String, platform String,
        target String, outcome String, ms Float64, control_outcome String, control_ms Float64,
        browser_family Nullable(String), net_type Nullable(String), report_id String,
        first_of_report UInt8, ok UInt8, error UInt8, timeout UInt8, blocked UInt8, excluded_control UInt8,
        log_ms Float64, time_bucket Int16, control_bucket Int16
    ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (report_id, target)",
    "CREATE TABLE vantage_old.rollup_nets (
        ts DateTime('UTC'), platform String, country String, asn UInt32, network UInt32,
        reports UInt64, ok UInt64, error UInt64, timeout UInt64, blocked UInt64, excluded_control UInt64,
        log_ms_sum Float64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (platform, country, ts, asn, network)",
    "CREATE MATERIALIZED VIEW vantage_old.rollup_nets_mv TO vantage_old.rollup_nets AS
        SELECT ts, platform, country, asn, network, sum(first_of_report) AS reports, sum(ok) AS ok,
        sum(error) AS error, sum(timeout) AS timeout, sum(blocked) AS blocked,
        sum(excluded_control) AS excluded_control, sum(log_ms) AS log_ms_sum
        FROM vantage_old.observations GROUP BY ts, platform, country, asn, network",
];

fn row(ts: i64, n: u32, outcome: &str, late: bool) -> store::Observation {
    store::Observation {
        ts,
        country: "PK".parse().unwrap(),
        asn: 1,
        network: n % 4,
        site: "drm".parse().unwrap(),
        platform: "x".parse().unwrap(),
        target: "x.main".parse().unwrap(),
        outcome: vantage_protocol::Outcome::from_wire(outcome).unwrap(),
        ms: 100.0,
        control_outcome: vantage_protocol::Outcome::Ok,
        control_ms: 40.0,
        browser_family: None,
        net_type: None,
        report_id: id(n).parse().unwrap(),
        late,
        status: None,
    }
}

/// Counted reports of x in PK during minute `minute`, by the store's own rollup scan.
fn counted(s: &dyn Store, minute: i64) -> u64 {
    all_cells(s, minute, minute + 1).iter().flat_map(|c| &c.nets).map(|n| u64::from(n.counted())).sum()
}

#[tokio::test]
async fn late_reports_stay_out_of_the_rollups_and_old_raw_days_are_dropped() {
    let ch = ClickHouse::start();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (old, recent) = ((now - 500 * 86_400) / 60 * 60, (now - 3600) / 60 * 60);
    let mut rows: Vec<store::Observation> = (0..12).map(|n| row(old, n, "ok", false)).collect();
    rows.extend((100..112).map(|n| row(recent, n, "ok", false)));
    rows.extend((200..205).map(|n| row(recent, n, "error", true)));
    // A cors target's block page: counted (as an error) and kept raw with its status.
    rows.push(store::Observation { status: Some(451), ..row(recent, 112, "http_error", false) });

    // A database from before `late`: start-up adds the column, and the old view (no WHERE) still
    // sums late rows as nothing.
    for stmt in OLD_SCHEMA {
        ch.query(stmt).await;
    }
    let url = ch.store("vantage_old", "");
    let (u, r) = (url.clone(), rows.clone());
    tokio::task::spawn_blocking(move || {
        let s = store::open(&u.parse::<StoreUrl>().unwrap(), 16).unwrap();
        assert_eq!(s.import(&r).unwrap(), r.len());
        assert_eq!(counted(s.as_ref(), recent / 60), 13, "late rows add nothing to the minute");
        let back = s.observations(Some(recent), Some(recent + 60)).unwrap();
        assert_eq!(back.iter().filter(|o| o.late).count(), 5, "late rows are kept raw, flagged");
        let statuses: Vec<_> = back.iter().filter_map(|o| o.status.map(|st| (o.outcome.as_str(), st))).collect();
        assert_eq!(statuses, [("http_error", 451)], "the status column was added to the old table and kept");
        s.close().unwrap();
    })
    .await
    .unwrap();

    // A fresh database: the views skip late rows. Then a serving store with the default retention
    // drops the raw days older than 400 days, and keeps their rollups.
    let url = ch.store("vantage_retained", "");
    let (u, r) = (url.clone(), rows.clone());
    tokio::task::spawn_blocking(move || {
        let s = store::open(&u.parse::<StoreUrl>().unwrap(), 16).unwrap();
        s.import(&r).unwrap();
        assert_eq!(counted(s.as_ref(), recent / 60), 13);
        assert_eq!(counted(s.as_ref(), old / 60), 12);
        s.close().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        ch.query("SELECT count() FROM vantage_retained.rollup_nets WHERE ok + error + timeout = 0").await.trim(),
        "0",
        "no zero rows from late reports"
    );
    let u = url.clone();
    let serving =
        tokio::task::spawn_blocking(move || store::open_serving(&u.parse::<StoreUrl>().unwrap(), 16, 400).unwrap()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ch.query(&format!("SELECT count() FROM vantage_retained.observations WHERE ts < toDateTime({})", now - 400 * 86_400)).await.trim()
        != "0"
    {
        assert!(Instant::now() < deadline, "old raw days were not dropped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ch.query("SELECT count() FROM vantage_retained.observations").await.trim(), "18", "recent rows stay");
    let s = serving.clone();
    let (old_after, recent_after) =
        tokio::task::spawn_blocking(move || (counted(s.as_ref(), old / 60), counted(s.as_ref(), recent / 60))).await.unwrap();
    assert_eq!((old_after, recent_after), (12, 13), "rollups are kept");
    tokio::task::spawn_blocking(move || serving.close().unwrap()).await.unwrap();
}
