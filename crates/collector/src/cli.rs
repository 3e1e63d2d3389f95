//! Raw command-line flags (clap derive). They become a validated [`Config`] in [`ServeArgs::into_config`].

use crate::config::{Config, StoreUrl, DEFAULT_STORE};
use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const MAIN_EXAMPLES: &str = "\
Examples:
  vantage serve
      collector, demo site and dashboard on http://127.0.0.1:8080, SQLite in ./data
  vantage serve --geoip-country GeoLite2-Country.mmdb --geoip-asn GeoLite2-ASN.mmdb
  vantage export --raw --store sqlite:./data/vantage.db > observations.ndjson
  vantage simulate --store sqlite:./data/demo.db --days 3 --scenario block

--store takes sqlite:PATH (default sqlite:./data/vantage.db) or clickhouse:http://HOST:PORT/DATABASE.
`vantage COMMAND --help` shows a command's flags and more examples.

Exit status: 0 done, 1 runtime failure (a file, the network, the store), 2 usage error (fix the command line).";

const SERVE_EXAMPLES: &str = "\
Examples:
  vantage serve
      http://127.0.0.1:8080, SQLite in ./data/vantage.db, countries and ASNs unknown (ZZ, 0)
  vantage serve --geoip-country GeoLite2-Country.mmdb --geoip-asn GeoLite2-ASN.mmdb
      countries and network operators from MaxMind (or DB-IP lite) files
  vantage serve --listen 0.0.0.0:8080 --trusted-proxy 10.0.3.0/24 --country-header CF-IPCountry --public-origin https://vantage.example.org
      behind a load balancer or CDN in 10.0.3.0/24: believe its X-Forwarded-For and country
      header, and take reports only from pages of https://vantage.example.org (our frame)
  vantage serve --store clickhouse:http://127.0.0.1:8123/vantage --network-key-file /etc/vantage/network.key
      one of several collectors sharing a ClickHouse database (see docs/clickhouse.md)
  vantage serve --targets targets.toml --admin-token-file /etc/vantage/admin.token
      your own target list (SIGHUP re-reads it) and a token for /metrics";

const IMPORT_EXAMPLES: &str = "\
Examples:
  vantage import --store sqlite:./data/vantage.db backfill.ndjson
  vantage export --raw --store sqlite:old.db > all.ndjson && vantage import --store clickhouse:http://127.0.0.1:8123/vantage all.ndjson

The file is read twice: every line is checked first, so a file with one bad line stores nothing
(the error names the line and field); then it is stored 10,000 rows per transaction, in constant
memory whatever its size. Rows already stored are skipped, so importing twice stores once and an
interrupted import can simply be run again. FILE must be a regular file (not stdin or a pipe).";

const EXPORT_EXAMPLES: &str = "\
Examples:
  vantage export > aggregates.ndjson
      k-anonymous aggregates per minute, country, ASN and platform
  vantage export --raw --from 2026-11-28T00:00:00Z > observations.ndjson
      raw observations since a time (the format `vantage import` reads)
  vantage export --store clickhouse:http://127.0.0.1:8123/vantage --from 2026-11-28T00:00:00Z --to 2026-11-29T00:00:00Z

Rows go to stdout; the progress bar and messages to stderr.";

const DETECT_EXAMPLES: &str = "\
Examples:
  vantage detect --from 2026-11-28T00:00:00Z --to 2026-11-29T00:00:00Z
  vantage detect --store sqlite:./data/demo.db --from 2026-11-28T06:00:00Z --to 2026-11-28T12:00:00Z --min-networks 5

Prints {\"incidents\":[...]} on stdout, the shape of GET /v1/incidents.";

const SIMULATE_EXAMPLES: &str = "\
Examples:
  vantage simulate --store sqlite:./data/demo.db --days 3 --scenario block
      three days of traffic ending now, the last 30 minutes of it a block of x
  vantage serve --trusted-proxy 127.0.0.1/32 --country-header CF-IPCountry &
  vantage simulate --live --url http://127.0.0.1:8080 --rate 600/min --scenario throttle
      live reports to a running collector; it needs exactly those two serve flags so the
      synthetic addresses and country count";

/// `vantage`: the Vantage collector.
#[derive(Debug, Parser)]
#[command(name = "vantage", version, about = "Vantage collector: ingest, anonymize and store reachability reports", after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Which command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of docs/protocol.md §5.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Load stored-format observations (NDJSON) into a store.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
    /// Write observations or k-anonymous aggregates as NDJSON to stdout.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Replay stored history through the detector as if live; print the incidents as JSON.
    #[command(after_help = DETECT_EXAMPLES)]
    Detect(DetectArgs),
    /// Generate synthetic traffic: a history into a store, or live reports to a collector.
    #[command(after_help = SIMULATE_EXAMPLES)]
    Simulate(SimulateArgs),
}

