//! The target list served at `GET /v1/targets` (docs/protocol.md §4 and §6).

use serde::{Deserialize, Serialize};

/// The id the control measurement always carries.
pub const CONTROL_ID: &str = "control.self";

/// What the widget should measure, as served by the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetList {
    /// Copied into each report's `targets_version`.
    pub version: String,
    /// The platform resources to time.
    pub targets: Vec<Target>,
    /// The request to the collector's own origin, measured in every run.
    pub control: Control,
}

/// One platform resource to time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Stable id, `[a-z0-9._-]`, unique in the list.
    pub id: String,
    /// The platform this resource stands for (x, youtube, ...).
    pub platform: String,
    /// Absolute https URL of a small static resource.
    pub url: String,
    /// Deadline after which the request is aborted and counted as `timeout`.
    pub timeout_ms: u32,
    /// Whether to append a random query parameter (an addition to docs/protocol.md §4).
    #[serde(default = "default_true")]
    pub cache_bust: bool,
    /// The `fetch` mode: `cors` only for hosts that send `Access-Control-Allow-Origin: *`, where it
    /// makes CORP unable to block the request and the status readable (`http_error`).
    #[serde(default)]
    pub mode: FetchMode,
}

/// How the widget fetches a target (docs/protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchMode {
    /// An opaque request: works against any host, but the status is hidden and a
    /// `Cross-Origin-Resource-Policy` header makes the browser refuse it.
    #[default]
    NoCors,
    /// A CORS request: needs `Access-Control-Allow-Origin` from the host, and then the status is
    /// readable and CORP does not apply.
    Cors,
}

impl FetchMode {
    /// The wire name, also the value of `fetch`'s `mode` option.
    pub const fn as_str(self) -> &'static str {
        match self {
            FetchMode::NoCors => "no-cors",
            FetchMode::Cors => "cors",
        }
    }

    /// The mode with this wire name, if any.
    pub fn from_wire(s: &str) -> Option<FetchMode> {
        [FetchMode::NoCors, FetchMode::Cors].into_iter().find(|m| m.as_str() == s)
    }
}

/// The control request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Always [`CONTROL_ID`].
    pub id: String,
    /// Absolute URL on the collector's own origin.
    pub url: String,
    /// Deadline for the control.
    pub timeout_ms: u32,
}

fn default_true() -> bool {
    true
}

/// Whether `id` is a valid target id: 1..=64 of `[a-z0-9._-]`.
pub fn is_valid_target_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}
