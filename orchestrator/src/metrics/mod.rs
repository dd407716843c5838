//! Metrics and filters: the checked form of a dataset's `metric_list` and `filter_list`, the
//! per-sample scorers, and aggregation with standard errors.
//!
//! Semantics follow lm-evaluation-harness wherever it defines them (`acc`, `acc_norm`,
//! `exact_match`, the `regex`/`take_first`/`lowercase`/`remove_whitespace` filters, the
//! standard error of the mean), SQuAD for token F1, and the Codex paper for pass@k.
//!
//! The raw options (`BTreeMap<String, serde_json::Value>` from the manifest) are parsed once
//! into [`Metric`] and [`Filter`] values; an unknown option, a value of the wrong type or out of
//! range is an error that names the metric or filter, the option, the bound and the value.
//!
//! Patterns (`regexes_to_ignore`, the `regex` filter) are compiled with the Rust `regex` crate,
//! not Python's `re`: look-around (`(?=..)`, `(?<=..)`) and back-references are not supported and
//! are rejected when the manifest is checked. Classes such as `\d`, `\w` and `\b` are
//! Unicode-aware in both.

mod aggregate;
mod filters;
mod options;
mod score;

pub use aggregate::{
    Aggregate, PassAtKProblem, aggregate_pass_at_k, mean_aggregate, mean_stderr, span_micro_f1,
};
pub use filters::{FILTER_NAMES, Filter, FilterChain, parse_pipeline};
pub use score::{
    DEFAULT_REFUSAL_PHRASES, SpanCounts, distance_accuracy, exact_match, haversine_km, is_refusal,
    normalize_squad, numeric_match, parse_coordinates, parse_number, pass_at_k, span_counts,
    span_f1, token_f1,
};

use crate::catalog::types::MetricSpec;
use options::Options;
use regex::Regex;
use std::collections::BTreeMap;

/// Every metric name a manifest may use.
pub const METRIC_NAMES: &[&str] = &[
    "acc",
    "acc_norm",
    "exact_match",
    "f1",
    "numeric_match",
    "span_f1",
    "distance_accuracy",
    "pass_at_k",
    "refusal_rate",
];

/// A metric with its options resolved. Nothing optional is left to default later.
#[derive(Debug, Clone)]
pub enum Metric {
    /// 1 when the highest-log-likelihood choice is the gold one.
    Acc,
    /// Like `Acc`, but each log-likelihood is divided by the length of the choice text in
    /// characters (lm-eval: `len(choice)` over `doc_to_choice`, without the target delimiter).
    AccNorm,
    ExactMatch {
        ignore_case: bool,
        ignore_punctuation: bool,
        /// Removed (`re.sub(p, "", s)`) from prediction and reference, in order, first.
        regexes_to_ignore: Vec<Regex>,
    },
    /// SQuAD token F1.
    F1,
    /// Numbers equal within `tolerance` (relative to the gold value) or `abs_tolerance`.
    NumericMatch { tolerance: f64, abs_tolerance: f64 },
    /// Entity spans separated by `;`, F1 per sample.
    SpanF1,
    /// 1 when the predicted `lat, lon` lies within `threshold_km` of the gold point.
    DistanceAccuracy { threshold_km: f64 },
    /// Unbiased pass@k for each `k`; per-sample correctness comes from executing the code.
    PassAtK { k: Vec<u32> },
    /// 1 when a refusal phrase appears (case-insensitively) in the first 200 characters.
    RefusalRate { phrases: Vec<String> },
}

/// What a metric scores from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreInput {
    /// Per-choice log-likelihoods of a multiple-choice item.
    Choices,
    /// The filtered generated text against the gold text.
    Text,
    /// The outcome of running generated code against tests.
    Execution,
}

