//! The fixed vocabularies of dataset manifests: metric names, aggregations, filter functions.
//!
//! One list each, shared by the catalog checks and the metrics module: a name is accepted in a
//! manifest only if it appears here, and the metrics module implements every name listed.

/// Metric names accepted in `metric_list` (lm-evaluation-harness names where they exist).
pub const METRICS: &[&str] = &[
    "acc",
    "acc_norm",
    "exact_match",
    "f1",
    "numeric_match",
    "span_f1",
    "distance_accuracy",
    "pass_at_k",
    "refusal_rate",
    "bleu",
    "perplexity",
    "word_perplexity",
    "byte_perplexity",
    "bits_per_byte",
];

/// Metrics where lower is better (their `higher_is_better` default is false).
pub const LOWER_IS_BETTER: &[&str] = &[
    "perplexity",
    "word_perplexity",
    "byte_perplexity",
    "bits_per_byte",
];

/// Aggregations of per-item scores accepted in `metric_list[].aggregation`.
pub const AGGREGATIONS: &[&str] = &["mean", "median", "sum", "min", "max"];

/// Filter functions accepted in `filter_list[].filter[].function`.
pub const FILTERS: &[&str] = &[
    "regex",
    "take_first",
    "lowercase",
    "uppercase",
    "strip",
    "remove_whitespace",
];

/// `output_type` values.
pub const OUTPUT_TYPES: &[&str] = &["multiple_choice", "generate_until", "loglikelihood"];
