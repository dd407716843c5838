//! Filter pipelines (`filter_list`): turn a document's generated responses into the strings that
//! are scored, step by step, as lm-evaluation-harness does.
//!
//! A pipeline runs over all responses of one document (one per repeat). Every step except
//! `take_first` maps each response on its own; `take_first` keeps only the first response.

use super::MetricError;
use super::options::Options;
use crate::catalog::types::FilterPipeline;
use regex::Regex;

/// Every filter function a manifest may use.
pub const FILTER_NAMES: &[&str] = &[
    "regex",
    "take_first",
    "lowercase",
    "strip",
    "remove_whitespace",
];

/// lm-eval's default pattern for the `regex` filter (GSM8K's `#### <number>` answer line).
pub const DEFAULT_REGEX_PATTERN: &str = r"#### (\-?[0-9\.\,]+)";
/// What the `regex` filter yields when the pattern does not match.
pub const DEFAULT_FALLBACK: &str = "[invalid]";

#[derive(Debug, Clone)]
pub enum Filter {
    /// All non-overlapping matches (Python `re.findall`); `group_select` picks one of them
    /// (negative counts from the end). With capture groups, a match is its first non-empty group.
    /// The pick is stripped of surrounding whitespace. No match (or an index past the end)
    /// yields `fallback`.
    Regex {
        regex: Regex,
        group_select: i64,
        fallback: String,
    },
    /// Keep only the first response of the document.
    TakeFirst,
    Lowercase,
    /// Remove leading and trailing whitespace.
    Strip,
    /// Remove leading whitespace (lm-eval's `remove_whitespace` is `str.lstrip()`).
    RemoveWhitespace,
}

impl Filter {
    pub fn name(&self) -> &'static str {
        match self {
            Filter::Regex { .. } => "regex",
            Filter::TakeFirst => "take_first",
            Filter::Lowercase => "lowercase",
            Filter::Strip => "strip",
            Filter::RemoveWhitespace => "remove_whitespace",
        }
    }

    /// Apply this step to one response (`take_first` works on the list, see [`FilterChain`]).
    pub fn apply_one(&self, response: &str) -> String {
        match self {
            Filter::Regex {
                regex,
                group_select,
                fallback,
            } => regex_select(regex, *group_select, response).unwrap_or_else(|| fallback.clone()),
            Filter::TakeFirst => response.to_string(),
            Filter::Lowercase => response.to_lowercase(),
            Filter::Strip => response.trim().to_string(),
            Filter::RemoveWhitespace => response.trim_start().to_string(),
        }
    }
}

/// `re.findall(pattern, text)[group_select]`, then the first non-empty group and `.strip()`.
fn regex_select(regex: &Regex, group_select: i64, text: &str) -> Option<String> {
    let groups = regex.captures_len() - 1;
    let matches: Vec<regex::Captures<'_>> = regex.captures_iter(text).collect();
    let len = matches.len() as i64;
    let index = if group_select < 0 {
        len + group_select
    } else {
        group_select
    };
    if index < 0 || index >= len {
        return None;
    }
    let caps = &matches[index as usize];
    let picked = match groups {
        0 => caps.get(0).map(|m| m.as_str()).unwrap_or(""),
        // One group: findall returns that group, "" when it did not take part.
        1 => caps.get(1).map(|m| m.as_str()).unwrap_or(""),
        // Several groups: findall returns a tuple; lm-eval takes its first non-empty member.
        _ => (1..=groups)
            .filter_map(|g| caps.get(g))
            .map(|m| m.as_str())
            .find(|s| !s.is_empty())?,
    };
    Some(picked.trim().to_string())
}

/// A named pipeline of filter steps.
#[derive(Debug, Clone)]
pub struct FilterChain {
    pub name: String,
    pub steps: Vec<Filter>,
}

impl FilterChain {
    /// The identity pipeline used when a dataset declares none (lm-eval's `none`).
    pub fn none() -> Self {
        FilterChain {
            name: "none".to_string(),
            steps: Vec::new(),
        }
    }

    /// Run every step over a document's responses, in order.
    pub fn apply(&self, responses: &[String]) -> Vec<String> {
        let mut out: Vec<String> = responses.to_vec();
        for step in &self.steps {
            match step {
                Filter::TakeFirst => out.truncate(1),
                other => {
                    for r in out.iter_mut() {
                        *r = other.apply_one(r);
                    }
                }
            }
        }
        out
    }
}

