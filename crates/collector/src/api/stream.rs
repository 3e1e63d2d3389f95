//! `GET /v1/stream`: Server-Sent Events from the one shared broadcast. `event: status` carries a
//! country's `/v1/status` JSON, sent only at a publication tick (`--publish-interval`) and only
//! when that country's public status changed; `event: incident` an incident open or close, sent
//! once the store holds it. A client that falls behind the
//! broadcast is dropped (its browser reconnects) instead of slowing everyone else.
//! Addition: `?country=PK` sends that country's status first and only its status events.
//!
//! Readers' own budget: a stream takes one of `--max-streams` instead of its connection slot
//! (see `limits`), 503 + Retry-After beyond it; the server ends it after `--stream-lifetime`
//! (spread), and the browser reconnects or polls `/v1/status`.

use super::params::Params;
use crate::error::AppError;
use crate::limits::Slots;
use crate::live::LiveEvent;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery};
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::sync::OwnedSemaphorePermit;
use vantage_protocol::Country;

/// Keep-alive comment interval: proxies close idle connections.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Retry-After of a stream refused at `--max-streams`: meanwhile the reader polls `/v1/status`.
const REFUSED_RETRY_S: u64 = 60;

/// One open stream.
struct Open {
    /// Its subscription to the shared broadcast.
    rx: Receiver<Arc<LiveEvent>>,
    /// The event still to send first (the country's status), if any.
    first: Option<Bytes>,
    /// Only this country's status events (`?country=`).
    country: Option<Country>,
    /// The server's shutdown: the stream ends so graceful shutdown can finish.
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// When the server ends the stream (`--stream-lifetime`, spread).
    end: Pin<Box<tokio::time::Sleep>>,
    /// Its `--max-streams` slot, released when the stream ends; `None` off the accept loop.
    _slot: Option<OwnedSemaphorePermit>,
}

/// Whether `ev` goes to a client that asked for `country`.
fn wanted(ev: &LiveEvent, country: Option<&str>) -> bool {
    match (ev.kind, country) {
        ("status", Some(c)) => serde_json::from_str::<serde_json::Value>(&ev.data).is_ok_and(|v| v["country"] == c),
        _ => true,
    }
}

/// 75-100 % of `lifetime`, spread evenly over successive streams (golden-ratio steps), so that
/// readers who arrived together do not all reconnect at the same moment.
fn spread(lifetime: Duration) -> Duration {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let fraction = (n as f64 * 0.618_033_988_749_895).fract();
    lifetime.mul_f64(0.75 + 0.25 * fraction)
}

/// The handler.
pub(super) async fn stream(
    axum::extract::State(c): axum::extract::State<AppState>,
    slots: Option<Extension<Slots>>,
    RawQuery(q): RawQuery,
) -> Result<Response, AppError> {
    let country = Params::parse(q.as_deref()).country("country")?;
    let slot = match slots {
        Some(Extension(slots)) => Some(
            slots
                .swap_for_stream_slot()
                .ok_or(AppError::Overloaded(REFUSED_RETRY_S, "every live stream slot is taken: poll /v1/status"))?,
        ),
        None => None,
    };
    let first = country.as_ref().map(|k| c.live.status_body(*k, None, c.config.detect.window_minutes * 60).bytes.clone());
    let open = Open {
        rx: c.live.events.subscribe(),
        first,
        country,
        closed: Box::pin(c.live.closed()),
        end: Box::pin(tokio::time::sleep(spread(c.config.stream_lifetime))),
        _slot: slot,
    };
    let events = futures_util::stream::unfold(open, |mut s: Open| async move {
        if let Some(data) = s.first.take() {
            let event = Event::default().event("status").data(String::from_utf8_lossy(&data));
            return Some((Ok::<_, Infallible>(event), s));
        }
        loop {
            let got = tokio::select! {
                got = s.rx.recv() => got,
                _ = &mut s.closed => return None,
                _ = &mut s.end => return None,
            };
            match got {
                Ok(ev) if wanted(&ev, s.country.as_ref().map(Country::as_str)) => {
                    return Some((Ok(Event::default().event(ev.kind).data(&ev.data)), s))
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "SSE client lagging: dropped");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let mut res = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // The connection gave its connection slot up for the stream: it ends with the stream.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(res)
}
