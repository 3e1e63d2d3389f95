//! ClickHouse tables, created at start-up when missing; the `--store` URL's settings; and
//! retention (dropping whole day partitions, because the 18.16 server has no `TTL` clause).
//!
//! The SQL runs on Debian's 18.16 and on current ClickHouse: new-style `ENGINE = X() PARTITION BY
//! ... ORDER BY ...`, `DateTime('UTC')`, materialized views `TO` an explicit table, no `TTL`, no
//! `LowCardinality`, no `Nullable` under an aggregate.

use super::clickhouse_http::{quote, Http};
use super::StoreError;
use reqwest::Url;
use std::time::Duration;

/// DDL statements may wait this long (a busy server, a big `DROP PARTITION`).
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// What the `--store clickhouse:http://HOST:PORT/DATABASE?k=v&...` URL says.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    /// Scheme, host, port and user info.
    pub url: Url,
    /// Database (created if missing).
    pub db: String,
    /// Least time between two inserts of one collector (`batch_ms`, default 1000).
    pub batch_interval: Duration,
    /// A batch is inserted at once when it reaches this many rows (`batch_rows`, default 5000).
    pub batch_rows: usize,
    /// Keep this many days of observations and rollups alike (`ttl_days`; default: rollups are
    /// kept for ever, raw rows for `--retention-days`).
    pub ttl_days: Option<u32>,
    /// Longest an insert may take before its reports are answered 503 (`insert_timeout_ms`, 10000).
    pub insert_timeout: Duration,
}

/// A ClickHouse `--store` URL that cannot be used; the message shows the expected form.
#[derive(Debug, thiserror::Error)]
#[error(
    "{why} (expected clickhouse:http://[USER[:PASSWORD]@]HOST:PORT/DATABASE[?batch_ms=1000&batch_rows=5000&ttl_days=N&insert_timeout_ms=10000], e.g. clickhouse:http://127.0.0.1:8123/vantage)"
)]
pub struct ClickHouseUrlError {
    /// What is wrong with the URL, in words.
    why: String,
}

impl Settings {
    /// Parses the part after `clickhouse:`.
    pub(super) fn parse(s: &str) -> Result<Settings, ClickHouseUrlError> {
        let bad = |why: &str| ClickHouseUrlError { why: why.to_string() };
        let url = Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("needs an http:// or https:// URL with a host"));
        }
        let db = url.path().trim_matches('/').to_string();
        if db.is_empty() || !db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad("the path must name the database: letters, digits and _"));
        }
        let mut out = Settings {
            url: url.clone(),
            db,
            batch_interval: Duration::from_millis(1000),
            batch_rows: 5000,
            ttl_days: None,
            insert_timeout: Duration::from_secs(10),
        };
        for (k, v) in url.query_pairs() {
            let n = |lo: u64, hi: u64| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| bad(&format!("{k} must be a number from {lo} to {hi}")))
            };
            match k.as_ref() {
                "batch_ms" => out.batch_interval = Duration::from_millis(n(0, 60_000)?),
                "batch_rows" => out.batch_rows = n(1, 1_000_000)? as usize,
                "ttl_days" => out.ttl_days = Some(n(1, 36_500)? as u32),
                "insert_timeout_ms" => out.insert_timeout = Duration::from_millis(n(100, 600_000)?),
                other => return Err(bad(&format!("unknown setting {other:?}"))),
            }
        }
        Ok(out)
    }
}