/// Flags of `vantage detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Store to read: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = DEFAULT_STORE, value_name = "URL", value_parser = store_url)]
    pub store: String,
    /// First minute replayed (RFC 3339, e.g. 2026-11-28T00:00:00Z; required).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub from: String,
    /// End of the replay (RFC 3339, exclusive, after --from; required).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub to: String,
    /// k: fewest reports in a cell the detector judges (at least 1).
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_reports: u64,
    /// m: fewest distinct networks in a cell the detector judges (at least 1).
    #[arg(long, default_value_t = 3, value_name = "M", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_networks: u64,
}

/// Flags of `vantage simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Post reports to a running collector (see --url) instead of writing a store.
    #[arg(long)]
    pub live: bool,
    /// Collector base URL for --live (serve it with --trusted-proxy 127.0.0.1/32 --country-header CF-IPCountry).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_parser = http_url)]
    pub url: String,
    /// Reports a minute for --live, e.g. 600 or 600/min.
    #[arg(long, default_value = "600/min", value_parser = per_minute_rate)]
    pub rate: String,
    /// --live: distinct client networks (/24s and /48s, Zipf-like shares) the reports come from.
    #[arg(long, default_value_t = 300, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub networks: usize,
    /// --live: countries those networks are in (at most 40); --country is the biggest.
    #[arg(long, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..=40))]
    pub countries: usize,
    /// Stop --live after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS")]
    pub seconds: Option<u64>,
    /// Store to write a history into: sqlite:PATH or clickhouse:http://HOST:PORT/DB (required without --live).
    #[arg(long, value_name = "URL", value_parser = store_url, required_unless_present = "live", conflicts_with = "live")]
    pub store: Option<String>,
    /// Days of history to write, ending now (or at --end); more than 0, at most 400.
    #[arg(long, default_value_t = 1.0, value_parser = history_days)]
    pub days: f64,
    /// End of the history (RFC 3339; default: now).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub end: Option<String>,
    /// What the traffic shows.
    #[arg(long, value_enum, default_value = "normal")]
    pub scenario: crate::simulate::Kind,
    /// Minutes the block or throttle lasts, ending at --end (store histories).
    #[arg(long, default_value_t = 30)]
    pub event_minutes: i64,
    /// Platforms (comma-separated); the scenario's event hits the first.
    #[arg(long, default_value = "x,youtube,facebook", value_parser = platform_list)]
    pub platforms: String,
    /// Country of the synthetic visitors (two letters, ISO 3166-1).
    #[arg(long, default_value = "PK", value_parser = country_code)]
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
    /// Address to listen on, HOST:PORT; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR", value_parser = listen_addr)]
    pub listen: String,
    /// Where observations are stored: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = DEFAULT_STORE, value_name = "URL", value_parser = store_url)]
    pub store: String,
    /// GeoLite2-Country (or DB-IP lite) file for the client's country (default: none, country ZZ).
    #[arg(long, value_name = "FILE")]
    pub geoip_country: Option<PathBuf>,
    /// GeoLite2-ASN (or DB-IP lite) file for the client's network operator (default: none, ASN 0).
    #[arg(long, value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,
    /// Believe this request header for the country, e.g. CF-IPCountry, from --trusted-proxy peers only (needs --trusted-proxy; default: none).
    #[arg(long, value_name = "NAME", value_parser = header_name)]
    pub country_header: Option<String>,
    /// Believe X-Forwarded-For, X-Forwarded-Proto and --country-header only from peers in this CIDR, e.g. 10.0.3.0/24 (repeatable; default: none).
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = cidr)]
    pub trusted_proxy: Vec<String>,
    /// This collector's public origin, `scheme://host[:port]`, e.g. `https://vantage.example.org`: browsers may post reports only from its pages (our frame); repeatable (default: the request's Host, with X-Forwarded-Proto from a --trusted-proxy, else http).
    #[arg(long = "public-origin", value_name = "URL", value_parser = public_origin)]
    pub public_origin: Vec<String>,
    /// Target list TOML file (default: the built-in list).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Serve the site (/, loader, frame, dashboard) from this directory instead of the copy built into the binary; for development, e.g. --www www (default: built in).
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// Serve the built widget (/v1/w/) from this directory instead of the copy built into the binary, e.g. --widget-dir dist/widget (default: built in).
    #[arg(long, value_name = "DIR")]
    pub widget_dir: Option<PathBuf>,
    /// Reports per minute one client (an IPv4 address, an IPv6 /64) may post; the default lets a carrier-grade NAT address with thousands of readers through (0: no limit).
    #[arg(long, default_value_t = crate::ratelimit::DEFAULT_PER_MIN, value_name = "N")]
    pub rate_limit: u32,
    /// Reports one client may post in a burst.
    #[arg(long, default_value_t = crate::ratelimit::DEFAULT_BURST, value_name = "N")]
    pub rate_burst: u32,
    /// Reports queued for the store before answering 503 (at least 1).
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub queue_capacity: usize,
    /// POST every incident open and close to this http(s) URL as JSON (repeatable; default: none).
    #[arg(long = "webhook", value_name = "URL", value_parser = http_url)]
    pub webhook: Vec<String>,
    /// Seconds between publications of the live status and stream (at least 1), on wall-clock multiples.
    #[arg(long, default_value_t = crate::live::DEFAULT_PUBLISH_INTERVAL_S, value_name = "SECONDS", value_parser = RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub publish_interval: u64,
    /// Days of stored history replayed at start-up for the detector's baselines (at most 60).
    #[arg(long, default_value_t = 7, value_name = "DAYS", value_parser = RangedU64ValueParser::<u32>::new().range(0..=60))]
    pub history_days: u32,
    /// Days raw observations are kept before they are deleted (hourly); rollups are kept. 0 keeps them for ever.
    #[arg(long, default_value_t = crate::config::DEFAULT_RETENTION_DAYS, value_name = "DAYS", value_parser = RangedU64ValueParser::<u32>::new().range(0..=36_500))]
    pub retention_days: u32,
    /// k: fewest reports a published number may describe, and the detector judges (at least 1).
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_reports: u64,
    /// m: fewest distinct networks a published number may describe (at least 1).
    #[arg(long, default_value_t = 3, value_name = "M", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
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
    /// Public exports (/v1/export.csv, /v1/export.ndjson) streaming at once; more are refused with 503 + Retry-After (at least 1).
    #[arg(long, default_value_t = crate::export::DEFAULT_MAX_EXPORTS, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_exports: usize,
    /// Live streams (/v1/stream) open at once, apart from --max-connections so readers never take report slots; beyond it 503 and readers poll /v1/status (0: no streams).
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_STREAMS, value_name = "N")]
    pub max_streams: usize,
    /// Seconds a live stream stays open at most (each gets 75-100 % of it) before the server ends it and the browser reconnects, e.g. 600.
    #[arg(long, default_value = "600", value_name = "SECONDS", value_parser = seconds)]
    pub stream_lifetime: std::time::Duration,
}

