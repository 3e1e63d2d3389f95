//! The Vantage collector: `POST /v1/reports` ingest with durable group commit, anonymization
//! (country, ASN, keyed network hash; never the IP), the target list, and the static widget files.
//!
//! Entry points: [`app`] builds the router for a [`Collector`]; [`run`] serves it on a listener
//! until a shutdown future resolves, then flushes the store.

pub mod allocator;
mod api;
pub(crate) mod assets;
pub mod auth;
pub mod cli;
mod conditional;
pub mod config;
pub mod engine;
pub(crate) mod error;
pub mod export;
pub mod geo;
pub(crate) mod ingest;
pub(crate) mod limits;
pub(crate) mod live;
pub(crate) mod metrics;
pub(crate) mod origin;
pub mod ratelimit;
pub mod rollup;
pub mod simulate;
pub mod store;
pub mod targets;
pub mod traffic;
mod web;
pub mod webhook;

pub use config::{Config, ConfigError, StoreUrl};
pub use error::AppError;
pub use web::app;

use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;

/// The shared state handlers see.
pub type AppState = Arc<Collector>;

/// Why the collector did not start, or did not stop cleanly; the message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or closed.
    #[error(transparent)]
    Store(store::StoreError),
    /// A geo database could not be opened; the message names the flag and the fix.
    #[error(transparent)]
    Geo(geo::GeoipError),
    /// The task closing the store panicked or was cancelled.
    #[error("store shutdown: {0}")]
    StoreShutdown(tokio::task::JoinError),
    /// The accept loop failed.
    #[error("server: {0}")]
    Server(std::io::Error),
}

/// Why `--targets` was not re-read; the list served stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file cannot be read.
    #[error("{}: {io}", path.display())]
    Read {
        /// The `--targets` file.
        path: std::path::PathBuf,
        /// Why it cannot be read.
        io: std::io::Error,
    },
    /// The file is not a valid target list.
    #[error(transparent)]
    Targets(#[from] targets::TargetsError),
}

/// Everything a running collector holds.
pub struct Collector {
    /// The validated configuration it was started with.
    pub config: Config,
    /// Current and previous target lists (ids a report may name).
    pub targets: RwLock<targets::KnownTargets>,
    /// Where reports are written.
    pub store: Arc<dyn store::Store>,
    /// Country and ASN lookup.
    pub geo: geo::Geo,
    /// Keyed, rotating hash of client networks and addresses.
    pub hasher: geo::NetworkHasher,
    /// Per-client ingest rate limit.
    pub limiter: ratelimit::RateLimiter,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Live statuses and the event broadcast (fed by the detection task).
    pub live: live::Live,
    /// The time ingest stamps reports with and detection steps by (shiftable in tests).
    pub clock: live::Clock,
    /// Slots of public exports running at once (`--max-exports`): a full house answers 503,
    /// so long exports cannot take every blocking thread and store reader from status and ingest.
    pub exports: Arc<tokio::sync::Semaphore>,
}

impl Collector {
    /// Opens the store and the geo databases; any failure stops start-up with a message.
    pub fn new(config: Config) -> Result<AppState, RunError> {
        config.validate()?;
        let store = store::open_serving(&config.store, config.queue_capacity, config.retention_days).map_err(RunError::Store)?;
        let geo = geo::Geo::open(config.geoip_country.as_deref(), config.geoip_asn.as_deref(), config.country_header.clone())
            .map_err(RunError::Geo)?;
        Ok(Arc::new(Collector {
            targets: RwLock::new(targets::KnownTargets::new(config.targets.clone())),
            store,
            geo,
            hasher: match &config.network_key {
                Some(secret) => geo::NetworkHasher::shared(secret.clone()),
                None => geo::NetworkHasher::default(),
            },
            limiter: ratelimit::RateLimiter::new(config.rate_limit_per_min, config.rate_burst),
            metrics: metrics::Metrics::default(),
            live: live::Live::default(),
            clock: live::Clock::default(),
            exports: Arc::new(tokio::sync::Semaphore::new(config.max_exports.max(1))),
            config,
        }))
    }
}

impl Collector {
    /// Re-reads `--targets FILE`: the new list becomes current, the old one's ids stay accepted
    /// (reports measured just before the change are still valid). A bad file changes nothing.
    pub fn reload_targets(&self) -> Result<(), ReloadError> {
        let Some(path) = &self.config.targets_file else { return Ok(()) };
        let text = std::fs::read_to_string(path).map_err(|io| ReloadError::Read { path: path.clone(), io })?;
        let list = targets::parse_targets(&text, &path.display().to_string())?;
        self.targets.write().unwrap_or_else(|e| e.into_inner()).replace(list);
        Ok(())
    }
}

/// Builds the collector from `config` and serves it; see [`serve`].
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    serve(listener, Collector::new(config)?, shutdown).await
}

/// Serves until `shutdown` resolves, with live detection and webhooks running beside it: stops
/// accepting, lets in-flight requests finish, then commits everything queued and stops the
/// store writer. Connections are capped and slow clients cut off as `limits.rs` describes.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    let router = app(state.clone());
    let detection = tokio::spawn(live::run(state.clone()));
    let webhooks = tokio::spawn(webhook::run(state.clone()));
    let live = state.clone();
    let shutdown = async move {
        shutdown.await;
        live.live.close();
    };
    let served = limits::serve(listener, router, &state.config, shutdown).await;
    detection.abort();
    webhooks.abort();
    let store = state.store.clone();
    let closed = tokio::task::spawn_blocking(move || store.close()).await.map_err(RunError::StoreShutdown)?;
    served.map_err(RunError::Server)?;
    closed.map_err(RunError::Store)
}
