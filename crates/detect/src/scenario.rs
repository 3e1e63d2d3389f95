//! Synthetic observation streams for the detector's tests: seeded, so every run sees the same
//! traffic. One platform in one country over several ASNs, with diurnal swings, background
//! failures, content blockers, visitors with bad links, single-network outages, and injected
//! events (blocks, slowdowns, floods).

use crate::rng::Pcg32;
use crate::rollup::Rollups;
use crate::{Country, DetectInput, Outcome, Platform};

/// One ASN's traffic.
#[derive(Clone, Debug)]
pub struct AsnSpec {
    /// The ASN.
    pub asn: u32,
    /// Mean reports per minute (over the day when diurnal).
    pub per_minute: f64,
    /// Size of its pool of /24s; a few are much busier than the rest, as in real traffic.
    pub networks: u32,
}

/// Something injected into the stream between `start` and `end` (exclusive).
#[derive(Clone, Debug)]
pub enum Event {
    /// Each report fails with probability `fail` (`None` = every ASN of the country).
    Block {
        /// The blocking ASN, or `None` for a country-wide block.
        asn: Option<u32>,
        /// First second of the block (Unix time).
        start: i64,
        /// First second after it.
        end: i64,
        /// Probability that a report on the platform fails.
        fail: f64,
    },
    /// Successful requests take `factor` times longer (throttling); controls unaffected.
    Slowdown {
        /// The throttling ASN, or `None` for the whole country.
        asn: Option<u32>,
        /// First second of the slowdown (Unix time).
        start: i64,
        /// First second after it.
        end: i64,
        /// How many times longer a successful request takes.
        factor: f64,
    },
    /// One network sends `per_minute` failure reports a minute (a broken or hostile /24).
    Flood {
        /// The ASN the flooding network belongs to.
        asn: u32,
        /// Index of the flooding /24 in that ASN's pool.
        network: u32,
        /// First second of the flood (Unix time).
        start: i64,
        /// First second after it.
        end: i64,
        /// Failure reports the network sends each minute.
        per_minute: u32,
    },
}

/// Reports that a minute produced; `count` identical ones go in via [`Rollups::add_n`].
#[derive(Clone, Debug)]
pub struct Batch {
    /// The observation.
    pub obs: DetectInput,
    /// How many times it occurred.
    pub count: u32,
}

/// A single visitor whose network fails everything for a while.
#[derive(Clone, Debug)]
struct Outage {
    /// Index into `asns`.
    asn_idx: usize,
    /// Its network hash.
    network: u32,
    /// First minute after it.
    end: i64,
    /// Whether its control fails too (a dead link) or answers (a local filter).
    control_fails: bool,
}

/// The generator.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Platform name of every observation.
    pub platform: Platform,
    /// Country of every observation.
    pub country: Country,
    /// The ASNs and their traffic.
    pub asns: Vec<AsnSpec>,
    /// Traffic swings 5x over the UTC day (peak 15:00, trough 03:00) when set.
    pub diurnal: bool,
    /// Share of ordinary reports that fail anyway (2%).
    pub background_failure: f64,
    /// Share blocked by the visitor's browser (never counted).
    pub blocked_by_client: f64,
    /// Share of visitors whose own link is bad: control fails or crawls, platform fails.
    pub bad_control: f64,
    /// Expected single-visitor outages started per day.
    pub visitor_outages_per_day: f64,
    /// Injected events.
    pub events: Vec<Event>,
    /// The seeded generator.
    rng: Pcg32,
    /// Single-visitor outages in progress.
    outages: Vec<Outage>,
}