/// Parse one `filter_list` entry into its checked form.
pub fn parse_pipeline(pipeline: &FilterPipeline) -> Result<FilterChain, MetricError> {
    if pipeline.steps.is_empty() {
        return Err(MetricError::EmptyPipeline {
            pipeline: pipeline.name.clone(),
        });
    }
    let mut steps = Vec::with_capacity(pipeline.steps.len());
    for step in &pipeline.steps {
        let mut opts = Options::new(&step.function, &step.options);
        let filter = match step.function.as_str() {
            "regex" => {
                let regex = match opts.regex("regex_pattern")? {
                    Some(r) => r,
                    // Built once per pipeline parse (not per sample), and only without a pattern.
                    #[allow(clippy::regex_creation_in_loops)]
                    None => {
                        Regex::new(DEFAULT_REGEX_PATTERN).map_err(|e| MetricError::BadRegex {
                            owner: "regex".into(),
                            option: "regex_pattern".into(),
                            pattern: DEFAULT_REGEX_PATTERN.into(),
                            message: e.to_string(),
                        })?
                    }
                };
                Filter::Regex {
                    regex,
                    group_select: opts.int("group_select")?.unwrap_or(0),
                    fallback: opts
                        .string("fallback")?
                        .unwrap_or_else(|| DEFAULT_FALLBACK.to_string()),
                }
            }
            "take_first" => Filter::TakeFirst,
            "lowercase" => Filter::Lowercase,
            "strip" => Filter::Strip,
            "remove_whitespace" => Filter::RemoveWhitespace,
            other => {
                return Err(MetricError::UnknownFilter {
                    name: other.to_string(),
                });
            }
        };
        opts.finish()?;
        steps.push(filter);
    }
    Ok(FilterChain {
        name: pipeline.name.clone(),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::types::FilterStep;
    use serde_json::json;

    fn step(function: &str, options: serde_json::Value) -> FilterStep {
        FilterStep {
            function: function.to_string(),
            options: match options {
                serde_json::Value::Object(m) => m.into_iter().collect(),
                _ => Default::default(),
            },
        }
    }

    fn chain(steps: Vec<FilterStep>) -> FilterChain {
        parse_pipeline(&FilterPipeline {
            name: "test".into(),
            steps,
        })
        .unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gsm8k_strict_match_default_pattern() {
        let c = chain(vec![
            step("regex", json!({})),
            step("take_first", json!({})),
        ]);
        let out = c.apply(&strings(&["so 3+4=7\n#### 7", "#### -12.5"]));
        assert_eq!(out, vec!["7"]);
        let out = c.apply(&strings(&["the answer is 7"]));
        assert_eq!(out, vec!["[invalid]"]);
    }

    #[test]
    fn group_select_negative_takes_from_the_end() {
        // gsm8k "flexible-extract": the last number in the response.
        let pattern = r"(-?[$0-9.,]{2,})|(-?[0-9]+)";
        let last = chain(vec![step(
            "regex",
            json!({"regex_pattern": pattern, "group_select": -1}),
        )]);
        let first = chain(vec![step("regex", json!({"regex_pattern": pattern}))]);
        let text = strings(&["3 apples and 12 pears make 15"]);
        assert_eq!(last.apply(&text), vec!["15"]);
        assert_eq!(first.apply(&text), vec!["3"]);
        // Past the end is the fallback, not a panic.
        let far = chain(vec![step(
            "regex",
            json!({"regex_pattern": "x", "group_select": 5, "fallback": "none"}),
        )]);
        assert_eq!(far.apply(&strings(&["xx"])), vec!["none"]);
    }

    #[test]
    fn regex_without_groups_returns_whole_match_stripped() {
        let c = chain(vec![step("regex", json!({"regex_pattern": r"\s*[A-D]\b"}))]);
        // The "A" of "Answer" has no word boundary after it; the match is " B", stripped.
        assert_eq!(c.apply(&strings(&["Answer: B because"])), vec!["B"]);
    }

    #[test]
    fn multi_group_match_takes_first_non_empty_group() {
        let c = chain(vec![step(
            "regex",
            json!({"regex_pattern": r"\(([A-D])\)|answer is ([A-D])"}),
        )]);
        assert_eq!(c.apply(&strings(&["the answer is C"])), vec!["C"]);
        assert_eq!(c.apply(&strings(&["(B) and the answer is C"])), vec!["B"]);
    }

    #[test]
    fn text_steps_in_order() {
        let c = chain(vec![
            step("remove_whitespace", json!({})),
            step("lowercase", json!({})),
        ]);
        assert_eq!(c.apply(&strings(&["  Paris \n"])), vec!["paris \n"]);
        let s = chain(vec![step("strip", json!({}))]);
        assert_eq!(
            s.apply(&strings(&["\t Paris \n", " x"])),
            vec!["Paris", "x"]
        );
        assert_eq!(FilterChain::none().apply(&strings(&[" a "])), vec![" a "]);
    }

    #[test]
    fn bad_filters_are_named() {
        let err = parse_pipeline(&FilterPipeline {
            name: "p".into(),
            steps: vec![step("uppercase", json!({}))],
        })
        .unwrap_err();
        assert!(err.to_string().contains("uppercase"), "{err}");
        let err = parse_pipeline(&FilterPipeline {
            name: "p".into(),
            steps: vec![step("regex", json!({"group_select": "last"}))],
        })
        .unwrap_err();
        assert!(err.to_string().contains("`group_select`"), "{err}");
        let err = parse_pipeline(&FilterPipeline {
            name: "p".into(),
            steps: vec![step("strip", json!({"chars": " "}))],
        })
        .unwrap_err();
        assert!(matches!(err, MetricError::UnknownOption { .. }), "{err}");
        let err = parse_pipeline(&FilterPipeline {
            name: "p".into(),
            steps: vec![],
        })
        .unwrap_err();
        assert!(matches!(err, MetricError::EmptyPipeline { .. }));
    }
}
