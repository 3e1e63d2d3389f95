//! The store: where anonymized observations go (docs/protocol.md §2). Two back ends behind one
//! [`Store`] trait, chosen at start-up by `--store`: `sqlite:PATH` (embedded, one node) and
//! `clickhouse:http://HOST:PORT/DATABASE` (shared by any number of collectors).

mod cells;
mod clickhouse;
mod clickhouse_http;
mod clickhouse_read;
mod clickhouse_schema;
mod clickhouse_write;
mod column;
mod error;
pub(crate) mod json_row;
pub(crate) mod publish;
mod report_ids;
pub mod series;
mod sqlite;
mod sqlite_export;
mod sqlite_flush;
mod sqlite_incidents;
mod sqlite_migrate;
mod sqlite_raw;
mod sqlite_read;
mod unflushed;

use crate::config::StoreUrl;
use crate::rollup::CellRollup;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::oneshot;
use vantage_protocol::{Country, Outcome, Platform, ReportId, SiteKey, TargetId};

pub(crate) use clickhouse::ClickHouseStore;
pub use clickhouse_schema::ClickHouseUrlError;
pub use error::StoreError;
pub use series::{PointSums, SeriesQuery};
pub use sqlite::SqliteStore;
/// A detected disruption, stored as the detector made it: the `/v1/incidents` entry, the SSE
/// `incident` event and the webhook body (docs/protocol.md §4).
pub use vantage_detect::Incident;

/// One measurement of one report, anonymized: the stored row (docs/protocol.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// Receive time minus `age_s`, truncated to the minute (Unix seconds; RFC 3339 in NDJSON).
    #[serde(with = "rfc3339")]
    pub ts: i64,
    /// ISO 3166-1 alpha-2 country, `ZZ` unknown.
    pub country: Country,
    /// Autonomous system number, 0 unknown.
    pub asn: u32,
    /// Keyed hash of the client's /24 or /48: counts distinct networks, reveals none.
    pub network: u32,
    /// Embedding site key.
    pub site: SiteKey,
    /// Platform the target stands for.
    pub platform: Platform,
    /// Target id.
    pub target: TargetId,
    /// `ok`, `error`, `timeout`, `blocked_by_client` or `http_error`.
    pub outcome: Outcome,
    /// Elapsed milliseconds.
    pub ms: f64,
    /// Outcome of the same report's control request.
    pub control_outcome: Outcome,
    /// Milliseconds of the control request.
    pub control_ms: f64,
    /// Browser family, when the widget said.
    pub browser_family: Option<String>,
    /// `navigator.connection.type`, when the browser has it.
    pub net_type: Option<String>,
    /// The report's id: the idempotency key (with `target`).
    pub report_id: ReportId,
    /// The report arrived more than `publish::LATE_AFTER_S` after it was measured: kept raw (and
    /// exported) but never added to the rollups, so it cannot rewrite a published or judged minute.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// The HTTP status of an `http_error` (a cors target's block page: 403, 451, ...), so an
    /// analyst can tell a block page from a broken host; `None` for every other outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// What the store did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Committed now.
    New,
    /// This report id was already stored; nothing written.
    Duplicate,
}

/// Why a report could not even be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is at capacity.
    Full,
    /// The writer has stopped.
    Closed,
}

/// Counters the store exposes for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    /// Reports waiting for the writer.
    pub queue_depth: usize,
    /// Transactions committed.
    pub batches: u64,
    /// Observations written (measurements: on SQLite, packed into one row a report).
    pub rows: u64,
    /// Of them, late reports' rows (stored raw, kept out of the rollups): the late channel, so an
    /// operator sees backdating or a flood of offline-queue retries without publishing either.
    pub late_rows: u64,
}

/// Late reports' rows among the new ones of a committed batch.
pub(crate) fn late_rows(reports: &[(ReportId, Vec<Observation>)], outcomes: &[Stored]) -> u64 {
    reports
        .iter()
        .zip(outcomes)
        .filter(|(_, s)| **s == Stored::New)
        .map(|((_, rows), _)| rows.iter().filter(|o| o.late).count() as u64)
        .sum()
}

/// Which minute rollups a read wants: `from <= minute < to` (unix minutes), optionally one
/// platform, country or ASN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupFilter {
    /// First minute (inclusive).
    pub from: i64,
    /// End minute (exclusive).
    pub to: i64,
    /// Only this platform.
    pub platform: Option<Platform>,
    /// Only this country.
    pub country: Option<Country>,
    /// Only this ASN.
    pub asn: Option<u32>,
}

/// Which incidents a read wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this country.
    pub country: Option<Country>,
    /// Only this platform.
    pub platform: Option<Platform>,
    /// Only incidents still open.
    pub open_only: bool,
    /// At most this many (newest first).
    pub limit: usize,
}

/// (platform, country, reports) per pair: what [`Store::activity`] returns.
pub(crate) type Activity = Vec<(Platform, Country, u64)>;

/// Where a streamed read hands its rows, one at a time; its error (a closed output) stops the
/// read and is returned as [`StoreError::Output`].
pub(crate) type Sink<'a, T> = dyn FnMut(T) -> std::io::Result<()> + 'a;

/// The answer to one submitted report, once committed (or failed: one failure answers every report
/// of its batch, so it is shared).
pub type Ack = oneshot::Receiver<Result<Stored, Arc<StoreError>>>;

