//! Live detection inside `vantage serve`: a background task that replays history at start-up,
//! steps the detector every minute, and between steps recomputes the cells that new reports
//! touched (debounced). Beside it, the publisher: on a fixed wall-clock tick it snapshots the
//! statuses (numbers under k withheld, [`publish`]) for `/v1/status` and the stream. Incident
//! opens and closes go through the `outbox`: stored first, retried until the store takes
//! them, then sent to the stream and the webhooks.

mod outbox;
pub(crate) mod publish;

use crate::engine::{Engine, Pair};
use crate::store::{rfc3339, Incident, IncidentFilter, StoreError};
use crate::AppState;
use outbox::{Outbox, Transition};
use publish::{Body, Shown, Snapshot};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, Notify};
use vantage_detect::{CellStatus, StepResult};
use vantage_protocol::{Country, Platform};

/// Wait after the first report of a burst before recomputing: one recompute per burst.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Least time between two recomputes of the touched cells. Statuses are read only at a
/// publication tick, so a quarter of `--publish-interval` keeps each tick at most that far
/// behind the reports; recomputing after every 250 ms burst instead made a flash crowd pay for a
/// copy of every touched cell's unflushed rollups (under the lock the writer takes) 40 times a
/// tick at the default 10 s (BENCHMARKS.md, issue 10).
fn recompute_every(publish_interval_s: u64) -> Duration {
    (Duration::from_secs(publish_interval_s.max(1)) / 4).max(DEBOUNCE)
}

/// A recompute reads every network entry of the touched cells' fresh minutes, so its time grows
/// with readers' networks; after one that took `took`, the next waits `RECOMPUTE_SHARE` times
/// that, so it takes at most about a tenth of a core however many networks report (the cost a
/// report must not grow with adoption, issue 10), but never longer than a publication interval,
/// so every tick still sees a recompute.
const RECOMPUTE_SHARE: u32 = 10;

/// Least time from the start of a recompute that took `took` to the next.
fn recompute_gap(every: Duration, took: Duration, publish_interval_s: u64) -> Duration {
    every.max(took.saturating_mul(RECOMPUTE_SHARE)).min(Duration::from_secs(publish_interval_s.max(1)).max(every))
}
/// A minute is stepped this many seconds after it ends, so reports in flight land first.
const STEP_GRACE_S: i64 = 2;
/// Events buffered per SSE client before it counts as lagging (and is dropped).
const BROADCAST_CAPACITY: usize = 1024;
/// Opens and closes the start-up replay finds this recent (minutes) and the store lacks are
/// announced (a crash or a failing store kept them from going out); older ones are history.
const CATCH_UP_MINUTES: i64 = 60;
/// Answers kept per tick (statuses by country and ASN, the country list); past it an answer is
/// rendered per request (same bytes, same ETag), so odd ASNs in queries cannot grow memory.
const BODIES_PER_TICK: usize = 4096;
/// Key prefix of the incident lists kept per tick (`api/incidents.rs`): dropped when an
/// incident is stored, so a client told of one by the stream finds it in the list.
pub(crate) const INCIDENT_ANSWERS: &str = "incidents ";

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
}

/// The latest statuses: country -> (platform, asn) -> cell status.
type Cells = BTreeMap<Country, BTreeMap<(Platform, Option<u32>), CellStatus>>;

/// What was last published.
#[derive(Debug, Default)]
struct Published {
    /// Unix seconds of the tick that took it (a multiple of the interval).
    generated_at: i64,
    /// The public cells.
    cells: Snapshot,
    /// Each country's status body without `generated_at`: a status event goes out on change only.
    bodies: HashMap<Country, String>,
    /// The answers of this tick rendered so far, by route and query: each is made once per tick
    /// however many readers ask, and dropped with the snapshot at the next tick.
    answers: Mutex<HashMap<String, Arc<Body>>>,
}

