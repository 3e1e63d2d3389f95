//! Vantage wire contract v1: types, limits and validation shared by the widget and the collector.
//!
//! Everything here mirrors `docs/protocol.md`. Fields may be added; nothing may be renamed or change
//! meaning without bumping [`VERSION`].

mod report;
mod targets;
#[cfg(feature = "json")]
mod validate;

pub use report::{Browser, BrowserFamily, Measurement, Net, Outcome, Phases, Report};
pub use targets::{is_valid_target_id, Control, FetchMode, Target, TargetList, CONTROL_ID};
#[cfg(feature = "json")]
pub use validate::{parse_report, ValidationError};

/// The protocol version carried in every report's `v`.
pub const VERSION: u8 = 1;
/// Largest accepted report body, in bytes (413 above it).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most measurements one report may carry.
pub const MAX_MEASUREMENTS: usize = 64;
/// Largest `ms` a measurement may report: two minutes.
pub const MAX_MS: f64 = 120_000.0;
/// Oldest a report may be when it arrives (`age_s`): one day, the offline queue's limit.
pub const MAX_AGE_S: u32 = 86_400;
/// Longest `widget` / `targets_version` string.
pub const MAX_VERSION_LEN: usize = 32;
/// Longest `site` key.
pub const MAX_SITE_LEN: usize = 64;
