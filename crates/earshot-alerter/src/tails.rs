//! Exact upper-tail probabilities of counts, as z-scores.
//!
//! A normal approximation calls 8 toxic mentions against 1.8 expected a
//! 4.6-sigma event; the count's real tail probability (about 1 in 1,000) is
//! a 3-sigma one. Small brands and rare labels live in that regime, so the
//! detectors turn exact tails (negative binomial for over-dispersed counts,
//! binomial for shares) into the z a normal variable would need for the same
//! probability, and thresholds keep one meaning at every volume. Mentions
//! that come in threads sum geometric runs of one label, whose tails are
//! exact by recursion for small counts and read by saddlepoint past them
//! ([`clustered_binomial_z`]).

/// Beyond this count (or number of trials) the normal approximation is
/// close enough; the exact tail is kept to where it changes decisions.
const MAX_EXACT_COUNT: f64 = 2_000.0;

/// z such that a standard normal exceeds it with probability
/// `exp(log_tail)`.
pub fn z_from_log_tail(log_tail: f64) -> f64 {
    if log_tail >= 0.0 {
        return -8.0;
    }
    // Below ~1e-300 f64 underflows; 37 sigma is beyond any threshold.
    let tail = log_tail.max(-690.0).exp();
    -inverse_normal_cdf(tail)
}

/// ln P(Z >= z) for a standard normal: the erfc series below 5 sigma, the
/// asymptotic (Mills ratio) expansion above, where the series' absolute
/// error would swamp the tail.
pub fn log_upper_tail(z: f64) -> f64 {
    if z < 5.0 {
        let x = z / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let polynomial = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let erfc = polynomial * (-x * x).exp();
        let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
        return (0.5 * erfc).clamp(1e-300, 1.0).ln();
    }
    let squared = z * z;
    -squared / 2.0 - z.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
        + (1.0 - 1.0 / squared + 3.0 / (squared * squared)).ln()
}

/// The z of the most extreme of `tests` independent readings, as one
/// reading: the chance that any of them is as extreme (Šidák: 1 - (1 -
/// p)^tests, about `tests` times the tail when that is small), turned back
/// into a z. The strongest of a thousand terms reaches 3 sigma by chance at
/// most bin closes; this z does so about once in 740 closes, as one term's.
pub fn family_z(z: f64, tests: usize) -> f64 {
    if tests <= 1 {
        return z;
    }
    let log_tail = log_upper_tail(z);
    let log_family = log_tail + (tests as f64).ln();
    if log_family < -7.0 {
        // Under 1e-3 the two agree to 0.05%; the log keeps tiny tails.
        return z_from_log_tail(log_family);
    }
    let family = -(tests as f64 * (-log_tail.exp()).ln_1p()).exp_m1();
    -inverse_normal_cdf(family.min(1.0 - 1e-12))
}

/// Over-dispersed count: `observed` against a negative binomial with this
/// mean and variance `mean + mean^2 / dispersion`. Counts may be
/// fractional: the incomplete beta takes them as they are, between the
/// tails of the whole counts either side.
pub fn negative_binomial_z(observed: f64, mean: f64, dispersion: f64) -> f64 {
    let mean = mean.max(1e-9);
    let variance = mean + mean * mean / dispersion;
    let normal_z = (observed - mean) / variance.sqrt();
    if observed <= mean || observed > MAX_EXACT_COUNT {
        return normal_z;
    }
    // With r = dispersion and q = mean / (r + mean), P(X >= k) = I_q(k, r).
    let successes = observed;
    if successes < 1.0 {
        return z_from_log_tail(0.0);
    }
    let q = mean / (dispersion + mean);
    z_from_log_tail(ln_regularized_incomplete_beta(q, successes, dispersion))
}

