//! Live detection inside `vantage serve`: a background task that replays history at start-up,
//! steps the detector every minute, and between steps recomputes the cells that new reports
//! touched (debounced), publishing status and incident events on one shared broadcast.

use crate::engine::{Engine, Pair};
use crate::store::{rfc3339, StoredIncident};
use crate::AppState;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use vantage_detect::{CellStatus, StepResult};

/// Wait after the first report of a burst before recomputing: one recompute per burst.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// A minute is stepped this many seconds after it ends, so reports in flight land first.
const STEP_GRACE_S: i64 = 2;
/// Events buffered per SSE client before it counts as lagging (and is dropped).
const BROADCAST_CAPACITY: usize = 1024;

/// Wall-clock time in unix seconds, shiftable so tests can move through minutes quickly.
#[derive(Debug, Default)]
pub struct Clock {
    /// Seconds added to the system time (0 in production).
    offset_s: AtomicI64,
}

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + self.offset_s.load(Ordering::Relaxed)
    }

    /// Moves the clock forward (tests).
    pub fn advance(&self, seconds: i64) {
        self.offset_s.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// One published event: SSE `event:` name and JSON `data:`.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// `status` or `incident`.
    pub kind: &'static str,
    /// The JSON body, rendered once for every client.
    pub data: String,
    /// The incident behind an `incident` event, for the webhook sender.
    pub incident: Option<StoredIncident>,
}

/// The latest statuses: country -> (platform, asn) -> cell status.
type Cells = BTreeMap<String, BTreeMap<(String, Option<u32>), CellStatus>>;