/// The tables (`{db}` is replaced by the database). Raw rows carry, beside the section 2 columns,
/// their own contribution to the rollups (computed by the same Rust code the SQLite store uses),
/// so the materialized views only sum.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS {db}.observations (
        ts DateTime('UTC'), country String, asn UInt32, network UInt32, site String, platform String,
        target String, outcome String, ms Float64, control_outcome String, control_ms Float64,
        browser_family Nullable(String), net_type Nullable(String), report_id String,
        first_of_report UInt8, ok UInt8, error UInt8, timeout UInt8, blocked UInt8, excluded_control UInt8,
        log_ms Float64, time_bucket Int16, control_bucket Int16, late UInt8 DEFAULT 0, status Nullable(UInt16)
    ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (report_id, target)",
    "CREATE TABLE IF NOT EXISTS {db}.reports (id String, ts DateTime('UTC'))
        ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY id SETTINGS index_granularity = 256",
    "CREATE TABLE IF NOT EXISTS {db}.rollup_nets (
        ts DateTime('UTC'), platform String, country String, asn UInt32, network UInt32,
        reports UInt64, ok UInt64, error UInt64, timeout UInt64, blocked UInt64, excluded_control UInt64,
        log_ms_sum Float64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (platform, country, ts, asn, network)",
    "CREATE TABLE IF NOT EXISTS {db}.rollup_hist (
        ts DateTime('UTC'), platform String, country String, asn UInt32, kind UInt8, bucket UInt8, n UInt64
    ) ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (platform, country, ts, asn, kind, bucket)",
    "CREATE TABLE IF NOT EXISTS {db}.incidents (
        id String, platform String, country String, started Int64, ended Int64, doc String, version UInt64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY id",
];

/// The materialized views, created after [`add_late_column`]. Late rows (`late = 1`) are kept out
/// of the rollups; they also carry zero shares (see `clickhouse_write::encode`), so a view created
/// before the `WHERE` existed sums them as nothing and needs no rebuild.
const VIEWS: &[&str] = &[
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.reports_mv TO {db}.reports AS
        SELECT report_id AS id, min(ts) AS ts FROM {db}.observations GROUP BY report_id",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_nets_mv TO {db}.rollup_nets AS
        SELECT ts, platform, country, asn, network, sum(first_of_report) AS reports, sum(ok) AS ok,
        sum(error) AS error, sum(timeout) AS timeout, sum(blocked) AS blocked,
        sum(excluded_control) AS excluded_control, sum(log_ms) AS log_ms_sum
        FROM {db}.observations WHERE late = 0 GROUP BY ts, platform, country, asn, network",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_times_mv TO {db}.rollup_hist AS
        SELECT ts, platform, country, asn, toUInt8(0) AS kind, toUInt8(time_bucket) AS bucket, count() AS n
        FROM {db}.observations WHERE time_bucket >= 0 AND late = 0 GROUP BY ts, platform, country, asn, time_bucket",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rollup_control_mv TO {db}.rollup_hist AS
        SELECT ts, platform, country, asn, toUInt8(1) AS kind, toUInt8(control_bucket) AS bucket, count() AS n
        FROM {db}.observations WHERE control_bucket >= 0 AND late = 0 GROUP BY ts, platform, country, asn, control_bucket",
];

/// Raw tables: `--retention-days` drops their old days.
pub(super) const RAW_TABLES: &[&str] = &["observations", "reports"];
/// Every dated table: the URL's `ttl_days` drops their old days, rollups included.
pub(super) const DATED_TABLES: &[&str] = &["observations", "reports", "rollup_nets", "rollup_hist"];

/// Creates the database and every missing table and view.
pub(super) fn create(http: &Http) -> Result<(), StoreError> {
    http.run(&format!("CREATE DATABASE IF NOT EXISTS {}", http.db), None, DDL_TIMEOUT, false)?;
    for stmt in SCHEMA {
        http.exec(&stmt.replace("{db}", &http.db), DDL_TIMEOUT)?;
    }
    add_late_column(http)?;
    add_status_column(http)?;
    for stmt in VIEWS {
        http.exec(&stmt.replace("{db}", &http.db), DDL_TIMEOUT)?;
    }
    Ok(())
}

/// A database created before late reports were set apart gets `observations.late` (0 for every
/// existing row).
fn add_late_column(http: &Http) -> Result<(), StoreError> {
    add_column(http, "late", "UInt8 DEFAULT 0")
}

/// A database created before cors targets existed gets `observations.status` (null for every
/// existing row: none of them is an `http_error`).
fn add_status_column(http: &Http) -> Result<(), StoreError> {
    add_column(http, "status", "Nullable(UInt16)")
}

