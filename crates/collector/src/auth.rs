//! Who may read what. Public: ingest, the target list, the control resource, the widget files and
//! the k-anonymous read API. Not public (`/metrics`, and any operator route added later): only
//! with `Authorization: Bearer TOKEN` when an admin token is set (`--admin-token-file FILE` or
//! `VANTAGE_ADMIN_TOKEN`), compared in constant time; 401 otherwise. Raw observations are never
//! served over HTTP at all (`vantage export --raw` on the host is the only way out).
//!
//! Also here: the cross-origin headers every answer gets, which say who may embed what.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::fmt;
use std::path::Path;

/// Environment variable holding the admin token (when `--admin-token-file` is not given).
pub const TOKEN_ENV: &str = "VANTAGE_ADMIN_TOKEN";
/// Shortest token accepted: anything shorter is guessable.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The operator's bearer token. Its `Debug` never shows it, so a logged config cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Why no admin token could be had; the message names where it came from and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Too short, or with spaces or invisible characters.
    #[error("{from}: the admin token must be at least {min} visible ASCII characters without spaces", min = MIN_TOKEN_LEN)]
    Weak {
        /// Where the token came from: `--admin-token-file FILE` or the variable's name.
        from: String,
    },
    /// `--admin-token-file` cannot be read.
    #[error("{from}: {io}")]
    Unreadable {
        /// `--admin-token-file FILE`.
        from: String,
        /// Why it cannot be read.
        io: std::io::Error,
    },
}

impl AdminToken {
    /// Checks a token: at least 16 (`MIN_TOKEN_LEN`) visible ASCII characters, no spaces.
    pub fn new(token: &str, from: &str) -> Result<AdminToken, TokenError> {
        let token = token.trim();
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Weak { from: from.to_string() });
        }
        Ok(AdminToken(token.to_string()))
    }

    /// The token from `--admin-token-file FILE` if given, else from `VANTAGE_ADMIN_TOKEN`, else none.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Option<AdminToken>, TokenError> {
        if let Some(path) = file {
            let from = format!("--admin-token-file {}", path.display());
            let text = std::fs::read_to_string(path).map_err(|io| TokenError::Unreadable { from: from.clone(), io })?;
            return AdminToken::new(&text, &from).map(Some);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(v) if !v.is_empty() => AdminToken::new(&v, TOKEN_ENV).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>` (scheme case-insensitive).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return false };
        let value = value.as_bytes();
        let (scheme, rest) = value.split_at(value.len().min(7));
        scheme.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(trim_ascii(rest), self.0.as_bytes())
    }
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Equality whose time depends only on the lengths, never on where the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Route layer for non-public routes: 401 without the admin token (when one is set).
pub(crate) async fn require_admin(State(c): State<AppState>, req: Request, next: Next) -> Response {
    match &c.config.admin_token {
        Some(token) if !token.allows(req.headers()) => {
            let mut res = (StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized", "message": "send Authorization: Bearer TOKEN"})))
                .into_response();
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vantage\""));
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        _ => next.run(req).await,
    }
}

/// Whether `/metrics` is open to anyone who can reach `listen`: no admin token, and an address
/// other than loopback (`0.0.0.0` and `::` included). `serve` warns at start-up when it is.
pub fn metrics_exposed(listen: std::net::IpAddr, has_token: bool) -> bool {
    !has_token && !listen.to_canonical().is_loopback()
}

/// The start-up warning for [`metrics_exposed`].
pub const METRICS_EXPOSED_WARNING: &str = "/metrics is open to anyone who can reach this address (no admin token): set --admin-token-file FILE or VANTAGE_ADMIN_TOKEN, or listen on 127.0.0.1";

/// `Cross-Origin-Resource-Policy`: `cross-origin` for what other sites embed (the loader, the
/// frame and what it loads, the badge, the chart, the control resource), `same-origin` for the
/// rest (JSON readers use CORS, which CORP does not restrict).
pub(crate) fn resource_policy(path: &str) -> HeaderValue {
    let embeddable =
        matches!(path, "/v1/loader.js" | "/v1/embed.js" | "/v1/frame.html" | "/v1/frame.js" | "/v1/ping" | "/v1/badge" | "/v1/chart.svg")
            || path.starts_with("/v1/w/");
    HeaderValue::from_static(if embeddable { "cross-origin" } else { "same-origin" })
}

/// No page of ours needs a powerful feature: deny the ones a compromised script could misuse.
const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()";

/// Adds CORP (from [`resource_policy`]) and `Permissions-Policy` unless a handler set them.
pub(crate) fn add_policy_headers(h: &mut HeaderMap, corp: HeaderValue) {
    h.entry(HeaderName::from_static("cross-origin-resource-policy")).or_insert(corp);
    h.entry(HeaderName::from_static("permissions-policy")).or_insert(HeaderValue::from_static(PERMISSIONS_POLICY));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abcdef0123456789", b"abcdef0123456789"));
        assert!(!constant_time_eq(b"abcdef0123456789", b"abcdef012345678"));
        assert!(!constant_time_eq(b"abcdef012345678", b"abcdef0123456789"));
        assert!(!constant_time_eq(b"Abcdef0123456789", b"abcdef0123456789"));
        assert!(!constant_time_eq(b"abcdef0123456788", b"abcdef0123456789"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
        // A prefix padded with NULs is not the token.
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }

    #[test]
    fn metrics_are_exposed_only_off_loopback_without_a_token() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(metrics_exposed(ip("0.0.0.0"), false));
        assert!(metrics_exposed(ip("::"), false));
        assert!(metrics_exposed(ip("192.0.2.7"), false));
        assert!(!metrics_exposed(ip("0.0.0.0"), true));
        assert!(!metrics_exposed(ip("127.0.0.1"), false));
        assert!(!metrics_exposed(ip("::1"), false));
        assert!(!metrics_exposed(ip("::ffff:127.0.0.1"), false));
    }

    #[test]
    fn bearer_header() {
        let t = AdminToken::new("s3cret-token-0123456789\n", "test").unwrap();
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        assert!(t.allows(&h("Bearer s3cret-token-0123456789")));
        assert!(t.allows(&h("bearer s3cret-token-0123456789")));
        assert!(!t.allows(&h("Bearer s3cret-token-012345678")));
        assert!(!t.allows(&h("Basic s3cret-token-0123456789")));
        assert!(!t.allows(&h("s3cret-token-0123456789")));
        assert!(!t.allows(&HeaderMap::new()));
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
        assert!(AdminToken::new("short", "test").is_err());
        assert!(AdminToken::new("has a space in the token", "test").is_err());
    }
}
