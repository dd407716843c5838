//! `compare`: two runs cell by cell — one cell per (model, dataset, metric) both runs hold;
//! or model against model: two models of one run, of two runs, or the one model of each of two
//! runs that share none, on the items both scored (cells labelled `a vs b`).
//!
//! For each cell: the delta (B − A) of the stored aggregates; its standard error, from the
//! per-item differences when the runs scored the same items (paired), else from the two stored
//! standard errors; and a paired test over the items both runs scored successfully — McNemar
//! when every per-item score is 0 or 1, the paired bootstrap otherwise (see [`super::stats`]).
//! Repeats of an item are averaged first, so the item is the unit. The p-values of all cells
//! are adjusted together (Holm by default, or Benjamini–Hochberg), and a cell whose adjusted
//! p-value is below `alpha` is flagged a regression or an improvement by the metric's direction.
//!
//! Alongside, a list of differences that make the comparison not like for like: engine, tp,
//! dtype, batch size, revision and weights of a model; dataset hash and rendered prompts of a
//! dataset; the tool version of the run.

use super::stats::{self, TestKind};
use super::{LookupError, find_run, metric_key};
use crate::store::{
    HistoryQuery, HistoryRow, JobRecord, JobStats, Queries, RunRecord, ScoreRow, Store,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm's step-down (controls the family-wise error rate).
    Holm,
    /// Benjamini–Hochberg (controls the false discovery rate).
    Bh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regression,
    Improvement,
    NoChange,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improved",
            Verdict::NoChange => "",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub model: String,
    pub dataset: String,
    pub metric: String,
    pub filter: String,
    pub higher_is_better: bool,
    pub a: f64,
    pub b: f64,
    pub delta: f64,
    pub delta_stderr: Option<f64>,
    /// Items both runs scored.
    pub n_paired: usize,
    /// McNemar's discordant counts: (right in A only, right in B only).
    pub discordant: Option<(u64, u64)>,
    pub test: Option<TestKind>,
    pub p_value: Option<f64>,
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
}

/// A setting that differs between the two sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub field: &'static str,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub run_a: i64,
    pub run_b: i64,
    pub correction: Correction,
    pub alpha: f64,
    pub cells: Vec<Cell>,
    pub mismatches: Vec<Mismatch>,
    /// Models found in only one of the runs.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub model: Option<String>,
    /// Compare model `.0` of run A against model `.1` of run B (the runs may be the same).
    pub models: Option<(String, String)>,
    pub correction: Correction,
    pub alpha: f64,
}

struct Side {
    run: RunRecord,
    jobs: Vec<JobRecord>,
    stats: Vec<JobStats>,
    rows: Vec<HistoryRow>,
}

async fn load<S: Store + Queries>(
    store: &S,
    id: i64,
    path: &str,
    model: Option<&str>,
) -> Result<Side, LookupError> {
    let run = find_run(store, id, path).await?;
    let all = store.jobs(id).await?;
    if let Some(m) = model
        && !all.iter().any(|j| j.model == m)
    {
        return Err(LookupError::NoSuchModel {
            run: id,
            model: m.to_string(),
            models: all.iter().map(|j| j.model.clone()).collect(),
        });
    }
    let jobs: Vec<JobRecord> = all
        .into_iter()
        .filter(|j| model.is_none_or(|m| j.model == m))
        .collect();
    let stats = store.job_stats(id).await?;
    let rows = store
        .history_rows(&HistoryQuery {
            run_id: Some(id),
            model: model.map(str::to_string),
            ..HistoryQuery::default()
        })
        .await?;
    Ok(Side {
        run,
        jobs,
        stats,
        rows,
    })
}

