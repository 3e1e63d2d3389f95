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
