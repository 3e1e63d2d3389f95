//! `vantage simulate`: synthetic traffic for demos, dashboard tests and benchmarks.
//!
//! - `--store URL --days N`: writes a history straight into a store through its normal write
//!   path (rollups included), with `vantage-detect`'s scenario generator: diurnal traffic over
//!   several ASNs per platform, background failures, content blockers, bad visitor links,
//!   single-visitor outages, and the scenario's event (a full block, half the reports of one ASN
//!   failing, or a 5x slowdown of the first platform) at the end. With `--asn-rate R` ([`Mix::Cells`])
//!   the ASNs carry the traffic of `vantage-detect`'s scenario tests (R reports a minute per cell).
//! - `--live --url URL`: posts reports to a running collector, clients and arrivals drawn from the
//!   realistic traffic model (`crate::traffic`, as the ingest benchmark): `--networks` /24s and
//!   /48s with Zipf-like shares over `--countries` countries (the first, the biggest, is
//!   `--country`, where the scenario's event happens), Poisson arrivals. Each report carries its
//!   client as `X-Forwarded-For` and its network's country as `CF-IPCountry`, so the collector
//!   must run with `--trusted-proxy 127.0.0.1/32 --country-header CF-IPCountry`.

use crate::store::{Observation, Store, StoreError};
use crate::traffic::{Arrivals, Model, ModelSpec, COUNTRIES};
use std::time::{Duration, Instant};
use vantage_detect::rng::Pcg32;
use vantage_detect::scenario::{AsnSpec, Event, Scenario};
use vantage_protocol::{Country, IdError, Outcome, Platform, ReportId, SiteKey, TargetId};

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A name of the spec (a country, a platform) fails its rule.
    #[error("{what} {value:?}: {source}")]
    Spec {
        /// Which setting.
        what: &'static str,
        /// Its value, so the message shows what was refused.
        value: String,
        /// The rule it breaks.
        source: IdError,
    },
    /// A value the simulator makes up (the site, a report id) fails its rule: a bug here.
    #[error("{what}: {source}")]
    Generated {
        /// Which value.
        what: &'static str,
        /// The rule it breaks.
        source: IdError,
    },
    /// The store refused the history.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[source] reqwest::Error),
    /// The collector's target list could not be fetched.
    #[error("{url}: {source}")]
    Targets {
        /// The URL asked.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
}

/// What the synthetic traffic shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ordinary traffic only.
    Normal,
    /// The first platform fails everywhere.
    Block,
    /// Half the first platform's reports fail in one ASN ([`VICTIM_ASN`]) only (live reports
    /// carry no ASN: there, half of all of them).
    AsnHalf,
    /// The first platform answers five times slower.
    Throttle,
}

/// ASNs of the synthetic country and their share of traffic.
const ASNS: [(u32, f64); 4] = [(17557, 0.4), (45595, 0.3), (9541, 0.2), (23674, 0.1)];
/// The ASN that `asn-half` hits (the second, as in `vantage-detect`'s scenario tests).
pub const VICTIM_ASN: u32 = ASNS[1].0;

/// How a platform's traffic spreads over ASNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// `per_minute` split 40/30/20/10% over four ASNs, 12 single-visitor outages a day.
    Shares,
    /// The traffic of `vantage-detect`'s scenario tests, `per_minute` in the busiest ASN cell:
    /// events over four ASNs at `per_minute` each (300 /24s apiece); `normal` as its 14-day
    /// test, three ASNs at `per_minute`, 25/60 and 8/60 of it (400, 200 and 80 /24s). Both
    /// diurnal, with 24 single-visitor outages a day. Only the first `n` ASNs are written
    /// (fewer cells, a faster history; the busiest keeps its rate).
    Cells(usize),
}
/// Rows written per store transaction.
const CHUNK_ROWS: usize = 100_000;

/// Settings of a store history.
pub struct HistorySpec {
    /// Platforms; the event hits the first.
    pub platforms: Vec<Platform>,
    /// Country code.
    pub country: Country,
    /// Mean reports a minute per platform (over the day).
    pub per_minute: f64,
    /// First minute (unix minutes).
    pub from: i64,
    /// End minute (exclusive).
    pub to: i64,
    /// The event of the last `event_minutes`.
    pub kind: Kind,
    /// Length of the event, ending at `to`.
    pub event_minutes: i64,
    /// Generator seed.
    pub seed: u64,
}

impl HistorySpec {
    /// First minute of the event (`None` for `normal`).
    pub fn onset(&self) -> Option<i64> {
        (self.kind != Kind::Normal).then_some(self.to - self.event_minutes)
    }

