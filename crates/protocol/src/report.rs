//! The report a widget posts to `POST /v1/reports` (docs/protocol.md §1).

use serde::{Deserialize, Serialize};

/// One page view's measurements, as posted by the widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Protocol version; always [`crate::VERSION`] for this crate.
    pub v: u8,
    /// 32 lowercase hex chars, random per report: the idempotency key for retries.
    pub id: String,
    /// The embedding site's key from the snippet (`data-site`).
    pub site: String,
    /// Widget version, so a bad release can be found and excluded.
    pub widget: String,
    /// Version of the target list the widget measured, so ids resolve to the right URLs.
    pub targets_version: String,
    /// Seconds since the measurement was taken (reports retried from the offline queue are old).
    pub age_s: u32,
    /// Browser family and major version: blocks by the browser itself are browser-specific.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
    /// What `navigator.connection` says, where the browser has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<Net>,
    /// The request to the collector's own origin: tells a bad connection from a blocked platform.
    pub control: Measurement,
    /// One entry per platform target measured.
    pub measurements: Vec<Measurement>,
}

/// One timed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    /// Target id from the target list (`control.self` for the control).
    pub target: String,
    /// How the request ended.
    pub outcome: Outcome,
    /// Milliseconds from request start to completion or failure.
    pub ms: f64,
    /// Connection phases, only where Timing-Allow-Origin exposes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// Bytes transferred, only where Timing-Allow-Origin exposes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The HTTP status of a readable non-2xx response (a 403 or 451 block page), only with
    /// `http_error`: a cors-mode request is the only one whose status a page can read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// How a request ended, as far as the browser lets a page see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A response arrived: the platform is reachable. For a no-cors target, whatever its status
    /// (the browser hides it); for a cors target, a 2xx or 3xx.
    Ok,
    /// A network error before the deadline (DNS, reset, TLS failure, ...).
    Error,
    /// The deadline passed and the request was aborted (black-holing looks like this).
    Timeout,
    /// The browser itself refused the request (content blocker, tracking protection, CORP, CSP).
    /// Never counted as censorship.
    BlockedByClient,
    /// A cors target answered with a readable 4xx or 5xx (`status` says which): a block page
    /// (403, 451) or a broken host. Only a cors-mode request can see this.
    HttpError,
}

impl Outcome {
    /// Every outcome, in a stable order.
    /// `HttpError` comes last so that indexes into this order, kept by older code, stay valid.
    pub const ALL: [Outcome; 5] = [Outcome::Ok, Outcome::Error, Outcome::Timeout, Outcome::BlockedByClient, Outcome::HttpError];

    /// The wire name, as in docs/protocol.md.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::BlockedByClient => "blocked_by_client",
            Outcome::HttpError => "http_error",
        }
    }

    /// The outcome with this wire name, if any.
    pub fn from_wire(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Connection phases from Resource Timing, in milliseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    /// Name lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    /// TCP connect (including TLS where the browser folds it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
    /// TLS handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    /// Request sent to first response byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// First to last response byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<f64>,
}

/// The visitor's browser, coarsely: enough to spot browser-specific blocking, not to fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Browser {
    /// Engine family.
    pub family: BrowserFamily,
    /// Major version, 0..=1000.
    pub major: u32,
}

/// Browser engine families the protocol distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserFamily {
    /// Chrome, Edge, Opera, Brave, ...
    Chromium,
    /// Firefox and its forks.
    Firefox,
    /// Safari and every iOS browser.
    Safari,
    /// Anything else.
    Other,
}

impl BrowserFamily {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BrowserFamily::Chromium => "chromium",
            BrowserFamily::Firefox => "firefox",
            BrowserFamily::Safari => "safari",
            BrowserFamily::Other => "other",
        }
    }
}

/// What `navigator.connection` reports (Chromium only).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    /// `type`: wifi, cellular, ethernet, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `effectiveType`: slow-2g, 2g, 3g, 4g.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<String>,
    /// `rtt`, rounded by the browser to 25 ms steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// `downlink` in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink_kbps: Option<f64>,
    /// `saveData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_data: Option<bool>,
}
