//! The fixed vocabularies of dataset manifests: metric names, aggregations, filter functions.
//!
//! One list each, shared by the catalog checks and the metrics module: a name is accepted in a
//! manifest only if it appears here, and the metrics module implements every name listed.

/// Metric names accepted in `metric_list` (lm-evaluation-harness names where they exist).
/// Options beside `metric`: exact_match `ignore_case`, `ignore_punctuation`, `regexes_to_ignore`;
/// numeric_match `tolerance` (relative), `abs_tolerance`; distance_accuracy `threshold_km`;
/// pass_at_k `k` (an integer or a list, each <= `repeats`).
pub const METRICS: &[&str] = crate::metrics::METRIC_NAMES;

/// Aggregations of per-item scores accepted in `metric_list[].aggregation`.
pub const AGGREGATIONS: &[&str] = &["mean"];

/// Filter functions accepted in `filter_list[].filter[].function`.
pub const FILTERS: &[&str] = crate::metrics::FILTER_NAMES;

/// `output_type` values.
pub const OUTPUT_TYPES: &[&str] = &["multiple_choice", "generate_until", "loglikelihood"];