/// Share: `successes` of `trials` against a binomial with probability
/// `share`; fractional counts as in [`negative_binomial_z`].
pub fn binomial_exact_z(successes: f64, trials: f64, share: f64) -> f64 {
    if trials <= 0.0 {
        return 0.0;
    }
    let share = share.clamp(1e-6, 1.0 - 1e-6);
    let mean = trials * share;
    let normal_z = (successes - mean) / (mean * (1.0 - share)).sqrt();
    if successes <= mean || trials > MAX_EXACT_COUNT {
        return normal_z;
    }
    if successes < 1.0 {
        return z_from_log_tail(0.0);
    }
    if successes > trials {
        return z_from_log_tail(f64::NEG_INFINITY);
    }
    // P(X >= k) = I_p(k, n - k + 1).
    z_from_log_tail(ln_regularized_incomplete_beta(
        share,
        successes,
        trials - successes + 1.0,
    ))
}

/// How mentions come in clusters: a reply or repost carries its thread's
/// labels, so a count is a sum over threads of geometric sizes (each
/// mention goes on the thread with probability `continuation`, the
/// Pólya-Aeppli shape). Scaling the count down by the variance's inflation
/// (a design effect) matches the variance but not the tail: geometric
/// threads make long runs likelier than any scaled binomial, and on
/// streams where 30% of mentions take the previous one's labels, runs of
/// toxic and negative labels read 4 sigma and paged about once per
/// brand-week (BENCHMARKS.md, stop 43).
#[derive(Debug, Clone, Copy)]
enum Threads {
    /// Each of `trials` mentions starts a thread of the label with
    /// probability `share`.
    Binomial { trials: f64, share: f64 },
    /// Threads start as a negative binomial of this mean and size.
    NegativeBinomial { mean: f64, size: f64 },
}

impl Threads {
    /// The thread starts' cumulant generating function and its first two
    /// derivatives at `s`.
    fn cumulants(self, s: f64) -> (f64, f64, f64) {
        let es = s.exp();
        match self {
            Threads::Binomial { trials, share } => {
                let base = 1.0 - share + share * es;
                let tilted = share * es / base;
                (
                    trials * base.ln(),
                    trials * tilted,
                    trials * tilted * (1.0 - tilted),
                )
            }
            Threads::NegativeBinomial { mean, size } => {
                let base = 1.0 + mean / size * (1.0 - es);
                let first = mean * es / base;
                (-size * base.ln(), first, first + first * first / size)
            }
        }
    }

    /// The largest `s` its generating function is finite below.
    fn s_limit(self) -> f64 {
        match self {
            Threads::NegativeBinomial { mean, size } => (size / mean).ln_1p(),
            Threads::Binomial { .. } => f64::INFINITY,
        }
    }
}

/// The count's cumulant generating function and its first two derivatives
/// at `t`: thread starts compounded with geometric thread sizes, whose
/// log moment generating function is `s(t) = ln(1 - c) + t - ln(1 - c e^t)`.
fn clustered_cumulants(threads: Threads, continuation: f64, t: f64) -> (f64, f64, f64) {
    let ce = continuation * t.exp();
    let s = (-continuation).ln_1p() + t - (-ce).ln_1p();
    let ds = 1.0 / (1.0 - ce);
    let dds = ce / ((1.0 - ce) * (1.0 - ce));
    let (k, dk, ddk) = threads.cumulants(s);
    (k, dk * ds, ddk * ds * ds + dk * dds)
}

/// Counts up to this take the exact tail ([`clustered_tail_by_recursion`],
/// about count^2 / 2 steps); the saddlepoint is poor for a few threads of
/// many mentions (2 of one label in a window of 1 at a spread of 10 read
/// 1.9 sigma against the exact 2.4).
const MAX_RECURSION_COUNT: f64 = 64.0;

/// Below this the recursion's tail (1 minus the sum below it) has lost
/// too many digits; the saddlepoint, far out, is good.
const MIN_RECURSION_TAIL: f64 = 1e-10;

/// The z of `P(X >= observed)` for a clustered count (a fractional one
/// is read as the next whole count).
fn clustered_z(observed: f64, threads: Threads, continuation: f64) -> f64 {
    let observed = observed.ceil();
    if observed <= MAX_RECURSION_COUNT {
        let tail = clustered_tail_by_recursion(observed as usize, threads, continuation);
        if tail >= MIN_RECURSION_TAIL {
            return -inverse_normal_cdf(tail.min(1.0));
        }
    }
    clustered_saddlepoint_z(observed, threads, continuation)
}

