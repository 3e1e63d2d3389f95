//! Vantage disruption detection (library only; the HTTP API and dashboard live elsewhere).
//!
//! Observations go into minute-grain [`Rollups`]; once a minute [`Detector::step`] sums the last
//! five minutes of each (platform, country) and (platform, country, ASN) cell, compares the
//! window with the cell's own history ([`baseline`]) using the tests in [`classify`], and opens
//! or closes [`Incident`]s. [`scenario`] generates synthetic traffic for the tests.

pub mod baseline;
pub mod cells;
pub mod classify;
pub mod config;
pub mod detector;
pub mod hist;
pub mod output;
pub mod rng;
pub mod rollup;
pub mod scenario;
pub mod stats;
pub mod window;

pub use cells::Cell;
pub use classify::{Held, State};
pub use config::DetectorConfig;
pub use detector::{Detector, StepResult};
pub use output::{CellStatus, EndReason, Incident};
pub use rollup::Rollups;
pub use vantage_protocol::{Country, Outcome, Platform};

/// One stored observation (docs/protocol.md §2), reduced to what detection needs.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectInput {
    /// Unix minutes (`ts` truncated to the minute): the rollup it lands in.
    pub minute: i64,
    /// ISO 3166-1 alpha-2 code (`ZZ` unknown): the country cell.
    pub country: Country,
    /// Autonomous system (0 unknown): the ASN cell.
    pub asn: u32,
    /// Keyed hash of the /24 or /48: counts distinct networks and caps a flooding one.
    pub network: u32,
    /// The platform the target stands for: cells are per platform.
    pub platform: Platform,
    /// How the platform request ended.
    pub outcome: Outcome,
    /// Its time in ms: median and p90, and throttling.
    pub ms: f64,
    /// Whether the control request to our own origin got an answer: if not, the visitor's
    /// link was bad and the report counts neither way.
    pub control_ok: bool,
    /// The control's time in ms: an extremely slow one excludes the report too.
    pub control_ms: f64,
}
