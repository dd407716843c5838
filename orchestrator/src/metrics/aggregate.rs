//! Dataset-level aggregation: the mean of per-sample scores with its standard error and counts.
//!
//! Failed samples (the engine or the sandbox failed, so there is no score) count in `n` and
//! score 0 in `value` and `stderr`; the aggregate is then marked `partial` and says how many
//! failed. The standard error is lm-eval's `mean_stderr`: the sample standard deviation
//! (ddof = 1) divided by `sqrt(n)`; it is `None` below two samples.

use super::ScoreError;
use super::score::{SpanCounts, pass_at_k};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Aggregate {
    pub value: f64,
    pub stderr: Option<f64>,
    /// Samples (or, for pass@k, problems) aggregated, failed ones included.
    pub n: u64,
    pub n_scored: u64,
    pub n_failed: u64,
    /// True when any sample failed.
    pub partial: bool,
}

/// Standard error of the mean with the sample standard deviation (ddof = 1).
pub fn mean_stderr(values: &[f64]) -> Option<f64> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    Some((var / nf).sqrt())
}

/// Mean over samples; `None` entries are failed samples and count as 0. `None` when empty.
pub fn mean_aggregate(scores: &[Option<f64>]) -> Option<Aggregate> {
    if scores.is_empty() {
        return None;
    }
    let n_failed = scores.iter().filter(|s| s.is_none()).count() as u64;
    let values: Vec<f64> = scores.iter().map(|s| s.unwrap_or(0.0)).collect();
    Some(from_values(&values, n_failed))
}

fn from_values(values: &[f64], n_failed: u64) -> Aggregate {
    let n = values.len() as u64;
    Aggregate {
        value: values.iter().sum::<f64>() / values.len() as f64,
        stderr: mean_stderr(values),
        n,
        n_scored: n - n_failed,
        n_failed,
        partial: n_failed > 0,
    }
}

/// The samples generated for one problem, and how they fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassAtKProblem {
    /// Samples generated (`repeats`), failed ones included.
    pub samples: u64,
    /// Samples that passed the tests.
    pub correct: u64,
    /// Samples that could not be run or scored (they count as not passing).
    pub failed: u64,
}

/// pass@k: the unbiased estimator per problem, averaged over problems, with the standard error
/// over problems. A problem with any failed sample makes the aggregate partial.
pub fn aggregate_pass_at_k(
    problems: &[PassAtKProblem],
    k: u64,
) -> Result<Option<Aggregate>, ScoreError> {
    if problems.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(problems.len());
    for p in problems {
        let v = pass_at_k(p.samples, p.correct, k).ok_or(ScoreError::PassAtK {
            k,
            samples: p.samples,
            correct: p.correct,
        })?;
        values.push(v);
    }
    let n_failed = problems.iter().filter(|p| p.failed > 0).count() as u64;
    Ok(Some(from_values(&values, n_failed)))
}

/// Corpus-level (micro) span F1: true positives, predicted and gold spans summed over the
/// dataset first. `span_f1` reports the mean of per-sample F1 instead; this is the companion
/// figure NER papers usually quote. 1 when no spans were predicted or expected at all.
pub fn span_micro_f1(counts: &[SpanCounts]) -> f64 {
    let tp: u64 = counts.iter().map(|c| c.true_positives).sum();
    let predicted: u64 = counts.iter().map(|c| c.predicted).sum();
    let gold: u64 = counts.iter().map(|c| c.gold).sum();
    if predicted + gold == 0 {
        return 1.0;
    }
    2.0 * tp as f64 / (predicted + gold) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::span_counts;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn mean_and_stderr_by_hand() {
        // [1, 0, 1, 1]: mean 0.75, sample sd sqrt(0.25) = 0.5, stderr 0.5 / 2 = 0.25.
        let a = mean_aggregate(&[Some(1.0), Some(0.0), Some(1.0), Some(1.0)]).unwrap();
        assert!(close(a.value, 0.75));
        assert!(close(a.stderr.unwrap(), 0.25));
        assert_eq!((a.n, a.n_scored, a.n_failed, a.partial), (4, 4, 0, false));
        // [0.5, 1, 0]: mean 0.5, sd 0.5, stderr 0.5 / sqrt(3) = 0.288675134594813.
        let a = mean_aggregate(&[Some(0.5), Some(1.0), Some(0.0)]).unwrap();
        assert!(close(a.value, 0.5));
        assert!(close(a.stderr.unwrap(), 0.288_675_134_594_812_9));
    }

    #[test]
    fn failed_samples_count_as_zero_and_mark_partial() {
        let a = mean_aggregate(&[Some(1.0), None, Some(1.0), Some(1.0)]).unwrap();
        assert!(close(a.value, 0.75));
        assert!(close(a.stderr.unwrap(), 0.25));
        assert_eq!((a.n, a.n_scored, a.n_failed, a.partial), (4, 3, 1, true));
    }

    #[test]
    fn small_inputs() {
        assert_eq!(mean_aggregate(&[]), None);
        let one = mean_aggregate(&[Some(1.0)]).unwrap();
        assert_eq!((one.value, one.stderr, one.n), (1.0, None, 1));
        assert_eq!(mean_stderr(&[3.0, 3.0]), Some(0.0));
    }

    #[test]
    fn pass_at_k_over_problems() {
        let problems = [
            PassAtKProblem {
                samples: 10,
                correct: 3,
                failed: 0,
            },
            PassAtKProblem {
                samples: 10,
                correct: 0,
                failed: 2,
            },
        ];
        // pass@1 per problem: 0.3 and 0.0; mean 0.15; sd = sqrt(0.045) -> stderr 0.15.
        let a = aggregate_pass_at_k(&problems, 1).unwrap().unwrap();
        assert!(close(a.value, 0.15));
        assert!(close(a.stderr.unwrap(), 0.15));
        assert_eq!((a.n, a.n_failed, a.partial), (2, 1, true));
        // pass@5: 1 - C(7,5)/C(10,5) = 0.91666.. and 0; mean 0.458333...
        let a = aggregate_pass_at_k(&problems, 5).unwrap().unwrap();
        assert!(close(a.value, (1.0 - 21.0 / 252.0) / 2.0));
        assert!(matches!(
            aggregate_pass_at_k(&problems, 11),
            Err(ScoreError::PassAtK { k: 11, .. })
        ));
    }

    #[test]
    fn micro_f1_sums_counts_first() {
        // Sample 1: tp 1, pred 2, gold 3. Sample 2: tp 1, pred 1, gold 1.
        // Micro: 2 * 2 / (3 + 4) = 0.5714...; the per-sample mean would be (0.4 + 1) / 2 = 0.7.
        let counts = [
            span_counts("Paris; Berlin", "Paris; London; Rome"),
            span_counts("Oslo", "oslo"),
        ];
        assert!(close(span_micro_f1(&counts), 4.0 / 7.0));
        assert_eq!(span_micro_f1(&[span_counts("none", "")]), 1.0);
    }
}
