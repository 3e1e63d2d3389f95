//! Shared helpers: a test directory with www/widget files, configs, servers, requests.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tower::ServiceExt;
use vantage_collector::{app, Collector, Config, StoreUrl};

/// A report that validates against the built-in target list.
pub(crate) fn report(id: &str) -> String {
    report_with(id, r#"{"target":"x.main","outcome":"ok","ms":182.5},{"target":"youtube.cdn","outcome":"timeout","ms":15000}"#)
}

/// A report with the given measurement objects.
pub(crate) fn report_with(id: &str, measurements: &str) -> String {
    format!(
        r#"{{"v":1,"id":"{id}","site":"drm","widget":"0.1.0","targets_version":"2026-11-28.1","age_s":4,
        "browser":{{"family":"chromium","major":156}},"net":{{"type":"wifi"}},
        "control":{{"target":"control.self","outcome":"ok","ms":41.2}},"measurements":[{measurements}]}}"#
    )
}

/// The n-th distinct report id.
pub(crate) fn id(n: u32) -> String {
    format!("{n:032x}")
}

/// A temporary directory with a data dir, a www tree and a widget dir.
pub(crate) struct TestDir {
    /// Removed on drop.
    pub dir: TempDir,
}

impl TestDir {
    pub(crate) fn new() -> TestDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (path, body) in [
            ("www/index.html", "<!doctype html><title>home</title>"),
            ("www/demo/index.html", "<!doctype html><title>demo</title><p>article</p>"),
            ("www/loader.js", "/* loader */ console.log('vantage loader');"),
            ("www/frame.html", "<!doctype html><title>frame</title><script src=\"/v1/frame.js\"></script>"),
            ("www/frame.js", "/* frame */ console.log('vantage frame');"),
            ("www/worker.js", "/* worker */ onmessage = () => {};"),
            ("widget/vantage_widget.js", &"export function start() { return 1; }\n".repeat(20)),
        ] {
            std::fs::create_dir_all(p.join(path).parent().unwrap()).unwrap();
            std::fs::write(p.join(path), body).unwrap();
        }
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend(std::iter::repeat_n(0u8, 4000));
        std::fs::write(p.join("widget/vantage_widget_bg.wasm"), wasm).unwrap();
        TestDir { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.data_dir().join("vantage.db")
    }

    /// Built-in targets, this directory's store and files, no rate limit.
    pub(crate) fn config(&self) -> Config {
        let mut c = Config::new(StoreUrl::Sqlite(self.db()));
        c.www = Some(self.path().join("www"));
        c.widget_dir = Some(self.path().join("widget"));
        c.rate_limit_per_min = 0;
        c
    }

    /// Writes the test MaxMind databases and points `config` at them.
    pub(crate) fn with_geoip(&self, config: &mut Config) {
        vantage_testkit::mmdb::write_test_databases(&self.path().join("geo")).unwrap();
        config.geoip_country = Some(self.path().join("geo/country.mmdb"));
        config.geoip_asn = Some(self.path().join("geo/asn.mmdb"));
    }
}

/// Observation rows in the store, by a fresh connection.
pub(crate) fn rows(db: &Path, sql_where: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM observations {sql_where}"), [], |r| r.get(0)).unwrap()
}

/// (country, asn) of every stored row.
pub(crate) fn geo_rows(db: &Path) -> Vec<(String, u32)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT country, asn FROM observations ORDER BY rowid").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// A response read fully.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

/// Sends one request through the router, without a network.
pub(crate) async fn oneshot(router: &axum::Router, req: Request<Body>) -> Answer {
    let res = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// A POST /v1/reports request.
pub(crate) fn post(body: impl Into<Body>, content_type: &str) -> Request<Body> {
    Request::post("/v1/reports").header("content-type", content_type).body(body.into()).unwrap()
}

/// A GET request.
pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// The router and its state, for oneshot tests.
pub(crate) fn router(config: Config) -> (axum::Router, vantage_collector::AppState) {
    let state = Collector::new(config).unwrap();
    (app(state.clone()), state)
}

/// A collector on a real listener (port 0) inside this process.
pub(crate) struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), vantage_collector::RunError>>,
}

impl Server {
    pub(crate) async fn start(config: Config) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(vantage_collector::run(listener, config, async {
            let _ = stopped.await;
        }));
        Server { addr, stop: Some(stop), task }
    }

    /// Serves an already built collector (tests that move its clock or read its store).
    pub(crate) async fn start_state(state: vantage_collector::AppState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(vantage_collector::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server { addr, stop: Some(stop), task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for the flush.
    pub(crate) async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// An HTTP client that never goes through a proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs a report over the network, optionally with an X-Forwarded-For.
pub(crate) async fn send(server: &Server, body: String, xff: Option<&str>) -> reqwest::Response {
    let mut req = client().post(server.url("/v1/reports")).header("content-type", "text/plain;charset=UTF-8").body(body);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send().await.unwrap()
}

/// Path of the built `vantage` binary.
pub(crate) fn vantage() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_vantage"))
}
