//! The scale-out store: `--store clickhouse:http://HOST:PORT/DATABASE`, shared by any number of
//! collectors. Same [`Store`] contract as SQLite: a report is acknowledged only after the insert
//! holding it got HTTP 200 from ClickHouse; a full queue or a failed insert is a 503.
//!
//! Parts: [`clickhouse_http`](super::clickhouse_http) (the HTTP interface), `clickhouse_schema`
//! (tables, URL settings, retention), `clickhouse_write` (the batch writer and dedupe),
//! `clickhouse_read` (rollups, incidents, export). ARCHITECTURE.md states the guarantees.

use super::clickhouse_http::Http;
use super::clickhouse_read as read;
use super::clickhouse_schema::{self as schema, Settings};
use super::clickhouse_write::{self as write, Batching, Counters, Job};
use super::{Ack, Activity, Incident, IncidentFilter, Observation, RollupFilter, Store, StoreError, StoreStats, SubmitError};
use crate::rollup::CellRollup;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use vantage_protocol::ReportId;

/// Rows per insert of `import`.
const IMPORT_CHUNK: usize = 50_000;

/// The ClickHouse store and its writer thread.
pub(crate) struct ClickHouseStore {
    http: Arc<Http>,
    /// Bounded queue to the writer thread.
    tx: SyncSender<Job>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    insert_timeout: Duration,
    /// Settled buckets' published numbers (every node computes the same from the shared rollups).
    published: super::publish::PublishedCache,
}

impl ClickHouseStore {
    /// Connects, creates the database, tables and views when missing, and starts the writer.
    /// `url` is the part after `clickhouse:`.
    pub(crate) fn open(url: &str, capacity: usize) -> Result<ClickHouseStore, StoreError> {
        ClickHouseStore::open_retaining(url, capacity, 0)
    }

    /// [`ClickHouseStore::open`], also dropping raw day partitions older than `retention_days`
    /// (0: never) and, with the URL's `ttl_days`, every table's older days.
    pub(crate) fn open_retaining(url: &str, capacity: usize, retention_days: u32) -> Result<ClickHouseStore, StoreError> {
        let settings = Settings::parse(url).map_err(StoreError::Url)?;
        let http = Arc::new(Http::new(&settings.url, &settings.db)?);
        schema::create(&http).map_err(|e| {
            // The URL without user and password: messages may end up in logs.
            let mut shown = settings.url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            shown.set_query(None);
            let (url, source) = (shown.to_string(), Box::new(e));
            match *source {
                StoreError::Unreachable(_) => StoreError::ClickHouseDown { url, source },
                _ => StoreError::ClickHouseSetup { url, db: settings.db.clone(), source },
            }
        })?;
        let (tx, rx) = sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let batching = Batching { interval: settings.batch_interval, max_rows: settings.batch_rows, timeout: settings.insert_timeout };
        let (h, c) = (http.clone(), counters.clone());
        let writer = std::thread::Builder::new()
            .name("vantage-clickhouse-writer".into())
            .spawn(move || write::write_loop(&h, &rx, &batching, &c))
            .map_err(|e| StoreError::Thread(format!("cannot start the clickhouse writer: {e}")))?;
        let plan = schema::retention_plan(retention_days, settings.ttl_days);
        if !plan.is_empty() {
            start_retention(Arc::downgrade(&http), plan);
        }
        Ok(ClickHouseStore {
            http,
            tx,
            writer: Mutex::new(Some(writer)),
            counters,
            insert_timeout: settings.insert_timeout,
            published: Default::default(),
        })
    }
}

/// Drops day partitions older than `plan` says, now and every hour, while the store is open. Any
/// node may do it (dropping a partition twice is harmless).
fn start_retention(http: std::sync::Weak<Http>, plan: Vec<(&'static str, u32)>) {
    let _ = std::thread::Builder::new().name("vantage-clickhouse-retention".into()).spawn(move || loop {
        let Some(h) = http.upgrade() else { return };
        match schema::drop_old_days(&h, &plan, time::OffsetDateTime::now_utc().unix_timestamp()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(partitions = n, "clickhouse retention dropped old days"),
            Err(e) => tracing::warn!(error = %e, "clickhouse retention failed; retrying in an hour"),
        }
        drop(h);
        std::thread::sleep(Duration::from_secs(3600));
    });
}

impl Store for ClickHouseStore {
    fn submit(&self, report_id: ReportId, rows: Vec<Observation>) -> Result<Ack, SubmitError> {
        let (reply, ack) = oneshot::channel();
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(Job::Report { id: report_id, rows, reply }).map_err(|e| {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => SubmitError::Full,
                TrySendError::Disconnected(_) => SubmitError::Closed,
            }
        })?;
        Ok(ack)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            queue_depth: self.counters.queued.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            rows: self.counters.rows.load(Ordering::Relaxed),
            late_rows: self.counters.late_rows.load(Ordering::Relaxed),
        }
    }

    fn import(&self, rows: &[Observation]) -> Result<usize, StoreError> {
        let stored = write::existing_pairs(&self.http, rows, read::READ_TIMEOUT)?;
        let new = write::new_rows(rows, &stored);
        let mut seen = std::collections::HashSet::new();
        for chunk in new.chunks(IMPORT_CHUNK) {
            let body = write::encode(chunk, &mut seen);
            self.http.insert(&format!("{}.observations", self.http.db), body, self.insert_timeout.max(read::READ_TIMEOUT))?;
        }
        Ok(new.len())
    }

    fn scan_observations(&self, from: Option<i64>, to: Option<i64>, each: &mut super::Sink<'_, Observation>) -> Result<(), StoreError> {
        read::scan_observations(&self.http, from, to, each)
    }

    fn published_cache(&self) -> Option<&super::publish::PublishedCache> {
        Some(&self.published)
    }

    fn scan_rollups(&self, filter: &RollupFilter, each: &mut dyn FnMut(CellRollup)) -> Result<(), StoreError> {
        read::scan_rollups(&self.http, filter, each)
    }

    fn series(&self, q: &super::SeriesQuery) -> Result<Vec<super::PointSums>, StoreError> {
        read::series(&self.http, q)
    }

    fn rollup_bounds(&self) -> Result<Option<(i64, i64)>, StoreError> {
        read::rollup_bounds(&self.http)
    }

    fn upsert_incidents(&self, incidents: &[Incident]) -> Result<(), StoreError> {
        read::upsert_incidents(&self.http, incidents)
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        read::incidents(&self.http, filter)
    }

    fn activity(&self, from_minute: i64) -> Result<Option<Activity>, StoreError> {
        read::activity(&self.http, from_minute).map(Some)
    }

    fn close(&self) -> Result<(), StoreError> {
        let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else { return Ok(()) };
        // FIFO: everything queued before the shutdown job is inserted first.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Job::Shutdown);
        writer.join().map_err(|_| StoreError::Thread("the clickhouse writer panicked".into()))
    }
}
