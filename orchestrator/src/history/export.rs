//! `export`: a run's results in the shape of lm-evaluation-harness's `results_*.json`, one
//! document per model, so tools that read lm-eval output read ours; and a flat CSV.
//!
//! lm-eval keys reproduced: `results` (`{task: {"alias": task, "acc,none": v,
//! "acc_stderr,none": s}}`, `"N/A"` where there is no standard error), `group_subtasks`,
//! `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples` (`original`, `effective`),
//! `config` (`model`, `model_args`, `batch_size`, `batch_sizes`, `device`, `limit`, ...),
//! `git_hash`, `date` (Unix seconds, a float), `model_name`, `model_name_sanitized`,
//! `start_time`, `end_time`, `total_evaluation_time_seconds`. assay's own fields sit under
//! `assay`.
//!
//! Per-dataset details come from the run's settings when the run recorded them:
//! `config.dataset_details.<name>` (or `config.datasets.<name>`) may hold `num_fewshot`, `version`, `size` (rows in the split, lm-eval's
//! `original`) and the task configuration; `config.batch_size` and `config.limit` likewise.

use super::metric_key;
use super::time::format_iso;
use crate::store::{HistoryRow, JobRecord, JobStats, RunRecord};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The lm-eval results document of one job.
pub fn lm_eval_json(
    run: &RunRecord,
    job: &JobRecord,
    stats: Option<&JobStats>,
    rows: &[HistoryRow],
) -> Value {
    let cfg = |key: &str| run.config.get(key).cloned().unwrap_or(Value::Null);
    // `dataset_details` is what `assay run` records; a `datasets` map is read too.
    let dataset_cfg = |task: &str| -> Option<&Map<String, Value>> {
        ["dataset_details", "datasets"]
            .iter()
            .find_map(|k| run.config.get(*k)?.get(task)?.as_object())
    };
    let mut by_task: BTreeMap<&str, Vec<&HistoryRow>> = BTreeMap::new();
    // A dataset with no successful sample has no score to report: only its failures are kept.
    let mut failures = Map::new();
    for r in rows.iter().filter(|r| r.job_id == job.id) {
        if !r.failures.is_empty() {
            failures.insert(
                r.dataset.clone(),
                json!({"summary": super::failure_note(r), "groups": r.failures}),
            );
        }
        if r.scored() {
            by_task.entry(r.dataset.as_str()).or_default().push(r);
        }
    }
    let (mut results, mut configs, mut versions, mut n_shot) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    let (mut hib, mut n_samples, mut subtasks) = (Map::new(), Map::new(), Map::new());
    for (task, rows) in &by_task {
        let dc = dataset_cfg(task);
        let field = |k: &str| dc.and_then(|d| d.get(k)).cloned();
        let mut res = Map::new();
        res.insert("alias".into(), json!(task));
        let mut better = Map::new();
        for r in rows {
            res.insert(metric_key(&r.metric, &r.filter), json!(r.value));
            res.insert(
                metric_key(&format!("{}_stderr", r.metric), &r.filter),
                r.stderr.map_or(json!("N/A"), |s| json!(s)),
            );
            better.insert(r.metric.clone(), json!(r.higher_is_better));
        }
        let effective = rows.iter().map(|r| r.n).max().unwrap_or(0);
        results.insert(task.to_string(), Value::Object(res));
        hib.insert(task.to_string(), Value::Object(better));
        n_samples.insert(
            task.to_string(),
            json!({"original": field("size").unwrap_or(json!(effective)), "effective": effective}),
        );
        n_shot.insert(task.to_string(), field("num_fewshot").unwrap_or(json!(0)));
        versions.insert(task.to_string(), field("version").unwrap_or(Value::Null));
        subtasks.insert(task.to_string(), json!([]));
        let metric_list: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"metric": r.metric, "aggregation": "mean",
                       "higher_is_better": r.higher_is_better})
            })
            .collect();
        let mut config = dc.cloned().unwrap_or_default();
        config.entry("task").or_insert(json!(task));
        config.entry("metric_list").or_insert(json!(metric_list));
        configs.insert(task.to_string(), Value::Object(config));
    }
    let batch = stats
        .and_then(|s| s.batch_size)
        .map(|b| json!(b))
        .unwrap_or_else(|| cfg("batch_size"));
    let mut model_args = format!(
        "pretrained={},revision={},dtype={},tp={}",
        job.model, job.revision, job.dtype, job.tp
    );
    if let Some(w) = &job.weights_hash {
        model_args.push_str(&format!(",weights_sha256={w}"));
    }
    let secs = |ms: Option<i64>| ms.map(|m| m as f64 / 1000.0);
    let total = match (job.started_at_ms, job.finished_at_ms) {
        (Some(s), Some(f)) => json!(format!("{:.3}", (f - s) as f64 / 1000.0)),
        _ => Value::Null,
    };
    let aggregates: Vec<Value> = rows
        .iter()
        .filter(|r| r.job_id == job.id && r.scored())
        .map(|r| {
            json!({
                "dataset": r.dataset, "metric": r.metric, "filter": r.filter,
                "value": r.value, "stderr": r.stderr, "n": r.n, "n_scored": r.n_scored,
                "n_failed": r.n_failed, "partial": r.partial,
            })
        })
        .collect();
    let device = if job.devices.is_empty() {
        json!("cpu")
    } else {
        let list: Vec<String> = job.devices.iter().map(|d| format!("cuda:{d}")).collect();
        json!(list.join(","))
    };
    json!({
        "results": results,
        "group_subtasks": subtasks,
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": hib,
        "n-samples": n_samples,
        "config": {
            "model": format!("assay-{}", job.engine),
            "model_args": model_args,
            "model_dtype": job.dtype,
            "model_revision": job.revision,
            "model_sha": job.weights_hash,
            "batch_size": batch,
            "batch_sizes": [],
            "device": device,
            "use_cache": null,
            "limit": cfg("limit"),
            "bootstrap_iters": 0,
            "gen_kwargs": null,
        },
        "git_hash": null,
        "date": run.started_at_ms as f64 / 1000.0,
        "model_name": job.model,
        "model_name_sanitized": sanitize(&job.model),
        "start_time": secs(job.started_at_ms),
        "end_time": secs(job.finished_at_ms),
        "total_evaluation_time_seconds": total,
        "assay": {
            "run_id": run.id,
            "job_id": job.id,
            "run_status": run.status,
            "job_status": job.status,
            "job_error": job.error,
            "failures": failures,
            "started_at": format_iso(run.started_at_ms),
            "tool_version": run.tool_version,
            "catalog_hash": run.catalog_hash,
            "category": cfg("category"),
            "engine": job.engine,
            "tp": job.tp,
            "devices": job.devices,
            "memory_estimate_bytes": job.memory_estimate_bytes,
            "memory_measured_bytes": job.memory_measured_bytes,
            "stats": stats,
            "host": run.host,
            "gpus": run.gpus,
            "aggregates": aggregates,
        },
    })
}

