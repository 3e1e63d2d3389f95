//! The statistics the detector relies on: log-gamma and the upper tails of the binomial and
//! beta-binomial distributions, summed exactly (no normal approximation, which is poor for the
//! small failure counts of quiet cells).

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps accuracy for the small shape parameters of a weak prior.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin().abs()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln B(a, b), the beta function.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln of the binomial coefficient C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Sums pmf(k) for k = `start`, then onward by `next` while it yields, given ln pmf(start) and
/// the ratio pmf(next k) / pmf(k); stops once terms are negligible and shrinking.
fn tail_sum(ln_first: f64, start: u64, next: impl Fn(u64) -> Option<u64>, ratio: impl Fn(u64) -> f64) -> f64 {
    let (mut k, mut term, mut sum) = (start, 1.0f64, 1.0f64);
    while let Some(k2) = next(k) {
        let r = ratio(k);
        term *= r;
        sum += term;
        k = k2;
        if r < 1.0 && term < sum * 1e-17 {
            break;
        }
    }
    (ln_first.exp() * sum).clamp(0.0, 1.0)
}

/// Shared upper-tail logic: P(X >= x) for a distribution on 0..=n given its ln pmf, its
/// successive-term ratio pmf(k+1)/pmf(k), and its mean. Above the mean the tail is summed
/// directly; below it, one minus the lower tail, so sums never run uphill into overflow.
fn upper_tail(x: u64, n: u64, mean: f64, ln_pmf: impl Fn(u64) -> f64, up: impl Fn(u64) -> f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > n {
        return 0.0;
    }
    if x as f64 >= mean {
        tail_sum(ln_pmf(x), x, |k| (k < n).then_some(k + 1), &up)
    } else {
        let lower = tail_sum(ln_pmf(x - 1), x - 1, |k| k.checked_sub(1), |k| 1.0 / up(k - 1));
        (1.0 - lower).clamp(0.0, 1.0)
    }
}

/// P(X >= x) for X ~ Binomial(n, p): the one-sided p-value of seeing `x` or more failures in
/// `n` reports when the true failure rate is `p`.
pub fn binomial_sf(x: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return if x == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if x <= n { 1.0 } else { 0.0 };
    }
    let ln_pmf = |k: u64| ln_choose(n, k) + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln();
    let up = |k: u64| (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
    upper_tail(x, n, n as f64 * p, ln_pmf, up)
}

/// P(X >= x) for X ~ BetaBinomial(n, a, b): the same p-value when the failure rate itself is
/// only known as Beta(a, b) (the baseline's posterior). A short or noisy history gives a wide
/// Beta and so demands more evidence, which is the point of using it instead of the binomial.
pub fn beta_binomial_sf(x: u64, n: u64, a: f64, b: f64) -> f64 {
    let ln_pmf = |k: u64| ln_choose(n, k) + ln_beta(k as f64 + a, (n - k) as f64 + b) - ln_beta(a, b);
    let up = |k: u64| (n - k) as f64 / (k + 1) as f64 * (k as f64 + a) / ((n - k) as f64 - 1.0 + b);
    upper_tail(x, n, n as f64 * a / (a + b), ln_pmf, up)
}

/// P(X >= x) for X ~ Poisson(lambda). Used for the number of networks showing failures: a
/// Poisson with the same mean is wider than the exact Poisson-binomial, so the test errs safe.
pub fn poisson_sf(x: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return if x == 0 { 1.0 } else { 0.0 };
    }
    let ln_pmf = |k: u64| k as f64 * lambda.ln() - lambda - ln_gamma(k as f64 + 1.0);
    upper_tail(x, u64::MAX / 2, lambda, ln_pmf, |k| lambda / (k + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) {
        assert!((got - want).abs() <= rel * want.abs(), "got {got:e}, want {want:e}");
    }

    #[test]
    fn ln_gamma_known_values() {
        close(ln_gamma(10.0), 362_880f64.ln(), 1e-13);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-13);
        close(ln_gamma(0.1), 9.513_507_698_668_732f64.ln(), 1e-12);
        close(ln_gamma(1001.0), 5_912.128_178_488_163, 1e-13);
    }

    #[test]
    fn binomial_tail_known_values() {
        // 56/1024 and 968/1024: both branches (above and below the mean) of the summation.
        close(binomial_sf(8, 10, 0.5), 56.0 / 1024.0, 1e-12);
        close(binomial_sf(3, 10, 0.5), 968.0 / 1024.0, 1e-12);
        // Exact rational sums (Python fractions): a 20% window against a 3% baseline...
        close(binomial_sf(60, 300, 0.03), 2.916_977_159_813_853_4e-31, 1e-9);
        // ...and a mild excess.
        close(binomial_sf(20, 300, 0.03), 8.620_570_846_055_71e-4, 1e-9);
        assert_eq!(binomial_sf(0, 5, 0.1), 1.0);
        assert_eq!(binomial_sf(6, 5, 0.1), 0.0);
    }

    #[test]
    fn beta_binomial_tail_known_values() {
        // Beta(1,1) mixing makes every count equally likely: P(X >= k) = (n + 1 - k) / (n + 1).
        for k in 0..=10 {
            close(beta_binomial_sf(k, 10, 1.0, 1.0), (11 - k) as f64 / 11.0, 1e-12);
        }
        close(beta_binomial_sf(3, 3, 2.0, 3.0), 4.0 / 35.0, 1e-12);
        // Exact rational sums with the default prior Beta(3, 97) (failure rate 3%, weight 100).
        close(beta_binomial_sf(30, 300, 3.0, 97.0), 5.554_625_135_376_345e-3, 1e-9);
        close(beta_binomial_sf(60, 300, 3.0, 97.0), 1.223_146_926_356_565_5e-6, 1e-9);
        close(beta_binomial_sf(5, 300, 3.0, 97.0), 0.761_645_596_918_424_6, 1e-9);
    }

    #[test]
    fn poisson_tail_known_values() {
        close(poisson_sf(3, 1.0), 1.0 - 2.5 / std::f64::consts::E, 1e-12);
        close(poisson_sf(10, 2.0), 4.649_807_501_710_956e-5, 1e-9);
        assert_eq!(poisson_sf(0, 3.0), 1.0);
    }

    #[test]
    fn beta_binomial_tends_to_binomial_with_a_sharp_prior() {
        let (p, w) = (0.03, 1e7);
        close(beta_binomial_sf(20, 300, p * w, (1.0 - p) * w), binomial_sf(20, 300, p), 1e-3);
        // A wide prior is more forgiving than the binomial at the same mean.
        assert!(beta_binomial_sf(20, 300, 3.0, 97.0) > binomial_sf(20, 300, 0.03));
    }
}