/// `P(X >= observed)` by Panjer's recursion: thread starts are of the
/// (a, b, 0) class, so the count's probabilities follow from the ones
/// below them and the geometric sizes (1 - c) c^(j-1).
fn clustered_tail_by_recursion(observed: usize, threads: Threads, continuation: f64) -> f64 {
    let (a, b, none) = match threads {
        Threads::Binomial { trials, share } => (
            -share / (1.0 - share),
            (trials + 1.0) * share / (1.0 - share),
            (trials * (-share).ln_1p()).exp(),
        ),
        Threads::NegativeBinomial { mean, size } => {
            let beta = mean / size;
            (
                beta / (1.0 + beta),
                (size - 1.0) * beta / (1.0 + beta),
                (-size * beta.ln_1p()).exp(),
            )
        }
    };
    let mut probabilities = Vec::with_capacity(observed);
    probabilities.push(none);
    let mut below = none;
    for k in 1..observed {
        let mut size_probability = 1.0 - continuation;
        let mut sum = 0.0;
        for j in 1..=k {
            sum += (a + b * j as f64 / k as f64) * size_probability * probabilities[k - j];
            size_probability *= continuation;
        }
        probabilities.push(sum);
        below += sum;
    }
    (1.0 - below).max(0.0)
}

/// The z of `P(X >= observed)` by saddlepoint: Lugannani-Rice with
/// Daniels' second continuity correction, in the Barndorff-Nielsen r*
/// form that gives the z directly (within 0.02 of the exact tail's z past
/// [`MAX_RECURSION_COUNT`]; tests check it).
fn clustered_saddlepoint_z(observed: f64, threads: Threads, continuation: f64) -> f64 {
    debug_assert!(continuation > 0.0 && continuation < 1.0);
    let target = observed - 0.5;
    // t below which both generating functions are finite (finite itself:
    // callers only cluster counts that spread wider, so c > 0).
    let mut high = -continuation.ln();
    let s_limit = threads.s_limit();
    if s_limit.is_finite() {
        // s(t) is increasing: solve s(t) = s_limit for t.
        let e = s_limit.exp();
        high = high.min((e / (1.0 - continuation + continuation * e)).ln());
    }
    let mut low = 0.0;
    let (_, mean, _) = clustered_cumulants(threads, continuation, 0.0);
    if target <= mean {
        return 0.0;
    }
    // Newton inside a shrinking bracket: K' rises from the mean at 0 to
    // infinity at `high`.
    let mut t = high / 2.0;
    for _ in 0..100 {
        let (_, first, second) = clustered_cumulants(threads, continuation, t);
        if first > target {
            high = t;
        } else {
            low = t;
        }
        if (first - target).abs() < 1e-10 * target {
            break;
        }
        let newton = t - (first - target) / second;
        t = if newton > low && newton < high {
            newton
        } else {
            (low + high) / 2.0
        };
    }
    let (k, _, second) = clustered_cumulants(threads, continuation, t);
    let w = (2.0 * (t * target - k)).max(0.0).sqrt();
    let u = 2.0 * (t / 2.0).sinh() * second.sqrt();
    if w < 1e-6 || u <= 0.0 {
        return w;
    }
    w + (u / w).ln() / w
}

/// [`binomial_exact_z`] for mentions in threads: `inflation` is how much
/// wider than the binomial's the counts spread (at most 1: independent).
/// Each of the `trials` mentions starts a thread of the label with
/// probability `share (1 - c)`, where the geometric continuation `c` gives
/// the count that variance at this share.
pub fn clustered_binomial_z(successes: f64, trials: f64, share: f64, inflation: f64) -> f64 {
    if inflation <= 1.0 {
        return binomial_exact_z(successes, trials, share);
    }
    let share = share.clamp(1e-6, 1.0 - 1e-6);
    let mean = trials * share;
    let normal_z = (successes - mean) / (inflation * mean * (1.0 - share)).sqrt();
    if successes <= mean || trials > MAX_EXACT_COUNT {
        return normal_z;
    }
    // With q = s (1 - c): Var = n q (1 - q + c) / (1 - c)^2, which is
    // inflation n s (1 - s) at this c.
    let rest = 1.0 - share;
    let continuation = (inflation - 1.0) * rest / (1.0 + share + inflation * rest);
    clustered_z(
        successes,
        Threads::Binomial {
            trials,
            share: share * (1.0 - continuation),
        },
        continuation,
    )
}

