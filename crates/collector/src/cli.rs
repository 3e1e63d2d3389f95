//! Command-line flags (clap derive), each parsed once into its type by a parser of [`values`].
//! [`ServeArgs::into_config`] assembles them into a validated [`Config`]; defaults come from
//! [`defaults`], the table `Config::new` starts from.

pub mod values;

use crate::config::{defaults, Config, ConfigError, StoreUrl};
use crate::geo::Cidr;
use crate::simulate::Kind;
use clap::builder::{PossibleValue, RangedU64ValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use values::{
    cidr, country_code, header_name, history_days, http_url, listen_addr, per_minute_rate, platform_list, positive_rate, public_origin,
    rfc3339_time, seconds, store_url, ListenAddr, Platforms, Seconds, UnixSeconds,
};

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
    #[arg(long, default_value = defaults::STORE, value_name = "URL", value_parser = store_url)]
    pub store: StoreUrl,
    /// First minute replayed (RFC 3339, e.g. 2026-11-28T00:00:00Z; required).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub from: UnixSeconds,
    /// End of the replay (RFC 3339, exclusive, after --from; required).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub to: UnixSeconds,
    /// k: fewest reports in a cell the detector judges (at least 1).
    #[arg(long, default_value_t = defaults::MIN_REPORTS, value_name = "K", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_reports: u64,
    /// m: fewest distinct networks in a cell the detector judges (at least 1).
    #[arg(long, default_value_t = defaults::MIN_NETWORKS, value_name = "M", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
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
    pub url: reqwest::Url,
    /// Reports a minute for --live, e.g. 600 or 600/min.
    #[arg(long, default_value = "600/min", value_parser = per_minute_rate)]
    pub rate: f64,
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
    pub store: Option<StoreUrl>,
    /// Days of history to write, ending now (or at --end); more than 0, at most 400.
    #[arg(long, default_value_t = 1.0, value_parser = history_days)]
    pub days: f64,
    /// End of the history (RFC 3339; default: now).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub end: Option<UnixSeconds>,
    /// What the traffic shows.
    #[arg(long, value_enum, default_value = "normal")]
    pub scenario: Scenario,
    /// Minutes the block or throttle lasts, ending at --end (store histories).
    #[arg(long, default_value_t = 30)]
    pub event_minutes: i64,
    /// Platforms (comma-separated); the scenario's event hits the first.
    #[arg(long, default_value = "x,youtube,facebook", value_parser = platform_list)]
    pub platforms: Platforms,
    /// Country of the synthetic visitors (two letters, ISO 3166-1).
    #[arg(long, default_value = "PK", value_parser = country_code)]
    pub country: vantage_protocol::Country,
    /// Mean reports a minute per platform in a store history.
    #[arg(long, default_value_t = 60.0)]
    pub per_minute: f64,
    /// Generator seed (store histories are reproducible).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead of --per-minute: the traffic of vantage-detect's scenario tests, R reports a
    /// minute in the busiest ASN cell (block, asn-half, throttle: four ASNs at R; normal: three
    /// at R, R*25/60, R*8/60), e.g. 60.
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub asn_rate: Option<f64>,
    /// With --asn-rate: write only the first N of those ASNs (fewer cells, a faster history).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub asns: usize,
    /// Print a JSON summary of a store history on stdout (onset, ASNs, the one asn-half hits).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `vantage serve`, as typed.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = defaults::LISTEN, value_name = "ADDR", value_parser = listen_addr)]
    pub listen: ListenAddr,
    /// Where observations are stored: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = defaults::STORE, value_name = "URL", value_parser = store_url)]
    pub store: StoreUrl,
    /// GeoLite2-Country (or DB-IP lite) file for the client's country (default: none, country ZZ).
    #[arg(long, value_name = "FILE")]
    pub geoip_country: Option<PathBuf>,
    /// GeoLite2-ASN (or DB-IP lite) file for the client's network operator (default: none, ASN 0).
    #[arg(long, value_name = "FILE")]
    pub geoip_asn: Option<PathBuf>,
    /// Believe this request header for the country, e.g. CF-IPCountry, from --trusted-proxy peers only (needs --trusted-proxy; default: none).
    #[arg(long, value_name = "NAME", value_parser = header_name)]
    pub country_header: Option<axum::http::HeaderName>,
    /// Believe X-Forwarded-For, X-Forwarded-Proto and --country-header only from peers in this CIDR, e.g. 10.0.3.0/24 (repeatable; default: none).
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = cidr)]
    pub trusted_proxy: Vec<Cidr>,
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
    #[arg(long, default_value_t = defaults::RATE_LIMIT_PER_MIN, value_name = "N")]
    pub rate_limit: u32,
    /// Reports one client may post in a burst.
    #[arg(long, default_value_t = defaults::RATE_BURST, value_name = "N")]
    pub rate_burst: u32,
    /// Reports queued for the store before answering 503 (at least 1).
    #[arg(long, default_value_t = defaults::QUEUE_CAPACITY, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub queue_capacity: usize,
    /// POST every incident open and close to this http(s) URL as JSON (repeatable; default: none).
    #[arg(long = "webhook", value_name = "URL", value_parser = http_url)]
    pub webhook: Vec<reqwest::Url>,
    /// Seconds between publications of the live status and stream (at least 1), on wall-clock multiples.
    #[arg(long, default_value_t = defaults::PUBLISH_INTERVAL_S, value_name = "SECONDS", value_parser = RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub publish_interval: u64,
    /// Days of stored history replayed at start-up for the detector's baselines (at most 60).
    #[arg(long, default_value_t = defaults::HISTORY_DAYS, value_name = "DAYS", value_parser = RangedU64ValueParser::<u32>::new().range(0..=60))]
    pub history_days: u32,
    /// Days raw observations are kept before they are deleted (hourly); rollups are kept. 0 keeps them for ever.
    #[arg(long, default_value_t = defaults::RETENTION_DAYS, value_name = "DAYS", value_parser = RangedU64ValueParser::<u32>::new().range(0..=36_500))]
    pub retention_days: u32,
    /// k: fewest reports a published number may describe, and the detector judges (at least 1).
    #[arg(long, default_value_t = defaults::MIN_REPORTS, value_name = "K", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_reports: u64,
    /// m: fewest distinct networks a published number may describe (at least 1).
    #[arg(long, default_value_t = defaults::MIN_NETWORKS, value_name = "M", value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub min_networks: u64,
    /// File holding the bearer token `/metrics` requires (default: $VANTAGE_ADMIN_TOKEN; unset: open).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding a secret (32+ bytes) shared by every node, from which each UTC day's network-hash key is derived, so all nodes count a network once (default: a random per-node key in memory).
    #[arg(long, value_name = "FILE")]
    pub network_key_file: Option<PathBuf>,
    /// Connections open at once; further ones wait in the listen backlog until one ends (at least 1).
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Seconds a client has to send a request's line and headers (and an idle keep-alive connection stays open), e.g. 10 or 0.5.
    #[arg(long, default_value_t = Seconds(defaults::HEADER_TIMEOUT), value_name = "SECONDS", value_parser = seconds)]
    pub header_timeout: Seconds,
    /// Seconds a client has to send a report's body before 408, e.g. 10 or 0.5.
    #[arg(long, default_value_t = Seconds(defaults::BODY_TIMEOUT), value_name = "SECONDS", value_parser = seconds)]
    pub body_timeout: Seconds,
    /// Public exports (/v1/export.csv, /v1/export.ndjson) streaming at once; more are refused with 503 + Retry-After (at least 1).
    #[arg(long, default_value_t = defaults::MAX_EXPORTS, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_exports: usize,
    /// Live streams (/v1/stream) open at once, apart from --max-connections so readers never take report slots; beyond it 503 and readers poll /v1/status (0: no streams).
    #[arg(long, default_value_t = defaults::MAX_STREAMS, value_name = "N")]
    pub max_streams: usize,
    /// Seconds a live stream stays open at most (each gets 75-100 % of it) before the server ends it and the browser reconnects, e.g. 600.
    #[arg(long, default_value_t = Seconds(defaults::STREAM_LIFETIME), value_name = "SECONDS", value_parser = seconds)]
    pub stream_lifetime: Seconds,
}

