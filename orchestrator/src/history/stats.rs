//! Paired significance tests for `compare`, and corrections for testing many cells at once.
//!
//! - McNemar's test for two accuracies measured on the same items: only the discordant pairs
//!   count (`b` = right before and wrong after, `c` = the reverse). Exact two-sided binomial test
//!   when `b + c < 25`, otherwise the chi-square statistic with continuity correction
//!   `(|b - c| - 1)^2 / (b + c)` on one degree of freedom (McNemar 1947; Edwards 1948).
//! - Paired bootstrap for any other per-item score: resample the per-item differences with
//!   replacement, `BOOTSTRAP_ITERS` times (fewer for very large cells) from a fixed seed, and use the shifted-null p-value
//!   `(1 + #{|mean* - d| >= |d|}) / (iters + 1)` (Efron & Tibshirani 1993, §16.4), where `d`
//!   is the observed mean difference. The same inputs always give the same p-value.
//! - Holm's step-down and Benjamini–Hochberg's step-up adjustments, as R's `p.adjust`.

/// Resamples in the paired bootstrap (fewer for very large cells, see [`bootstrap_iters`]).
pub const BOOTSTRAP_ITERS: usize = 10_000;
/// The fewest resamples: p-values down to about 0.001 stay resolvable.
pub const BOOTSTRAP_MIN_ITERS: usize = 1_000;
/// Draws (resamples × items) one cell may cost, so a 100,000-item dataset stays near a second.
pub const BOOTSTRAP_DRAWS: usize = 20_000_000;

/// Resamples for a cell of `n` paired items: [`BOOTSTRAP_ITERS`], cut to keep the draws within
/// [`BOOTSTRAP_DRAWS`], never below [`BOOTSTRAP_MIN_ITERS`]. Depends only on `n`, so results
/// stay reproducible.
pub fn bootstrap_iters(n: usize) -> usize {
    (BOOTSTRAP_DRAWS / n.max(1)).clamp(BOOTSTRAP_MIN_ITERS, BOOTSTRAP_ITERS)
}
/// Seed of the bootstrap's generator.
pub const BOOTSTRAP_SEED: u64 = 0x5EED_A55A;
/// Below this many discordant pairs McNemar's test is exact (binomial).
pub const MCNEMAR_EXACT_BELOW: u64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    McnemarExact,
    McnemarChi2,
    PairedBootstrap,
    /// No paired samples: a z-test on the two stored standard errors.
    UnpairedZ,
}

impl TestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::McnemarExact => "mcnemar-exact",
            TestKind::McnemarChi2 => "mcnemar-chi2",
            TestKind::PairedBootstrap => "paired-bootstrap",
            TestKind::UnpairedZ => "unpaired-z",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TestResult {
    pub test: TestKind,
    pub p_value: f64,
}

/// McNemar's test from the discordant counts.
pub fn mcnemar(b: u64, c: u64) -> TestResult {
    let n = b + c;
    if n == 0 {
        return TestResult {
            test: TestKind::McnemarExact,
            p_value: 1.0,
        };
    }
    if n < MCNEMAR_EXACT_BELOW {
        // P(X <= min(b, c)) for X ~ Binomial(n, 1/2), doubled.
        let k = b.min(c);
        let mut log_c = 0.0_f64; // ln C(n, 0)
        let mut tail = 0.0;
        let ln_half_n = n as f64 * 0.5_f64.ln();
        for i in 0..=k {
            if i > 0 {
                log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            tail += (log_c + ln_half_n).exp();
        }
        return TestResult {
            test: TestKind::McnemarExact,
            p_value: (2.0 * tail).min(1.0),
        };
    }
    let diff = (b as f64 - c as f64).abs() - 1.0;
    let stat = diff.max(0.0).powi(2) / n as f64;
    TestResult {
        test: TestKind::McnemarChi2,
        p_value: chi2_1_sf(stat),
    }
}

/// Paired bootstrap over per-item differences (after - before). `None` when empty.
pub fn paired_bootstrap(diffs: &[f64], iters: usize, seed: u64) -> Option<TestResult> {
    if diffs.is_empty() {
        return None;
    }
    let n = diffs.len();
    let d = diffs.iter().sum::<f64>() / n as f64;
    let mut rng = SplitMix64(seed);
    let mut extreme = 0usize;
    for _ in 0..iters {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += diffs[rng.below(n)];
        }
        // Within rounding of the observed value counts as "as extreme" (all-equal differences).
        if (sum / n as f64 - d).abs() >= d.abs() - 1e-12 {
            extreme += 1;
        }
    }
    Some(TestResult {
        test: TestKind::PairedBootstrap,
        p_value: (1 + extreme) as f64 / (iters + 1) as f64,
    })
}

/// Two-sided z-test for a difference with standard error `se`.
pub fn z_test(delta: f64, se: f64) -> Option<TestResult> {
    (se > 0.0 && se.is_finite()).then(|| TestResult {
        test: TestKind::UnpairedZ,
        p_value: erfc((delta / se).abs() / std::f64::consts::SQRT_2),
    })
}