/// A place observations are stored durably.
pub trait Store: Send + Sync + 'static {
    /// Queues one report's rows without waiting; the [`Ack`] resolves after the commit.
    fn submit(&self, report_id: ReportId, rows: Vec<Observation>) -> Result<Ack, SubmitError>;
    /// Queue depth and write counters.
    fn stats(&self) -> StoreStats;
    /// Stores rows all-or-nothing, skipping what is already there (on SQLite, which keeps a
    /// report as one row, a report already stored; on ClickHouse, each (report_id, target) pair);
    /// returns the number of new rows. Blocking.
    fn import(&self, rows: &[Observation]) -> Result<usize, StoreError>;
    /// Observations with `from <= ts < to`, oldest first (then by report id and target), handed
    /// to `each` one at a time as they are read, so a raw export of any size holds one row at a
    /// time; an error from `each` (a closed output) stops the read and is returned. Blocking.
    fn scan_observations(&self, from: Option<i64>, to: Option<i64>, each: &mut Sink<'_, Observation>) -> Result<(), StoreError>;
    /// [`Store::scan_observations`] collected into memory: for tests and small ranges only (every
    /// export path streams). Blocking.
    fn observations(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<Observation>, StoreError> {
        let mut rows = Vec::new();
        self.scan_observations(from, to, &mut |o| {
            rows.push(o);
            Ok(())
        })?;
        Ok(rows)
    }
    /// Cell-minutes matching `filter`, in (minute, platform, country, asn) order, handed to
    /// `each` as they are read (a long range is never held in memory at once). Blocking.
    fn scan_rollups(&self, filter: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> Result<(), StoreError>;
    /// The store's memory of settled buckets' published numbers (`publish::PublishedCache`), when
    /// it keeps one.
    fn published_cache(&self) -> Option<&publish::PublishedCache> {
        None
    }
    /// Per-point sums of one cell's time series (`/v1/timeseries`), one per point of `q`.
    /// Default: computed from [`Store::scan_rollups`]; stores override it with a faster path
    /// that must give the same answer. Blocking.
    fn series(&self, q: &SeriesQuery) -> Result<Vec<PointSums>, StoreError> {
        series::from_rollups(self, q)
    }
    /// First and last minute that has rollups, `None` when there are none. Blocking.
    fn rollup_bounds(&self) -> Result<Option<(i64, i64)>, StoreError>;
    /// Inserts incidents, replacing any with the same id (ids are deterministic). Blocking.
    fn upsert_incidents(&self, incidents: &[Incident]) -> Result<(), StoreError>;
    /// Incidents matching `filter`, newest start first. Blocking.
    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    /// For a store shared by several collectors: (platform, country, reports) of every pair with
    /// rollups from minute `from_minute` on, so each node's live status also follows reports that
    /// reached other nodes. `None` (the default): this node sees every write itself. Blocking.
    fn activity(&self, from_minute: i64) -> Result<Option<Activity>, StoreError> {
        let _ = from_minute;
        Ok(None)
    }
    /// Writes everything queued, then stops the writer. Blocking.
    fn close(&self) -> Result<(), StoreError>;
}

/// Opens the store named by `url`; `queue_capacity` bounds reports waiting to be written.
pub fn open(url: &StoreUrl, queue_capacity: usize) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, queue_capacity)?)),
        StoreUrl::ClickHouse(u) => Ok(Arc::new(ClickHouseStore::open(u, queue_capacity)?)),
    }
}

/// [`open`] for `serve`: also deletes raw observations older than `retention_days` (0: never),
/// now and every hour; rollups are kept.
pub fn open_serving(url: &StoreUrl, queue_capacity: usize, retention_days: u32) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StoreUrl::Sqlite(path) => {
            let store = SqliteStore::open(path, queue_capacity)?;
            if retention_days > 0 {
                store.start_retention(retention_days);
            }
            Ok(Arc::new(store))
        }
        StoreUrl::ClickHouse(u) => Ok(Arc::new(ClickHouseStore::open_retaining(u, queue_capacity, retention_days)?)),
    }
}

/// Checks a ClickHouse `--store` URL (the part after `clickhouse:`) without connecting.
pub(crate) fn check_clickhouse_url(url: &str) -> Result<(), clickhouse_schema::ClickHouseUrlError> {
    clickhouse_schema::Settings::parse(url).map(drop)
}

/// An incident as its stored document says (both stores keep the detector's JSON of it, whose
/// `start_minute` and `end_minute` are columns of their own): a document that is no incident is
/// a corrupt row.
fn incident_doc(doc: &str) -> Result<Incident, StoreError> {
    json_row::decode(doc.as_bytes()).map_err(|e| {
        let (column, reason) = match e {
            json_row::RowError::Field { field, message } => (format!("doc.{field}"), message),
            json_row::RowError::Shape(message) => ("doc".to_string(), message),
        };
        StoreError::Corrupt { column, reason }
    })
}

/// Unix seconds <-> RFC 3339 for the NDJSON form of `ts`.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Formats Unix seconds as RFC 3339 UTC.
    pub fn format(ts: i64) -> String {
        OffsetDateTime::from_unix_timestamp(ts).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_else(|| ts.to_string())
    }

    /// A text that is not an RFC 3339 time.
    #[derive(Debug, thiserror::Error)]
    #[error("{text:?} is not an RFC 3339 time: {source}")]
    pub struct NotRfc3339 {
        /// The text, so the message shows what was refused.
        text: String,
        /// What the parser found wrong.
        source: time::error::Parse,
    }

    /// Parses an RFC 3339 time into Unix seconds.
    pub fn parse(s: &str) -> Result<i64, NotRfc3339> {
        OffsetDateTime::parse(s, &Rfc3339).map(OffsetDateTime::unix_timestamp).map_err(|source| NotRfc3339 { text: s.to_string(), source })
    }

    /// serde `with` serializer.
    pub(crate) fn serialize<S: Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*ts))
    }

    /// serde `with` deserializer.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod corrupt_tests;
