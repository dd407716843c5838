//! Code-generation datasets (`pass_at_k`): each generated completion is run against the item's
//! tests in the [`crate::sandbox`], scored 1 or 0, and the dataset's aggregate is pass@k over
//! its problems with `n` = the dataset's `repeats`.
//!
//! A sample's row keeps the verdict: `scores["pass_at_k,none"]` is 1 or 0, and `filtered`
//! holds the completion under `none`, the outcome under `execution` (`passed` or the failure
//! kind: `wrong_answer`, `exception`, `timeout`, ...) and its one-line detail under
//! `execution_detail`. When the sandbox itself fails (not the program), the row gets an error
//! instead, so the sample counts as failed and is computed again on resume.

use crate::catalog::Dataset;
use crate::metrics::{self, Metric, PassAtKProblem, aggregate_pass_at_k, score_key};
use crate::sandbox::{
    ExecutionPolicy, HumanEvalProblem, Limits, Outcome, Program, Sandbox, SandboxError,
    needs_code_execution,
};
use crate::store::{AggregateRow, SampleRow};
use crate::tasks::Item;
use assay_engines::{Failure, FailureKind};
use std::collections::BTreeMap;

/// Where a sample's execution outcome is kept in its row's `filtered` map.
pub const OUTCOME_KEY: &str = "execution";
/// Where the one-line detail of the outcome is kept.
pub const DETAIL_KEY: &str = "execution_detail";

/// The one sandbox of a run: `None` when code execution is off or no dataset needs it.
/// Refuses (with the sandbox's error) when the host cannot isolate the program.
pub fn open_sandbox<'a>(
    policy: ExecutionPolicy,
    datasets: impl IntoIterator<Item = &'a Dataset>,
) -> Result<Option<Sandbox>, SandboxError> {
    if !policy.allow_code_execution || !datasets.into_iter().any(needs_code_execution) {
        return Ok(None);
    }
    Sandbox::new(Limits::default(), policy).map(Some)
}

/// Programs run at once: the CPU count, at most 8.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

/// The HumanEval problem of an item (`prompt`, `entry_point`, `test`; `task_id` defaults to
/// the item's index). Errors name the data line and the field.
pub fn problem(dataset: &Dataset, item: &Item) -> Result<HumanEvalProblem, String> {
    let mut fields = item.fields.clone();
    fields
        .entry("task_id")
        .or_insert_with(|| serde_json::Value::String(format!("{}/{}", dataset.name, item.index)));
    HumanEvalProblem::from_row(&serde_json::Value::Object(fields)).map_err(|e| {
        let file = dataset
            .data_files
            .get(&dataset.test_split)
            .map_or_else(|| dataset.test_split.clone(), |p| p.display().to_string());
        format!(
            "dataset `{}`: {file}, line {}: {e}",
            dataset.name, item.line
        )
    })
}

/// Run every scoreable row's completion (its `output`) in the sandbox, `problems[i]` being
/// row `i`'s problem, and record the verdicts. Rows that already failed are left alone.
pub fn score_rows(
    sandbox: &Sandbox,
    rows: &mut [SampleRow],
    problems: &[Option<&HumanEvalProblem>],
    parallelism: usize,
) {
    let mut todo = Vec::new();
    let mut programs = Vec::new();
    for (i, row) in rows.iter_mut().enumerate() {
        if row.error.is_some() {
            continue;
        }
        match problems.get(i).copied().flatten() {
            Some(p) => {
                todo.push(i);
                programs.push(Program::python(
                    p.program(row.output.as_deref().unwrap_or("")),
                ));
            }
            None => row.fail(Failure::new(
                FailureKind::Sandbox,
                "no code problem for this sample",
            )),
        }
    }
    let outcomes = sandbox.run_many(&programs, parallelism);
    for (i, outcome) in todo.into_iter().zip(outcomes) {
        match outcome {
            Ok(o) => record(&mut rows[i], &o),
            Err(e) => rows[i].fail(Failure::new(FailureKind::Sandbox, format!("sandbox: {e}"))),
        }
    }
}

/// Write one execution outcome into a row: score 1 or 0, the outcome and its detail.
pub fn record(row: &mut SampleRow, outcome: &Outcome) {
    let key = score_key(&Metric::PassAtK { k: Vec::new() }, "none");
    row.scores
        .insert(key, if outcome.passed { 1.0 } else { 0.0 });
    if let Some(text) = &row.output {
        row.filtered.insert("none".into(), text.clone());
    }
    let verdict = outcome.failure.map_or("passed", |f| f.as_str());
    row.filtered.insert(OUTCOME_KEY.into(), verdict.into());
    row.filtered
        .insert(DETAIL_KEY.into(), outcome.detail.clone());
}

/// pass@k for each `k` from the rows of one dataset (grouped by item: one problem each, its
/// rows the samples). A failed row counts as a sample that did not pass.
pub fn aggregates(
    job_id: i64,
    dataset: &str,
    ks: &[u32],
    higher_is_better: bool,
    rows: &[&SampleRow],
) -> Vec<AggregateRow> {
    let key = score_key(&Metric::PassAtK { k: Vec::new() }, "none");
    let mut by_item: BTreeMap<i64, PassAtKProblem> = BTreeMap::new();
    for r in rows {
        let p = by_item.entry(r.item_index).or_insert(PassAtKProblem {
            samples: 0,
            correct: 0,
            failed: 0,
        });
        p.samples += 1;
        if r.error.is_some() {
            p.failed += 1;
        } else if r.scores.get(&key).copied() == Some(1.0) {
            p.correct += 1;
        }
    }
    let problems: Vec<PassAtKProblem> = by_item.into_values().collect();
    ks.iter()
        .filter_map(|&k| {
            // A k above the samples of some problem has no value (the catalog keeps k <= repeats).
            let a = aggregate_pass_at_k(&problems, u64::from(k)).ok()??;
            Some(AggregateRow {
                job_id,
                dataset: dataset.to_string(),
                metric: pass_at_k_name(k),
                filter: "none".into(),
                value: a.value,
                stderr: a.stderr,
                n: a.n as i64,
                n_scored: a.n_scored as i64,
                n_failed: a.n_failed as i64,
                partial: a.partial,
                higher_is_better,
            })
        })
        .collect()
}

