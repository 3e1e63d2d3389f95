//! Raw command-line flags (clap derive). They become a validated [`Config`] in [`ServeArgs::into_config`].

use crate::config::{Config, StoreUrl, DEFAULT_STORE};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `vantage`: the Vantage collector.
#[derive(Debug, Parser)]
#[command(name = "vantage", version, about = "Vantage collector: ingest, anonymize and store reachability reports")]
pub struct Cli {
    /// Which command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of PROTOCOL.md section 5.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector.
    Serve(ServeArgs),
    /// Load stored-format observations (NDJSON) into a store.
    Import(ImportArgs),
    /// Write observations or k-anonymous aggregates as NDJSON to stdout.
    Export(ExportArgs),
    /// Replay stored history through the detector as if live; print the incidents as JSON.
    Detect(DetectArgs),
    /// Generate synthetic traffic: a history into a store, or live reports to a collector.
    Simulate(SimulateArgs),
}

/// Flags of `vantage detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Store URL.
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// First minute replayed (RFC 3339).
    #[arg(long)]
    pub from: String,
    /// End of the replay (RFC 3339, exclusive).
    #[arg(long)]
    pub to: String,
    /// k: fewest reports the detector judges.
    #[arg(long, default_value_t = 10)]
    pub min_reports: u64,
    /// m: fewest distinct networks the detector judges.
    #[arg(long, default_value_t = 3)]
    pub min_networks: u64,
}

/// Flags of `vantage simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Post reports to a running collector (see --url) instead of writing a store.
    #[arg(long)]
    pub live: bool,
    /// Collector base URL for --live; it must run with `--trusted-proxy 127.0.0.1/32
    /// --country-header CF-IPCountry` so the synthetic addresses and country count.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Reports a minute for --live, e.g. 600 or 600/min.
    #[arg(long, default_value = "600/min")]
    pub rate: String,
    /// Stop --live after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS")]
    pub seconds: Option<u64>,
    /// Store to write a history into (without --live).
    #[arg(long)]
    pub store: Option<String>,
    /// Days of history to write, ending now (or at --end).
    #[arg(long, default_value_t = 1.0)]
    pub days: f64,
    /// End of the history (RFC 3339; default now).
    #[arg(long)]
    pub end: Option<String>,
    /// What the traffic shows.
    #[arg(long, value_enum, default_value = "normal")]
    pub scenario: crate::simulate::Kind,
    /// Minutes the block or throttle lasts, ending at --end (store histories).
    #[arg(long, default_value_t = 30)]
    pub event_minutes: i64,
    /// Platforms (comma-separated); the scenario's event hits the first.
    #[arg(long, default_value = "x,youtube,facebook")]
    pub platforms: String,
    /// Country of the synthetic visitors.
    #[arg(long, default_value = "PK")]
    pub country: String,
    /// Mean reports a minute per platform in a store history.
    #[arg(long, default_value_t = 60.0)]
    pub per_minute: f64,
    /// Generator seed (store histories are reproducible).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead of --per-minute: the traffic of vantage-detect's scenario tests, R reports a
    /// minute in the busiest ASN cell (block, asn-half, throttle: four ASNs at R; normal: three
    /// at R, R*25/60, R*8/60), e.g. 60.
    #[arg(long, value_name = "R")]
    pub asn_rate: Option<f64>,
    /// With --asn-rate: write only the first N of those ASNs (fewer cells, a faster history).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub asns: usize,
    /// Print a JSON summary of a store history on stdout (onset, ASNs, the one asn-half hits).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `vantage serve`, as typed.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Store URL: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// GeoLite2-Country (or DB-IP lite) database file.
    #[arg(long, value_name = "FILE")]
    pub geoip_country: Option<PathBuf>,
    /// GeoLite2-ASN (or DB-IP lite) database file.
    #[arg(long, value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,
    /// Trust this request header for the country (e.g. CF-IPCountry).
    #[arg(long, value_name = "NAME")]
    pub country_header: Option<String>,
    /// Believe X-Forwarded-For only from peers in this CIDR (repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,
    /// Target list TOML file (default: the built-in list).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Directory served at /.
    #[arg(long, default_value = "www", value_name = "DIR")]
    pub www: PathBuf,
    /// Directory of the built widget, served at /v1/w/.
    #[arg(long, default_value = "dist/widget", value_name = "DIR")]
    pub widget_dir: PathBuf,
    /// Reports per minute one client may post (0: no limit).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub rate_limit: u32,
    /// Reports one client may post in a burst.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub rate_burst: u32,
    /// Reports queued for the store before answering 503.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub queue_capacity: usize,
    /// POST every incident open and close to this URL as JSON (repeatable).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhook: Vec<String>,
    /// Days of stored history replayed at start-up for the detector's baselines.
    #[arg(long, default_value_t = 7, value_name = "DAYS")]
    pub history_days: u32,
    /// k: fewest reports a published number may describe (and the detector judges).
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub min_reports: u64,
    /// m: fewest distinct networks a published number may describe.
    #[arg(long, default_value_t = 3, value_name = "M")]
    pub min_networks: u64,
    /// File holding the bearer token `/metrics` requires (default: $VANTAGE_ADMIN_TOKEN; unset: open).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding a secret (32+ bytes) shared by every node, from which each UTC day's network-hash key is derived, so all nodes count a network once (default: a random per-node key in memory).
    #[arg(long, value_name = "FILE")]
    pub network_key_file: Option<PathBuf>,
    /// Connections open at once; further ones wait in the listen backlog until one ends (at least 1).
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_CONNECTIONS, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Seconds a client has to send a request's line and headers (and an idle keep-alive connection stays open), e.g. 10 or 0.5.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = seconds)]
    pub header_timeout: std::time::Duration,
    /// Seconds a client has to send a report's body before 408, e.g. 10 or 0.5.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = seconds)]
    pub body_timeout: std::time::Duration,
}