/// [`negative_binomial_z`] for mentions in threads: variance
/// `inflation mean + mean^2 / dispersion`, thread starts a negative
/// binomial of mean `mean (1 - c)`, `c = (inflation - 1) / (inflation + 1)`.
pub fn clustered_negative_binomial_z(
    observed: f64,
    mean: f64,
    dispersion: f64,
    inflation: f64,
) -> f64 {
    if inflation <= 1.0 {
        return negative_binomial_z(observed, mean, dispersion);
    }
    let mean = mean.max(1e-9);
    let variance = inflation * mean + mean * mean / dispersion;
    let normal_z = (observed - mean) / variance.sqrt();
    if observed <= mean || observed > MAX_EXACT_COUNT {
        return normal_z;
    }
    let continuation = (inflation - 1.0) / (inflation + 1.0);
    clustered_z(
        observed,
        Threads::NegativeBinomial {
            mean: mean * (1.0 - continuation),
            size: dispersion,
        },
        continuation,
    )
}

/// ln I_x(a, b), the regularized incomplete beta function, for a, b > 0 and
/// 0 < x < 1. Its continued fraction takes O(sqrt(max(a, b))) steps where a
/// tail sum over the pmf takes O(standard deviations): a 60-minute window of
/// a big brand sums hundreds of terms at every bin close.
fn ln_regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    let ln_front = a * x.ln() + b * (-x).ln_1p() - (ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b));
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front + beta_continued_fraction(x, a, b).ln() - a.ln()
    } else {
        // Past the bulk the value is large, so taking it from the other
        // side's small one loses nothing.
        let other = (ln_front + beta_continued_fraction(1.0 - x, b, a).ln() - b.ln()).exp();
        (-other.min(1.0)).ln_1p()
    }
}

