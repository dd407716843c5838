//! From prepared requests to samples, and from worker outcomes to stored rows and aggregates.
//!
//! A sample is one item of a dataset and one repeat: a multiple-choice item is one sample with
//! one loglikelihood request per choice; a generation item is one sample per repeat. Each
//! sample's content hash (see [`crate::store::SampleKey`]) decides whether a stored row can be
//! reused. Aggregates are computed from the stored rows, so a resumed run and an uninterrupted
//! one report the same figures.

use super::protocol::{Op, Outcome, WorkItem};
use crate::catalog::{Dataset, OutputType};
use crate::metrics::{self, MetricDef, ScoreInput, mean_aggregate};
use crate::store::{AggregateRow, SampleKey, SampleRecord, SampleRow};
use crate::tasks::{Item, Prepared, RequestBody, Target};
use assay_engines::{Failure, FailureKind, Sampling};
use std::collections::{BTreeMap, HashSet};

/// What identifies the model side of a sample (the rest comes from the request).
#[derive(Debug, Clone)]
pub struct ModelIdentity {
    pub model: String,
    pub revision: String,
    pub weights_hash: String,
    pub engine: String,
    pub dtype: String,
    pub tool_version: String,
}

/// One sample to compute: its position, content hash and the engine work it needs.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Position in `Prepared::items`.
    pub item: usize,
    pub repeat: u32,
    pub hash: String,
    pub prompt_hash: String,
    pub work: Vec<WorkItem>,
}

/// A dataset's metrics and filter pipelines in checked form: the [`metrics::Scoring`] the
/// dataset carries from when it was loaded, with what scoring asks of it.
pub type Scorer = metrics::Scoring;

impl Scorer {
    /// The dataset's metrics and pipelines, checked once when it was loaded.
    pub fn new(dataset: &Dataset) -> Scorer {
        dataset.scoring.clone()
    }

    /// Whether scoring needs code execution (pass@k).
    pub fn needs_execution(&self) -> bool {
        self.metrics
            .iter()
            .any(|m| m.metric.input() == ScoreInput::Execution)
    }

    /// Every `(metric, filter)` key this dataset reports, with its direction, in the
    /// manifest's order (pass@k reports `pass@K,none` for each `k`).
    pub fn keys(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for def in &self.metrics {
            if def.metric.input() == ScoreInput::Execution {
                for &k in super::code::ks(&def.metric) {
                    out.push((
                        super::code::pass_at_k_name(k),
                        "none".to_string(),
                        def.higher_is_better,
                    ));
                }
                continue;
            }
            for f in self.filters_of(def) {
                out.push((def.metric.name().to_string(), f, def.higher_is_better));
            }
        }
        out
    }

    /// The filters a per-sample metric is scored under (none for pass@k).
    fn filters_of(&self, def: &MetricDef) -> Vec<String> {
        match def.metric.input() {
            ScoreInput::Choices => vec!["none".into()],
            ScoreInput::Text if self.pipelines.is_empty() => vec!["none".into()],
            ScoreInput::Text => self.pipelines.iter().map(|p| p.name.clone()).collect(),
            ScoreInput::Execution => Vec::new(),
        }
    }
}

/// The samples of a prepared dataset, in item then repeat order. `seed` makes sampled
/// generation reproducible per sample (and enters the hash only when sampling).
pub fn units(prepared: &Prepared, dataset_hash: &str, id: &ModelIdentity, seed: u64) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut by_key: BTreeMap<(usize, u32), usize> = BTreeMap::new();
    let mut settings: Vec<Vec<String>> = Vec::new();
    for req in &prepared.requests {
        let pos = match by_key.get(&(req.item, req.repeat)) {
            Some(&p) => p,
            None => {
                let Some(item_pos) = prepared.items.iter().position(|i| i.index == req.item) else {
                    continue;
                };
                out.push(Unit {
                    item: item_pos,
                    repeat: req.repeat,
                    hash: String::new(),
                    prompt_hash: req.prompt_hash.clone(),
                    work: Vec::new(),
                });
                settings.push(Vec::new());
                by_key.insert((req.item, req.repeat), out.len() - 1);
                out.len() - 1
            }
        };
        let op = match &req.body {
            RequestBody::Loglikelihood { continuation, .. } => Op::Loglikelihood {
                continuation: continuation.clone(),
            },
            RequestBody::GenerateUntil { settings: s } => {
                let sampling = if s.do_sample && s.temperature > 0.0 {
                    settings[pos].push(format!("seed={seed}"));
                    Sampling::Sample {
                        temperature: s.temperature as f32,
                        top_p: (s.top_p < 1.0).then_some(s.top_p as f32),
                        top_k: s.top_k.map(|k| k as usize),
                        seed: sample_seed(seed, req.item, req.repeat),
                    }
                } else {
                    Sampling::Greedy
                };
                Op::Generate {
                    until: s.until.clone(),
                    max_gen_toks: s.max_gen_toks as usize,
                    sampling,
                }
            }
        };
        settings[pos].push(req.settings_hash.clone());
        out[pos].work.push(WorkItem {
            prompt: req.context.clone(),
            op,
        });
    }
    for (unit, settings) in out.iter_mut().zip(settings) {
        let item = &prepared.items[unit.item];
        unit.hash = SampleKey {
            model: &id.model,
            model_revision: &id.revision,
            weights_hash: &id.weights_hash,
            engine: &id.engine,
            dtype: &id.dtype,
            tool_version: &id.tool_version,
            dataset_hash,
            item_index: item.index as u64,
            rendered_prompt: &unit.prompt_hash,
            generation: &settings.join(","),
            repeat_index: u64::from(unit.repeat),
        }
        .hash();
    }
    out
}