/// What the live path shares with the handlers.
pub struct Live {
    /// The one broadcast every SSE client subscribes to.
    pub events: broadcast::Sender<Arc<LiveEvent>>,
    /// Every stored incident open and close, in order, for the webhook sender: its own
    /// unbounded queue, so a burst of status events can never push an incident out of it.
    hooks: mpsc::UnboundedSender<Incident>,
    /// The receiving end, taken once by the webhook sender.
    hooks_rx: Mutex<Option<mpsc::UnboundedReceiver<Incident>>>,
    /// Latest statuses, from the last step or recompute (not public: see `published`).
    cells: RwLock<Cells>,
    /// The snapshot `/v1/status`, `/v1/countries` and new streams answer from.
    published: RwLock<Published>,
    /// (platform, country) pairs touched by reports committed since the last recompute.
    pending: Mutex<BTreeSet<Pair>>,
    /// Wakes the task when `pending` gains a pair.
    wake: Notify,
    /// Turns true when the server shuts down: SSE streams end so graceful shutdown can finish.
    closing: tokio::sync::watch::Sender<bool>,
    /// Turns true once the start-up replay has run and handed its incidents to the store: until
    /// then a published status or an incident list may still lack what history holds.
    history_loaded: std::sync::atomic::AtomicBool,
    /// Times answers of a tick were dropped before it ended ([`Live::forget`]): a store read
    /// begun before a drop must not be kept after it.
    forgotten: std::sync::atomic::AtomicU64,
}

