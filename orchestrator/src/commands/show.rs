//! `assay show RUN_ID`: a run's settings, inventory, jobs (status, error), scores and performance
//! summary; with `--samples`, one page of a job's per-sample outputs and scores.

use super::common::{lookup, open_store, runtime};
use crate::cli::{GlobalArgs, ShowArgs};
use crate::error::{EXIT_OK, InputError};
use crate::history::show::{RunSummary, summary};
use crate::history::time::format_ms;
use crate::history::{failure_note, find_run, human_bytes, metric_key, value_pm};
use crate::printer::Printer;
use crate::store::{Queries, SampleRecord, Store};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct SamplePage {
    run_id: i64,
    job_id: i64,
    model: String,
    dataset: Option<String>,
    page: u64,
    page_size: u64,
    total: i64,
    samples: Vec<SampleRecord>,
}

pub fn run(args: &ShowArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    if args.samples {
        return samples(args, global, printer);
    }
    let s = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        let s = summary(&store, args.run_id, &path).await.map_err(lookup);
        store.close().await;
        s
    })?;
    if printer.json {
        printer.json(&s)?;
        return Ok(EXIT_OK);
    }
    print_summary(&s, printer)?;
    Ok(EXIT_OK)
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

fn print_summary(s: &RunSummary, printer: &Printer) -> anyhow::Result<()> {
    let r = &s.run;
    let duration = r
        .finished_at_ms
        .map(|f| format!(" · {:.1} s", (f - r.started_at_ms) as f64 / 1000.0))
        .unwrap_or_default();
    printer.line(format!(
        "run {} · {} · started {} UTC{duration} · assay {} · catalog {}",
        r.id,
        r.status,
        format_ms(r.started_at_ms),
        r.tool_version,
        r.catalog_hash.chars().take(12).collect::<String>()
    ))?;
    if let Some(e) = &r.error {
        printer.line(format!("error: {e}"))?;
    }
    printer.line(format!("\nconfiguration: {}", r.config))?;
    printer.line(format!("host: {}", r.host))?;
    printer.line(format!("gpus: {}\n", r.gpus))?;

    let jobs: Vec<Vec<String>> = s
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.job.id.to_string(),
                j.job.model.clone(),
                j.job.status.to_string(),
                j.job.engine.clone(),
                j.job.tp.to_string(),
                j.job.dtype.clone(),
                format!("{:?}", j.job.devices),
                j.job.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    printer.table(
        &[
            "job", "model", "status", "engine", "tp", "dtype", "devices", "error",
        ],
        &jobs,
    )?;

    let perf: Vec<Vec<String>> = s
        .jobs
        .iter()
        .map(|j| {
            let st = j.stats.as_ref();
            let f = |g: fn(&crate::store::JobStats) -> Option<f64>| st.and_then(g);
            vec![
                j.job.model.clone(),
                f(|s| s.load_ms.map(|v| v / 1000.0)).map_or("-".into(), |v| format!("{v:.1} s")),
                f(|s| s.eval_ms.map(|v| v / 1000.0)).map_or("-".into(), |v| format!("{v:.1} s")),
                opt_ms(f(|s| s.ttft_p50_ms)),
                f(|s| s.tokens_per_second).map_or("-".into(), |v| format!("{v:.1}")),
                format!(
                    "{} / {} / {}",
                    opt_ms(f(|s| s.latency_p50_ms)),
                    opt_ms(f(|s| s.latency_p95_ms)),
                    opt_ms(f(|s| s.latency_p99_ms))
                ),
                format!(
                    "{} / {}",
                    j.job.memory_estimate_bytes.map_or("-".into(), human_bytes),
                    j.memory_measured_bytes.map_or("-".into(), human_bytes)
                ),
                j.gpu_verdict.clone(),
            ]
        })
        .collect();
    printer.line("")?;
    printer.table(
        &[
            "model",
            "load",
            "eval",
            "TTFT p50",
            "tok/s",
            "latency p50/p95/p99",
            "memory est. / measured",
            "GPU use",
        ],
        &perf,
    )?;

    printer.line("")?;
    if s.scores.is_empty() {
        printer.line("no scores recorded")?;
        return Ok(());
    }
    let scores: Vec<Vec<String>> = s
        .scores
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.dataset.clone(),
                metric_key(&r.metric, &r.filter),
                value_pm(r.value, r.stderr),
                r.n.to_string(),
                match failure_note(r) {
                    note if !note.is_empty() => note,
                    _ if r.partial => format!("{} failed", r.n_failed),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    printer.table(
        &["model", "dataset", "metric", "value ± stderr", "n", "note"],
        &scores,
    )
}

fn samples(args: &ShowArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let page = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        let result = async {
            find_run(&store, args.run_id, &path).await.map_err(lookup)?;
            let jobs = store.jobs(args.run_id).await?;
            let job = match &args.model {
                Some(m) => jobs.iter().find(|j| &j.model == m).ok_or_else(|| {
                    let names: Vec<&str> = jobs.iter().map(|j| j.model.as_str()).collect();
                    InputError(format!(
                        "run {} has no job for model `{m}`; its models: {}",
                        args.run_id,
                        names.join(", ")
                    ))
                })?,
                None => jobs
                    .first()
                    .ok_or_else(|| InputError(format!("run {} has no jobs", args.run_id)))?,
            };
            let dataset = args.dataset.as_deref();
            let total = store.sample_count(job.id, dataset).await?;
            let size = args.page_size as i64;
            let offset = (args.page as i64 - 1).saturating_mul(size);
            let samples = store.sample_page(job.id, dataset, offset, size).await?;
            anyhow::Ok(SamplePage {
                run_id: args.run_id,
                job_id: job.id,
                model: job.model.clone(),
                dataset: args.dataset.clone(),
                page: args.page,
                page_size: args.page_size,
                total,
                samples,
            })
        }
        .await;
        store.close().await;
        result
    })?;
    if printer.json {
        printer.json(&page)?;
        return Ok(EXIT_OK);
    }
    let pages = (page.total as u64).div_ceil(page.page_size).max(1);
    printer.line(format!(
        "run {} · {} · {} samples{} · page {} of {pages}",
        page.run_id,
        page.model,
        page.total,
        page.dataset
            .as_ref()
            .map(|d| format!(" of {d}"))
            .unwrap_or_default(),
        page.page
    ))?;
    for s in &page.samples {
        let r = &s.row;
        let scores: Vec<String> = r.scores.iter().map(|(k, v)| format!("{k}={v}")).collect();
        printer.line(format!(
            "\n[{} #{} r{}] {}",
            r.dataset,
            r.item_index,
            r.repeat_index,
            if scores.is_empty() {
                "no scores".to_string()
            } else {
                scores.join("  ")
            }
        ))?;
        if let Some(e) = &r.error {
            printer.line(format!("  error: {e}"))?;
        }
        if let Some(t) = &r.target {
            printer.line(format!("  target: {}", one_line(t)))?;
        }
        if let Some(o) = &r.output {
            printer.line(format!("  output: {}", one_line(o)))?;
        }
        for (name, text) in &r.filtered {
            printer.line(format!("  {name}: {}", one_line(text)))?;
        }
        if let Some(lls) = &r.loglikelihoods {
            let l: Vec<String> = lls.iter().map(|x| format!("{x:.3}")).collect();
            printer.line(format!("  loglikelihoods: [{}]", l.join(", ")))?;
        }
    }
    if page.page < pages {
        printer.notice(format!("next page: --page {}", page.page + 1));
    }
    Ok(EXIT_OK)
}

/// Newlines shown as `⏎` so each field stays on one line; long text is cut at 300 characters.
fn one_line(s: &str) -> String {
    let flat = s.replace('\n', "⏎");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}
