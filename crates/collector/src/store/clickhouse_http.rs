//! The ClickHouse HTTP interface, as the store uses it: SQL in the body (or in `query=` for an
//! INSERT whose body is `JSONEachRow` data), answers as `JSONEachRow`. No driver: the `clickhouse`
//! crate speaks RowBinaryWithNamesAndTypes and compression that Debian's 18.16 server lacks.
//!
//! Requests run on a small runtime of the store's own thread, so every caller (the writer thread,
//! `spawn_blocking` readers, the CLI, even `Collector::new` inside the server's runtime) simply
//! blocks on a channel for the answer.

use super::json_row::RowError;
use super::StoreError;
use reqwest::Url;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Longest wait for a TCP connection to ClickHouse: a down server is noticed fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to one ClickHouse HTTP endpoint and database.
pub(super) struct Http {
    /// `http://host:port/` (no path, no query).
    base: Url,
    /// Database every query runs in.
    pub db: String,
    /// User and password from the URL's user info (basic auth), if any.
    auth: Option<(String, Option<String>)>,
    client: reqwest::Client,
    /// The runtime that runs the requests (its thread ends when `_stop` is dropped).
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Http {
    /// Starts the request thread for `base` (scheme, host, port and user info are used).
    pub(super) fn new(base: &Url, db: &str) -> Result<Http, StoreError> {
        let mut root = base.clone();
        root.set_path("/");
        root.set_query(None);
        let auth = (!base.username().is_empty()).then(|| (decode(base.username()), base.password().map(decode)));
        let _ = root.set_username("");
        let _ = root.set_password(None);
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StoreError::Thread(format!("clickhouse client: {e}")))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("vantage-clickhouse-http".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(tx.send(Err(format!("clickhouse runtime: {e}")))),
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                rt.block_on(async move {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| format!("cannot start the clickhouse thread: {e}"))
            .and_then(|_| rx.recv().map_err(|_| "the clickhouse thread did not start".to_string())?)
            .map_err(StoreError::Thread)?;
        Ok(Http { base: root, db: db.to_string(), auth, client, handle, _stop: stop })
    }

    /// The POST of one statement: SQL in the body, or in `query=` when `body` carries data.
    fn request(&self, sql: &str, body: Option<String>, in_db: bool) -> reqwest::RequestBuilder {
        let mut url = self.base.clone();
        {
            let mut q = url.query_pairs_mut();
            if in_db {
                q.append_pair("database", &self.db);
            }
            q.append_pair("output_format_json_quote_64bit_integers", "0");
            if body.is_some() {
                q.append_pair("query", sql);
            }
        }
        let req = self.client.post(url).body(body.unwrap_or_else(|| sql.to_string()));
        match &self.auth {
            Some((user, password)) => req.basic_auth(user, password.as_ref()),
            None => req,
        }
    }

    /// Runs one statement; returns the body of a 200, else the server's message.
    pub(super) fn run(&self, sql: &str, body: Option<String>, timeout: Duration, in_db: bool) -> Result<String, StoreError> {
        let req = self.request(sql, body, in_db).timeout(timeout);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let answer = async {
                let res = req.send().await.map_err(|e| StoreError::Unreachable(chain(&e)))?;
                let status = res.status();
                let text = res.text().await.map_err(|e| StoreError::Answer(chain(&e)))?;
                if status.is_success() {
                    Ok(text)
                } else {
                    Err(refused(status, &text))
                }
            };
            let _ = tx.send(answer.await);
        });
        rx.recv().map_err(|_| StoreError::Thread("the clickhouse thread stopped".into()))?
    }

    /// A statement without a result (DDL, ALTER).
    pub(super) fn exec(&self, sql: &str, timeout: Duration) -> Result<(), StoreError> {
        self.run(sql, None, timeout, true).map(drop)
    }

    /// `INSERT INTO table FORMAT JSONEachRow` with `rows` (one JSON object a line).
    pub(super) fn insert(&self, table: &str, rows: String, timeout: Duration) -> Result<(), StoreError> {
        self.run(&format!("INSERT INTO {table} FORMAT JSONEachRow"), Some(rows), timeout, true).map(drop)
    }