/// What the live path shares with the handlers.
pub struct Live {
    /// The one broadcast every SSE client and the webhook sender subscribe to.
    pub events: broadcast::Sender<Arc<LiveEvent>>,
    /// Latest statuses, from the last step or recompute.
    cells: RwLock<Cells>,
    /// Unix seconds the statuses were computed.
    generated_at: AtomicI64,
    /// (platform, country) pairs touched by reports committed since the last recompute.
    pending: Mutex<BTreeSet<Pair>>,
    /// Wakes the task when `pending` gains a pair.
    wake: Notify,
    /// Last published status body per country (without `generated_at`): publish on change only.
    published: Mutex<HashMap<String, String>>,
    /// Turns true when the server shuts down: SSE streams end so graceful shutdown can finish.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            events: broadcast::channel(BROADCAST_CAPACITY).0,
            cells: RwLock::default(),
            generated_at: AtomicI64::new(0),
            pending: Mutex::default(),
            wake: Notify::new(),
            published: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Live {
    /// Called after a report commits: its cells are recomputed shortly.
    pub fn touch(&self, country: &str, platforms: impl IntoIterator<Item = String>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for platform in platforms {
            p.insert((platform, country.to_string()));
        }
        drop(p);
        self.wake.notify_one();
    }

    /// Ends every SSE stream (server shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves when the server is shutting down.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// The PROTOCOL.md section 4 status of `country` (one ASN's cells with `asn`).
    pub fn status(&self, country: &str, asn: Option<u32>, window_s: i64) -> Value {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        let empty = BTreeMap::new();
        let mine = cells.get(country).unwrap_or(&empty);
        let entry = |s: &CellStatus| {
            json!({"platform": s.platform, "state": s.state, "reports": s.reports, "networks": s.networks,
                "success_rate": s.success_rate, "median_ms": s.median_ms, "p90_ms": s.p90_ms,
                "baseline_success_rate": s.baseline_success_rate, "baseline_median_ms": s.baseline_median_ms,
                "since": s.since})
        };
        let platforms: Vec<Value> = match asn {
            Some(a) => mine.values().filter(|s| s.asn == Some(a)).map(entry).collect(),
            None => mine
                .values()
                .filter(|s| s.asn.is_none())
                .map(|s| {
                    let mut v = entry(s);
                    let asns: Vec<Value> = mine
                        .range((s.platform.clone(), Some(0))..=(s.platform.clone(), Some(u32::MAX)))
                        .map(|(_, a)| json!({"asn": a.asn, "state": a.state, "reports": a.reports, "networks": a.networks,
                            "success_rate": a.success_rate, "median_ms": a.median_ms}))
                        .collect();
                    v["asns"] = Value::Array(asns);
                    v
                })
                .collect(),
        };
        let mut doc = json!({"generated_at": rfc3339::format(self.generated_at.load(Ordering::Relaxed)),
            "window_s": window_s, "country": country, "platforms": platforms});
        if let Some(a) = asn {
            doc["asn"] = json!(a);
        }
        doc
    }

    /// Country-level cells of every country (the map's `/v1/countries`).
    pub fn country_cells(&self) -> Vec<CellStatus> {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        cells.values().flat_map(|m| m.values().filter(|s| s.asn.is_none()).cloned()).collect()
    }

    /// Replaces the statuses: all of them after a full step, or only `pairs` after a recompute.
    /// Returns the countries whose cells were replaced.
    fn apply(&self, statuses: Vec<CellStatus>, pairs: Option<&BTreeSet<Pair>>, now: i64) -> BTreeSet<String> {
        let mut cells = self.cells.write().unwrap_or_else(|e| e.into_inner());
        let mut changed: BTreeSet<String> = match pairs {
            None => std::mem::take(&mut *cells).into_keys().collect(),
            Some(pairs) => {
                for (platform, country) in pairs {
                    if let Some(m) = cells.get_mut(country) {
                        m.retain(|(p, _), _| p != platform);
                    }
                }
                pairs.iter().map(|(_, c)| c.clone()).collect()
            }
        };
        for s in statuses {
            changed.insert(s.country.clone());
            cells.entry(s.country.clone()).or_default().insert((s.platform.clone(), s.asn), s);
        }
        cells.retain(|_, m| !m.is_empty());
        self.generated_at.store(now, Ordering::Relaxed);
        changed
    }

    /// Publishes a `status` event for each country whose status changed.
    fn publish_statuses(&self, countries: &BTreeSet<String>, window_s: i64) {
        for c in countries {
            let mut doc = self.status(c, None, window_s);
            let full = doc.to_string();
            doc["generated_at"] = Value::Null;
            let key = doc.to_string();
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            if published.get(c) != Some(&key) {
                published.insert(c.clone(), key);
                let _ = self.events.send(Arc::new(LiveEvent { kind: "status", data: full, incident: None }));
            }
        }
    }

    fn publish_incident(&self, i: StoredIncident) {
        let data = serde_json::to_string(&i).expect("incidents serialize");
        let _ = self.events.send(Arc::new(LiveEvent { kind: "incident", data, incident: Some(i) }));
    }
}

/// Runs until the task is aborted: start-up replay, then minute steps and recomputes.
pub async fn run(c: AppState) {
    let engine = Arc::new(Mutex::new(Engine::new(c.config.detect.clone())));
    let window_s = c.config.detect.window_minutes * 60;
    let now = c.clock.now().div_euclid(60);
    let from = now - i64::from(c.config.history_days) * 1440;
    let (e, store) = (engine.clone(), c.store.clone());
    let replayed = tokio::task::spawn_blocking(move || {
        let mut e = e.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = Vec::new();
        let r = e.replay(store.as_ref(), from, now - 1, |_, r| seen.extend(r.opened.iter().chain(&r.closed).map(StoredIncident::from)));
        seen.extend(e.open_incidents().iter().map(StoredIncident::from));
        r.and_then(|()| store.upsert_incidents(&seen)).map(|()| e.last.clone())
    })
    .await;
    match replayed {
        Ok(Ok(statuses)) => {
            let countries = c.live.apply(statuses, None, c.clock.now());
            c.live.publish_statuses(&countries, window_s);
            tracing::info!(from = %rfc3339::format(from * 60), "detector history loaded");
        }
        Ok(Err(e)) => tracing::error!(error = %e, "detector history not loaded; starting without it"),
        Err(e) => tracing::error!(error = %e, "detector history replay panicked"),
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut others = HashMap::new();
    loop {
        let ticked = tokio::select! {
            _ = tick.tick() => true,
            _ = c.live.wake.notified() => { tokio::time::sleep(DEBOUNCE).await; false }
        };
        let now_s = c.clock.now();
        let minute = now_s.div_euclid(60);
        if ticked {
            poll_other_nodes(&c, minute, &mut others).await;
        }
        let due = now_s - minute * 60 >= STEP_GRACE_S;
        let stepped = engine.lock().unwrap_or_else(|e| e.into_inner()).stepped_to;
        if due && stepped.is_none_or(|s| s < minute - 1) {
            step(&c, &engine, minute - 1, window_s).await;
        }
        let pairs = std::mem::take(&mut *c.live.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !pairs.is_empty() {
            recompute(&c, &engine, minute, pairs, window_s).await;
        }
    }
}

/// A store shared with other collectors (ClickHouse) says which cells gained reports; those that
/// changed since the last poll are recomputed as if this node had received the reports.
async fn poll_other_nodes(c: &AppState, minute: i64, last: &mut HashMap<Pair, u64>) {
    let (store, from) = (c.store.clone(), minute - c.config.detect.window_minutes);
    let Ok(Ok(Some(now))) = tokio::task::spawn_blocking(move || store.activity(from)).await else { return };
    let mut pending = c.live.pending.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = HashMap::with_capacity(now.len());
    for (platform, country, reports) in now {
        let pair = (platform, country);
        if last.get(&pair) != Some(&reports) {
            pending.insert(pair.clone());
        }
        seen.insert(pair, reports);
    }
    *last = seen;
}

/// The full minute step: persist and publish incidents, replace every status.
async fn step(c: &AppState, engine: &Arc<Mutex<Engine>>, t: i64, window_s: i64) {
    let (e, store) = (engine.clone(), c.store.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<(StepResult, Vec<StoredIncident>), String> {
        let mut e = e.lock().unwrap_or_else(|e| e.into_inner());
        let r = e.step_live(store.as_ref(), t)?;
        let mut all: Vec<StoredIncident> = r.closed.iter().map(StoredIncident::from).collect();
        all.extend(e.open_incidents().iter().map(StoredIncident::from));
        store.upsert_incidents(&all)?;
        Ok((r, all))
    })
    .await;
    let (r, _) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return tracing::error!(error = %e, minute = t, "detector step failed"),
        Err(e) => return tracing::error!(error = %e, "detector step panicked"),
    };
    for i in r.opened.iter().chain(&r.closed) {
        c.live.publish_incident(StoredIncident::from(i));
    }
    let countries = c.live.apply(r.statuses, None, c.clock.now());
    c.live.publish_statuses(&countries, window_s);
}

/// Between steps: recompute the touched cells at the current (partial) minute.
async fn recompute(c: &AppState, engine: &Arc<Mutex<Engine>>, minute: i64, pairs: BTreeSet<Pair>, window_s: i64) {
    let (e, store, p) = (engine.clone(), c.store.clone(), pairs.clone());
    let result = tokio::task::spawn_blocking(move || {
        let e = e.lock().unwrap_or_else(|e| e.into_inner());
        e.preview(store.as_ref(), minute, &p)
    })
    .await;
    match result {
        Ok(Ok(statuses)) => {
            let countries = c.live.apply(statuses, Some(&pairs), c.clock.now());
            c.live.publish_statuses(&countries, window_s);
        }
        Ok(Err(e)) => tracing::error!(error = %e, "live recompute failed"),
        Err(e) => tracing::error!(error = %e, "live recompute panicked"),
    }
}
