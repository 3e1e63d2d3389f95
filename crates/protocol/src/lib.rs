//! Vantage wire contract v1: types, limits and validation shared by the widget and the collector.
//!
//! Everything here mirrors `docs/protocol.md`. Fields may be added; nothing may be renamed or change
//! meaning without bumping [`VERSION`].

mod ids;
mod report;
mod targets;
#[cfg(feature = "json")]
mod validate;

pub use ids::{is_valid_target_id, Country, IdError, Platform, ReportId, SiteKey, TargetId, MAX_NAME_LEN};
pub use report::{Browser, BrowserFamily, Measurement, Net, Outcome, Phases, Report, Timing};
pub use targets::{Control, FetchMode, Target, TargetList, CONTROL_ID};
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
pub const MAX_SITE_LEN: usize = MAX_NAME_LEN;
/// Slowest control (ms) a report's measurements still count with: slower than this, the reader's
/// own connection is too bad to say anything about a platform (counted as `excluded_control`).
pub const CONTROL_LIMIT_MS: f64 = 10_000.0;
/// The 10-minute rule: a browser measures at most once per this many seconds (per storage
/// partition). `www/loader.js` and `www/frame.js` enforce it; the collector's rate limits assume it.
pub const MIN_MEASURE_INTERVAL_S: u32 = 600;