/// Compare run `b` against run `a` (the baseline).
pub async fn compare<S: Store + Queries>(
    store: &S,
    a: i64,
    b: i64,
    path: &str,
    opts: &Options,
) -> Result<Comparison, LookupError> {
    let model = opts.model.as_deref();
    let (model_a, model_b) = match &opts.models {
        Some((x, y)) => (Some(x.as_str()), Some(y.as_str())),
        None => (model, model),
    };
    let side_a = load(store, a, path, model_a).await?;
    let side_b = load(store, b, path, model_b).await?;
    let mut mismatches = Vec::new();
    let mut differ = |model: Option<&str>, dataset: Option<&str>, field, x: String, y: String| {
        if x != y {
            mismatches.push(Mismatch {
                model: model.map(str::to_string),
                dataset: dataset.map(str::to_string),
                field,
                a: x,
                b: y,
            });
        }
    };
    differ(
        None,
        None,
        "tool version",
        side_a.run.tool_version.clone(),
        side_b.run.tool_version.clone(),
    );

    // The last job of each model in each run (a model normally has one job per run).
    let by_model = |s: &Side| -> BTreeMap<String, JobRecord> {
        s.jobs
            .iter()
            .map(|j| (j.model.clone(), j.clone()))
            .collect()
    };
    let (jobs_a, jobs_b) = (by_model(&side_a), by_model(&side_b));
    // Which job of A faces which of B: the same model in both runs; or, model against model,
    // the two models named by `models`, or the one model of each run when they share none.
    let pairs: Vec<(JobRecord, JobRecord)> = {
        let same: Vec<(JobRecord, JobRecord)> = jobs_a
            .iter()
            .filter_map(|(m, ja)| jobs_b.get(m).map(|jb| (ja.clone(), jb.clone())))
            .collect();
        let single = |jobs: &BTreeMap<String, JobRecord>| {
            (jobs.len() == 1)
                .then(|| jobs.values().next().cloned())
                .flatten()
        };
        match (&opts.models, single(&jobs_a), single(&jobs_b)) {
            (Some(_), Some(ja), Some(jb)) => vec![(ja, jb)],
            (None, Some(ja), Some(jb)) if same.is_empty() => vec![(ja, jb)],
            _ => same,
        }
    };
    let paired_a: BTreeSet<&str> = pairs.iter().map(|(ja, _)| ja.model.as_str()).collect();
    let paired_b: BTreeSet<&str> = pairs.iter().map(|(_, jb)| jb.model.as_str()).collect();
    let only_in_a = jobs_a
        .keys()
        .filter(|m| !paired_a.contains(m.as_str()))
        .cloned()
        .collect();
    let only_in_b = jobs_b
        .keys()
        .filter(|m| !paired_b.contains(m.as_str()))
        .cloned()
        .collect();
    let batch = |s: &Side, job: i64| {
        s.stats
            .iter()
            .find(|st| st.job_id == job)
            .and_then(|st| st.batch_size)
            .map_or("unknown".to_string(), |b| b.to_string())
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_string());

    let mut cells = Vec::new();
    for (ja, jb) in &pairs {
        let cross = ja.model != jb.model;
        // A cell of two models is labelled `a vs b`.
        let label = if cross {
            format!("{} vs {}", ja.model, jb.model)
        } else {
            ja.model.clone()
        };
        let m = Some(label.as_str());
        differ(m, None, "engine", ja.engine.clone(), jb.engine.clone());
        differ(m, None, "tp", ja.tp.to_string(), jb.tp.to_string());
        differ(m, None, "dtype", ja.dtype.clone(), jb.dtype.clone());
        differ(
            m,
            None,
            "batch size",
            batch(&side_a, ja.id),
            batch(&side_b, jb.id),
        );
        // Two models differ in weights by design; one model should not.
        if !cross {
            differ(
                m,
                None,
                "revision",
                ja.revision.clone(),
                jb.revision.clone(),
            );
            differ(
                m,
                None,
                "weights",
                opt(&ja.weights_hash),
                opt(&jb.weights_hash),
            );
        }

        let rows_a: Vec<&HistoryRow> = side_a.rows.iter().filter(|r| r.job_id == ja.id).collect();
        let rows_b: Vec<&HistoryRow> = side_b.rows.iter().filter(|r| r.job_id == jb.id).collect();
        let datasets: BTreeSet<&str> = rows_a
            .iter()
            .map(|r| r.dataset.as_str())
            .filter(|d| rows_b.iter().any(|r| r.dataset == *d))
            .collect();
        for dataset in datasets {
            let sa = store.score_rows(ja.id, dataset).await?;
            let sb = store.score_rows(jb.id, dataset).await?;
            let d = Some(dataset);
            differ(m, d, "dataset hash", hashes(&sa), hashes(&sb));
            let changed = changed_prompts(&sa, &sb);
            if changed > 0 {
                differ(
                    m,
                    d,
                    "prompts",
                    "as rendered".into(),
                    format!("{changed} differ"),
                );
            }
            for ra in rows_a.iter().filter(|r| r.dataset == dataset) {
                let Some(rb) = rows_b.iter().find(|r| {
                    r.dataset == dataset && r.metric == ra.metric && r.filter == ra.filter
                }) else {
                    continue;
                };
                let mut c = cell(ra, rb, &sa, &sb);
                c.model = label.clone();
                cells.push(c);
            }
        }
    }

    let tested: Vec<usize> = (0..cells.len())
        .filter(|&i| cells[i].p_value.is_some())
        .collect();
    let ps: Vec<f64> = tested.iter().filter_map(|&i| cells[i].p_value).collect();
    let adjusted = match opts.correction {
        Correction::Holm => stats::holm(&ps),
        Correction::Bh => stats::benjamini_hochberg(&ps),
    };
    for (&i, p) in tested.iter().zip(adjusted) {
        let c = &mut cells[i];
        c.p_adjusted = Some(p);
        if p < opts.alpha && c.delta != 0.0 {
            let better = (c.delta > 0.0) == c.higher_is_better;
            c.verdict = if better {
                Verdict::Improvement
            } else {
                Verdict::Regression
            };
        }
    }
    Ok(Comparison {
        run_a: a,
        run_b: b,
        correction: opts.correction,
        alpha: opts.alpha,
        cells,
        mismatches,
        only_in_a,
        only_in_b,
    })
}

