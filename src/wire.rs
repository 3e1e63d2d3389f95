//! The few `vantage-protocol` items the widget needs, mirrored here.
//!
//! `vantage-protocol` is a std crate (serde derives); linking it into the shipped wasm brings
//! std's panic machinery and with it `core::fmt` (about 10 KiB of wasm); since issue 11 gloo-net links std anyway, but the protocol crate
//! would still add serde_json and its deserializer. So the shipped build
//! carries these copies and `tests/measure.rs` (`wire_mirror_matches_protocol`) asserts, against `vantage-protocol` itself
//! (a dev-dependency), that every one equals its original, and that a report built by the widget
//! passes the collector's `parse_report`.

/// docs/protocol.md `v`.
pub const VERSION: u8 = 1;
/// The control's target id.
pub const CONTROL_ID: &str = "control.self";
/// Most measurements per report.
pub const MAX_MEASUREMENTS: usize = 64;
/// Largest `ms`.
pub const MAX_MS: f64 = 120_000.0;

/// How a request ended (docs/protocol.md `outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response arrived, whatever its status.
    Ok,
    /// A network error before the deadline.
    Error,
    /// The deadline passed and the request was aborted.
    Timeout,
    /// The browser itself refused the request (here: a CSP violation).
    BlockedByClient,
    /// A cors-mode target answered with a readable 4xx or 5xx (a block page, a broken host).
    HttpError,
}

impl Outcome {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::BlockedByClient => "blocked_by_client",
            Outcome::HttpError => "http_error",
        }
    }
}

/// Browser family names (docs/protocol.md `browser.family`).
pub mod family {
    /// Chrome, Edge, Opera, ...
    pub const CHROMIUM: &str = "chromium";
    /// Firefox and forks.
    pub const FIREFOX: &str = "firefox";
    /// Safari and every iOS browser.
    pub const SAFARI: &str = "safari";
    /// Anything else.
    pub const OTHER: &str = "other";
}

/// Whether `id` is a valid target id: 1..=64 of `[a-z0-9._-]`.
pub fn is_valid_target_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Which clock gave a measurement's `ms` (docs/protocol.md `timing`).
pub mod timing {
    /// The request's Resource Timing entry.
    pub const RESOURCE_TIMING: &str = "rt";
    /// The `performance.now()` difference around the fetch (fallback).
    pub const NOW: &str = "now";
}
