//! Integration tests of the collector: real router, real SQLite, real listeners, real binary.

mod common;
mod geo;
mod import_export;
mod ingest;
mod malformed;
mod privacy;
mod shutdown;
mod static_files;
mod targets;