/// Flags of `vantage import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Store to load into: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = defaults::STORE, value_name = "URL", value_parser = store_url)]
    pub store: StoreUrl,
    /// NDJSON file of observations (docs/protocol.md §2 columns), e.g. from `vantage export --raw`.
    pub file: PathBuf,
}

/// Flags of `vantage export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Store to read: sqlite:PATH or clickhouse:http://HOST:PORT/DB.
    #[arg(long, default_value = defaults::STORE, value_name = "URL", value_parser = store_url)]
    pub store: StoreUrl,
    /// Only observations at or after this RFC 3339 time (default: from the first).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub from: Option<UnixSeconds>,
    /// Only observations before this RFC 3339 time (default: through the last).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    pub to: Option<UnixSeconds>,
    /// Raw observations (the import format) instead of k-anonymous aggregates.
    #[arg(long)]
    pub raw: bool,
    /// k: fewest reports a published aggregate may describe (at least 1).
    #[arg(long, default_value_t = defaults::MIN_REPORTS as usize, value_name = "K", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_reports: usize,
    /// m: fewest distinct networks a published aggregate may describe (at least 1).
    #[arg(long, default_value_t = defaults::MIN_NETWORKS as usize, value_name = "M", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub min_networks: usize,
}

impl ServeArgs {
    /// Assembles the typed flags into a `Config` and loads the files they name (the target list,
    /// the admin token, the network key); the error names the flag or file line.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut config = Config::new(self.store);
        config.geoip_country = self.geoip_country;
        config.geoip_asn = self.geoip_asn;
        config.country_header = self.country_header.map(|h| h.as_str().to_string());
        config.trusted_proxies = self.trusted_proxy;
        config.public_origins = self.public_origin;
        config.www = self.www;
        config.widget_dir = self.widget_dir;
        config.validate()?;
        if let Some(path) = &self.targets {
            config.targets = load_targets(path)?;
        }
        config.targets_file = self.targets;
        config.rate_limit_per_min = self.rate_limit;
        config.rate_burst = self.rate_burst.max(1);
        config.queue_capacity = self.queue_capacity;
        config.webhooks = self.webhook.into_iter().map(String::from).collect();
        config.publish_interval_s = self.publish_interval;
        config.history_days = self.history_days;
        config.retention_days = self.retention_days;
        config.detect.min_reports = self.min_reports;
        config.detect.min_networks = self.min_networks;
        config.admin_token = crate::auth::AdminToken::from_file_or_env(self.admin_token_file.as_deref())?;
        config.network_key =
            self.network_key_file.as_deref().map(crate::geo::NetworkKey::from_file).transpose().map_err(ConfigError::NetworkKey)?;
        config.max_connections = self.max_connections;
        config.header_timeout = self.header_timeout.0;
        config.body_timeout = self.body_timeout.0;
        config.max_exports = self.max_exports;
        config.max_streams = self.max_streams;
        config.stream_lifetime = self.stream_lifetime.0;
        Ok(config)
    }
}