impl Metric {
    /// The manifest name of this metric.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Acc => "acc",
            Metric::AccNorm => "acc_norm",
            Metric::ExactMatch { .. } => "exact_match",
            Metric::F1 => "f1",
            Metric::NumericMatch { .. } => "numeric_match",
            Metric::SpanF1 => "span_f1",
            Metric::DistanceAccuracy { .. } => "distance_accuracy",
            Metric::PassAtK { .. } => "pass_at_k",
            Metric::RefusalRate { .. } => "refusal_rate",
        }
    }

    pub fn input(&self) -> ScoreInput {
        match self {
            Metric::Acc | Metric::AccNorm => ScoreInput::Choices,
            Metric::PassAtK { .. } => ScoreInput::Execution,
            _ => ScoreInput::Text,
        }
    }

    /// Score one multiple-choice item: `lls[i]` is the log-likelihood of `choices[i]`.
    pub fn score_choices(
        &self,
        lls: &[f64],
        choices: &[String],
        gold: usize,
    ) -> Result<f64, ScoreError> {
        match self {
            Metric::Acc => score::acc(lls, gold),
            Metric::AccNorm => score::acc_norm(lls, choices, gold),
            other => Err(ScoreError::WrongInput {
                metric: other.name(),
                expected: other.input(),
            }),
        }
    }

    /// Score one (already filtered) generated text against the gold text.
    pub fn score_text(&self, prediction: &str, reference: &str) -> Result<f64, ScoreError> {
        Ok(match self {
            Metric::ExactMatch {
                ignore_case,
                ignore_punctuation,
                regexes_to_ignore,
            } => exact_match(
                prediction,
                reference,
                *ignore_case,
                *ignore_punctuation,
                regexes_to_ignore,
            ),
            Metric::F1 => token_f1(prediction, reference),
            Metric::NumericMatch {
                tolerance,
                abs_tolerance,
            } => numeric_match(prediction, reference, *tolerance, *abs_tolerance)?,
            Metric::SpanF1 => span_f1(prediction, reference),
            Metric::DistanceAccuracy { threshold_km } => {
                distance_accuracy(prediction, reference, *threshold_km)?
            }
            Metric::RefusalRate { phrases } => {
                if is_refusal(prediction, phrases) {
                    1.0
                } else {
                    0.0
                }
            }
            other => {
                return Err(ScoreError::WrongInput {
                    metric: other.name(),
                    expected: other.input(),
                });
            }
        })
    }
}

/// A dataset's metrics and filter pipelines in checked form (options parsed, regexes
/// compiled), made once where the dataset is loaded and carried by it.
#[derive(Debug, Clone, Default)]
pub struct Scoring {
    pub metrics: Vec<MetricDef>,
    pub pipelines: Vec<FilterChain>,
}

impl Scoring {
    /// Check `metrics` and `filters` (for datasets built outside the catalog loader).
    pub fn parse(
        metrics: &[crate::catalog::MetricSpec],
        filters: &[crate::catalog::FilterPipeline],
    ) -> Result<Scoring, MetricError> {
        Ok(Scoring {
            metrics: metrics.iter().map(parse_metric).collect::<Result<_, _>>()?,
            pipelines: filters
                .iter()
                .map(parse_pipeline)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A checked `metric_list` entry.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub metric: Metric,
    pub higher_is_better: bool,
}

/// Problems with a manifest's metric or filter configuration.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("unknown metric `{name}`; known metrics: {}", METRIC_NAMES.join(", "))]
    UnknownMetric { name: String },
    #[error("unknown filter function `{name}`; known functions: {}", filters::FILTER_NAMES.join(", "))]
    UnknownFilter { name: String },
    #[error("`{owner}` has no option `{option}`; its options: {known}")]
    UnknownOption {
        owner: String,
        option: String,
        known: String,
    },
    #[error("`{owner}` needs option `{option}` ({expected})")]
    MissingOption {
        owner: String,
        option: &'static str,
        expected: &'static str,
    },
    #[error("`{owner}` option `{option}` must be {expected}. Given: {value}")]
    BadOption {
        owner: String,
        option: String,
        expected: &'static str,
        value: String,
    },
    #[error(
        "`{owner}` option `{option}`: pattern `{pattern}` does not compile (patterns use Rust regex syntax: no look-around or back-references): {message}"
    )]
    BadRegex {
        owner: String,
        option: String,
        pattern: String,
        message: String,
    },
    #[error("`{metric}` aggregation must be `mean`. Given: `{given}`")]
    UnsupportedAggregation { metric: String, given: String },
    #[error("filter pipeline `{pipeline}` has no steps")]
    EmptyPipeline { pipeline: String },
}

/// Problems scoring one sample (bad gold data, or a metric asked for the wrong input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    #[error("`{metric}` scores {expected:?} input, not this kind")]
    WrongInput {
        metric: &'static str,
        expected: ScoreInput,
    },
    #[error("gold index {gold} is out of range for {choices} choices")]
    GoldOutOfRange { gold: usize, choices: usize },
    #[error("{lls} log-likelihoods for {choices} choices")]
    LengthMismatch { lls: usize, choices: usize },
    #[error("no choices to score")]
    NoChoices,
    #[error("choice {index} is empty, so `acc_norm` cannot divide by its length")]
    EmptyChoice { index: usize },
    #[error("log-likelihood of choice {index} is NaN")]
    NotANumber { index: usize },
    #[error(
        "pass@{k} is undefined for a problem with {samples} samples ({correct} correct); `k` must be <= the repeats"
    )]
    PassAtK { k: u64, samples: u64, correct: u64 },
    #[error("`{metric}` cannot parse the gold answer `{gold}`")]
    UnparseableGold { metric: &'static str, gold: String },
}

