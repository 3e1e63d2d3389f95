//! The validated configuration `vantage serve` runs with (built from the typed CLI flags in `cli`).

pub mod defaults;

use crate::geo::Cidr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use vantage_protocol::TargetList;

/// Where observations are kept, from `--store URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH`: the embedded store, one file (plus its WAL) on local disk.
    Sqlite(PathBuf),
    /// `clickhouse:http://HOST:PORT/DB[?settings]`: the scale-out store (checked when opened).
    ClickHouse(String),
}

/// Why a `--store` value is not a store URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    /// `sqlite:` with nothing after it.
    #[error("sqlite: needs a path, e.g. sqlite:./data/vantage.db")]
    SqliteWithoutPath,
    /// A `clickhouse:` URL the store refuses; the store's message names the part and the fix.
    #[error("{0}")]
    ClickHouse(String),
    /// Neither `sqlite:` nor `clickhouse:`.
    #[error(
        "expected sqlite:PATH (e.g. sqlite:./data/vantage.db) or clickhouse:http://HOST:PORT/DATABASE (e.g. clickhouse:http://127.0.0.1:8123/vantage)"
    )]
    UnknownScheme,
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;
    fn from_str(s: &str) -> Result<Self, StoreUrlError> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreUrlError::SqliteWithoutPath);
            }
            Ok(StoreUrl::Sqlite(PathBuf::from(path)))
        } else if let Some(url) = s.strip_prefix("clickhouse:") {
            crate::store::check_clickhouse_url(url).map_err(|e| StoreUrlError::ClickHouse(e.to_string()))?;
            Ok(StoreUrl::ClickHouse(url.to_string()))
        } else {
            Err(StoreUrlError::UnknownScheme)
        }
    }
}

/// A file named by a flag (or a command) that cannot be read: its `Display` names the file, the
/// reason, and what to give instead when it is missing.
#[derive(Debug)]
pub struct FileError {
    /// The flag or command that named the file, e.g. `--targets` or `import`.
    pub flag: String,
    /// The file as given.
    pub path: PathBuf,
    /// Why it could not be read.
    pub io: std::io::Error,
    /// What to give instead, shown when the file is missing or a directory.
    pub fix: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&file_error(&self.flag, &self.path, &self.io, &self.fix))
    }
}

impl std::error::Error for FileError {}

impl FileError {
    /// The error for `path`, named by `flag`, that failed with `io`; `fix` says what to give instead.
    pub fn new(flag: &str, path: &Path, io: std::io::Error, fix: &str) -> FileError {
        FileError { flag: flag.into(), path: path.into(), io, fix: fix.into() }
    }
}

/// [`FileError`]'s message, also for errors that hold more than the file (the geo databases' `GeoipError`).
pub(crate) fn file_error(flag: &str, path: &Path, e: &std::io::Error, fix: &str) -> String {
    let p = path.display();
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("{flag} {p}: no such file; {fix}"),
        std::io::ErrorKind::PermissionDenied => format!("{flag} {p}: permission denied; make it readable by the user vantage runs as"),
        std::io::ErrorKind::IsADirectory => format!("{flag} {p}: is a directory, not a file; {fix}"),
        _ => format!("{flag} {p}: cannot read it: {e}"),
    }
}