/// The `--targets` file, read and validated.
fn load_targets(path: &std::path::Path) -> Result<vantage_protocol::TargetList, ConfigError> {
    let fix = "give the path of a target list TOML file (docs/protocol.md §6), or leave --targets out for the built-in list";
    let text = std::fs::read_to_string(path).map_err(|e| crate::config::FileError::new("--targets", path, e, fix))?;
    crate::targets::parse_targets(&text, &path.display().to_string()).map_err(ConfigError::Targets)
}

/// A command line that clap accepts but that makes no sense (a usage error, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// `--to` not after `--from`.
    #[error("--to {} must be after --from {}", rfc3339(.to), rfc3339(.from))]
    ToNotAfterFrom {
        /// `--from`, Unix seconds.
        from: i64,
        /// `--to`, Unix seconds.
        to: i64,
    },
    /// `--country-header` without `--trusted-proxy`.
    #[error("{}", crate::config::COUNTRY_HEADER_NEEDS_PROXY)]
    CountryHeaderNeedsProxy,
}

/// Unix seconds as `--from` and `--to` are written.
fn rfc3339(t: &i64) -> String {
    crate::store::rfc3339::format(*t)
}

impl Cli {
    /// Checks between flags that clap cannot express; the error is a usage error (exit 2).
    pub fn check(&self) -> Result<(), UsageError> {
        let order = |from: Option<i64>, to: Option<i64>| match (from, to) {
            (Some(from), Some(to)) if to <= from => Err(UsageError::ToNotAfterFrom { from, to }),
            _ => Ok(()),
        };
        match &self.command {
            Command::Detect(a) => order(Some(a.from), Some(a.to)),
            Command::Export(a) => order(a.from, a.to),
            Command::Serve(a) if a.country_header.is_some() && a.trusted_proxy.is_empty() => Err(UsageError::CountryHeaderNeedsProxy),
            _ => Ok(()),
        }
    }
}