/// Flags of `vantage import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Store URL.
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// NDJSON file of observations (PROTOCOL.md section 2 columns).
    pub file: PathBuf,
}

/// Flags of `vantage export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Store URL.
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// Only observations at or after this RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only observations before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// Raw observations instead of aggregates.
    #[arg(long)]
    pub raw: bool,
    /// k: fewest reports a published aggregate may describe.
    #[arg(long, default_value_t = 10)]
    pub min_reports: usize,
    /// m: fewest distinct networks a published aggregate may describe.
    #[arg(long, default_value_t = 3)]
    pub min_networks: usize,
}

impl ServeArgs {
    /// Checks every flag and loads the target list; the error names the bad flag or file line.
    pub fn into_config(self) -> Result<Config, String> {
        let mut config = Config::new(self.store.parse::<StoreUrl>()?);
        config.geoip_country = self.geoip_country;
        config.geoip_asn = self.geoip_asn;
        if let Some(h) = &self.country_header {
            axum::http::HeaderName::try_from(h.as_str())
                .map_err(|_| format!("--country-header {h:?}: not a valid header name"))?;
        }
        config.country_header = self.country_header;
        config.trusted_proxies = self
            .trusted_proxy
            .iter()
            .map(|c| c.parse().map_err(|e| format!("--trusted-proxy {c:?}: {e}")))
            .collect::<Result<_, String>>()?;
        if let Some(path) = &self.targets {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--targets {}: {e}", path.display()))?;
            config.targets = crate::targets::parse_targets(&text, &path.display().to_string())?;
        }
        config.targets_file = self.targets;
        config.www = self.www;
        config.widget_dir = self.widget_dir;
        config.rate_limit_per_min = self.rate_limit;
        config.rate_burst = self.rate_burst.max(1);
        if self.queue_capacity == 0 {
            return Err("--queue-capacity must be at least 1".into());
        }
        config.queue_capacity = self.queue_capacity;
        for url in &self.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("--webhook {url:?}: must be an http:// or https:// URL"));
            }
        }
        config.webhooks = self.webhook;
        if self.history_days > 60 {
            return Err("--history-days must be at most 60".into());
        }
        config.history_days = self.history_days;
        if self.min_reports == 0 || self.min_networks == 0 {
            return Err("--min-reports and --min-networks must be at least 1".into());
        }
        config.detect.min_reports = self.min_reports;
        config.detect.min_networks = self.min_networks;
        config.admin_token = crate::auth::AdminToken::from_file_or_env(self.admin_token_file.as_deref())?;
        config.network_key = self.network_key_file.as_deref().map(crate::geo::NetworkKey::from_file).transpose()?;
        config.max_connections = self.max_connections.max(1);
        config.header_timeout = self.header_timeout;
        config.body_timeout = self.body_timeout;
        Ok(config)
    }
}

fn seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(std::time::Duration::from_secs_f64(t)),
        _ => Err("seconds, more than 0 and at most 3600, e.g. 10 or 0.5".into()),
    }
}