/// Why the flags of `serve` do not make a configuration it can run with. Each message names the
/// flag or file and the fix; `vantage` exits 1 on them (they are found by reading files).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--country-header` without a `--trusted-proxy`: anyone could pick their country.
    #[error("{}", COUNTRY_HEADER_NEEDS_PROXY)]
    CountryHeaderNeedsProxy,
    /// A `--www` or `--widget-dir` directory that lacks what it must serve.
    #[error(transparent)]
    Override(#[from] crate::assets::OverrideError),
    /// A file named by a flag cannot be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The `--targets` file is not a valid target list.
    #[error("--targets: {0} (the format is docs/protocol.md §6; leave --targets out for the built-in list)")]
    Targets(crate::targets::TargetsError),
    /// `--admin-token-file` (or `VANTAGE_ADMIN_TOKEN`) holds no usable token.
    #[error(transparent)]
    AdminToken(#[from] crate::auth::TokenError),
    /// `--network-key-file` holds no usable secret; the message names the file and the fix.
    #[error(transparent)]
    NetworkKey(crate::geo::NetworkKeyError),
}

/// Everything `serve` needs, already checked: a `Config` that exists is one the server can run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where observations are written (and read by import/export).
    pub store: StoreUrl,
    /// GeoLite2-Country file: maps the client IP to a country in memory.
    pub geoip_country: Option<PathBuf>,
    /// GeoLite2-ASN file: maps the client IP to its autonomous system in memory.
    pub geoip_asn: Option<PathBuf>,
    /// A CDN's country header (e.g. `CF-IPCountry`), believed before the country database.
    pub country_header: Option<String>,
    /// Peers whose `X-Forwarded-For`, `X-Forwarded-Proto` and country header are believed (our
    /// own reverse proxies); anyone else could set them to pick an address or a country.
    pub trusted_proxies: Vec<Cidr>,
    /// `--public-origin`s (normalized `scheme://host[:port]`): the only `Origin`s a report may come
    /// from, since our frame posts from there. Empty: derived per request from `Host`.
    pub public_origins: Vec<String>,
    /// The validated target list served at `/v1/targets` and used to check report target ids.
    pub targets: TargetList,
    /// The `--targets` file, re-read on SIGHUP (None: the built-in list).
    pub targets_file: Option<PathBuf>,
    /// `--www`: a directory served at `/` (demo site, loader, frame) instead of the copy of
    /// `www/` compiled into the binary (development: edits show without a rebuild).
    pub www: Option<PathBuf>,
    /// `--widget-dir`: a built widget served at `/v1/w/` instead of the compiled-in one.
    pub widget_dir: Option<PathBuf>,
    /// Reports one client may post per minute (0 turns the limit off).
    pub rate_limit_per_min: u32,
    /// Reports one client may post at once before the per-minute rate applies.
    pub rate_burst: u32,
    /// Reports waiting for the store writer before ingest answers 503: bounds memory under load.
    pub queue_capacity: usize,
    /// Detector settings (k, m, window, thresholds); k and m also gate every published number.
    pub detect: vantage_detect::DetectorConfig,
    /// Days of rollups replayed at start-up so baselines know each cell's usual.
    pub history_days: u32,
    /// Days raw observations are kept (`--retention-days`; 0: for ever). Rollups are kept.
    pub retention_days: u32,
    /// URLs that get a POST on every incident open and close.
    pub webhooks: Vec<String>,
    /// Seconds between publications of the live status (`--publish-interval`, at least 1):
    /// `/v1/status` and the stream change only at wall-clock multiples of it, so a watcher
    /// cannot follow outcomes report by report.
    pub publish_interval_s: u64,
    /// Bearer token for non-public routes (`/metrics`); `None` leaves them open.
    pub admin_token: Option<crate::auth::AdminToken>,
    /// Secret shared by every node (`--network-key-file`): the daily network-hash key is derived
    /// from it and the UTC day. `None`: a random in-memory key per node (the default).
    pub network_key: Option<crate::geo::NetworkKey>,
    /// Connections open at once (`--max-connections`); at the cap, accepting waits.
    pub max_connections: usize,
    /// The request head must arrive within this; an idle keep-alive connection closes after it.
    pub header_timeout: std::time::Duration,
    /// A report body must arrive within this, else 408.
    pub body_timeout: std::time::Duration,
    /// Public exports (`/v1/export.*`) streaming at once (`--max-exports`); more get 503.
    pub max_exports: usize,
    /// `/v1/stream` connections open at once (`--max-streams`): readers' own budget, apart from
    /// `max_connections`, so a crowd of readers never takes the slots reports need; beyond it a
    /// reader gets 503 and polls `/v1/status`. 0 refuses every stream.
    pub max_streams: usize,
    /// Longest a stream stays open (`--stream-lifetime`; each gets 75-100 % of it, so a crowd's
    /// reconnects spread out): the server ends it, the browser reconnects or falls back to polling.
    pub stream_lifetime: std::time::Duration,
}

/// Why `--country-header` alone is refused, and the fix.
pub(crate) const COUNTRY_HEADER_NEEDS_PROXY: &str = "--country-header is believed only from a --trusted-proxy (anyone else could pick their country with it): add --trusted-proxy CIDR naming the CDN or load balancer that sets it, e.g. --trusted-proxy 10.0.0.0/24, or leave --country-header out";

impl Config {
    /// Rules between settings: a config that fails them must not start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.country_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(ConfigError::CountryHeaderNeedsProxy);
        }
        Ok(crate::assets::check_overrides(self)?)
    }

    /// Defaults (from [`defaults`]) for everything but the store, with the built-in target list.
    pub fn new(store: StoreUrl) -> Config {
        Config {
            store,
            geoip_country: None,
            geoip_asn: None,
            country_header: None,
            trusted_proxies: Vec::new(),
            public_origins: Vec::new(),
            targets: crate::targets::default_targets(),
            targets_file: None,
            www: None,
            widget_dir: None,
            rate_limit_per_min: defaults::RATE_LIMIT_PER_MIN,
            rate_burst: defaults::RATE_BURST,
            queue_capacity: defaults::QUEUE_CAPACITY,
            detect: vantage_detect::DetectorConfig {
                min_reports: defaults::MIN_REPORTS,
                min_networks: defaults::MIN_NETWORKS,
                ..vantage_detect::DetectorConfig::default()
            },
            history_days: defaults::HISTORY_DAYS,
            retention_days: defaults::RETENTION_DAYS,
            webhooks: Vec::new(),
            publish_interval_s: defaults::PUBLISH_INTERVAL_S,
            admin_token: None,
            network_key: None,
            max_connections: defaults::MAX_CONNECTIONS,
            header_timeout: defaults::HEADER_TIMEOUT,
            body_timeout: defaults::BODY_TIMEOUT,
            max_exports: defaults::MAX_EXPORTS,
            max_streams: defaults::MAX_STREAMS,
            stream_lifetime: defaults::STREAM_LIFETIME,
        }
    }
}
