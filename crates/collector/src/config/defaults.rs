//! Every default of `vantage serve` (and the `--store` of every command), in one table: clap's
//! `default_value_t` shows these in `--help` and [`Config::new`](crate::Config::new) starts from
//! them, so the two cannot drift apart (tests/it/cli.rs compares them).

use std::time::Duration;

/// `--store` of every command: SQLite in `./data`, beside where `vantage` is started.
pub const STORE: &str = "sqlite:./data/vantage.db";

/// `--listen`: this machine only, so a first `vantage serve` exposes nothing.
pub const LISTEN: &str = "127.0.0.1:8080";

/// `--rate-limit`: reports a minute one client (an IPv4 address, an IPv6 /64) may post: twice
/// what 6,000 sampled readers behind one carrier-grade NAT address send (the module doc of
/// src/ratelimit.rs works out the figures).
pub const RATE_LIMIT_PER_MIN: u32 = 120;

/// `--rate-burst`: reports one client may post at once (a minute's worth).
pub const RATE_BURST: u32 = 120;

/// `--queue-capacity`: reports waiting for the store writer before ingest answers 503; bounds
/// memory under load.
pub(crate) const QUEUE_CAPACITY: usize = 4096;

/// `--publish-interval`: seconds between publications of the live status and stream.
pub(crate) const PUBLISH_INTERVAL_S: u64 = 10;

/// `--history-days`: days of rollups replayed at start-up, a week so baselines know each
/// weekday's usual.
pub(crate) const HISTORY_DAYS: u32 = 7;

/// `--retention-days`: a little over a year, so a year-on-year comparison can still be
/// recomputed from raw rows, and no longer (the rollups keep every published number).
pub(crate) const RETENTION_DAYS: u32 = 400;

/// `--min-reports` (k): fewest reports a published number may describe and the detector judges.
pub(crate) const MIN_REPORTS: u64 = 10;

/// `--min-networks` (m): fewest distinct networks a published number may describe.
pub(crate) const MIN_NETWORKS: u64 = 3;

/// `--max-connections`: connections open at once.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// `--max-streams`: above the 6,000 readers of issue 10; at about 20 KiB a stream (the readers
/// test prints the figure) 200 MiB at the cap.
pub(crate) const MAX_STREAMS: usize = 10_000;

/// `--stream-lifetime`: longest a live stream stays open before the browser reconnects.
pub(crate) const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// `--header-timeout`: the request line and headers must arrive within it (also how long an idle
/// keep-alive connection stays open).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `--body-timeout`: a report body must arrive within it, else 408.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// `--max-exports`: public exports streaming at once. Each holds a blocking thread and a store
/// reader for as long as its body takes, and status and ingest need both too.
pub(crate) const MAX_EXPORTS: usize = 2;