/// Flags of `vantage import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Store to load into: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = DEFAULT_STORE, value_name = "URL", value_parser = store_url)]
    pub store: String,
    /// NDJSON file of observations (docs/protocol.md §2 columns), e.g. from `vantage export --raw`.
    pub file: PathBuf,
}

/// Flags of `vantage export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Store to read: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = DEFAULT_STORE, value_name = "URL", value_parser = store_url)]
    pub store: String,
    /// Only observations at or after this RFC 3339 time (default: from the first).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub from: Option<String>,
    /// Only observations before this RFC 3339 time (default: through the last).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub to: Option<String>,
    /// Raw observations (the import format) instead of k-anonymous aggregates.
    #[arg(long)]
    pub raw: bool,
    /// k: fewest reports a published aggregate may describe (at least 1).
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_reports: usize,
    /// m: fewest distinct networks a published aggregate may describe (at least 1).
    #[arg(long, default_value_t = 3, value_name = "M", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_networks: usize,
}

impl ServeArgs {
    /// Checks every flag and loads the target list; the error names the bad flag or file line.
    pub fn into_config(self) -> Result<Config, String> {
        let mut config = Config::new(self.store.parse::<StoreUrl>().map_err(|e| format!("--store {}: {e}", self.store))?);
        config.geoip_country = self.geoip_country;
        config.geoip_asn = self.geoip_asn;
        if let Some(h) = &self.country_header {
            axum::http::HeaderName::try_from(h.as_str()).map_err(|_| format!("--country-header {h:?}: not a valid header name"))?;
        }
        config.country_header = self.country_header;
        config.trusted_proxies = self
            .trusted_proxy
            .iter()
            .map(|c| c.parse().map_err(|e| format!("--trusted-proxy {c:?}: {e}")))
            .collect::<Result<_, String>>()?;
        config.public_origins = self
            .public_origin
            .iter()
            .map(|o| crate::origin::parse_origin(o).map_err(|e| format!("--public-origin {o:?}: {e}")))
            .collect::<Result<_, String>>()?;
        config.validate()?;
        if let Some(path) = &self.targets {
            let text = std::fs::read_to_string(path).map_err(|e| {
                crate::config::file_error(
                    "--targets",
                    path,
                    &e,
                    "give the path of a target list TOML file (docs/protocol.md §6), or leave --targets out for the built-in list",
                )
            })?;
            config.targets = crate::targets::parse_targets(&text, &path.display().to_string())
                .map_err(|e| format!("--targets: {e} (the format is docs/protocol.md §6; leave --targets out for the built-in list)"))?;
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
        config.publish_interval_s = self.publish_interval;
        if self.history_days > 60 {
            return Err("--history-days must be at most 60".into());
        }
        config.history_days = self.history_days;
        config.retention_days = self.retention_days;
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
        config.max_exports = self.max_exports;
        config.max_streams = self.max_streams;
        config.stream_lifetime = self.stream_lifetime;
        Ok(config)
    }
}

fn seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(std::time::Duration::from_secs_f64(t)),
        _ => Err("seconds, more than 0 and at most 3600, e.g. 10 or 0.5".into()),
    }
}