fn sample_seed(seed: u64, item: usize, repeat: u32) -> u64 {
    seed ^ (item as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(repeat).rotate_left(32)
}

/// Score one sample from its outcomes (one per work item, in order) into a row.
pub fn sample_row(
    job_id: i64,
    dataset: &Dataset,
    dataset_hash: &str,
    scorer: &Scorer,
    item: &Item,
    unit: &Unit,
    outcomes: &[Outcome],
) -> SampleRow {
    let mut row = SampleRow {
        sample_hash: unit.hash.clone(),
        dataset_hash: dataset_hash.to_string(),
        repeat_index: i64::from(unit.repeat),
        prompt_hash: unit.prompt_hash.clone(),
        target: Some(item.gold_text.clone()),
        ..SampleRow::blank(job_id, &dataset.name, item.index as i64)
    };
    if let Some(f) = outcomes.iter().find_map(Outcome::failure) {
        row.fail(f.clone());
        return row;
    }
    if outcomes.len() != unit.work.len() {
        row.fail(Failure::new(
            FailureKind::Engine,
            format!(
                "{} results for {} requests",
                outcomes.len(),
                unit.work.len()
            ),
        ));
        return row;
    }
    let mut latency: f64 = 0.0;
    let mut lls = Vec::new();
    let mut output_tokens = 0i64;
    let mut text = None;
    let mut prompt_tokens = None;
    for o in outcomes {
        match o {
            Outcome::Loglikelihood(r) => {
                latency = latency.max(r.timing.latency_s);
                lls.push(r.logprob);
                output_tokens += r.continuation_tokens as i64;
            }
            Outcome::Generated(r) => {
                latency = latency.max(r.timing.latency_s);
                output_tokens += r.token_ids.len() as i64;
                prompt_tokens = Some(r.prompt_tokens as i64);
                text = Some(r.text.clone());
            }
            Outcome::Error(_) => {}
        }
    }
    row.latency_ms = Some(latency * 1000.0);
    row.output_tokens = Some(output_tokens);
    row.prompt_tokens = prompt_tokens;
    let scored = match dataset.output_type {
        OutputType::MultipleChoice => {
            let choices = item.choices.clone().unwrap_or_default();
            row.loglikelihoods = Some(lls.clone());
            gold_index(item, &choices)
                .ok_or_else(|| format!("gold answer `{}` is not among the choices", item.gold_text))
                .and_then(|gold| {
                    metrics::score_choices(&scorer.metrics, &lls, &choices, gold)
                        .map_err(|e| e.to_string())
                })
        }
        OutputType::GenerateUntil => {
            let response = text.unwrap_or_default();
            let scored = metrics::score_response(
                &scorer.metrics,
                &scorer.pipelines,
                &response,
                &item.gold_text,
            );
            row.output = Some(response);
            scored
                .map(|s| {
                    row.filtered = s.filtered;
                    s.scores
                })
                .map_err(|e| e.to_string())
        }
        OutputType::Loglikelihood => {
            row.loglikelihoods = Some(lls);
            Ok(BTreeMap::new())
        }
    };
    match scored {
        Ok(scores) => row.scores = scores,
        Err(e) => row.fail(Failure::new(FailureKind::Scoring, format!("scoring: {e}"))),
    }
    row
}

fn gold_index(item: &Item, choices: &[String]) -> Option<usize> {
    match &item.target {
        Target::Choice(i) if *i < choices.len() => Some(*i),
        Target::Choice(_) => None,
        Target::Text(t) => choices.iter().position(|c| c == t),
    }
}

/// Aggregates of one dataset from its stored rows. Only rows whose hash is in `hashes` count;
/// a failed row scores 0 and makes the aggregate partial.
pub fn aggregates(
    job_id: i64,
    dataset: &str,
    scorer: &Scorer,
    rows: &[SampleRecord],
    hashes: &HashSet<String>,
) -> Vec<AggregateRow> {
    let rows: Vec<&SampleRow> = rows
        .iter()
        .map(|r| &r.row)
        .filter(|r| hashes.contains(&r.sample_hash))
        .collect();
    let mut out = Vec::new();
    for def in &scorer.metrics {
        if def.metric.input() == ScoreInput::Execution {
            let ks = super::code::ks(&def.metric);
            out.extend(super::code::aggregates(
                job_id,
                dataset,
                ks,
                def.higher_is_better,
                &rows,
            ));
            continue;
        }
        let metric = def.metric.name().to_string();
        for filter in scorer.filters_of(def) {
            let key = format!("{metric},{filter}");
            let scores: Vec<Option<f64>> = rows
                .iter()
                .map(|r| {
                    if r.error.is_some() {
                        None
                    } else {
                        r.scores.get(&key).copied()
                    }
                })
                .collect();
            if let Some(a) = mean_aggregate(&scores) {
                out.push(AggregateRow {
                    job_id,
                    dataset: dataset.to_string(),
                    metric: metric.clone(),
                    filter,
                    value: a.value,
                    stderr: a.stderr,
                    n: a.n as i64,
                    n_scored: a.n_scored as i64,
                    n_failed: a.n_failed as i64,
                    partial: a.partial,
                    higher_is_better: def.higher_is_better,
                });
            }
        }
    }
    out
}

/// The headline metric key of a dataset: its first metric under its first filter.
pub fn headline(scorer: &Scorer) -> Option<(String, String)> {
    scorer.keys().into_iter().next().map(|(m, f, _)| (m, f))
}
