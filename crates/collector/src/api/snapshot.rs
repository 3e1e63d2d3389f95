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
pub fn answer(c: &AppState, body: &Body, headers: &HeaderMap) -> Response {
    let interval = c.config.publish_interval_s.max(1) as i64;
    let max_age = (body.generated_at + interval - c.clock.now()).clamp(1, interval);
    let mut res = if not_modified(headers, &body.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body.bytes.clone()).into_response()
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::try_from(body.etag.as_str()).expect("a hex hash"));
    let cache = format!("public, max-age={max_age}, stale-while-revalidate={interval}");
    h.insert(header::CACHE_CONTROL, HeaderValue::try_from(cache).expect("ascii"));
    let at = UNIX_EPOCH + Duration::from_secs(body.generated_at.max(0) as u64);
    h.insert(header::LAST_MODIFIED, HeaderValue::try_from(httpdate::fmt_http_date(at)).expect("ascii"));
    res
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 §13.1.2 asks) or is `*`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::try_from(value).unwrap());
        h
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        assert!(not_modified(&with(r#""a", "b""#), r#""b""#));
        assert!(not_modified(&with(r#"W/"b""#), r#""b""#));
        assert!(not_modified(&with("*"), r#""b""#));
        assert!(!not_modified(&with(r#""a""#), r#""b""#));
        assert!(!not_modified(&HeaderMap::new(), r#""b""#));
    }
}
