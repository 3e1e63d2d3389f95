//! Whose page may post a report: only our own frame (`/v1/frame.html`, served from the collector's
//! origin), never another site. A hostile page or ad shown to readers in a country could otherwise
//! make their browsers post made-up outcomes from real addresses there, which no distinct-network
//! rule can tell apart from real reports.
//!
//! Browsers always send `Origin` on a POST (fetch, `sendBeacon`, form submission) and a page
//! cannot forge it, so a browser report is accepted only when its `Origin` is the collector's
//! public origin: `--public-origin` when given, else derived from the request's `Host` and, from
//! a trusted proxy only, `X-Forwarded-Proto` (else `http`). `Origin: null` (sandboxed frames,
//! `data:` pages, some redirects) is refused too, with one exception: together with
//! `Sec-Fetch-Site: same-origin`. Our frame is served with `Referrer-Policy: no-referrer`, and for
//! a no-cors POST (what `navigator.sendBeacon` sends with a text body) the Fetch standard then
//! serializes the origin as `null`; `Sec-Fetch-Site`, which no page can set, says the request
//! came from our own origin (an opaque-origin page's requests are `cross-site`). `Sec-Fetch-Site:
//! cross-site` or `same-site`, the browser's own verdict, is refused whatever `Origin` says. A
//! request without `Origin` is not
//! from a browser page (curl, the simulator, a server-side relay) and is left to the rate limit
//! and the diversity rules, which is all any check could do against such a client.

use crate::error::AppError;
use axum::http::{header, HeaderMap};

/// Why a string is not an http(s) origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OriginError {
    /// No `scheme://`.
    #[error("expected http://HOST[:PORT] or https://HOST[:PORT]")]
    NoScheme,
    /// A scheme other than http and https.
    #[error("scheme {0:?}: only http and https")]
    Scheme(String),
    /// Something after the authority.
    #[error("an origin has no path, query or fragment: give only scheme://host[:port]")]
    HasPath,
    /// An authority that is not a plain host and port (userinfo, spaces, a bad port).
    #[error("{0:?} is not a host[:port]")]
    Authority(String),
}

/// `scheme://host[:port]` of an http(s) URL with nothing after it but an optional `/`, lowercased
/// and without the scheme's default port: the form browsers send in `Origin`. The error says why.
pub(crate) fn parse_origin(s: &str) -> Result<String, OriginError> {
    let (scheme, rest) = s.split_once("://").ok_or(OriginError::NoScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(OriginError::Scheme(scheme));
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(OriginError::HasPath);
    }
    normalize(&scheme, authority).ok_or_else(|| OriginError::Authority(authority.to_string()))
}

/// `scheme://host[:port]` for an authority (`host`, `host:port`, `[v6]:port`), lowercased, with
/// the default port dropped; `None` when it is not a plain host and port (userinfo, spaces, ...).
fn normalize(scheme: &str, authority: &str) -> Option<String> {
    let authority = authority.to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') && (!h.contains(':') || h.ends_with(']')) => (h, Some(p)),
        _ => (authority.as_str(), None),
    };
    let host_ok = !host.is_empty()
        && if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
    if !host_ok {
        return None;
    }
    let default = if scheme == "https" { "443" } else { "80" };
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) if p == default => Some(format!("{scheme}://{host}")),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok() => Some(format!("{scheme}://{host}:{p}")),
        Some(_) => None,
    }
}

/// The origin this request reached us on: `Host`, with the scheme a trusted proxy states in
/// `X-Forwarded-Proto` (its first value), else `http`.
fn request_origin(headers: &HeaderMap, from_trusted_proxy: bool) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let scheme = from_trusted_proxy
        .then(|| headers.get("x-forwarded-proto")?.to_str().ok()?.split(',').next().map(|s| s.trim().to_ascii_lowercase()))
        .flatten()
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".into());
    normalize(&scheme, host)
}