impl Cli {
    /// Checks between flags that clap cannot express; the error is a usage error (exit 2).
    pub fn check(&self) -> Result<(), String> {
        let order = |from: Option<&str>, to: Option<&str>| match (from, to) {
            (Some(f), Some(t)) if crate::store::rfc3339::parse(t) <= crate::store::rfc3339::parse(f) => {
                Err(format!("--to {t} must be after --from {f}"))
            }
            _ => Ok(()),
        };
        match &self.command {
            Command::Detect(a) => order(Some(&a.from), Some(&a.to)),
            Command::Export(a) => order(a.from.as_deref(), a.to.as_deref()),
            Command::Serve(a) if a.country_header.is_some() && a.trusted_proxy.is_empty() => {
                Err(crate::config::COUNTRY_HEADER_NEEDS_PROXY.into())
            }
            _ => Ok(()),
        }
    }
}

// Value parsers: a bad value is a usage error (exit 2) that clap prints with the flag's name.

fn store_url(s: &str) -> Result<String, String> {
    s.parse::<StoreUrl>().map(|_| s.to_string())
}

fn rfc3339_time(s: &str) -> Result<String, String> {
    crate::store::rfc3339::parse(s)
        .map(|_| s.to_string())
        .map_err(|_| "not an RFC 3339 time; write it like 2026-11-28T00:00:00Z (UTC) or 2026-11-28T05:00:00+05:00".into())
}

fn cidr(s: &str) -> Result<String, String> {
    s.parse::<crate::geo::Cidr>()
        .map(|_| s.to_string())
        .map_err(|e| format!("{e}; write an address block such as 10.0.0.0/8, 192.0.2.7/32 or fd00::/8"))
}

fn public_origin(s: &str) -> Result<String, String> {
    crate::origin::parse_origin(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{e}; e.g. https://vantage.example.org or http://127.0.0.1:8080"))
}

fn listen_addr(s: &str) -> Result<String, String> {
    let ok = s.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080".into())
    }
}

fn header_name(s: &str) -> Result<String, String> {
    axum::http::HeaderName::try_from(s).map(|_| s.to_string()).map_err(|_| "not a valid HTTP header name; e.g. CF-IPCountry".into())
}

fn http_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://")) && s.split_once("://").is_some_and(|(_, rest)| !rest.is_empty());
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be an http:// or https:// URL, e.g. http://127.0.0.1:8080".into())
    }
}

fn per_minute_rate(s: &str) -> Result<String, String> {
    match s.trim_end_matches("/min").parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(s.to_string()),
        _ => Err("a positive number of reports a minute, e.g. 600 or 600/min".into()),
    }
}

fn history_days(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d > 0.0 && d <= 400.0 => Ok(d),
        _ => Err("days of history: more than 0 and at most 400, e.g. 3 or 0.25".into()),
    }
}

fn country_code(s: &str) -> Result<String, String> {
    if vantage_protocol::Country::from_any_case(s).is_ok() {
        Ok(s.to_string())
    } else {
        Err("two letters (ISO 3166-1 alpha-2), e.g. PK".into())
    }
}

fn platform_list(s: &str) -> Result<String, String> {
    if s.split(',').all(|p| vantage_protocol::Platform::try_from(p).is_ok()) {
        Ok(s.to_string())
    } else {
        Err("comma-separated platform names of [a-z0-9_-], e.g. x,youtube".into())
    }
}
