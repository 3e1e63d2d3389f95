//! A tiny seeded generator for the scenarios, so tests need no RNG dependency.

/// PCG32 (O'Neill's `pcg32_random_r`): a few lines instead of a dependency.
#[derive(Clone, Debug)]
pub struct Pcg32 {
    /// Generator state.
    state: u64,
    /// Stream selector (odd).
    inc: u64,
}

impl Pcg32 {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut r = Pcg32 { state: 0, inc: (seed << 1) | 1 };
        r.next_u32();
        r.state = r.state.wrapping_add(seed ^ 0x853c_49e6_748f_ea9b);
        r.next_u32();
        r
    }

    /// 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(self.inc);
        ((((old >> 18) ^ old) >> 27) as u32).rotate_right((old >> 59) as u32)
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u32() as f64 + 0.5) / 4_294_967_296.0
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// Poisson(lambda): exact (Knuth) when small, normal approximation when large.
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda >= 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let (limit, mut p, mut k) = ((-lambda).exp(), 1.0, 0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}