    /// The ASNs and their mean reports a minute under `mix`.
    pub fn asns(&self, mix: Mix) -> Vec<AsnSpec> {
        let r = self.per_minute;
        match (mix, self.kind) {
            (Mix::Shares, _) => {
                ASNS.iter().map(|&(asn, share)| AsnSpec { asn, per_minute: r * share, networks: (share * 1000.0) as u32 }).collect()
            }
            (Mix::Cells(n), Kind::Normal) => [(ASNS[0].0, 1.0, 400), (ASNS[1].0, 25.0 / 60.0, 200), (ASNS[2].0, 8.0 / 60.0, 80)]
                .iter()
                .take(n)
                .map(|&(asn, f, networks)| AsnSpec { asn, per_minute: r * f, networks })
                .collect(),
            (Mix::Cells(n), _) => ASNS.iter().take(n).map(|&(asn, _)| AsnSpec { asn, per_minute: r, networks: 300 }).collect(),
        }
    }
}

/// Writes the history into `store` with [`Mix::Shares`]; returns the observations written.
pub fn history(store: &dyn Store, spec: &HistorySpec, progress: impl FnMut(i64, usize)) -> Result<usize, SimulateError> {
    history_mix(store, spec, Mix::Shares, progress)
}

/// Writes the history into `store`; returns the number of observations written.
pub fn history_mix(store: &dyn Store, spec: &HistorySpec, mix: Mix, mut progress: impl FnMut(i64, usize)) -> Result<usize, SimulateError> {
    // Each platform's name and its simulated target, checked once for the whole run.
    let names = spec
        .platforms
        .iter()
        .map(|p| {
            let target = TargetId::try_from(format!("{p}.sim")).map_err(|source| SimulateError::Spec {
                what: "platform",
                value: p.to_string(),
                source,
            })?;
            Ok((p.clone(), target))
        })
        .collect::<Result<Vec<_>, SimulateError>>()?;
    let site = SiteKey::try_from("simulated").map_err(|source| SimulateError::Generated { what: "site", source })?;
    let mut gens: Vec<Scenario> = spec
        .platforms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut s = Scenario::new(spec.seed.wrapping_add(i as u64), p.clone(), spec.country, spec.asns(mix));
            s.diurnal = true;
            s.visitor_outages_per_day = if matches!(mix, Mix::Cells(_)) { 24.0 } else { 12.0 };
            let start = spec.to - spec.event_minutes;
            s.events = match (i, spec.kind) {
                (0, Kind::Block) => vec![Event::Block { asn: None, start, end: spec.to, fail: 1.0 }],
                (0, Kind::AsnHalf) => vec![Event::Block { asn: Some(VICTIM_ASN), start, end: spec.to, fail: 0.5 }],
                (0, Kind::Throttle) => vec![Event::Slowdown { asn: None, start, end: spec.to, factor: 5.0 }],
                _ => Vec::new(),
            };
            s
        })
        .collect();
    let (mut rows, mut buf, mut serial, mut written) = (Vec::with_capacity(CHUNK_ROWS), Vec::new(), 0u64, 0);
    let run = spec.seed << 20;
    for t in spec.from..spec.to {
        for (g, (platform, target)) in gens.iter_mut().zip(&names) {
            buf.clear();
            g.minute(t, &mut buf);
            for b in &buf {
                for _ in 0..b.count {
                    serial += 1;
                    let id = ReportId::try_from(format!("{run:016x}{serial:016x}"))
                        .map_err(|source| SimulateError::Generated { what: "report id", source })?;
                    rows.push(observation(&b.obs, spec.country, (platform, target, &site), id));
                }
            }
        }
        if rows.len() >= CHUNK_ROWS || t + 1 == spec.to {
            written += store.import(&rows)?;
            rows.clear();
            progress(t, written);
        }
    }
    Ok(written)
}

fn observation(
    o: &vantage_detect::DetectInput,
    country: Country,
    (platform, target, site): (&Platform, &TargetId, &SiteKey),
    id: ReportId,
) -> Observation {
    Observation {
        ts: o.minute * 60,
        country,
        asn: o.asn,
        network: o.network,
        site: site.clone(),
        platform: platform.clone(),
        target: target.clone(),
        outcome: o.outcome,
        ms: o.ms.clamp(0.0, vantage_protocol::MAX_MS),
        control_outcome: if o.control_ok { Outcome::Ok } else { Outcome::Error },
        control_ms: o.control_ms.clamp(0.0, vantage_protocol::MAX_MS),
        browser_family: Some("chromium".into()),
        net_type: None,
        report_id: id,
        late: false,
        status: None,
    }
}

/// Settings of a live run.
pub struct LiveSpec {
    /// Collector base URL.
    pub url: String,
    /// Reports a minute.
    pub per_minute: f64,
    /// What the reports show; the event hits `platform`.
    pub kind: Kind,
    /// The platform the scenario is about.
    pub platform: Platform,
    /// Country sent in `CF-IPCountry`.
    pub country: Country,
    /// Stop after this long (`None`: until interrupted).
    pub duration: Option<Duration>,
    /// Distinct networks (/24s and /48s) the reports come from.
    pub networks: usize,
    /// Countries those networks are in; `country` is the biggest.
    pub countries: usize,
}

