//! Typed flag values: each parser turns the text once into the type the program uses, or gives
//! the message clap prints after the flag's name (a usage error, exit 2), naming the fix.

use crate::config::{StoreUrl, StoreUrlError};
use crate::geo::Cidr;
use crate::origin::OriginError;
use std::fmt;
use std::time::Duration;
use vantage_protocol::{Country, Platform};

/// Why a flag's value is refused; clap prints it as `invalid value 'V' for '--flag': MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ValueError {
    /// `--store`.
    #[error(transparent)]
    Store(#[from] StoreUrlError),
    /// `--from`, `--to`, `--end`.
    #[error("not an RFC 3339 time; write it like 2026-11-28T00:00:00Z (UTC) or 2026-11-28T05:00:00+05:00")]
    Time,
    /// `--trusted-proxy`: the address block parser's reason.
    #[error("{0}; write an address block such as 10.0.0.0/8, 192.0.2.7/32 or fd00::/8")]
    Cidr(String),
    /// `--public-origin`.
    #[error("{0}; e.g. https://vantage.example.org or http://127.0.0.1:8080")]
    Origin(OriginError),
    /// `--listen`.
    #[error("expected HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080")]
    Listen,
    /// `--country-header`.
    #[error("not a valid HTTP header name; e.g. CF-IPCountry")]
    HeaderName,
    /// `--webhook`, `simulate --url`.
    #[error("must be an http:// or https:// URL, e.g. http://127.0.0.1:8080")]
    HttpUrl,
    /// `simulate --rate`.
    #[error("a positive number of reports a minute, e.g. 600 or 600/min")]
    Rate,
    /// `simulate --asn-rate`.
    #[error("must be more than 0, e.g. 60")]
    PositiveRate,
    /// `simulate --days`.
    #[error("days of history: more than 0 and at most 400, e.g. 3 or 0.25")]
    Days,
    /// `simulate --country`.
    #[error("two letters (ISO 3166-1 alpha-2), e.g. PK")]
    Country,
    /// `simulate --platforms`.
    #[error("comma-separated platform names of [a-z0-9_-], e.g. x,youtube")]
    Platforms,
    /// `--header-timeout`, `--body-timeout`, `--stream-lifetime`.
    #[error("seconds, more than 0 and at most 3600, e.g. 10 or 0.5")]
    Seconds,
}

/// `--store URL`.
pub(crate) fn store_url(s: &str) -> Result<StoreUrl, ValueError> {
    Ok(s.parse::<StoreUrl>()?)
}

/// A time flag's value (`--from`, `--to`, `--end`, written in RFC 3339): seconds since 1970 UTC,
/// what the store and the detector count in.
pub(crate) type UnixSeconds = i64;

/// An RFC 3339 time.
pub(crate) fn rfc3339_time(s: &str) -> Result<UnixSeconds, ValueError> {
    crate::store::rfc3339::parse(s).map_err(|_| ValueError::Time)
}

/// `--trusted-proxy CIDR`.
pub(crate) fn cidr(s: &str) -> Result<Cidr, ValueError> {
    s.parse::<Cidr>().map_err(|e| ValueError::Cidr(e.to_string()))
}

/// `--public-origin URL`, normalized as browsers send `Origin`.
pub(crate) fn public_origin(s: &str) -> Result<String, ValueError> {
    crate::origin::parse_origin(s).map_err(ValueError::Origin)
}

/// `--country-header NAME`.
pub(crate) fn header_name(s: &str) -> Result<axum::http::HeaderName, ValueError> {
    axum::http::HeaderName::try_from(s).map_err(|_| ValueError::HeaderName)
}

/// An absolute `http://` or `https://` URL with a host.
pub(crate) fn http_url(s: &str) -> Result<reqwest::Url, ValueError> {
    match reqwest::Url::parse(s) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(ValueError::HttpUrl),
    }
}

/// Reports a minute, `600` or `600/min`.
pub(crate) fn per_minute_rate(s: &str) -> Result<f64, ValueError> {
    positive(s.trim_end_matches("/min")).ok_or(ValueError::Rate)
}

/// A finite number more than 0.
pub(crate) fn positive_rate(s: &str) -> Result<f64, ValueError> {
    positive(s).ok_or(ValueError::PositiveRate)
}

fn positive(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0)
}

/// Days of history, more than 0 and at most 400.
pub(crate) fn history_days(s: &str) -> Result<f64, ValueError> {
    s.parse::<f64>().ok().filter(|d| *d > 0.0 && *d <= 400.0).ok_or(ValueError::Days)
}

/// A country code in any case.
pub(crate) fn country_code(s: &str) -> Result<Country, ValueError> {
    Country::from_any_case(s).map_err(|_| ValueError::Country)
}

/// `--platforms x,youtube`: platform names, the scenario's event hitting the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms(
    /// The names, in the order given (never empty).
    pub Vec<Platform>,
);

/// `--platforms`.
pub(crate) fn platform_list(s: &str) -> Result<Platforms, ValueError> {
    s.split(',').map(Platform::try_from).collect::<Result<_, _>>().map(Platforms).map_err(|_| ValueError::Platforms)
}

/// A duration given in seconds (`10`, `0.5`): `--help` shows a default the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(
    /// The duration, more than 0 and at most an hour.
    pub Duration,
);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Seconds, more than 0 and at most 3600.
pub(crate) fn seconds(s: &str) -> Result<Seconds, ValueError> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(Seconds(Duration::from_secs_f64(t))),
        _ => Err(ValueError::Seconds),
    }
}

/// `--listen HOST:PORT`: the host may be a name (`localhost`), an address, or `[v6]`; it is
/// resolved when bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// As given: a name, an IPv4 address or a bracketed IPv6 address.
    pub host: String,
    /// The port; 0 picks a free one.
    pub port: u16,
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `--listen`.
pub(crate) fn listen_addr(s: &str) -> Result<ListenAddr, ValueError> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            Ok(ListenAddr { host: host.to_string(), port: port.parse().map_err(|_| ValueError::Listen)? })
        }
        _ => Err(ValueError::Listen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_show_as_given() {
        assert_eq!(seconds("10").unwrap().to_string(), "10");
        assert_eq!(seconds("0.5").unwrap().to_string(), "0.5");
        assert!(seconds("0").is_err() && seconds("3601").is_err() && seconds("ten").is_err());
    }

    #[test]
    fn listen_keeps_names_and_brackets() {
        assert_eq!(listen_addr("[::]:8080").unwrap(), ListenAddr { host: "[::]".into(), port: 8080 });
        assert_eq!(listen_addr("localhost:0").unwrap().to_string(), "localhost:0");
        assert!(listen_addr("8080").is_err() && listen_addr(":8080").is_err() && listen_addr("h:99999").is_err());
    }

    #[test]
    fn rates_and_urls() {
        assert_eq!(per_minute_rate("600/min"), Ok(600.0));
        assert_eq!(per_minute_rate("0/min"), Err(ValueError::Rate));
        assert_eq!(positive_rate("inf"), Err(ValueError::PositiveRate));
        assert!(http_url("https://hooks.example/x").is_ok());
        assert!(http_url("ftp://x.org").is_err() && http_url("http://").is_err());
    }
}
