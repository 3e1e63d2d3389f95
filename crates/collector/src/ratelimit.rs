//! Per-client token buckets for the ingest route, in memory, keyed by a hash of the address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Most clients tracked at once; past it, idle buckets (then all) are dropped.
const MAX_CLIENTS: usize = 100_000;

/// A token bucket per client.
pub struct RateLimiter {
    /// Tokens added per second (per-minute rate / 60); 0 disables limiting.
    per_sec: f64,
    /// Bucket size: reports a client may send at once.
    burst: f64,
    /// Client key -> (tokens left, last refill).
    buckets: Mutex<HashMap<u64, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_min` reports a minute with bursts of `burst`; `per_min == 0` lets everything through.
    pub fn new(per_min: u32, burst: u32) -> Self {
        RateLimiter { per_sec: f64::from(per_min) / 60.0, burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes one token for `key`, or says how many seconds until one is available.
    pub fn check(&self, key: u64, now: Instant) -> Result<(), u64> {
        if self.per_sec == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&key) {
            let full_after = self.burst / self.per_sec;
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() < full_after);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec).ceil() as u64)
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

    #[test]
    fn zero_disables() {
        let rl = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert!(rl.check(1, Instant::now()).is_ok());
        }
    }
}
