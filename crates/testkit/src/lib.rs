//! Test-only helpers for Vantage's browser and end-to-end tests. See README.md.

pub mod fixtures;
pub mod mmdb;
