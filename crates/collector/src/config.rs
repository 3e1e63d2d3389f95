//! The validated configuration `vantage serve` runs with (built from the raw CLI flags in `cli`).

use crate::geo::Cidr;
use std::path::PathBuf;
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

impl FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("sqlite: needs a path, e.g. sqlite:./data/vantage.db".into());
            }
            Ok(StoreUrl::Sqlite(PathBuf::from(path)))
        } else if let Some(url) = s.strip_prefix("clickhouse:") {
            crate::store::check_clickhouse_url(url)?;
            Ok(StoreUrl::ClickHouse(url.to_string()))
        } else {
            Err("expected sqlite:PATH (e.g. sqlite:./data/vantage.db) or clickhouse:http://HOST:PORT/DATABASE (e.g. clickhouse:http://127.0.0.1:8123/vantage)".into())
        }
    }
}

/// The message for a file named by `flag` that cannot be read: the file, the reason, and `fix`
/// (what to give instead) when it is missing.
pub fn file_error(flag: &str, path: &std::path::Path, e: &std::io::Error, fix: &str) -> String {
    let p = path.display();
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("{flag} {p}: no such file; {fix}"),
        std::io::ErrorKind::PermissionDenied => format!("{flag} {p}: permission denied; make it readable by the user vantage runs as"),
        std::io::ErrorKind::IsADirectory => format!("{flag} {p}: is a directory, not a file; {fix}"),
        _ => format!("{flag} {p}: cannot read it: {e}"),
    }
}

/// Default `--retention-days`: a little over a year, so a year-on-year comparison can still be
/// recomputed from raw rows, and no longer (the rollups keep every published number).
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// Default `--store`.
pub const DEFAULT_STORE: &str = "sqlite:./data/vantage.db";

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
pub const COUNTRY_HEADER_NEEDS_PROXY: &str = "--country-header is believed only from a --trusted-proxy (anyone else could pick their country with it): add --trusted-proxy CIDR naming the CDN or load balancer that sets it, e.g. --trusted-proxy 10.0.0.0/24, or leave --country-header out";

impl Config {
    /// Rules between settings: a config that fails them must not start.
    pub fn validate(&self) -> Result<(), String> {
        if self.country_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(COUNTRY_HEADER_NEEDS_PROXY.into());
        }
        crate::assets::check_overrides(self)
    }

    /// Defaults for everything but the store, with the built-in target list.
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
            rate_limit_per_min: crate::ratelimit::DEFAULT_PER_MIN,
            rate_burst: crate::ratelimit::DEFAULT_BURST,
            queue_capacity: 4096,
            detect: vantage_detect::DetectorConfig::default(),
            history_days: 7,
            retention_days: DEFAULT_RETENTION_DAYS,
            webhooks: Vec::new(),
            publish_interval_s: crate::live::DEFAULT_PUBLISH_INTERVAL_S,
            admin_token: None,
            network_key: None,
            max_connections: crate::limits::DEFAULT_MAX_CONNECTIONS,
            header_timeout: crate::limits::DEFAULT_HEADER_TIMEOUT,
            body_timeout: crate::limits::DEFAULT_BODY_TIMEOUT,
            max_exports: crate::export::DEFAULT_MAX_EXPORTS,
            max_streams: crate::limits::DEFAULT_MAX_STREAMS,
            stream_lifetime: crate::limits::DEFAULT_STREAM_LIFETIME,
        }
    }
}