    /// A SELECT (without FORMAT) whose rows are decoded into `T`.
    pub(super) fn select<T: DeserializeOwned>(&self, sql: &str, timeout: Duration) -> Result<Vec<T>, StoreError> {
        let text = self.run(&format!("{sql} FORMAT JSONEachRow"), None, timeout, true)?;
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| decode_row(l.as_bytes())).collect()
    }

    /// [`Http::select`] streamed: each row is decoded and handed to `each` as the answer arrives,
    /// so an answer of any size holds one chunk of the body and one line. `timeout` bounds the wait
    /// for the answer to start and for each further chunk, not the whole transfer (a large export
    /// may take minutes). An error from `each` stops the read: the connection is dropped, and
    /// ClickHouse cancels the query.
    pub(super) fn select_each<T: DeserializeOwned>(
        &self,
        sql: &str,
        timeout: Duration,
        each: &mut dyn FnMut(T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let req = self.request(&format!("{sql} FORMAT JSONEachRow"), None, true);
        // A few chunks in flight: the request thread reads ahead while the caller decodes.
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        self.handle.spawn(async move {
            let late = |what: &str| StoreError::Unreachable(format!("clickhouse {what} within {} s", timeout.as_secs()));
            let forward = async {
                let mut res = tokio::time::timeout(timeout, req.send())
                    .await
                    .map_err(|_| late("did not answer"))?
                    .map_err(|e| StoreError::Unreachable(chain(&e)))?;
                if !res.status().is_success() {
                    let status = res.status();
                    let text = res.text().await.unwrap_or_default();
                    return Err(refused(status, &text));
                }
                loop {
                    let chunk = tokio::time::timeout(timeout, res.chunk()).await.map_err(|_| late("sent no more of its answer"))?;
                    let Some(chunk) = chunk.map_err(|e| StoreError::Answer(chain(&e)))? else { return Ok(()) };
                    if tx.send(Ok(chunk)).await.is_err() {
                        // The reader stopped: dropping `res` closes the connection.
                        return Ok(());
                    }
                }
            };
            if let Err(e) = forward.await {
                let _ = tx.send(Err(e)).await;
            }
        });
        let mut line = Vec::new();
        let mut decode = |line: &[u8]| match line.trim_ascii() {
            [] => Ok(()),
            l => each(decode_row(l)?),
        };
        while let Some(chunk) = rx.blocking_recv() {
            for piece in chunk?.split_inclusive(|&b| b == b'\n') {
                line.extend_from_slice(piece);
                if line.ends_with(b"\n") {
                    decode(&line)?;
                    line.clear();
                }
            }
        }
        decode(&line)
    }
}

/// A statement ClickHouse answered with `status`: its message, cut to 500 characters.
fn refused(status: reqwest::StatusCode, body: &str) -> StoreError {
    StoreError::Status { status, body: body.trim().chars().take(500).collect() }
}

/// One `JSONEachRow` line as a `T`: a value its type refuses is a corrupt row naming its column.
fn decode_row<T: DeserializeOwned>(line: &[u8]) -> Result<T, StoreError> {
    super::json_row::decode(line).map_err(|e| match e {
        RowError::Field { field, message } => StoreError::Corrupt { column: field, reason: message },
        RowError::Shape(message) => StoreError::Answer(format!("row {:.200}: {message}", String::from_utf8_lossy(line))),
    })
}

/// A string literal for ClickHouse SQL (the 18.16 server has no query parameters).
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'a', 'b', ...` for an `IN (...)` list.
pub(super) fn quote_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}

/// Percent-decodes URL user info (`%40` -> `@`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An error with its sources (reqwest's top-level message hides "connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote(r"it's a \ test"), r"'it\'s a \\ test'");
        assert_eq!(quote_list(["a", "b'"]), r"'a', 'b\''");
        assert_eq!(decode("p%40ss+w"), "p@ss+w");
    }
}
