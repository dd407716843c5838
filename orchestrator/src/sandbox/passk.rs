//! pass@k with the unbiased estimator of Chen et al. (2021), and the per-problem result that
//! is stored as a sample: every run's outcome with its failure kind, plus pass@k per k.

use std::collections::BTreeMap;

use super::{FailureKind, Outcome};

pub use crate::metrics::pass_at_k;

/// One sample's result, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleResult {
    pub index: u32,
    pub passed: bool,
    pub failure: Option<FailureKind>,
    pub detail: String,
}

/// One problem's result over its `n` samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProblemResult {
    pub task_id: String,
    pub n: u32,
    pub passed: u32,
    /// pass@k for each requested k that is at most n.
    pub pass_at_k: BTreeMap<u32, f64>,
    pub samples: Vec<SampleResult>,
}

impl ProblemResult {
    /// Combine the outcomes of one problem's samples (in sample order) for the given ks;
    /// a k larger than the number of samples is left out.
    pub fn new(task_id: &str, outcomes: &[Outcome], ks: &[u32]) -> ProblemResult {
        let samples: Vec<SampleResult> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| SampleResult {
                index: i as u32,
                passed: o.passed,
                failure: o.failure,
                detail: o.detail.clone(),
            })
            .collect();
        let n = samples.len() as u32;
        let passed = samples.iter().filter(|s| s.passed).count() as u32;
        let pass_at_k = ks
            .iter()
            .filter_map(|&k| pass_at_k(n.into(), passed.into(), k.into()).map(|v| (k, v)))
            .collect();
        ProblemResult {
            task_id: task_id.to_string(),
            n,
            passed,
            pass_at_k,
            samples,
        }
    }

    /// How many samples failed with each kind.
    pub fn failures(&self) -> BTreeMap<FailureKind, u32> {
        let mut out = BTreeMap::new();
        for kind in self.samples.iter().filter_map(|s| s.failure) {
            *out.entry(kind).or_insert(0) += 1;
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The reference numpy formula, written out with binomials.
    fn by_binomials(n: u64, c: u64, k: u64) -> f64 {
        fn choose(n: u64, k: u64) -> f64 {
            if k > n {
                return 0.0;
            }
            (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
        }
        1.0 - choose(n - c, k) / choose(n, k)
    }

    #[test]
    fn matches_the_binomial_form() {
        for n in 1..=20u64 {
            for c in 0..=n {
                for k in 1..=n {
                    let got = pass_at_k(n, c, k).unwrap();
                    assert!(
                        (got - by_binomials(n, c, k)).abs() < 1e-9,
                        "n={n} c={c} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_values_and_bounds() {
        assert_eq!(pass_at_k(1, 1, 1), Some(1.0));
        assert_eq!(pass_at_k(1, 0, 1), Some(0.0));
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        // 1 - C(5,2)/C(10,2) = 1 - 10/45
        assert!((pass_at_k(10, 5, 2).unwrap() - (1.0 - 10.0 / 45.0)).abs() < 1e-12);
        assert_eq!(pass_at_k(10, 9, 2), Some(1.0));
        assert_eq!(pass_at_k(3, 1, 4), None);
        assert_eq!(pass_at_k(3, 1, 0), None);
        assert_eq!(pass_at_k(3, 4, 1), None);
    }
}
