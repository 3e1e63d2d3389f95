//! What can go wrong in a store, by what failed: a caller can tell a store it cannot open from a
//! down ClickHouse or a corrupt row, and `Display` is the sentence an operator reads.

use super::column::CorruptColumn;
use std::path::PathBuf;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file's directory cannot be created.
    #[error(
        "cannot create the data directory {}: {source}; create it writable for the user vantage runs as, or choose another place with --store sqlite:PATH",
        dir.display()
    )]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// The SQLite file cannot be opened or given its schema (permissions, not a database).
    #[error(
        "cannot open the SQLite store {}: {source}; the file and its directory must be writable by the user vantage runs as (or choose another with --store sqlite:PATH)",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Rows of one report that disagree on a value a report has once (its time, country, ...):
    /// a report is stored as one row, so they cannot all be kept.
    #[error("the rows of report {report_id} disagree on {column}; every row of a report must have the same {column}")]
    SplitReport {
        /// The report, so the operator can find its rows.
        report_id: String,
        /// The per-report column that differs.
        column: &'static str,
    },
    /// The file was written by a later vantage, in a raw format this one cannot read.
    #[error("sqlite {}: raw format {format}, newer than the {known} this vantage reads; open it with a newer vantage", path.display())]
    NewerFormat {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        format: i64,
        /// The newest format this build reads.
        known: i64,
    },
    /// A start-up step after opening (a migration, rebuilding the unflushed rollups) failed.
    #[error("sqlite {}: {step}: {source}", path.display())]
    Schema {
        /// The database file.
        path: PathBuf,
        /// The step, in words.
        step: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A SQLite write failed; its transaction is rolled back, so nothing of it is stored.
    #[error("sqlite {what}: {source}")]
    Write {
        /// Which write (`commit`, `import`, `incidents`, `retention`).
        what: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A SQLite read failed.
    #[error("sqlite {what}: {source}")]
    Read {
        /// Which read (`read`, `export`).
        what: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A stored value fails the check of its type (`vantage-protocol`'s domain types, the
    /// incident document): the row was not written by this program, or was changed since.
    #[error("corrupt row: {column}: {reason}")]
    Corrupt {
        /// The column (or JSON field) holding the value.
        column: String,
        /// The value's fault.
        reason: String,
    },
    /// ClickHouse did not answer (connection refused, DNS, a timeout).
    #[error("clickhouse unreachable: {0}")]
    Unreachable(String),
    /// ClickHouse answered a statement with an error status.
    #[error("clickhouse {status}: {body}")]
    Status {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The start of ClickHouse's message (at most 500 characters).
        body: String,
    },
    /// ClickHouse's answer broke off or is not the rows asked for.
    #[error("clickhouse answer: {0}")]
    Answer(String),
    /// ClickHouse could not be reached when the store was opened.
    #[error(
        "cannot reach ClickHouse at {url}: {source}; is clickhouse-server running and serving HTTP there (default port 8123)? Check the host and port in --store"
    )]
    ClickHouseDown {
        /// The URL without user, password and settings (messages end up in logs).
        url: String,
        /// The failure.
        source: Box<StoreError>,
    },
    /// ClickHouse refused to create the database, tables or views.
    #[error(
        "ClickHouse at {url} refused to set up the database {db:?}: {source}; check the user and password in --store and that the user may CREATE DATABASE and TABLE, or create the schema yourself (docs/clickhouse.md)"
    )]
    ClickHouseSetup {
        /// The URL without user, password and settings.
        url: String,
        /// The database.
        db: String,
        /// The failure.
        source: Box<StoreError>,
    },
    /// The `--store` URL of a ClickHouse store is not usable.
    #[error("--store: {0}")]
    Url(#[from] super::ClickHouseUrlError),
    /// A thread of the store could not start, or stopped.
    #[error("{0}")]
    Thread(String),
    /// The receiver of streamed rows stopped the read (a closed output), with its reason.
    #[error("{0}")]
    Output(#[source] std::io::Error),
}

impl StoreError {
    /// A failed SQLite read; a value that failed its check is [`StoreError::Corrupt`].
    pub fn read(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
        move |source| corrupt(&source).unwrap_or(StoreError::Read { what, source })
    }

    /// A failed SQLite write (its reads of stored values included).
    pub fn write(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
        move |source| corrupt(&source).unwrap_or(StoreError::Write { what, source })
    }
}

/// The [`StoreError::Corrupt`] inside a SQLite conversion failure, if it is one of ours.
fn corrupt(e: &rusqlite::Error) -> Option<StoreError> {
    let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = e else { return None };
    let c = inner.downcast_ref::<CorruptColumn>()?;
    Some(StoreError::Corrupt { column: c.column.clone(), reason: format!("{:?} {}", c.value, c.reason) })
}