/// Counters of a live run.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveTally {
    /// Reports sent.
    pub sent: u64,
    /// Answered 2xx.
    pub accepted: u64,
    /// Answered otherwise, or not at all.
    pub rejected: u64,
}

/// Posts synthetic reports at the given rate; `progress` is called about once a second.
pub async fn live(spec: &LiveSpec, mut progress: impl FnMut(&LiveTally)) -> Result<LiveTally, SimulateError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().map_err(SimulateError::Client)?;
    let url = format!("{}/v1/targets", spec.url);
    let targets_error = |source| SimulateError::Targets { url: url.clone(), source };
    let list: vantage_protocol::TargetList =
        client.get(&url).send().await.and_then(|r| r.error_for_status()).map_err(targets_error)?.json().await.map_err(targets_error)?;
    // One target per platform: what a widget run measures.
    let mut targets: Vec<(String, String)> = Vec::new();
    for t in &list.targets {
        if !targets.iter().any(|(p, _)| *p == t.platform) {
            targets.push((t.platform.clone(), t.id.clone()));
        }
    }
    let seed = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut rng = Pcg32::new(seed);
    let model = Model::new(&ModelSpec { countries: spec.countries.max(1), ..ModelSpec::with_networks(spec.networks) });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let started = Instant::now();
    let mut arrivals = Arrivals::new(spec.per_minute.max(0.1) / 60.0, seed);
    let mut tally = LiveTally::default();
    let mut shown = Instant::now();
    while spec.duration.is_none_or(|d| started.elapsed() < d) {
        let (ip, net) = model.client(&mut rng);
        // The model's biggest country stands for --country (and --country, if it is in the
        // model, for the biggest), so the scenario's country carries the most traffic.
        let country = match model.asn_of(net).country {
            c if c == COUNTRIES[0] => spec.country.as_str(),
            c if c == spec.country.as_str() => COUNTRIES[0],
            c => c,
        };
        let body = report(&mut rng, &list.version, &targets, spec, country == spec.country.as_str());
        let req = client
            .post(format!("{}/v1/reports", spec.url))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("x-forwarded-for", ip.to_string())
            .header("cf-ipcountry", country)
            .body(body);
        let tx = tx.clone();
        tokio::spawn(async move {
            let ok = req.send().await.is_ok_and(|r| r.status().is_success());
            let _ = tx.send(ok);
        });
        tally.sent += 1;
        while let Ok(ok) = rx.try_recv() {
            *if ok { &mut tally.accepted } else { &mut tally.rejected } += 1;
        }
        if shown.elapsed() >= Duration::from_secs(1) {
            progress(&tally);
            shown = Instant::now();
        }
        let due = started + Duration::from_secs_f64(arrivals.next().unwrap_or_default());
        tokio::time::sleep_until(due.into()).await;
    }
    drop(tx);
    while let Some(ok) = rx.recv().await {
        *if ok { &mut tally.accepted } else { &mut tally.rejected } += 1;
    }
    progress(&tally);
    Ok(tally)
}

/// A report; `in_event` when it comes from the scenario's country (the event hits only those).
fn report(rng: &mut Pcg32, version: &str, targets: &[(String, String)], spec: &LiveSpec, in_event: bool) -> String {
    let id = format!("{:08x}{:08x}{:08x}{:08x}", rng.next_u32(), rng.next_u32(), rng.next_u32(), rng.next_u32());
    let control = 40.0 * (0.3f64 * rng.normal()).exp();
    let measurements: Vec<serde_json::Value> = targets
        .iter()
        .map(|(platform, target)| {
            let hit = in_event && platform.as_str() == spec.platform.as_str();
            let (outcome, ms) = match spec.kind {
                Kind::Block if hit => ("timeout", 15_000.0),
                Kind::AsnHalf if hit && rng.unit() < 0.5 => ("timeout", 15_000.0),
                _ if rng.unit() < 0.02 => ("error", 80.0),
                Kind::Throttle if hit => ("ok", 1_000.0 * (0.4f64 * rng.normal()).exp()),
                _ => ("ok", 200.0 * (0.4f64 * rng.normal()).exp()),
            };
            serde_json::json!({"target": target, "outcome": outcome, "ms": (ms * 10.0f64).round() / 10.0})
        })
        .collect();
    serde_json::json!({"v": 1, "id": id, "site": "simulated", "widget": "simulate", "targets_version": version,
        "age_s": 0, "control": {"target": "control.self", "outcome": "ok", "ms": (control * 10.0f64).round() / 10.0},
        "measurements": measurements})
    .to_string()
}