/// The key a sample's score is stored under: `metric,filter` as lm-eval reports it (`none` when
/// no filter pipeline applies, as for multiple-choice metrics).
pub fn score_key(metric: &Metric, filter: &str) -> String {
    format!("{},{filter}", metric.name())
}

/// One generated response, filtered and scored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoredResponse {
    /// The filtered text, by pipeline name.
    pub filtered: BTreeMap<String, String>,
    /// Scores by [`score_key`].
    pub scores: BTreeMap<String, f64>,
}

/// Score one generated response: each pipeline (or the identity pipeline `none` when the dataset
/// has none) filters it, and every text metric scores the result against `target`. Metrics that
/// need choices or code execution are skipped here.
pub fn score_response(
    metrics: &[MetricDef],
    pipelines: &[FilterChain],
    response: &str,
    target: &str,
) -> Result<ScoredResponse, ScoreError> {
    let none = [FilterChain::none()];
    let pipelines = if pipelines.is_empty() {
        &none[..]
    } else {
        pipelines
    };
    let mut out = ScoredResponse::default();
    for chain in pipelines {
        let filtered = chain
            .apply(&[response.to_string()])
            .into_iter()
            .next()
            .unwrap_or_default();
        for def in metrics
            .iter()
            .filter(|d| d.metric.input() == ScoreInput::Text)
        {
            let score = def.metric.score_text(&filtered, target)?;
            out.scores
                .insert(score_key(&def.metric, &chain.name), score);
        }
        out.filtered.insert(chain.name.clone(), filtered);
    }
    Ok(out)
}

/// Score one multiple-choice item with every choice metric, keyed by [`score_key`] (`acc,none`).
pub fn score_choices(
    metrics: &[MetricDef],
    lls: &[f64],
    choices: &[String],
    gold: usize,
) -> Result<BTreeMap<String, f64>, ScoreError> {
    let mut scores = BTreeMap::new();
    for def in metrics
        .iter()
        .filter(|d| d.metric.input() == ScoreInput::Choices)
    {
        let score = def.metric.score_choices(lls, choices, gold)?;
        scores.insert(score_key(&def.metric, "none"), score);
    }
    Ok(scores)
}