/// Adds `observations.NAME TYPE` when missing. `ADD COLUMN IF NOT EXISTS` is newer than 18.16, so
/// the column is looked up first.
fn add_column(http: &Http, name: &str, column_type: &str) -> Result<(), StoreError> {
    #[derive(serde::Deserialize)]
    struct N {
        n: u64,
    }
    let found: Vec<N> = http.select(
        &format!(
            "SELECT count() AS n FROM system.columns WHERE database = {} AND table = 'observations' AND name = {}",
            quote(&http.db),
            quote(name)
        ),
        DDL_TIMEOUT,
    )?;
    if found.first().is_none_or(|f| f.n == 0) {
        http.exec(&format!("ALTER TABLE {}.observations ADD COLUMN {name} {column_type}", http.db), DDL_TIMEOUT)?;
    }
    Ok(())
}

/// Which tables keep how many days: `--retention-days` for the raw tables, the URL's `ttl_days`
/// for every table; the shorter wins. Empty: keep everything.
pub(super) fn retention_plan(retention_days: u32, ttl_days: Option<u32>) -> Vec<(&'static str, u32)> {
    DATED_TABLES
        .iter()
        .filter_map(|t| {
            let raw = (RAW_TABLES.contains(t) && retention_days > 0).then_some(retention_days);
            let days = match (raw, ttl_days) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            days.map(|d| (*t, d))
        })
        .collect()
}

/// Drops the day partitions older than each table's days in `plan` (counted from `now`, unix
/// seconds); returns how many.
pub(super) fn drop_old_days(http: &Http, plan: &[(&str, u32)], now: i64) -> Result<usize, StoreError> {
    #[derive(serde::Deserialize)]
    struct Part {
        table: String,
        partition: String,
    }
    if plan.is_empty() {
        return Ok(0);
    }
    let parts: Vec<Part> = http.select(
        &format!(
            "SELECT DISTINCT table, partition FROM system.parts WHERE database = {} AND active AND table IN ({})",
            quote(&http.db),
            super::clickhouse_http::quote_list(plan.iter().map(|(t, _)| *t))
        ),
        DDL_TIMEOUT,
    )?;
    let mut dropped = 0;
    for p in parts {
        let Ok(day) = p.partition.trim_matches('\'').parse::<u32>() else { continue };
        let Some((_, days)) = plan.iter().find(|(t, _)| *t == p.table) else { continue };
        if day < yyyymmdd(now - i64::from(*days) * 86_400) {
            http.exec(&format!("ALTER TABLE {}.{} DROP PARTITION {day}", http.db, p.table), DDL_TIMEOUT)?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// The UTC day of unix second `t` as the number `toYYYYMMDD` gives.
fn yyyymmdd(t: i64) -> u32 {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH).date();
    d.year() as u32 * 10_000 + u32::from(u8::from(d.month())) * 100 + u32::from(d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_database_and_known_settings() {
        let s = Settings::parse("http://u:p@127.0.0.1:8123/vantage?batch_ms=250&ttl_days=30").unwrap();
        assert_eq!(s.db, "vantage");
        assert_eq!(s.batch_interval, Duration::from_millis(250));
        assert_eq!(s.ttl_days, Some(30));
        assert!(Settings::parse("http://127.0.0.1:8123/").unwrap_err().to_string().contains("database"));
        assert!(Settings::parse("http://127.0.0.1:8123/db;drop").is_err());
        assert!(Settings::parse("http://127.0.0.1:8123/db?bogus=1").unwrap_err().to_string().contains("bogus"));
        assert!(Settings::parse("ftp://h/db").is_err());
    }

    #[test]
    fn retention_drops_raw_days_and_ttl_drops_everything() {
        assert_eq!(retention_plan(400, None), [("observations", 400), ("reports", 400)]);
        assert_eq!(retention_plan(0, None), []);
        assert_eq!(retention_plan(400, Some(30)), [("observations", 30), ("reports", 30), ("rollup_nets", 30), ("rollup_hist", 30)]);
        assert_eq!(retention_plan(10, Some(30))[0], ("observations", 10));
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(yyyymmdd(1_764_355_260), 20251128);
        assert_eq!(yyyymmdd(0), 19700101);
    }
}
