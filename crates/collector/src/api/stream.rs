//! `GET /v1/stream`: Server-Sent Events from the one shared broadcast. `event: status` carries a
//! country's `/v1/status` JSON, sent only at a publication tick (`--publish-interval`) and only
//! when that country's public status changed; `event: incident` an incident open or close, sent
//! once the store holds it. A client that falls behind the
//! broadcast is dropped (its browser reconnects) instead of slowing everyone else.
//! Addition: `?country=PK` sends that country's status first and only its status events.

use super::params::Params;
use crate::error::AppError;
use crate::live::LiveEvent;
use crate::AppState;
use axum::extract::RawQuery;
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// Keep-alive comment interval: proxies close idle connections.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream's state: its subscription, the first event still to send, its country filter,
/// and the server's shutdown signal.
type State = (Receiver<Arc<LiveEvent>>, Option<String>, Option<String>, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>);

/// Whether `ev` goes to a client that asked for `country`.
fn wanted(ev: &LiveEvent, country: Option<&str>) -> bool {
    match (ev.kind, country) {
        ("status", Some(c)) => serde_json::from_str::<serde_json::Value>(&ev.data).is_ok_and(|v| v["country"] == c),
        _ => true,
    }
}

/// The handler.
pub async fn stream(axum::extract::State(c): axum::extract::State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let country = Params::parse(q.as_deref()).country("country")?;
    let rx = c.live.events.subscribe();
    let first = country.as_ref().map(|k| c.live.status(k, None, c.config.detect.window_minutes * 60).to_string());
    let closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(c.live.closed());
    let state = (rx, first, country, closed);
    let events = futures_util::stream::unfold(state, |(mut rx, first, country, mut closed): State| async move {
        if let Some(data) = first {
            return Some((Ok::<_, Infallible>(Event::default().event("status").data(data)), (rx, None, country, closed)));
        }
        loop {
            let got = tokio::select! {
                got = rx.recv() => got,
                _ = &mut closed => return None,
            };
            match got {
                Ok(ev) if wanted(&ev, country.as_deref()) => {
                    return Some((Ok(Event::default().event(ev.kind).data(&ev.data)), (rx, None, country, closed)));
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
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}