/// Parse one `metric_list` entry into its checked form.
pub fn parse_metric(spec: &MetricSpec) -> Result<MetricDef, MetricError> {
    if spec.aggregation != "mean" {
        return Err(MetricError::UnsupportedAggregation {
            metric: spec.metric.clone(),
            given: spec.aggregation.clone(),
        });
    }
    let mut opts = Options::new(&spec.metric, &spec.options);
    let metric = match spec.metric.as_str() {
        "acc" => Metric::Acc,
        "acc_norm" => Metric::AccNorm,
        "exact_match" => Metric::ExactMatch {
            ignore_case: opts.bool("ignore_case", false)?,
            ignore_punctuation: opts.bool("ignore_punctuation", false)?,
            regexes_to_ignore: opts.regex_list("regexes_to_ignore")?,
        },
        "f1" => Metric::F1,
        "numeric_match" => Metric::NumericMatch {
            tolerance: opts.non_negative("tolerance")?.unwrap_or(0.0),
            abs_tolerance: opts.non_negative("abs_tolerance")?.unwrap_or(0.0),
        },
        "span_f1" => Metric::SpanF1,
        "distance_accuracy" => {
            let threshold_km =
                opts.non_negative("threshold_km")?
                    .ok_or_else(|| MetricError::MissingOption {
                        owner: spec.metric.clone(),
                        option: "threshold_km",
                        expected: "a distance in kilometres, e.g. 25",
                    })?;
            Metric::DistanceAccuracy { threshold_km }
        }
        "pass_at_k" => {
            let k = opts.positive_int_list("k")?.unwrap_or_else(|| vec![1]);
            Metric::PassAtK { k }
        }
        "refusal_rate" => {
            let phrases = opts.string_list("phrases")?.unwrap_or_else(|| {
                DEFAULT_REFUSAL_PHRASES
                    .iter()
                    .map(|p| p.to_string())
                    .collect()
            });
            Metric::RefusalRate {
                phrases: phrases.iter().map(|p| p.to_lowercase()).collect(),
            }
        }
        other => {
            return Err(MetricError::UnknownMetric {
                name: other.to_string(),
            });
        }
    };
    opts.finish()?;
    Ok(MetricDef {
        metric,
        higher_is_better: spec.higher_is_better,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::types::{FilterPipeline, FilterStep};
    use serde_json::json;

    fn spec(metric: &str, options: serde_json::Value) -> MetricSpec {
        let options: BTreeMap<String, serde_json::Value> = match options {
            serde_json::Value::Object(m) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        MetricSpec {
            metric: metric.to_string(),
            aggregation: "mean".to_string(),
            higher_is_better: true,
            options,
        }
    }

    #[test]
    fn parses_exact_match_options() {
        let def = parse_metric(&spec(
            "exact_match",
            json!({"ignore_case": true, "regexes_to_ignore": [",", "\\$"]}),
        ))
        .unwrap();
        match def.metric {
            Metric::ExactMatch {
                ignore_case,
                ignore_punctuation,
                regexes_to_ignore,
            } => {
                assert!(ignore_case);
                assert!(!ignore_punctuation);
                assert_eq!(regexes_to_ignore.len(), 2);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn option_errors_name_option_bound_and_value() {
        let err = parse_metric(&spec("numeric_match", json!({"tolerance": -0.5}))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`tolerance`"), "{msg}");
        assert!(msg.contains(">= 0"), "{msg}");
        assert!(msg.contains("-0.5"), "{msg}");

        let err = parse_metric(&spec("exact_match", json!({"ignore_case": "yes"}))).unwrap_err();
        assert!(err.to_string().contains("\"yes\""), "{err}");

        let err = parse_metric(&spec("exact_match", json!({"ignore_cas": true}))).unwrap_err();
        assert!(matches!(err, MetricError::UnknownOption { .. }), "{err}");
        assert!(err.to_string().contains("ignore_case"), "{err}");

        let err = parse_metric(&spec("pass_at_k", json!({"k": [1, 0]}))).unwrap_err();
        assert!(err.to_string().contains("`k`"), "{err}");

        let err = parse_metric(&spec("distance_accuracy", json!({}))).unwrap_err();
        assert!(matches!(err, MetricError::MissingOption { .. }), "{err}");

        let err = parse_metric(&spec("bleu", json!({}))).unwrap_err();
        assert!(err.to_string().contains("exact_match"), "{err}");
    }

    #[test]
    fn python_only_regex_syntax_is_rejected_with_a_reason() {
        let err = parse_metric(&spec(
            "exact_match",
            json!({"regexes_to_ignore": ["(?<=\\$)\\d"]}),
        ))
        .unwrap_err();
        assert!(matches!(err, MetricError::BadRegex { .. }), "{err}");
        assert!(err.to_string().contains("look-around"), "{err}");
    }

    #[test]
    fn aggregation_other_than_mean_is_refused() {
        let mut s = spec("acc", json!({}));
        s.aggregation = "median".into();
        assert!(matches!(
            parse_metric(&s),
            Err(MetricError::UnsupportedAggregation { .. })
        ));
    }

    #[test]
    fn metrics_score_only_their_input() {
        let acc = parse_metric(&spec("acc", json!({}))).unwrap().metric;
        assert!(matches!(
            acc.score_text("a", "a"),
            Err(ScoreError::WrongInput { .. })
        ));
        let em = parse_metric(&spec("exact_match", json!({})))
            .unwrap()
            .metric;
        assert_eq!(em.score_text("Paris", "Paris").unwrap(), 1.0);
        assert!(em.score_choices(&[0.0], &["a".into()], 0).is_err());
        let refusal = parse_metric(&spec("refusal_rate", json!({"phrases": ["NOPE"]})))
            .unwrap()
            .metric;
        assert_eq!(refusal.score_text("nope, not doing that", "").unwrap(), 1.0);
        assert_eq!(refusal.score_text("Sure, here it is", "").unwrap(), 0.0);
    }

    #[test]
    fn a_response_is_filtered_and_scored_per_pipeline() {
        let metrics = vec![
            parse_metric(&spec("exact_match", json!({"ignore_case": true}))).unwrap(),
            parse_metric(&spec("numeric_match", json!({"tolerance": 0.01}))).unwrap(),
            parse_metric(&spec("acc", json!({}))).unwrap(),
        ];
        let strict = parse_pipeline(&FilterPipeline {
            name: "strict-match".into(),
            steps: vec![FilterStep {
                function: "regex".into(),
                options: [("regex_pattern".to_string(), json!(r"answer is (\d+)"))]
                    .into_iter()
                    .collect(),
            }],
        })
        .unwrap();
        let out = score_response(&metrics, &[strict], "The answer is 42.", "42").unwrap();
        assert_eq!(out.filtered["strict-match"], "42");
        assert_eq!(out.scores["exact_match,strict-match"], 1.0);
        assert_eq!(out.scores["numeric_match,strict-match"], 1.0);
        assert_eq!(out.scores.len(), 2, "acc is not a text metric");

        // Without pipelines the raw response is scored under `none`.
        let out = score_response(&metrics, &[], "The answer is 42.", "42").unwrap();
        assert_eq!(out.scores["exact_match,none"], 0.0);
        assert_eq!(out.scores["numeric_match,none"], 1.0);

        let mc = score_choices(&metrics, &[-3.0, -1.0], &["a".into(), "b".into()], 1).unwrap();
        assert_eq!(mc, BTreeMap::from([("acc,none".to_string(), 1.0)]));
    }
}
