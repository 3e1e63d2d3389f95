//! Per-client token buckets for the ingest route, in memory, keyed by a hash of the client: a
//! whole IPv4 address or an IPv6 /64 (`geo::NetworkHasher::client`).
//!
//! The defaults are sized for carrier-grade NAT, where one public IPv4 address carries a whole
//! mobile neighbourhood (the usual case for Pakistani mobile readers). A frame reports at most
//! once per 10 minutes per browser, and only sampled readers measure, so 6,000 readers active at
//! once behind one address (a large CGNAT egress), sampled at 10 %, send 6,000 x 0.1 / 10 = 60
//! reports a minute on average. [`DEFAULT_PER_MIN`] = 120 doubles that: 12,000 such readers, or
//! a news alert that sends all 6,000 to the page within the same 5 minutes (600 reports in
//! 5 minutes, 120 a minute), pass without one 429; [`DEFAULT_BURST`] = 120 (a minute's worth)
//! absorbs the minute-to-minute jitter of those arrivals. The `cgnat_readers_are_not_dropped`
//! test below replays both. A report refused anyway is not lost: the frame keeps it queued and
//! sends it again on the next page view. One client cannot flood either: at the limit it posts
//! 2 reports a second, which costs the store nothing (it writes tens of thousands of rows a
//! second), and it is one network to the detector, whose distinct-network rule and per-network
//! caps bound its weight whatever it sends.

//!
//! Memory and cost stay bounded with millions of client addresses: the map is split into
//! `SHARDS` locked shards by key, and a bucket that has refilled to the full burst is the same
//! as no bucket, so when a shard is full its refilled buckets are dropped (a reader who posted
//! once is full again half a second later). Only if most of a full shard is still mid-limit (an
//! attacker holding more than a million addresses, each posting faster than it refills) is the
//! shard emptied; each sweep frees at least a quarter of a shard, so the sweeps cost O(1) per
//! request amortized.

use crate::rollup::FastHash;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Default `--rate-limit` and `--rate-burst` (see the module doc), from the one table of defaults.
pub use crate::config::defaults::{RATE_BURST as DEFAULT_BURST, RATE_LIMIT_PER_MIN as DEFAULT_PER_MIN};

/// Independently locked parts of the map (requests on different cores rarely wait on each other).
const SHARDS: usize = 16;
/// Most clients tracked at once (about 48 bytes each: 50 MB at most).
pub(crate) const MAX_CLIENTS: usize = 1 << 20;
/// Most clients one shard tracks.
const SHARD_CAP: usize = MAX_CLIENTS / SHARDS;

/// One client's bucket.
#[derive(Clone, Copy)]
struct Bucket {
    /// Tokens left at `last`.
    tokens: f64,
    /// When it was last refilled.
    last: Instant,
}

/// A token bucket per client.
pub struct RateLimiter {
    /// Tokens added per second (per-minute rate / 60); 0 disables limiting.
    per_sec: f64,
    /// Bucket size: reports a client may send at once.
    burst: f64,
    /// Client key -> bucket, split by key into [`SHARDS`] maps (keys are keyed hashes: uniform).
    /// Hashed again with foldhash, not SipHash: the key is secret already, only spread matters.
    shards: Vec<Mutex<HashMap<u64, Bucket, FastHash>>>,
}

impl RateLimiter {
    /// `per_min` reports a minute with bursts of `burst`; `per_min == 0` lets everything through.
    pub fn new(per_min: u32, burst: u32) -> Self {
        RateLimiter {
            per_sec: f64::from(per_min) / 60.0,
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Takes one token for `key`, or says how many seconds until one is available.
    pub fn check(&self, key: u64, now: Instant) -> Result<(), u64> {
        if self.per_sec == 0.0 {
            return Ok(());
        }
        let mut shard = self.shards[(key >> 60) as usize % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= SHARD_CAP && !shard.contains_key(&key) {
            self.sweep(&mut shard, now);
        }
        let b = shard.entry(key).or_insert(Bucket { tokens: self.burst, last: now });
        b.tokens = self.refilled(b, now);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.per_sec).ceil() as u64)
        }
    }