/// Standard error of the mean of `values` (sample standard deviation, ddof = 1).
pub fn mean_stderr(values: &[f64]) -> Option<f64> {
    crate::metrics::mean_stderr(values)
}

/// Holm's step-down adjustment; the result is in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg step-up adjustment (false discovery rate); in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a])); // largest first
    let mut out = vec![0.0; m];
    let mut running = 1.0_f64;
    for (k, &i) in order.iter().enumerate() {
        let rank = m - k; // 1-based rank in ascending order
        running = running.min(p[i] * m as f64 / rank as f64).min(1.0);
        out[i] = running;
    }
    out
}

/// Upper tail of the chi-square distribution with one degree of freedom (`statrs`).
fn chi2_1_sf(x: f64) -> f64 {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    if x <= 0.0 || x.is_nan() {
        return 1.0;
    }
    ChiSquared::new(1.0).map_or(1.0, |d| d.sf(x))
}

/// Complementary error function (`statrs`).
pub fn erfc(x: f64) -> f64 {
    statrs::function::erf::erfc(x)
}

/// A small, fast, seedable generator (Steele et al. 2014); the bootstrap needs reproducibility
/// across platforms and releases, not cryptographic quality.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for our n).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mcnemar_exact_matches_binomial_tail() {
        // 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 158 / 4096.
        let r = mcnemar(10, 2);
        assert_eq!(r.test, TestKind::McnemarExact);
        assert!(close(r.p_value, 158.0 / 4096.0, 1e-12), "{}", r.p_value);
        assert_eq!(mcnemar(3, 3).p_value, 1.0);
        assert_eq!(mcnemar(0, 0).p_value, 1.0);
        // Symmetric in b and c.
        assert_eq!(mcnemar(2, 10).p_value, mcnemar(10, 2).p_value);
    }

    #[test]
    fn mcnemar_chi_square_with_continuity_correction() {
        // (|30 - 10| - 1)^2 / 40 = 9.025; P(chi2_1 > 9.025) = 0.002663 (R: pchisq(9.025, 1, lower=F)).
        let r = mcnemar(30, 10);
        assert_eq!(r.test, TestKind::McnemarChi2);
        assert!(close(r.p_value, 0.002663, 2e-6), "{}", r.p_value);
    }

    #[test]
    fn erfc_known_values() {
        assert!(close(erfc(0.0), 1.0, 1e-7));
        assert!(close(erfc(1.0), 0.157_299_207, 1e-7));
        assert!(close(erfc(-1.0), 1.842_700_793, 1e-7));
        // Two-sided p of z = 1.96.
        assert!(close(
            erfc(1.96 / std::f64::consts::SQRT_2),
            0.049_995_8,
            1e-6
        ));
    }

    #[test]
    fn bootstrap_is_deterministic_and_sensible() {
        let shifted: Vec<f64> = (0..200)
            .map(|i| 0.3 + ((i % 7) as f64 - 3.0) * 0.05)
            .collect();
        let a = paired_bootstrap(&shifted, 2000, BOOTSTRAP_SEED).unwrap();
        let b = paired_bootstrap(&shifted, 2000, BOOTSTRAP_SEED).unwrap();
        assert_eq!(a, b);
        assert!(a.p_value < 0.001, "a clear shift: {}", a.p_value);
        let noise: Vec<f64> = (0..200)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.1)
            .collect();
        let c = paired_bootstrap(&noise, 2000, BOOTSTRAP_SEED).unwrap();
        assert!(c.p_value > 0.2, "centred noise: {}", c.p_value);
        assert_eq!(paired_bootstrap(&[0.0; 5], 100, 1).unwrap().p_value, 1.0);
        assert!(paired_bootstrap(&[], 100, 1).is_none());
    }

    #[test]
    fn holm_and_bh_match_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.04, 0.03), "holm") = 0.03 0.06 0.06
        let h = holm(&[0.01, 0.04, 0.03]);
        for (x, y) in h.iter().zip([0.03, 0.06, 0.06]) {
            assert!(close(*x, y, 1e-12), "{h:?}");
        }
        // R: p.adjust(c(0.01, 0.04, 0.03), "BH") = 0.03 0.04 0.04
        let bh = benjamini_hochberg(&[0.01, 0.04, 0.03]);
        for (x, y) in bh.iter().zip([0.03, 0.04, 0.04]) {
            assert!(close(*x, y, 1e-12), "{bh:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn bootstrap_budget() {
        assert_eq!(bootstrap_iters(25), BOOTSTRAP_ITERS);
        assert_eq!(bootstrap_iters(4_000), 5_000);
        assert_eq!(bootstrap_iters(10_000_000), BOOTSTRAP_MIN_ITERS);
    }

    #[test]
    fn z_test_two_sided() {
        let r = z_test(1.96, 1.0).unwrap();
        assert!(close(r.p_value, 0.05, 1e-3));
        assert!(z_test(1.0, 0.0).is_none());
    }
}