/// `--scenario`: [`Kind`] as a flag value. The library's type knows nothing of clap; the names
/// and help shown by `simulate --help` live here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario(
    /// The scenario chosen.
    pub Kind,
);

impl ValueEnum for Scenario {
    fn value_variants<'a>() -> &'a [Self] {
        &[Scenario(Kind::Normal), Scenario(Kind::Block), Scenario(Kind::AsnHalf), Scenario(Kind::Throttle)]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self.0 {
            Kind::Normal => PossibleValue::new("normal").help("Ordinary traffic only"),
            Kind::Block => PossibleValue::new("block").help("The first platform fails everywhere"),
            Kind::AsnHalf => PossibleValue::new("asn-half").help(format!(
                "Half the first platform's reports fail in one ASN (AS{}) only (live reports carry no ASN: there, half of all of them)",
                crate::simulate::VICTIM_ASN
            )),
            Kind::Throttle => PossibleValue::new("throttle").help("The first platform answers five times slower"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent_and_every_default_parses() {
        Cli::command().debug_assert();
    }

    /// `vantage serve` without flags runs with exactly what `Config::new` builds: clap's defaults
    /// and the config's come from one table.
    #[test]
    fn serve_without_flags_is_config_new() {
        let Command::Serve(args) = Cli::try_parse_from(["vantage", "serve"]).unwrap().command else { unreachable!() };
        let mut config = args.into_config().unwrap();
        // VANTAGE_ADMIN_TOKEN may be set where the tests run; it is not a default.
        config.admin_token = None;
        let expected = Config::new(defaults::STORE.parse().unwrap());
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    }

    #[test]
    fn values_arrive_typed() {
        let cli = Cli::try_parse_from([
            "vantage",
            "serve",
            "--trusted-proxy",
            "10.0.3.7/24",
            "--public-origin",
            "HTTPS://Vantage.Example.org:443/",
            "--country-header",
            "CF-IPCountry",
            "--header-timeout",
            "0.5",
        ])
        .unwrap();
        cli.check().unwrap();
        let Command::Serve(args) = cli.command else { unreachable!() };
        let config = args.into_config().unwrap();
        assert_eq!(config.trusted_proxies, vec!["10.0.3.0/24".parse::<Cidr>().unwrap()]);
        assert_eq!(config.public_origins, vec!["https://vantage.example.org".to_string()]);
        assert_eq!(config.header_timeout, std::time::Duration::from_millis(500));
        let cli =
            Cli::try_parse_from(["vantage", "export", "--from", "2026-11-28T05:00:00+05:00", "--to", "2026-11-28T00:00:00Z"]).unwrap();
        let e = cli.check().unwrap_err();
        assert_eq!(e, UsageError::ToNotAfterFrom { from: 1_795_824_000, to: 1_795_824_000 });
        assert_eq!(e.to_string(), "--to 2026-11-28T00:00:00Z must be after --from 2026-11-28T00:00:00Z");
    }
}
