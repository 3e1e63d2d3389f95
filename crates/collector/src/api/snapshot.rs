//! Answers from the published snapshot, made for caches: a browser, a CDN or a proxy may keep
//! one until the next publication tick and revalidate it with `If-None-Match` (304, no body),
//! so a crowd of readers costs the collector one render per tick and few bytes per reader.

use crate::live::publish::Body;
use crate::AppState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::{Duration, UNIX_EPOCH};

/// `body` for a request with `headers`: 304 when its `If-None-Match` names the body's ETag,
/// else 200 with the JSON. Either way fresh until the next tick, then usable stale for one more
/// tick while a cache fetches the new one.
pub(super) fn answer(c: &AppState, body: &Body, headers: &HeaderMap) -> Response {
    let interval = c.config.publish_interval_s.max(1) as i64;
    let max_age = (body.generated_at + interval - c.clock.now()).clamp(1, interval);
    // A 304 names the tag the client holds: the plain one, or the one of its compressed copy.
    let (mut res, etag) = match crate::conditional::matching(headers, &body.etag) {
        Some(held) => (StatusCode::NOT_MODIFIED.into_response(), held),
        None => (([(header::CONTENT_TYPE, "application/json")], body.bytes.clone()).into_response(), body.etag.clone()),
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::try_from(etag).expect("a hex hash, or a tag the client sent"));
    let cache = format!("public, max-age={max_age}, stale-while-revalidate={interval}");
    h.insert(header::CACHE_CONTROL, HeaderValue::try_from(cache).expect("ascii"));
    let at = UNIX_EPOCH + Duration::from_secs(body.generated_at.max(0) as u64);
    h.insert(header::LAST_MODIFIED, HeaderValue::try_from(httpdate::fmt_http_date(at)).expect("ascii"));
    res
}
