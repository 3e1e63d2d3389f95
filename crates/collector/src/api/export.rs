//! `GET /v1/export.csv` and `GET /v1/export.ndjson`: k-anonymous aggregates per (minute,
//! country, asn, platform) over `from`/`to` (default the last 24 h, at most 31 days), from the
//! same code as `vantage export`: only cells of at least k counted reports and m networks, only
//! minutes that can no longer change (`store::publish`).
//!
//! The body is streamed: a blocking task reads the rollups one time chunk at a time and sends
//! the encoded rows through a bounded channel, so an answer of any size holds a few chunks. At
//! most `--max-exports` run at once (each holds a blocking thread and a store reader until its
//! body is sent); beyond that a request is refused at once with 503 + Retry-After, so exports
//! cannot starve status reads or ingest.

use super::params::{range, Params};
use super::with_type;
use crate::error::AppError;
use crate::export::{scan_aggregates, Aggregate};
use crate::store::StoreError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use std::sync::Arc;

/// Bytes gathered before a piece of the body is sent.
const PIECE_BYTES: usize = 64 * 1024;
/// Pieces waiting between the reading task and the connection: the reader runs this far ahead
/// of a slow client, then waits.
const PIECES_AHEAD: usize = 4;
/// Retry-After of a refused export: an export of a day takes about a second.
const RETRY_AFTER_S: u64 = 5;
/// The CSV header line.
const CSV_HEADER: &str =
    "ts,country,asn,platform,reports,networks,ok,error,timeout,blocked_by_client,excluded_control,success_rate,median_ms\n";

/// NDJSON, one aggregate a line.
pub(super) async fn ndjson(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let body = stream(&c, q.as_deref(), "", |a| serde_json::to_string(a).expect("aggregates serialize") + "\n").await?;
    Ok(with_type(Response::new(body), Some("application/x-ndjson; charset=utf-8"), 60))
}

/// CSV with a header line.
pub(super) async fn csv(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let body = stream(&c, q.as_deref(), CSV_HEADER, csv_row).await?;
    let mut res = with_type(Response::new(body), Some("text/csv; charset=utf-8"), 60);
    res.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"vantage-export.csv\""));
    Ok(res)
}

/// Checks the parameters, takes an export slot, starts the reading task and waits for its first
/// piece; the body is `head` followed by `line(row)` for every published row. A store failure
/// before the first piece is a 500; after it, it ends the body early (the client sees a broken
/// transfer, never a short file that looks whole) and is logged.
async fn stream(c: &AppState, q: Option<&str>, head: &'static str, line: fn(&Aggregate) -> String) -> Result<Body, AppError> {
    let p = Params::parse(q);
    let (from, to) = range(&p, c.clock.now(), 86_400, super::series::MAX_RANGE_S)?;
    let slot =
        c.exports.clone().try_acquire_owned().map_err(|_| {
            AppError::Overloaded(RETRY_AFTER_S, "too many exports are running at once; retry after the time in Retry-After")
        })?;
    // The slot is held by the reading task and by the body, until both are done (a client that
    // stops reading keeps it until the connection closes).
    let slot = Arc::new(slot);
    let (k, m) = (c.config.detect.min_reports as usize, c.config.detect.min_networks as usize);
    let (store, settled) = (c.store.clone(), crate::store::publish::settled_end(c.clock.now()));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, StoreError>>(PIECES_AHEAD);
    let task_slot = slot.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = task_slot;
        let mut piece = head.as_bytes().to_vec();
        let read = scan_aggregates(store.as_ref(), (Some(from * 60), Some(to * 60)), (k, m), settled, &mut |a| {
            piece.extend_from_slice(line(&a).as_bytes());
            if piece.len() >= PIECE_BYTES {
                tx.blocking_send(Ok(std::mem::take(&mut piece)))
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
            }
            Ok(())
        });
        // Whatever happened, the last piece (or the error) is sent; a client that went away
        // is simply not there to receive it.
        let _ = tx.blocking_send(read.map(|()| piece));
    });
    let first = match rx.recv().await {
        Some(Err(e)) => return Err(e.into()),
        first => first,
    };
    let pieces = futures_util::stream::unfold((first, rx, slot), |(held, mut rx, slot)| async move {
        let piece = match held {
            Some(piece) => piece,
            None => rx.recv().await?,
        };
        let piece = piece.map_err(|e| {
            tracing::error!(error = %e, "export read failed after the first byte; the body is cut off");
            std::io::Error::other("the store could not answer")
        });
        Some((piece, (None, rx, slot)))
    });
    // Fused: the compression layer polls the body once more after its end, and an `Unfold`
    // polled after `None` panics (the connection is dropped, the client sees a cut transfer).
    Ok(Body::from_stream(futures_util::StreamExt::fuse(pieces)))
}

/// One CSV line of an aggregate.
fn csv_row(a: &Aggregate) -> String {
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    let fields = [
        csv_field(&a.ts),
        csv_field(a.country.as_str()),
        a.asn.to_string(),
        csv_field(a.platform.as_str()),
        a.reports.to_string(),
        a.networks.to_string(),
        a.ok.to_string(),
        a.error.to_string(),
        a.timeout.to_string(),
        a.blocked_by_client.to_string(),
        a.excluded_control.to_string(),
        num(a.success_rate),
        num(a.median_ms),
    ];
    fields.join(",") + "\n"
}

/// Quotes a field when it holds a separator, quote or line break; a leading `=+-@` is
/// prefixed with `'` so spreadsheets do not run it as a formula.
fn csv_field(s: &str) -> String {
    let s =
        if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