/// Refuses a report posted by a page other than our own (see the module doc). `public` holds the
/// normalized `--public-origin`s; empty derives the origin from the request. Reads headers only,
/// so it runs before the body is read or a rate-limit token is spent.
pub(crate) fn check(headers: &HeaderMap, public: &[String], from_trusted_proxy: bool) -> Result<(), AppError> {
    let derived;
    let ours: &[String] = if public.is_empty() {
        derived = request_origin(headers, from_trusted_proxy).into_iter().collect::<Vec<_>>();
        &derived
    } else {
        public
    };
    let allowed = || match ours {
        [] => "reports are accepted only from the collector's own frame".to_string(),
        [one] => format!("reports are accepted only from the collector's own frame ({one})"),
        many => format!("reports are accepted only from the collector's own frame ({})", many.join(", ")),
    };
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if matches!(site.as_deref(), Some("cross-site" | "same-site")) {
        return Err(AppError::ForbiddenOrigin(allowed()));
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    if origin.as_bytes() == b"null" && site.as_deref() == Some("same-origin") {
        return Ok(());
    }
    let sent = origin.to_str().ok().and_then(|o| parse_origin(o).ok());
    match sent {
        Some(o) if ours.contains(&o) => Ok(()),
        sent => {
            if let Some(o) = sent.filter(|o| looks_like_ours(o, ours)) {
                hint_misconfiguration(&o);
            }
            Err(AppError::ForbiddenOrigin(allowed()))
        }
    }
}

/// Whether `sent` has the host of one of `ours` (so differs only by scheme or port): the mark of
/// a TLS proxy that is not a `--trusted-proxy` or sends no `X-Forwarded-Proto`, or of a proxy
/// that changes the port, either of which would refuse every real report.
fn looks_like_ours(sent: &str, ours: &[String]) -> bool {
    fn host(origin: &str) -> &str {
        let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
        match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => h,
            _ => authority,
        }
    }
    ours.iter().any(|o| host(o) == host(sent))
}

/// Logs (once per process) how to fix an origin mismatch that is probably our own deployment.
fn hint_misconfiguration(sent: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            origin = %sent,
            "refused a report whose Origin differs from this collector's only by scheme or port: if that is this collector's public address, start it with --public-origin {sent} (or make the proxy a --trusted-proxy that sends X-Forwarded-Proto)"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_are_normalized_and_paths_refused() {
        assert_eq!(parse_origin("https://Vantage.Example.org/").unwrap(), "https://vantage.example.org");
        assert_eq!(parse_origin("https://v.example.org:443").unwrap(), "https://v.example.org");
        assert_eq!(parse_origin("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(parse_origin("http://[::1]:80").unwrap(), "http://[::1]");
        for bad in [
            "ftp://x.org",
            "https://x.org/v1",
            "https://x.org?a",
            "x.org",
            "https://",
            "https://a@x.org",
            "https://x.org:99999",
            "null",
            "https://x .org",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_our_origin_or_none_passes() {
        let host = ("host", "vantage.example.org");
        assert!(check(&headers(&[host]), &[], false).is_ok(), "no Origin: not a browser page");
        assert!(check(&headers(&[host, ("origin", "http://vantage.example.org")]), &[], false).is_ok());
        for foreign in ["https://evil.example", "null", "http://vantage.example.org.evil.example", "https://vantage.example.org"] {
            assert!(check(&headers(&[host, ("origin", foreign)]), &[], false).is_err(), "{foreign}");
        }
        // The scheme comes from X-Forwarded-Proto only when a trusted proxy sends it.
        let tls = [host, ("origin", "https://vantage.example.org"), ("x-forwarded-proto", "https")];
        assert!(check(&headers(&tls), &[], true).is_ok());
        assert!(check(&headers(&tls), &[], false).is_err());
        // --public-origin wins over Host.
        let public = vec!["https://vantage.example.org".to_string()];
        assert!(check(&headers(&[("host", "10.0.0.7:8080"), ("origin", "https://vantage.example.org")]), &public, false).is_ok());
        assert!(check(&headers(&[("host", "evil.example"), ("origin", "http://evil.example")]), &public, false).is_err());
        // The browser's own verdict.
        assert!(check(&headers(&[host, ("sec-fetch-site", "cross-site")]), &[], false).is_err());
        assert!(check(&headers(&[host, ("origin", "null"), ("sec-fetch-site", "cross-site")]), &[], false).is_err());
        // Our frame's sendBeacon under its no-referrer policy: Origin null, but same-origin.
        assert!(check(&headers(&[host, ("origin", "null"), ("sec-fetch-site", "same-origin")]), &[], false).is_ok());
        assert!(check(&headers(&[host, ("origin", "http://vantage.example.org"), ("sec-fetch-site", "same-origin")]), &[], false).is_ok());
    }
}