impl Default for Live {
    fn default() -> Self {
        let (hooks, hooks_rx) = mpsc::unbounded_channel();
        Live {
            events: broadcast::channel(BROADCAST_CAPACITY).0,
            hooks,
            hooks_rx: Mutex::new(Some(hooks_rx)),
            cells: RwLock::default(),
            published: RwLock::default(),
            pending: Mutex::default(),
            wake: Notify::new(),
            closing: tokio::sync::watch::channel(false).0,
            history_loaded: std::sync::atomic::AtomicBool::new(false),
            forgotten: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// The JSON of one published platform (or ASN) cell.
fn platform_json(s: &Shown) -> Value {
    let mut v = json!({"platform": s.platform, "state": s.state, "reports": s.reports, "networks": s.networks,
        "success_rate": s.success_rate, "median_ms": s.median_ms, "p90_ms": s.p90_ms,
        "baseline_success_rate": s.baseline_success_rate, "baseline_median_ms": s.baseline_median_ms,
        "since": s.since});
    if let Some(held) = s.held {
        v["held"] = json!(held);
    }
    v
}

impl Live {
    /// Whether the start-up replay is done (its incidents delivered to the store, or queued for
    /// retry when the store refused them).
    pub fn history_loaded(&self) -> bool {
        self.history_loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Called after a report commits: its cells are recomputed shortly.
    pub fn touch(&self, country: Country, platforms: impl IntoIterator<Item = Platform>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for platform in platforms {
            p.insert((platform, country));
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

    /// The webhook sender's queue of stored opens and closes (`None` after the first call).
    pub fn take_incident_queue(&self) -> Option<mpsc::UnboundedReceiver<Incident>> {
        self.hooks_rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The docs/protocol.md §4 status of `country` (one ASN's cells with `asn`) as of the last
    /// publication tick, as bytes and ETag: made once per tick, the same bytes until the next.
    pub fn status_body(&self, country: Country, asn: Option<u32>, window_s: i64) -> Arc<Body> {
        let key = format!("status {country} {asn:?}");
        self.answer(key, |cells, at| {
            let mut doc = render(cells, country, asn, window_s);
            doc["generated_at"] = json!(rfc3339::format(at));
            doc
        })
    }

    /// The answer `key` of the current tick, if one was made (for answers read from the store,
    /// which must not be read under the snapshot's lock).
    pub fn made(&self, key: &str) -> Option<Arc<Body>> {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        let answers = published.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(key).cloned()
    }

    /// The tick an answer begun now belongs to, and how many times answers were forgotten so
    /// far: [`Live::keep`] takes both back and keeps nothing that either outdated.
    pub fn tick(&self) -> (i64, u64) {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        (published.generated_at, self.forgotten.load(Ordering::Acquire))
    }

    /// Drops the answers of this tick whose key starts with `prefix`.
    fn forget(&self, prefix: &str) {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        let mut answers = published.answers.lock().unwrap_or_else(|e| e.into_inner());
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        answers.retain(|k, _| !k.starts_with(prefix));
    }

    /// Keeps `body`, begun at `begun` ([`Live::tick`]), as the answer `key` until the next
    /// tick, unless a tick or a `Live::forget` came since (it could then be out of date).
    pub fn keep(&self, key: String, body: Arc<Body>, begun: (i64, u64)) {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        let mut answers = published.answers.lock().unwrap_or_else(|e| e.into_inner());
        let now = (published.generated_at, self.forgotten.load(Ordering::Acquire));
        if now == begun && answers.len() < BODIES_PER_TICK {
            answers.insert(key, body);
        }
    }

    /// The answer `key` of the current tick: the one already made, else `make(snapshot,
    /// generated_at)` rendered and kept until the next tick.
    pub fn answer(&self, key: String, make: impl FnOnce(&Snapshot, i64) -> Value) -> Arc<Body> {
        let published = self.published.read().unwrap_or_else(|e| e.into_inner());
        let mut answers = published.answers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(body) = answers.get(&key) {
            return body.clone();
        }
        let body = Arc::new(Body::new(&make(&published.cells, published.generated_at), published.generated_at));
        if answers.len() < BODIES_PER_TICK {
            answers.insert(key, body.clone());
        }
        body
    }

    /// Replaces the statuses: all of them after a full step, or only `pairs` after a recompute.
    fn apply(&self, statuses: Vec<CellStatus>, pairs: Option<&BTreeSet<Pair>>) {
        let mut cells = self.cells.write().unwrap_or_else(|e| e.into_inner());
        match pairs {
            None => cells.clear(),
            Some(pairs) => {
                for (platform, country) in pairs {
                    if let Some(m) = cells.get_mut(country) {
                        m.retain(|(p, _), _| p != platform);
                    }
                }
            }
        }
        for s in statuses {
            cells.entry(s.country).or_default().insert((s.platform.clone(), s.asn), s);
        }
        cells.retain(|_, m| !m.is_empty());
    }

    /// A publication tick at unix second `at`: snapshots the statuses and sends a `status`
    /// event for each country whose public status changed.
    fn publish_tick(&self, at: i64, k: u64, m: u64, window_s: i64) {
        let snapshot = {
            let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
            publish::snapshot(cells.values().flat_map(|m| m.values()), k, m)
        };
        let mut published = self.published.write().unwrap_or_else(|e| e.into_inner());
        let mut countries: BTreeSet<Country> = published.bodies.keys().copied().collect();
        countries.extend(snapshot.keys().copied());
        let mut bodies = HashMap::with_capacity(snapshot.len());
        let mut out = Vec::new();
        for c in countries {
            let mut doc = render(&snapshot, c, None, window_s);
            let key = doc.to_string();
            if published.bodies.get(&c) != Some(&key) {
                doc["generated_at"] = json!(rfc3339::format(at));
                out.push(doc.to_string());
            }
            if snapshot.contains_key(&c) {
                bodies.insert(c, key);
            }
        }
        *published = Published { generated_at: at, cells: snapshot, bodies, answers: Mutex::default() };
        drop(published);
        for data in out {
            let _ = self.events.send(Arc::new(LiveEvent { kind: "status", data }));
        }
    }

    /// Sends a stored open or close to the stream and the webhooks.
    fn publish_incident(&self, i: Incident) {
        // The store holds it now: incident lists made this tick are out of date.
        self.forget(INCIDENT_ANSWERS);
        let data = serde_json::to_string(&i).expect("incidents serialize");
        let _ = self.events.send(Arc::new(LiveEvent { kind: "incident", data }));
        let _ = self.hooks.send(i);
    }
}

/// A country's status document from `cells`, `generated_at` left null for the caller.
fn render(cells: &Snapshot, country: Country, asn: Option<u32>, window_s: i64) -> Value {
    let empty = BTreeMap::new();
    let mine = cells.get(&country).unwrap_or(&empty);
    let platforms: Vec<Value> = match asn {
        Some(a) => mine.values().filter(|s| s.asn == Some(a)).map(platform_json).collect(),
        None => mine
            .values()
            .filter(|s| s.asn.is_none())
            .map(|s| {
                let mut v = platform_json(s);
                let asns: Vec<Value> = mine
                    .range((s.platform.clone(), Some(0))..=(s.platform.clone(), Some(u32::MAX)))
                    .map(|(_, a)| {
                        json!({"asn": a.asn, "state": a.state, "reports": a.reports, "networks": a.networks,
                        "success_rate": a.success_rate, "median_ms": a.median_ms})
                    })
                    .collect();
                v["asns"] = Value::Array(asns);
                v
            })
            .collect(),
    };
    let mut doc = json!({"generated_at": null, "window_s": window_s, "country": country, "platforms": platforms});
    if let Some(a) = asn {
        doc["asn"] = json!(a);
    }
    doc
}

/// Runs until the task is aborted: the detection loop and the publication tick side by side.
pub(crate) async fn run(c: AppState) {
    tokio::join!(detect(c.clone()), publish_ticks(c));
}

/// Publishes the statuses at every wall-clock multiple of `--publish-interval`.
async fn publish_ticks(c: AppState) {
    let interval_ms = (c.config.publish_interval_s.max(1) * 1000) as i64;
    let window_s = c.config.detect.window_minutes * 60;
    let (k, m) = (c.config.detect.min_reports, c.config.detect.min_networks);
    loop {
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let next = publish::next_tick(now_ms, interval_ms);
        tokio::time::sleep(Duration::from_millis((next - now_ms) as u64)).await;
        let at = c.clock.now().div_euclid(interval_ms / 1000) * (interval_ms / 1000);
        c.live.publish_tick(at, k, m, window_s);
    }
}

/// Start-up replay, then minute steps, recomputes, and incident deliveries.
async fn detect(c: AppState) {
    let engine = Arc::new(Mutex::new(Engine::new(c.config.detect.clone())));
    let mut outbox = Outbox::default();
    start_up(&c, &engine, &mut outbox).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut others = HashMap::new();
    let every = recompute_every(c.config.publish_interval_s);
    // When the last recompute started, and the least time to the next.
    let mut last_recompute: Option<(Instant, Duration)> = None;
    let until_due = |last: Option<(Instant, Duration)>| last.map_or(Duration::ZERO, |(t, gap)| gap.saturating_sub(t.elapsed()));
    loop {
        let ticked = tokio::select! {
            _ = tick.tick() => true,
            _ = c.live.wake.notified() => { tokio::time::sleep(DEBOUNCE.max(until_due(last_recompute))).await; false }
        };
        let now_s = c.clock.now();
        let minute = now_s.div_euclid(60);
        if ticked {
            poll_other_nodes(&c, minute, &mut others).await;
        }
        let due = now_s - minute * 60 >= STEP_GRACE_S;
        let stepped = engine.lock().unwrap_or_else(|e| e.into_inner()).stepped_to;
        if due && stepped.is_none_or(|s| s < minute - 1) {
            step(&c, &engine, minute - 1, &mut outbox).await;
        }
        deliver(&c, &mut outbox).await;
        if !until_due(last_recompute).is_zero() {
            continue;
        }
        let pairs = std::mem::take(&mut *c.live.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !pairs.is_empty() {
            let started = Instant::now();
            let took = recompute(&c, &engine, minute, pairs).await;
            last_recompute = Some((started, recompute_gap(every, took, c.config.publish_interval_s)));
        }
    }
}

/// The start-up replay of `--history-days`: baselines, open incidents and statuses. Incidents it
/// finds are stored; opens and closes of the last [`CATCH_UP_MINUTES`] that the store does not
/// show yet (a crash or a failing store kept them back) are announced as well.
async fn start_up(c: &AppState, engine: &Arc<Mutex<Engine>>, outbox: &mut Outbox) {
    let now = c.clock.now().div_euclid(60);
    let from = now - i64::from(c.config.history_days) * 1440;
    let (e, store) = (engine.clone(), c.store.clone());
    let replayed = tokio::task::spawn_blocking(move || {
        let mut e = e.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(i64, Incident)> = Vec::new();
        e.replay(store.as_ref(), from, now - 1, |t, r| found.extend(events(r).map(|i| (t, i))))?;
        let open: Vec<Incident> = e.open_incidents();
        let recent: BTreeSet<&str> = found.iter().filter(|(t, _)| *t >= now - CATCH_UP_MINUTES).map(|(_, i)| i.id.as_str()).collect();
        let stored: HashMap<String, bool> = if recent.is_empty() {
            HashMap::new()
        } else {
            let all = store.incidents(&IncidentFilter { limit: 100_000, ..IncidentFilter::default() })?;
            all.into_iter().filter(|i| recent.contains(i.id.as_str())).map(|i| (i.id.clone(), i.is_open())).collect()
        };
        Ok::<_, StoreError>((found, open, stored, e.last.clone()))
    })
    .await;
    match replayed {
        Ok(Ok((found, open, stored, statuses))) => {
            for (t, i) in found {
                let announced = match Transition::of(&i) {
                    Transition::Opened => stored.contains_key(&i.id),
                    Transition::Closed => stored.get(&i.id) == Some(&false),
                };
                if t < now - CATCH_UP_MINUTES || announced {
                    // History, or already told: stored (below) but not announced again.
                    outbox.save([i.clone()]);
                    outbox.remember((i.id.clone(), Transition::of(&i)));
                } else {
                    outbox.event(i);
                }
            }
            outbox.save(open);
            c.live.apply(statuses, None);
            tracing::info!(from = %rfc3339::format(from * 60), "detector history loaded");
        }
        Ok(Err(e)) => tracing::error!(error = %e, "detector history not loaded; starting without it"),
        Err(e) => tracing::error!(error = %e, "detector history replay panicked"),
    }
    deliver(c, outbox).await;
    c.live.history_loaded.store(true, std::sync::atomic::Ordering::Release);
}

/// The opens and closes of one step, as stored incidents.
fn events(r: &StepResult) -> impl Iterator<Item = Incident> + '_ {
    r.opened.iter().chain(&r.closed).cloned()
}

/// Writes what the outbox holds when its backoff allows; once the store took it, sends the
/// events. A failure is logged and retried later: nothing is dropped.
async fn deliver(c: &AppState, outbox: &mut Outbox) {
    if !outbox.due(Instant::now()) {
        return;
    }
    let batch = outbox.batch();
    let store = c.store.clone();
    let rows = batch.clone();
    let written = tokio::task::spawn_blocking(move || store.upsert_incidents(&rows)).await;
    let error = match written {
        Ok(Ok(())) => {
            if outbox.failures > 0 {
                tracing::info!(after = outbox.failures, "incident store write succeeded again");
            }
            for i in outbox.stored(&batch) {
                c.live.publish_incident(i);
            }
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    let wait = outbox.failed(Instant::now());
    tracing::error!(error = %error, incidents = batch.len(), events_waiting = outbox.waiting(), retry_in_ms = wait.as_millis() as u64,
        "incident store write failed; will retry");
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

/// The full minute step (and any minutes skipped before it): queue their opens and closes and
/// the open incidents' new state for the store, replace every status.
async fn step(c: &AppState, engine: &Arc<Mutex<Engine>>, t: i64, outbox: &mut Outbox) {
    let (e, store) = (engine.clone(), c.store.clone());
    let result = tokio::task::spawn_blocking(move || {
        let mut e = e.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<Incident> = Vec::new();
        let r = e.step_live(store.as_ref(), t, |_, r| found.extend(events(r)));
        let open: Vec<Incident> = e.open_incidents();
        (r.map(|r| r.statuses), found, open)
    })
    .await;
    let (statuses, found, open) = match result {
        Ok(r) => r,
        Err(e) => return tracing::error!(error = %e, "detector step panicked"),
    };
    // Events of the minutes that were stepped count even if a later minute failed to load.
    for i in found {
        outbox.event(i);
    }
    outbox.save(open);
    match statuses {
        Ok(statuses) => c.live.apply(statuses, None),
        Err(e) => tracing::error!(error = %e, minute = t, "detector step failed; retrying"),
    }
}

/// Between steps: recompute the touched cells at the current (partial) minute. Returns how long
/// the recompute itself ran (not its wait for the engine, which a minute step may hold).
async fn recompute(c: &AppState, engine: &Arc<Mutex<Engine>>, minute: i64, pairs: BTreeSet<Pair>) -> Duration {
    let (e, store, p) = (engine.clone(), c.store.clone(), pairs.clone());
    let result = tokio::task::spawn_blocking(move || {
        let e = e.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        (e.preview(store.as_ref(), minute, &p), started.elapsed())
    })
    .await;
    let Ok((statuses, took)) = result.map_err(|e| tracing::error!(error = %e, "live recompute panicked")) else {
        return Duration::ZERO;
    };
    match statuses {
        Ok(statuses) => c.live.apply(statuses, Some(&pairs)),
        Err(e) => tracing::error!(error = %e, "live recompute failed"),
    }
    took
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_recompute_spaces_the_next_but_never_past_a_publication_interval() {
        let every = recompute_every(10);
        assert_eq!(every, Duration::from_millis(2500));
        // Cheap: the usual quarter interval.
        assert_eq!(recompute_gap(every, Duration::from_millis(20), 10), every);
        // 400 ms: ten times that, so at most a tenth of a core.
        assert_eq!(recompute_gap(every, Duration::from_millis(400), 10), Duration::from_secs(4));
        // 3 s: capped at the publication interval.
        assert_eq!(recompute_gap(every, Duration::from_secs(3), 10), Duration::from_secs(10));
        // An interval shorter than the debounce keeps the debounce.
        assert_eq!(recompute_gap(recompute_every(0), Duration::from_secs(1), 0), Duration::from_secs(1));
    }
}