    /// Clients tracked now (all shards).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * self.per_sec).min(self.burst)
    }

    /// Drops the buckets that are full again (the same as absent); empties the shard when that
    /// frees less than a quarter of it.
    fn sweep(&self, shard: &mut HashMap<u64, Bucket, FastHash>, now: Instant) {
        shard.retain(|_, b| self.refilled(b, now) < self.burst);
        if shard.len() > SHARD_CAP * 3 / 4 {
            tracing::warn!(clients = MAX_CLIENTS, "rate limit: too many clients mid-limit at once; forgetting one shard of them");
            shard.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let rl = RateLimiter::new(60, 3);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check(1, t), Ok(()));
        }
        assert_eq!(rl.check(1, t), Err(1));
        assert_eq!(rl.check(2, t), Ok(()), "other clients are unaffected");
        assert_eq!(rl.check(1, t + Duration::from_secs(1)), Ok(()));
    }

    /// A small deterministic generator (xorshift64*), so the replay is the same on every run.
    struct Rng(u64);
    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Replays report times (seconds from `t0`, any order) from one client; returns the 429s.
    fn refused(rl: &RateLimiter, mut times: Vec<f64>) -> usize {
        let t0 = Instant::now();
        times.sort_by(f64::total_cmp);
        times.into_iter().filter(|t| rl.check(1, t0 + Duration::from_secs_f64(*t)).is_err()).count()
    }

    #[test]
    fn cgnat_readers_are_not_dropped() {
        let rl = RateLimiter::new(DEFAULT_PER_MIN, DEFAULT_BURST);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Steady state: 6,000 readers behind one IPv4 address for 2 hours, 10 % sampled, each
        // sampled one reporting every 10 to 12 minutes (a page view after the 10-minute window)
        // from a random start.
        let mut times = Vec::new();
        for _ in 0..600 {
            let mut t = rng.unit() * 600.0;
            while t < 7200.0 {
                times.push(t);
                t += 600.0 + rng.unit() * 120.0;
            }
        }
        assert!(times.len() > 6000, "{}", times.len());
        assert_eq!(refused(&rl, times), 0, "steady CGNAT traffic");
        // A news alert: all 6,000 open the page within 5 minutes; the 10 % sampled report once.
        let rl = RateLimiter::new(DEFAULT_PER_MIN, DEFAULT_BURST);
        let alert: Vec<f64> = (0..600).map(|_| rng.unit() * 300.0 + 5.0 + rng.unit() * 10.0).collect();
        assert_eq!(refused(&rl, alert), 0, "a news alert's surge");
    }

    #[test]
    fn one_client_still_cannot_flood() {
        let rl = RateLimiter::new(DEFAULT_PER_MIN, DEFAULT_BURST);
        // 50 reports a second for 10 minutes (30,000): at most the burst plus 2 a second pass.
        let flood: Vec<f64> = (0..30_000).map(|i| f64::from(i) / 50.0).collect();
        let passed = 30_000 - refused(&rl, flood);
        assert!(passed <= (DEFAULT_BURST + DEFAULT_PER_MIN * 10) as usize + 1, "{passed}");
        assert!(passed >= (DEFAULT_BURST + DEFAULT_PER_MIN * 10) as usize - 2, "{passed}");
    }

    /// One address flooding among millions of one-off readers (each a new address, as under
    /// realistic traffic): the map stays bounded and the flood stays limited. Before the sweep
    /// kept mid-limit buckets, a full map was emptied every 100,000 new clients, and the flooder
    /// got a fresh burst each time.
    #[test]
    fn a_flood_among_millions_of_readers_stays_limited_and_the_map_bounded() {
        let rl = RateLimiter::new(DEFAULT_PER_MIN, DEFAULT_BURST);
        let t0 = Instant::now();
        let (flooder, mut passed) = (u64::MAX / 3, 0);
        // 20,000 readers a second for 60 s (1.2 million addresses), the flooder at 50 a second.
        let mut key = 0x9e37_79b9_7f4a_7c15u64;
        for ms in 0..60_000u64 {
            let now = t0 + Duration::from_millis(ms);
            for _ in 0..20 {
                key = key.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                assert!(rl.check(key, now).is_ok(), "a reader's first report is never refused");
            }
            if ms % 20 == 0 && rl.check(flooder, now).is_ok() {
                passed += 1;
            }
        }
        let allowed = (DEFAULT_BURST + DEFAULT_PER_MIN) as usize + 1;
        assert!(passed <= allowed, "the flooder passed {passed} times, at most {allowed} allowed");
        assert!(rl.tracked() <= MAX_CLIENTS, "{}", rl.tracked());
    }

    #[test]
    fn zero_disables() {
        let rl = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert!(rl.check(1, Instant::now()).is_ok());
        }
    }
}