/// Stable per-(ASN, index) network hash, standing in for the collector's keyed /24 hash.
fn network_hash(asn: u32, idx: u32) -> u32 {
    let mut z = ((asn as u64) << 32 | idx as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

impl Scenario {
    /// Normal traffic with the background rates and no events.
    pub fn new(seed: u64, platform: Platform, country: Country, asns: Vec<AsnSpec>) -> Self {
        Scenario {
            platform,
            country,
            asns,
            diurnal: false,
            background_failure: 0.02,
            blocked_by_client: 0.03,
            bad_control: 0.01,
            visitor_outages_per_day: 0.0,
            events: Vec::new(),
            rng: Pcg32::new(seed),
            outages: Vec::new(),
        }
    }

    /// Traffic multiplier at minute `t` (mean 1 over the day).
    pub fn traffic_factor(&self, t: i64) -> f64 {
        if !self.diurnal {
            return 1.0;
        }
        let day = t.rem_euclid(1440) as f64 / 1440.0;
        1.0 + (2.0 / 3.0) * (std::f64::consts::TAU * (day - 0.375)).sin()
    }

    /// Generates minute `t` and adds it to `rollups`; returns the number of reports.
    pub fn feed(&mut self, t: i64, rollups: &mut Rollups, buf: &mut Vec<Batch>) -> u64 {
        buf.clear();
        self.minute(t, buf);
        buf.iter()
            .map(|b| {
                rollups.add_n(&b.obs, b.count);
                b.count as u64
            })
            .sum()
    }

    /// Appends the reports of minute `t` to `out`.
    pub fn minute(&mut self, t: i64, out: &mut Vec<Batch>) {
        self.outages.retain(|o| o.end > t);
        if !self.asns.is_empty() && self.rng.unit() < self.visitor_outages_per_day / 1440.0 {
            let asn_idx = self.rng.next_u32() as usize % self.asns.len();
            let network = network_hash(self.asns[asn_idx].asn, self.rng.next_u32() % self.asns[asn_idx].networks);
            let end = t + 10 + (self.rng.next_u32() % 110) as i64;
            let control_fails = self.rng.unit() < 0.5;
            self.outages.push(Outage { asn_idx, network, end, control_fails });
        }
        let factor = self.traffic_factor(t);
        for i in 0..self.asns.len() {
            let (asn, n) = (self.asns[i].asn, self.rng.poisson(self.asns[i].per_minute * factor));
            let (fail, slow) = self.active(asn, t);
            for _ in 0..n {
                let u = self.rng.unit();
                let network = network_hash(asn, (self.asns[i].networks as f64 * u * u) as u32);
                let obs = self.report(t, asn, network, fail, slow);
                out.push(Batch { obs, count: 1 });
            }
        }
        for o in self.outages.clone() {
            // The visitor keeps reading (two reports a minute), and everything fails.
            let mut obs = self.base(t, self.asns[o.asn_idx].asn, o.network, Outcome::Error, 30.0);
            obs.control_ok = !o.control_fails;
            out.push(Batch { obs, count: 2 });
        }
        for e in &self.events {
            if let Event::Flood { asn, network, start, end, per_minute } = *e {
                if (start..end).contains(&t) {
                    out.push(Batch { obs: self.base(t, asn, network, Outcome::Error, 30.0), count: per_minute });
                }
            }
        }
    }

    /// The block probability and slowdown factor in force for `asn` at `t`.
    fn active(&self, asn: u32, t: i64) -> (f64, f64) {
        let (mut fail, mut slow) = (0.0f64, 1.0f64);
        for e in &self.events {
            match *e {
                Event::Block { asn: a, start, end, fail: f } if (start..end).contains(&t) && (a.is_none() || a == Some(asn)) => {
                    fail = fail.max(f)
                }
                Event::Slowdown { asn: a, start, end, factor } if (start..end).contains(&t) && (a.is_none() || a == Some(asn)) => {
                    slow = slow.max(factor)
                }
                _ => {}
            }
        }
        (fail, slow)
    }

    fn base(&self, minute: i64, asn: u32, network: u32, outcome: Outcome, ms: f64) -> DetectInput {
        let platform = self.platform.clone();
        DetectInput { minute, country: self.country, asn, network, platform, outcome, ms, control_ok: true, control_ms: 40.0 }
    }

    fn report(&mut self, t: i64, asn: u32, network: u32, fail: f64, slow: f64) -> DetectInput {
        let mut obs = self.base(t, asn, network, Outcome::Ok, 0.0);
        obs.control_ms = 40.0 * (0.4 * self.rng.normal()).exp();
        if self.rng.unit() < self.bad_control {
            // A bad link: the control dies or crawls, and the platform request fails with it.
            obs.control_ok = self.rng.unit() < 0.5;
            obs.control_ms = 15_000.0;
            (obs.outcome, obs.ms) = (Outcome::Timeout, 15_000.0);
        } else if self.rng.unit() < self.blocked_by_client {
            (obs.outcome, obs.ms) = (Outcome::BlockedByClient, 2.0);
        } else if self.rng.unit() < fail.max(self.background_failure) {
            let timeout = self.rng.unit() < 0.5;
            (obs.outcome, obs.ms) = if timeout { (Outcome::Timeout, 15_000.0) } else { (Outcome::Error, 80.0) };
        } else {
            obs.ms = 200.0 * slow * (0.5 * self.rng.normal()).exp();
        }
        obs
    }
}
