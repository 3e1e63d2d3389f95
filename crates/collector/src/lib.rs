//! The Vantage collector: `POST /v1/reports` ingest with durable group commit, anonymization
//! (country, ASN, keyed network hash; never the IP), the target list, and the static widget files.
//!
//! Entry points: [`app`] builds the router for a [`Collector`]; [`run`] serves it on a listener
//! until a shutdown future resolves, then flushes the store.

mod api;
pub mod assets;
pub mod auth;
pub mod cli;
mod conditional;
pub mod config;
pub mod engine;
pub mod error;
pub mod export;
pub mod geo;
pub mod ingest;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod origin;
pub mod ratelimit;
pub mod rollup;
pub mod simulate;
pub mod store;
pub mod targets;
pub mod traffic;
mod web;
pub mod webhook;

pub use config::{Config, StoreUrl};
pub use error::AppError;
pub use web::app;

use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;

/// The shared state handlers see.
pub type AppState = Arc<Collector>;

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
    pub fn new(config: Config) -> Result<AppState, String> {
        config.validate()?;
        let store = store::open_serving(&config.store, config.queue_capacity, config.retention_days)?;
        let geo = geo::Geo::open(config.geoip_country.as_deref(), config.geoip_asn.as_deref(), config.country_header.clone())?;
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
    pub fn reload_targets(&self) -> Result<(), String> {
        let Some(path) = &self.config.targets_file else { return Ok(()) };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let list = targets::parse_targets(&text, &path.display().to_string())?;
        self.targets.write().unwrap_or_else(|e| e.into_inner()).replace(list);
        Ok(())
    }
}

/// Builds the collector from `config` and serves it; see [`serve`].
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    serve(listener, Collector::new(config)?, shutdown).await
}

/// Serves until `shutdown` resolves, with live detection and webhooks running beside it: stops
/// accepting, lets in-flight requests finish, then commits everything queued and stops the
/// store writer. Connections are capped and slow clients cut off as [`limits`] describes.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
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
    let closed = tokio::task::spawn_blocking(move || store.close()).await.map_err(|e| format!("store shutdown: {e}"))?;
    served.map_err(|e| format!("server: {e}"))?;
    Ok(closed?)
}
