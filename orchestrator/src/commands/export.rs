//! `assay export RUN_ID --format json|csv`: results for other tools. JSON follows the layout of
//! lm-evaluation-harness's `results_*.json` (one document per model: a single object for one
//! model, an array for several); `--out DIR` writes lm-eval's layout of files instead.
//!
//! A failed run is refused (exit 2) unless `--include-failed`: its scores are not results.

use super::common::{lookup, open_store, runtime};
use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::error::{EXIT_OK, InputError};
use crate::history::export::{CSV_HEADER, csv_record, lm_eval_json, sanitize, to_csv};
use crate::history::find_run;
use crate::history::time::format_iso;
use crate::printer::Printer;
use crate::store::{HistoryQuery, Queries, RunStatus, Store};
use anyhow::Context;

pub fn run(args: &ExportArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let (run, jobs, stats, rows) = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        let result = async {
            let run = find_run(&store, args.run_id, &path).await.map_err(lookup)?;
            let jobs = store.jobs(args.run_id).await?;
            let stats = store.job_stats(args.run_id).await?;
            let rows = store
                .history_with_failures(&HistoryQuery {
                    run_id: Some(args.run_id),
                    model: args.model.clone(),
                    ..HistoryQuery::default()
                })
                .await?;
            anyhow::Ok((run, jobs, stats, rows))
        }
        .await;
        store.close().await;
        result
    })?;
    if run.status == RunStatus::Failed && !args.include_failed {
        let why = run
            .error
            .as_deref()
            .map(|e| format!(": {}", e.lines().next().unwrap_or(e)))
            .unwrap_or_default();
        return Err(InputError(format!(
            "run {} failed{why}\nits scores are not results; pass --include-failed to export them marked as failed",
            run.id
        ))
        .into());
    }
    let jobs: Vec<_> = jobs
        .into_iter()
        .filter(|j| args.model.as_ref().is_none_or(|m| &j.model == m))
        .collect();
    if jobs.is_empty() {
        return Err(InputError(match &args.model {
            Some(m) => format!("run {} has no job for model `{m}`", args.run_id),
            None => format!("run {} has no jobs", args.run_id),
        })
        .into());
    }
    match args.format {
        ExportFormat::Csv => {
            let records: Vec<Vec<String>> = rows.iter().map(csv_record).collect();
            let text = to_csv(CSV_HEADER, &records);
            if let Some(dir) = &args.out {
                let file = dir.join(format!("run_{}.csv", run.id));
                write(&file, &text)?;
                printer.notice(format!("wrote {}", file.display()));
            } else {
                printer.line(text.trim_end_matches('\n'))?;
            }
        }
        ExportFormat::Json => {
            let docs: Vec<serde_json::Value> = jobs
                .iter()
                .map(|j| {
                    let st = stats.iter().find(|s| s.job_id == j.id);
                    lm_eval_json(&run, j, st, &rows)
                })
                .collect();
            if let Some(dir) = &args.out {
                // lm-eval's layout: <output_path>/<model_name_sanitized>/results_<date>.json
                let stamp = format_iso(run.started_at_ms).replace(':', "-");
                for (job, doc) in jobs.iter().zip(&docs) {
                    let file = dir
                        .join(sanitize(&job.model))
                        .join(format!("results_{stamp}.json"));
                    write(&file, &serde_json::to_string_pretty(doc)?)?;
                    printer.notice(format!("wrote {}", file.display()));
                }
            } else if let [doc] = docs.as_slice() {
                printer.json(doc)?;
            } else {
                printer.json(&docs)?;
            }
        }
    }
    Ok(EXIT_OK)
}

pub(crate) fn write(file: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))
}