/// The aggregate's metric name for one `k` (`pass@1`).
pub fn pass_at_k_name(k: u32) -> String {
    format!("pass@{k}")
}

/// The `k`s of a pass@k metric (empty for any other metric).
pub fn ks(metric: &metrics::Metric) -> &[u32] {
    match metric {
        Metric::PassAtK { k } => k,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sandbox::FailureKind;

    fn shipped() -> (Dataset, Vec<Item>) {
        let catalog = crate::catalog::load(None).unwrap();
        let dataset = catalog.datasets["code_generation"].clone();
        let prepared = crate::tasks::prepare(
            &dataset,
            &crate::tasks::TaskOptions {
                limit: Some(2),
                ..crate::tasks::TaskOptions::default()
            },
            &crate::tasks::CatalogSource,
        )
        .unwrap();
        (dataset, prepared.items)
    }

    fn row(item: &Item, completion: &str) -> SampleRow {
        SampleRow {
            sample_hash: format!("h{}", item.index),
            target: Some(item.gold_text.clone()),
            output: Some(completion.into()),
            ..SampleRow::blank(1, "code_generation", item.index as i64)
        }
    }

    #[test]
    fn canonical_solution_passes_and_a_wrong_completion_fails_with_its_kind() {
        let (dataset, items) = shipped();
        let sandbox = open_sandbox(
            ExecutionPolicy {
                allow_code_execution: true,
                allow_network_access: false,
            },
            [&dataset],
        )
        .unwrap()
        .unwrap();
        let problems: Vec<HumanEvalProblem> = items
            .iter()
            .map(|i| problem(&dataset, i).unwrap())
            .collect();
        let canonical = |i: usize| problems[i].canonical_solution.clone().unwrap();
        let mut rows = vec![
            row(&items[0], &canonical(0)),
            row(&items[1], &canonical(1)),
            // Runs, but returns the wrong value.
            row(&items[0], "    return not s\n"),
            // Does not even compile.
            row(&items[1], "    return (\n"),
        ];
        rows[2].repeat_index = 1;
        rows[3].repeat_index = 1;
        let refs = [0, 1, 0, 1].map(|i| Some(&problems[i]));
        score_rows(&sandbox, &mut rows, &refs, 2);
        let key = "pass_at_k,none";
        for r in &rows[..2] {
            assert_eq!(r.error, None);
            assert_eq!(r.scores[key], 1.0, "{:?}", r.filtered);
            assert_eq!(r.filtered[OUTCOME_KEY], "passed");
        }
        assert_eq!(rows[2].scores[key], 0.0);
        assert_eq!(
            rows[2].filtered[OUTCOME_KEY],
            FailureKind::WrongAnswer.as_str()
        );
        assert!(rows[2].filtered[DETAIL_KEY].contains("AssertionError"));
        assert_eq!(rows[3].scores[key], 0.0);
        assert_eq!(
            rows[3].filtered[OUTCOME_KEY],
            FailureKind::Exception.as_str()
        );
        assert!(
            rows[3].filtered[DETAIL_KEY].contains("SyntaxError"),
            "{}",
            rows[3].filtered[DETAIL_KEY]
        );

        // Two problems, two samples each, one passing each: pass@1 = 0.5 per problem.
        let refs: Vec<&SampleRow> = rows.iter().collect();
        let aggs = aggregates(1, "code_generation", &[1, 2], true, &refs);
        assert_eq!(aggs.len(), 2);
        assert_eq!((aggs[0].metric.as_str(), aggs[0].value), ("pass@1", 0.5));
        assert_eq!((aggs[1].metric.as_str(), aggs[1].value), ("pass@2", 1.0));
        assert_eq!(
            (aggs[0].n, aggs[0].n_failed, aggs[0].partial),
            (2, 0, false)
        );
    }

    #[test]
    fn a_failed_row_counts_as_not_passing_and_marks_the_aggregate_partial() {
        let (_, items) = shipped();
        let mut ok = row(&items[0], "x");
        record(
            &mut ok,
            &serde_json::from_value(serde_json::json!({
                "passed": true, "failure": null, "detail": "", "stdout": "", "stderr": "",
                "exit_code": 0, "signal": null, "cpu_ms": 1, "wall_ms": 1
            }))
            .unwrap(),
        );
        let mut bad = row(&items[1], "x");
        bad.error = Some("sandbox: setup".into());
        let aggs = aggregates(1, "d", &[1], true, &[&ok, &bad]);
        assert_eq!(aggs[0].value, 0.5);
        assert_eq!((aggs[0].n, aggs[0].n_failed, aggs[0].partial), (2, 1, true));
    }

    #[test]
    fn a_row_without_tests_names_the_line_and_field() {
        let (dataset, items) = shipped();
        let mut item = items[0].clone();
        item.fields.remove("test");
        let err = problem(&dataset, &item).unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("`test`") && err.contains("test.jsonl"),
            "{err}"
        );
    }
}
