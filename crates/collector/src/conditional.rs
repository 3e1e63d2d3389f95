//! `If-None-Match` (RFC 9110 §13.1.2), one rule for every conditional answer: the published
//! snapshots (`api/snapshot.rs`) and the static files (`assets.rs`).

use axum::http::{header, HeaderMap};

/// The tag of `If-None-Match` that names `etag`, as sent (weak comparison, as RFC 9110 §13.1.2
/// asks; `"hash-gzip"` and the like name the compressed bytes of `"hash"`), or `etag` for `*`.
pub(crate) fn matching(headers: &HeaderMap, etag: &str) -> Option<String> {
    let plain = etag.trim_matches('"');
    let tags = headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    tags.map(str::trim).find_map(|tag| {
        let opaque = tag.strip_prefix("W/").unwrap_or(tag);
        let named = opaque.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.split('-').next()) == Some(plain);
        match tag {
            "*" => Some(etag.to_string()),
            _ if named => Some(opaque.to_string()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::try_from(value).unwrap());
        h
    }

    #[test]
    fn if_none_match_lists_weak_tags_star_and_encoded_copies() {
        assert_eq!(matching(&with(r#""a", "b""#), r#""b""#).as_deref(), Some(r#""b""#));
        assert_eq!(matching(&with(r#"W/"b""#), r#""b""#).as_deref(), Some(r#""b""#));
        assert_eq!(matching(&with(r#""b-gzip""#), r#""b""#).as_deref(), Some(r#""b-gzip""#));
        assert_eq!(matching(&with("*"), r#""b""#).as_deref(), Some(r#""b""#));
        assert_eq!(matching(&with(r#""a""#), r#""b""#), None);
        assert_eq!(matching(&with(r#""bb""#), r#""b""#), None);
        assert_eq!(matching(&HeaderMap::new(), r#""b""#), None);
    }
}
