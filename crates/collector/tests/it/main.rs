//! Integration tests of the collector: real router, real SQLite, real listeners, real binary.

mod access;
mod adversary;
mod api;
mod binary;
mod cli;
mod clickhouse;
mod common;
mod crash;
mod detect_cli;
mod geo;
mod import_export;
mod ingest;
mod limits;
mod live;
mod malformed;
mod network_key;
mod overload;
mod poisoning;
mod privacy;
mod readers;
mod shutdown;
mod static_files;
mod targets;