/// The distinct dataset hashes of a job's rows, joined.
fn hashes(rows: &[ScoreRow]) -> String {
    let set: BTreeSet<&str> = rows.iter().map(|r| r.dataset_hash.as_str()).collect();
    if set.is_empty() {
        return "none".to_string();
    }
    set.into_iter()
        .map(|h| &h[..h.len().min(12)])
        .collect::<Vec<_>>()
        .join(",")
}

/// Items present in both whose rendered prompt differs.
fn changed_prompts(a: &[ScoreRow], b: &[ScoreRow]) -> usize {
    let pa: BTreeMap<(i64, i64), &str> = a
        .iter()
        .map(|r| ((r.item_index, r.repeat_index), r.prompt_hash.as_str()))
        .collect();
    b.iter()
        .filter(|r| {
            pa.get(&(r.item_index, r.repeat_index))
                .is_some_and(|h| *h != r.prompt_hash)
        })
        .count()
}

/// Per-item score (repeats averaged) of the successfully scored samples holding `key`.
fn per_item(rows: &[ScoreRow], key: &str) -> BTreeMap<i64, f64> {
    let mut acc: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.failed) {
        if let Some(v) = r.scores.get(key).filter(|v| v.is_finite()) {
            let e = acc.entry(r.item_index).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    acc.into_iter()
        .map(|(k, (s, n))| (k, s / f64::from(n)))
        .collect()
}

fn cell(ra: &HistoryRow, rb: &HistoryRow, sa: &[ScoreRow], sb: &[ScoreRow]) -> Cell {
    let key = metric_key(&ra.metric, &ra.filter);
    let (ia, ib) = (per_item(sa, &key), per_item(sb, &key));
    let pairs: Vec<(f64, f64)> = ia
        .iter()
        .filter_map(|(item, x)| ib.get(item).map(|y| (*x, *y)))
        .collect();
    let delta = rb.value - ra.value;
    let diffs: Vec<f64> = pairs.iter().map(|(x, y)| y - x).collect();
    let delta_stderr = if diffs.len() >= 2 {
        stats::mean_stderr(&diffs)
    } else {
        match (ra.stderr, rb.stderr) {
            (Some(x), Some(y)) => Some((x * x + y * y).sqrt()),
            _ => None,
        }
    };
    let binary = |v: f64| v == 0.0 || v == 1.0;
    let mut discordant = None;
    let result = if pairs.is_empty() {
        delta_stderr.and_then(|se| stats::z_test(delta, se))
    } else if pairs.iter().all(|(x, y)| binary(*x) && binary(*y)) {
        let b = pairs.iter().filter(|(x, y)| *x == 1.0 && *y == 0.0).count() as u64;
        let c = pairs.iter().filter(|(x, y)| *x == 0.0 && *y == 1.0).count() as u64;
        discordant = Some((b, c));
        Some(stats::mcnemar(b, c))
    } else {
        stats::paired_bootstrap(
            &diffs,
            stats::bootstrap_iters(diffs.len()),
            stats::BOOTSTRAP_SEED,
        )
    };
    Cell {
        model: ra.model.clone(),
        dataset: ra.dataset.clone(),
        metric: ra.metric.clone(),
        filter: ra.filter.clone(),
        higher_is_better: ra.higher_is_better,
        a: ra.value,
        b: rb.value,
        delta,
        delta_stderr,
        n_paired: pairs.len(),
        discordant,
        test: result.map(|r| r.test),
        p_value: result.map(|r| r.p_value),
        p_adjusted: None,
        verdict: Verdict::NoChange,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(item: i64, repeat: i64, score: Option<f64>) -> ScoreRow {
        ScoreRow {
            item_index: item,
            repeat_index: repeat,
            prompt_hash: format!("p{item}"),
            dataset_hash: "d".into(),
            scores: score
                .map(|s| BTreeMap::from([("acc,none".to_string(), s)]))
                .unwrap_or_default(),
            failed: score.is_none(),
        }
    }

    fn agg(value: f64, stderr: Option<f64>) -> HistoryRow {
        HistoryRow {
            stderr,
            ..HistoryRow::example(1, "m", "d", "acc", value)
        }
    }

    #[test]
    fn repeats_are_averaged_and_failed_samples_left_out() {
        let rows = [
            row(0, 0, Some(1.0)),
            row(0, 1, Some(0.0)),
            row(1, 0, None),
            row(2, 0, Some(1.0)),
        ];
        let items = per_item(&rows, "acc,none");
        assert_eq!(items, BTreeMap::from([(0, 0.5), (2, 1.0)]));
        // Item 0 is no longer 0/1, so the bootstrap is used instead of McNemar.
        let c = cell(&agg(0.75, Some(0.1)), &agg(0.5, Some(0.1)), &rows, &rows);
        assert_eq!(c.test, Some(TestKind::PairedBootstrap));
        assert_eq!(c.n_paired, 2);
    }

    #[test]
    fn without_paired_samples_the_stored_errors_are_used() {
        let c = cell(&agg(0.8, Some(0.03)), &agg(0.6, Some(0.04)), &[], &[]);
        assert_eq!(c.n_paired, 0);
        assert_eq!(c.test, Some(TestKind::UnpairedZ));
        assert!((c.delta_stderr.unwrap() - 0.05).abs() < 1e-12);
        assert!(c.p_value.unwrap() < 0.001, "z = 4");
        assert_eq!(
            changed_prompts(&[row(0, 0, Some(1.0))], &[row(0, 0, Some(1.0))]),
            0
        );
    }
}
