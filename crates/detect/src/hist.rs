//! Log-spaced time histograms: mergeable, so window and baseline medians come from summed
//! buckets rather than from raw rows.

/// Buckets per doubling of time: 8 gives about 9% bucket width, well inside what
/// "3x slower than usual" needs and small enough to keep a minute rollup compact.
pub const BUCKETS_PER_DOUBLING: f64 = 8.0;
/// Enough buckets to reach 2^17 ms (131 s), past the 120 s ceiling that `ms` may take.
pub const NUM_BUCKETS: usize = 136;

/// The bucket that holds `ms`: bucket `i` covers `[2^(i/8), 2^((i+1)/8))` ms; everything under
/// 1 ms lands in bucket 0 and everything past the top in the last one.
pub fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms <= 1.0 {
        return 0;
    }
    ((ms.log2() * BUCKETS_PER_DOUBLING) as usize).min(NUM_BUCKETS - 1)
}

/// The `q` quantile of bucket weights, interpolated geometrically inside the bucket it falls in.
/// `None` when there is no weight at all, so callers cannot mistake "no data" for 0 ms.
pub fn quantile_of<T: Copy + Into<f64>>(weights: &[T], q: f64) -> Option<f64> {
    let total: f64 = weights.iter().map(|&w| w.into()).sum();
    if total <= 0.0 {
        return None;
    }
    let target = q.clamp(0.0, 1.0) * total;
    let mut cum = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        let w: f64 = w.into();
        if w > 0.0 && cum + w >= target {
            let frac = ((target - cum) / w).clamp(0.0, 1.0);
            return Some(((i as f64 + frac) / BUCKETS_PER_DOUBLING).exp2());
        }
        cum += w;
    }
    Some((weights.len() as f64 / BUCKETS_PER_DOUBLING).exp2())
}

/// Integer counts of times, one per minute rollup or window.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Reports per bucket; `u32` because a cell sees far fewer than 4 billion reports a window.
    pub counts: [u32; NUM_BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: [0; NUM_BUCKETS] }
    }
}

impl Histogram {
    /// Counts `n` reports that took `ms`.
    pub fn add(&mut self, ms: f64, n: u32) {
        let b = &mut self.counts[bucket_of(ms)];
        *b = b.saturating_add(n);
    }

    /// Adds another histogram's counts (windows are sums of minutes).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// Number of reports counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }

    /// The `q` quantile in ms (0.5 = median), `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile_of(&self.counts, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.add(i as f64, 1);
        }
        let med = h.quantile(0.5).unwrap();
        let p90 = h.quantile(0.9).unwrap();
        assert!((med / 500.0 - 1.0).abs() < 0.1, "median {med}");
        assert!((p90 / 900.0 - 1.0).abs() < 0.1, "p90 {p90}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merge_equals_adding_everything() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        a.add(10.0, 3);
        b.add(15000.0, 2);
        all.add(10.0, 3);
        all.add(15000.0, 2);
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(bucket_of(0.2), 0);
        assert_eq!(bucket_of(1e9), NUM_BUCKETS - 1);
    }
}