/// The continued fraction of I_x(a, b) (modified Lentz), converging fast
/// for x < (a + 1) / (a + b + 2).
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    const MAX_STEPS: u32 = 10_000;
    let guard = |value: f64| if value.abs() < TINY { TINY } else { value };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut fraction = d;
    for step in 1..=MAX_STEPS {
        let m = f64::from(step);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        fraction *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let change = d * c;
        fraction *= change;
        if (change - 1.0).abs() < EPSILON {
            break;
        }
    }
    fraction
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const COEFFICIENTS: [f64; 9] = [
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
        // Reflection: Γ(x) Γ(1 - x) = π / sin(π x).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut series = COEFFICIENTS[0];
    for (index, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        series += coefficient / (x + index as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The standard normal quantile (Wichura's AS 241, relative error ~1e-16).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q
            * (((((((r * 2_509.080_928_730_122_7 + 33_430.575_583_588_13) * r
                + 67_265.770_927_008_7)
                * r
                + 45_921.953_931_549_87)
                * r
                + 13_731.693_765_509_46)
                * r
                + 1_971.590_950_306_551_3)
                * r
                + 133.141_667_891_784_38)
                * r
                + 3.387_132_872_796_366_5)
            / (((((((r * 5_226.495_278_852_545 + 28_729.085_735_721_94) * r
                + 39_307.895_800_092_71)
                * r
                + 21_213.794_301_586_6)
                * r
                + 5_394.196_021_424_751)
                * r
                + 687.187_007_492_057_9)
                * r
                + 42.313_330_701_600_91)
                * r
                + 1.0);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let value = if r <= 5.0 {
        let r = r - 1.6;
        (((((((r * 7.745_450_142_783_414e-4 + 0.022_723_844_989_269_184) * r
            + 0.241_780_725_177_450_6)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_546)
            * r
            + 1.423_437_110_749_683_5)
            / (((((((r * 1.050_750_071_644_416_9e-9 + 5.475_938_084_995_345e-4) * r
                + 0.015_198_666_563_616_457)
                * r
                + 0.148_103_976_427_480_08)
                * r
                + 0.689_767_334_985_1)
                * r
                + 1.676_384_830_183_803_8)
                * r
                + 2.053_191_626_637_759)
                * r
                + 1.0)
    } else {
        let r = r - 5.0;
        (((((((r * 2.010_334_399_292_288_1e-7 + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_9)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103)
            / (((((((r * 2.044_263_103_389_939_7e-15 + 1.421_511_758_316_446e-7) * r
                + 1.846_318_317_510_054_8e-5)
                * r
                + 7.868_691_311_456_133e-4)
                * r
                + 0.014_875_361_290_850_615)
                * r
                + 0.136_929_880_922_735_8)
                * r
                + 0.599_832_206_555_888)
                * r
                + 1.0)
    };
    if q < 0.0 {
        -value
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_counts_lie_between_the_whole_ones() {
        for (low, high) in [(3.0, 4.0), (9.0, 10.0)] {
            let middle = (low + high) / 2.0;
            let nb = |k: f64| negative_binomial_z(k, 2.0, 15.0);
            assert!(nb(low) < nb(middle) && nb(middle) < nb(high), "{low}");
            let binomial = |k: f64| binomial_exact_z(k, 20.0, 0.2);
            assert!(binomial(low) < binomial(middle) && binomial(middle) < binomial(high));
        }
        let fewer_trials = binomial_exact_z(6.0, 12.5, 0.2);
        assert!(binomial_exact_z(6.0, 13.0, 0.2) < fewer_trials);
        assert!(fewer_trials < binomial_exact_z(6.0, 12.0, 0.2));
    }

    #[test]
    fn the_strongest_of_many_readings_reads_as_one() {
        // One test: unchanged.
        assert_eq!(family_z(3.0, 1), 3.0);
        // The tail of the result is the chance that any of the tests is as
        // extreme: 1 - (1 - p)^tests.
        for (z, tests) in [(3.0, 1000), (3.5, 40), (4.5, 100), (6.0, 2000), (9.0, 50)] {
            let family = family_z(z, tests);
            let tail = log_upper_tail(z).exp();
            let any = -(tests as f64 * (-tail).ln_1p()).exp_m1();
            assert!(
                (log_upper_tail(family) - any.ln()).abs() < 2e-3,
                "z {z}, {tests} tests: {family}"
            );
            assert!(family < z && family < family_z(z, tests / 2));
        }
        // 3 sigma among 1,000 (p 1.35e-3, 74% that one of them gets there)
        // is calm, not a reading at all.
        assert!((family_z(3.0, 1000) + 0.64).abs() < 0.01);
        // The two branches of the log tail meet at 5 sigma, and the series
        // agrees with the exact 3-sigma tail.
        assert!((log_upper_tail(4.999_999) - log_upper_tail(5.0)).abs() < 1e-3);
        assert!((log_upper_tail(3.0) - 1.349_898e-3_f64.ln()).abs() < 1e-3);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut factorial: f64 = 1.0;
        for n in 1..30 {
            factorial *= f64::from(n);
            let expected = factorial.ln();
            assert!((ln_gamma(f64::from(n) + 1.0) - expected).abs() < 1e-10 * expected.max(1.0));
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn inverse_normal_cdf_matches_known_quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.001, -3.090_232_306_167_813_6),
            (1e-10, -6.361_340_902_404_056),
            (1e-100, -21.273_453_560_965_322),
        ] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-9, "{p}");
        }
    }

    /// Brute-force tails from the pmf, summed one term at a time.
    fn poisson_tail(observed: u32, mean: f64) -> f64 {
        let below: f64 = (0..observed)
            .map(|k| (-mean + f64::from(k) * mean.ln() - ln_gamma(f64::from(k) + 1.0)).exp())
            .sum();
        1.0 - below
    }

    fn binomial_tail(successes: u32, trials: u32, share: f64) -> f64 {
        (successes..=trials)
            .map(|k| {
                let (k, n) = (f64::from(k), f64::from(trials));
                (ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
                    + k * share.ln()
                    + (n - k) * (1.0 - share).ln())
                .exp()
            })
            .sum()
    }

    /// ln of a tail summed term by term from its log pmf until the terms
    /// stop mattering: slow, obviously right.
    fn summed_log_tail(first: u32, last: u32, log_pmf: impl Fn(f64) -> f64) -> f64 {
        let peak = log_pmf(f64::from(first));
        let mut sum = 0.0;
        for k in first..=last {
            let relative = (log_pmf(f64::from(k)) - peak).exp();
            sum += relative;
            if relative < sum * 1e-18 {
                break;
            }
        }
        peak + sum.ln()
    }

    #[test]
    fn continued_fraction_tails_match_summed_ones_at_every_scale() {
        for trials in [1_u32, 4, 20, 150, 900, 2_000] {
            for share in [0.001, 0.03, 0.2, 0.5, 0.93] {
                let n = f64::from(trials);
                let first = (n * share).floor() as u32 + 1;
                for successes in (first..=trials).step_by((trials as usize / 15).max(1)) {
                    let expected = summed_log_tail(successes, trials, |k| {
                        ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
                            + k * share.ln()
                            + (n - k) * (1.0 - share).ln()
                    });
                    let z = binomial_exact_z(f64::from(successes), n, share);
                    assert!(
                        (z - z_from_log_tail(expected)).abs() < 1e-7,
                        "{successes}/{trials} at {share}: {z} vs {}",
                        z_from_log_tail(expected)
                    );
                }
            }
        }
        for mean in [0.3, 2.0, 15.0, 140.0, 900.0] {
            for dispersion in [0.5, 3.0, 20.0, 400.0] {
                let size: f64 = dispersion;
                let q = mean / (size + mean);
                let sd = (mean + mean * mean / size).sqrt();
                let first = mean.floor() as u32 + 1;
                let last = ((mean + 12.0 * sd) as u32).min(2_000);
                for observed in (first..=last).step_by(((last - first) as usize / 12).max(1)) {
                    let expected = summed_log_tail(observed, u32::MAX, |k| {
                        ln_gamma(k + size) - ln_gamma(size) - ln_gamma(k + 1.0)
                            + size * (size / (size + mean)).ln()
                            + k * q.ln()
                    });
                    let z = negative_binomial_z(f64::from(observed), mean, dispersion);
                    assert!(
                        (z - z_from_log_tail(expected)).abs() < 1e-7,
                        "{observed} vs {mean} (r {dispersion}): {z} vs {}",
                        z_from_log_tail(expected)
                    );
                }
            }
        }
    }

    #[test]
    fn negative_binomial_tail_approaches_the_poisson_one() {
        // A huge dispersion is a Poisson.
        for (observed, mean) in [(8, 1.8), (4, 0.5), (30, 12.0), (12, 3.0)] {
            let z = negative_binomial_z(f64::from(observed), mean, 1e9);
            let expected = -inverse_normal_cdf(poisson_tail(observed, mean));
            assert!(
                (z - expected).abs() < 1e-4,
                "{observed} vs {mean}: {z} {expected}"
            );
        }
        // 8 against 1.8 is about a 3-sigma event, not the normal 4.6.
        let z = negative_binomial_z(8.0, 1.8, 15.0);
        assert!((2.8..3.3).contains(&z), "{z}");
        // Over-dispersion makes the same count less surprising.
        assert!(negative_binomial_z(30.0, 12.0, 5.0) < negative_binomial_z(30.0, 12.0, 1e9));
    }

    #[test]
    fn binomial_z_matches_the_summed_tail() {
        for (successes, trials, share) in [(8, 60, 0.03), (8, 11, 0.25), (41, 100, 0.25)] {
            let z = binomial_exact_z(f64::from(successes), f64::from(trials), share);
            let expected = -inverse_normal_cdf(binomial_tail(successes, trials, share));
            assert!(
                (z - expected).abs() < 1e-6,
                "{successes}/{trials}: {z} {expected}"
            );
        }
        // At or below the mean the normal z stands.
        assert!(binomial_exact_z(2.0, 10.0, 0.3) < 0.0);
    }

    /// The exact tail of a clustered count, summed over the number of
    /// threads K: K geometric sizes sum to k with probability
    /// C(k-1, K-1) (1-c)^K c^(k-K). Independent of the recursion.
    fn enumerated_tail(observed: u32, threads: Threads, continuation: f64) -> f64 {
        let ln_choose =
            |n: f64, k: f64| ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0);
        let starts = |count: u32| {
            let k = f64::from(count);
            match threads {
                Threads::Binomial { trials, share } => {
                    if k > trials {
                        return 0.0;
                    }
                    (ln_choose(trials, k) + k * share.ln() + (trials - k) * (-share).ln_1p()).exp()
                }
                Threads::NegativeBinomial { mean, size } => {
                    (ln_gamma(k + size) - ln_gamma(size) - ln_gamma(k + 1.0)
                        + size * (size / (size + mean)).ln()
                        + k * (mean / (size + mean)).ln())
                    .exp()
                }
            }
        };
        let sums_below = |count: u32| -> f64 {
            // P(K sizes sum to less than `observed`).
            (count.max(1)..observed)
                .map(|total| {
                    let (total, k) = (f64::from(total), f64::from(count));
                    (ln_choose(total - 1.0, k - 1.0)
                        + k * (-continuation).ln_1p()
                        + (total - k) * continuation.ln())
                    .exp()
                })
                .sum()
        };
        (1..5_000)
            .map(|count| {
                if count >= observed {
                    starts(count)
                } else {
                    starts(count) * (1.0 - sums_below(count))
                }
            })
            .sum()
    }

    #[test]
    fn clustered_tails_match_the_enumerated_ones() {
        let binomial = |trials, share| Threads::Binomial { trials, share };
        let negative_binomial = |mean, size| Threads::NegativeBinomial { mean, size };
        // (observed, thread starts, continuation)
        let cases = [
            (6, binomial(20.0, 0.03), 0.3),
            (12, binomial(40.0, 0.03), 0.3),
            (25, binomial(60.0, 0.25), 0.2),
            (40, binomial(70.0, 0.2), 0.3),
            (9, binomial(8.0, 0.12), 0.5),
            (8, negative_binomial(1.3, 15.0), 0.3),
            (15, negative_binomial(2.0, 15.0), 0.3),
            (60, negative_binomial(20.0, 15.0), 0.4),
            (30, negative_binomial(7.0, 3.0), 0.1),
            // Long threads (a spread of 9-10), few of them.
            (2, binomial(1.0, 0.002), 0.8),
            (4, binomial(1.0, 0.002), 0.8),
            (4, binomial(4.0, 0.01), 0.8),
            (8, binomial(4.0, 0.01), 0.8),
            (20, binomial(12.0, 0.06), 0.8),
            (4, negative_binomial(0.1, 15.0), 0.8),
            (10, negative_binomial(0.4, 15.0), 0.8),
            (30, negative_binomial(1.0, 15.0), 0.8),
            // Past the recursion: the saddlepoint.
            (90, binomial(300.0, 0.1), 0.4),
            (150, binomial(400.0, 0.2), 0.3),
            (120, negative_binomial(40.0, 15.0), 0.5),
            (80, negative_binomial(5.0, 15.0), 0.8),
        ];
        for (observed, threads, continuation) in cases {
            let exact = -inverse_normal_cdf(enumerated_tail(observed, threads, continuation));
            let z = clustered_z(f64::from(observed), threads, continuation);
            let tolerance = if f64::from(observed) <= MAX_RECURSION_COUNT {
                1e-6
            } else {
                0.02 * exact.max(1.0)
            };
            assert!(
                (z - exact).abs() < tolerance,
                "{observed} of {threads:?} at {continuation}: {z} vs {exact}"
            );
            // The saddlepoint agrees too, but for a few long threads.
            let saddlepoint = clustered_saddlepoint_z(f64::from(observed), threads, continuation);
            if continuation < 0.8 {
                assert!(
                    (saddlepoint - exact).abs() < 0.02 * exact.max(1.0),
                    "{observed} of {threads:?} at {continuation}: {saddlepoint} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn clustered_tails_stay_finite_and_ordered_at_every_scale() {
        // Weaker than independent mentions' where it matters: from 4
        // mentions on (no severity comes with fewer) and 1.5 sigma (below,
        // the detector reads the normal z). One or two mentions can read
        // stronger, since fewer thread starts make any mention at all less
        // likely. Past 30 sigma the independent tail is clamped (37).
        let no_stronger = |count: f64, z: f64, independent: f64| {
            count < 4.0 || !(1.5..=30.0).contains(&independent) || z <= independent + 0.02
        };
        for trials in [1.0_f64, 5.0, 30.0, 400.0, 2_000.0] {
            for share in [0.01, 0.05, 0.3, 0.9, 0.98] {
                for inflation in [1.01, 2.0, 10.0] {
                    let mut last = f64::NEG_INFINITY;
                    let first = (trials * share).ceil();
                    for step in 0..=20 {
                        let successes = (first + (trials - first) * f64::from(step) / 20.0).round();
                        let z = clustered_binomial_z(successes, trials, share, inflation);
                        let independent = binomial_exact_z(successes, trials, share);
                        assert!(
                            z.is_finite()
                                && z >= last - 1e-9
                                && no_stronger(successes, z, independent),
                            "{successes}/{trials} at {share}, {inflation}: {z} after {last}, {independent}"
                        );
                        last = z;
                    }
                }
            }
        }
        for mean in [0.5_f64, 3.0, 40.0, 900.0] {
            for inflation in [1.01, 2.0, 10.0] {
                let mut last = f64::NEG_INFINITY;
                for step in 0..=20 {
                    let observed = (mean * (1.0 + f64::from(step) / 2.0)).ceil();
                    let z = clustered_negative_binomial_z(observed, mean, 15.0, inflation);
                    let independent = negative_binomial_z(observed, mean, 15.0);
                    assert!(
                        z.is_finite() && z >= last - 1e-9 && no_stronger(observed, z, independent),
                        "{observed} vs {mean}, {inflation}: {z} after {last}, {independent}"
                    );
                    last = z;
                }
            }
        }
    }

    #[test]
    fn threads_read_the_same_count_weaker_than_its_scaled_binomial() {
        // 20 toxic of 100 against 5%, spreading twice as wide: the design
        // effect (10 of 50) reads 3.6 sigma, geometric threads' heavier
        // tail 3.34 (exact).
        let scaled = binomial_exact_z(10.0, 50.0, 0.05);
        let clustered = clustered_binomial_z(20.0, 100.0, 0.05, 2.0);
        assert!((scaled - 3.6).abs() < 0.01, "{scaled}");
        assert!((clustered - 3.34).abs() < 0.02, "{clustered}");
        let scaled = negative_binomial_z(7.5, 1.0, 15.0);
        let clustered = clustered_negative_binomial_z(15.0, 2.0, 15.0, 2.0);
        assert!(clustered < scaled - 0.2, "{clustered} vs {scaled}");
        // Independent mentions read as before, and wider threads weaker.
        assert_eq!(
            clustered_binomial_z(15.0, 100.0, 0.05, 1.0),
            binomial_exact_z(15.0, 100.0, 0.05)
        );
        assert_eq!(
            clustered_negative_binomial_z(15.0, 2.0, 15.0, 1.0),
            negative_binomial_z(15.0, 2.0, 15.0)
        );
        let mut last = f64::INFINITY;
        for inflation in [1.05, 1.5, 2.0, 4.0, 10.0] {
            let z = clustered_binomial_z(20.0, 100.0, 0.05, inflation);
            assert!(z < last, "{inflation}: {z}");
            last = z;
        }
        // Barely clustered is barely different.
        let barely = clustered_binomial_z(20.0, 100.0, 0.05, 1.000_1);
        assert!(
            (barely - binomial_exact_z(20.0, 100.0, 0.05)).abs() < 0.02,
            "{barely}"
        );
    }
}