/// lm-eval's directory-safe model name (`org/name` -> `org__name`).
pub fn sanitize(model: &str) -> String {
    model
        .chars()
        .map(|c| match c {
            '/' => "__".to_string(),
            c if c.is_ascii_alphanumeric() || "-_.".contains(c) => c.to_string(),
            _ => "_".to_string(),
        })
        .collect()
}

/// Header of the CSV shared by `history --csv` and `export --format csv`.
pub const CSV_HEADER: &[&str] = &[
    "run_id",
    "date",
    "category",
    "model",
    "dataset",
    "metric",
    "filter",
    "value",
    "stderr",
    "n",
    "n_failed",
    "partial",
    "engine",
    "tp",
    "dtype",
    "batch_size",
    "tokens_per_second",
    "job_status",
    "failures",
];

/// One CSV record of a history row (fields in [`CSV_HEADER`] order).
pub fn csv_record(r: &HistoryRow) -> Vec<String> {
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    vec![
        r.run_id.to_string(),
        format_iso(r.run_started_at_ms),
        r.category.clone().unwrap_or_default(),
        r.model.clone(),
        r.dataset.clone(),
        r.metric.clone(),
        r.filter.clone(),
        if r.scored() {
            r.value.to_string()
        } else {
            String::new()
        },
        opt(r.stderr),
        r.n.to_string(),
        r.n_failed.to_string(),
        r.partial.to_string(),
        r.engine.clone(),
        r.tp.to_string(),
        r.dtype.clone(),
        r.batch_size.map(|b| b.to_string()).unwrap_or_default(),
        opt(r.tokens_per_second),
        r.job_status.to_string(),
        crate::history::failure_note(r),
    ]
}

/// RFC 4180 text (through the `csv` crate): fields with a comma, quote or line break are
/// quoted, quotes doubled; lines end with `\n`.
pub fn to_csv(header: &[&str], records: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory fails only on invalid UTF-8, which `&str` fields cannot hold.
    let _ = w.write_record(header);
    for r in records {
        let _ = w.write_record(r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        let text = to_csv(
            &["a", "b"],
            &[
                vec!["x,y".into(), "say \"hi\"".into()],
                vec!["1".into(), "2".into()],
            ],
        );
        assert_eq!(text, "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n1,2\n");
    }

    #[test]
    fn sanitized_names() {
        assert_eq!(sanitize("Qwen/Qwen2.5-7B"), "Qwen__Qwen2.5-7B");
        assert_eq!(sanitize("a b"), "a_b");
    }
}
