//! `assay run CATEGORY | --model PATH_OR_ID_OR_URL --datasets X,Y | --resume RUN_ID`: evaluate
//! models on datasets and store every sample, score and measurement (see `crate::run`).
//!
//! Before anything loads: the selection is checked, the demo checkpoint is created if needed,
//! every local model's weights must be on disk (the missing ones are listed with how to fetch
//! them, or with `--download` fetched from the hub, see `commands::download`), and the plan is
//! built. Models with an `endpoint` (or `--model URL`) run on the remote engine. The run's settings are stored with it, so `--resume RUN_ID` replays
//! them and computes only the samples without a row. Rerunning the same command does the same
//! in a new run (stored rows are reused by content hash); `--fresh` computes everything.
//!
//! Exit codes: 0 when every job and sample succeeded; 1 when a job, dataset or sample failed
//! (the run is `failed` when most samples failed or any job failed); 2 for bad input; 130 when
//! interrupted (Ctrl-C), after printing the command that resumes the run.
//!
//! `--json` prints `{run_id, status, db, resume_command, jobs[]}`; each job is
//! `{job_id, model, engine, devices[], device_desc, dtype, status, error, samples, reused,
//! failed_samples, failed_samples_total, estimated_s, wall_s, prepare_s, load_s, engine_s, compute_s,
//! store_s, tokens_per_s, memory_estimate, memory_measured, verdicts, telemetry, datasets[]}`
//! and each dataset `{name, status, error, samples, done, failed, reused, skipped_rows[],
//! headline, aggregates[]}` (aggregates as stored: metric, filter, value, stderr, n, n_scored,
//! n_failed, partial, higher_is_better).

mod check;
mod jobs;
mod select;

use crate::catalog::{self, Catalog, Category, DType, Model, Origin};
use crate::cli::{ChatTemplate, GlobalArgs, RunArgs};
use crate::error::{EXIT_FAILURE, EXIT_OK, InputError};
use crate::hardware::{self, Inventory};
use crate::plan::{self, CheckpointState, Plan, Request};
use crate::printer::Printer;
use crate::route;
use crate::run::{
    self, GenKwargs, JobReport, JobSpec, Placement, RunEnv, RunSettings, demo, progress::Progress,
};
use crate::schedule::TableRates;
use crate::sizing::Settings;
use crate::store::{JobStatus, NewRun, RunStatus, SqliteStore, Store, now_ms, resolve_db_path};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Exit code of an interrupted run.
pub use jobs::weights_fingerprint;
use jobs::{catalog_hash, check_weights, config_json, host_json, job_specs};
use select::select;

pub const EXIT_INTERRUPTED: u8 = 130;
/// Default samples per batch.
pub const DEFAULT_BATCH: u64 = 8;

/// The settings of a run as stored with it (and replayed by `--resume`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    pub category: Option<String>,
    /// `--engine tensor-parallel --tp N`.
    #[serde(default)]
    pub force_tp: Option<u64>,
    pub model: Option<String>,
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    pub limit: Option<u64>,
    pub gpus: Option<String>,
    pub dtype: Option<String>,
    pub batch_size: u64,
    pub max_seq_len: Option<u64>,
    pub num_fewshot: Option<u32>,
    pub gen_kwargs: Option<String>,
    pub seed: u64,
    pub fresh: bool,
    pub skip_bad_rows: bool,
    pub allow_code_execution: bool,
    /// `--allow-code-execution-with-network-access`.
    #[serde(default)]
    pub allow_code_execution_with_network_access: bool,
    pub chat_template: Option<ChatTemplate>,
    pub catalog: Option<PathBuf>,
    /// `--served-model-name` (with `--model URL`).
    #[serde(default)]
    pub served_model_name: Option<String>,
    /// `--api-key-env` (with `--model URL`): the variable's name, never its value.
    #[serde(default)]
    pub api_key_env: Option<String>,
}

impl RunConfig {
    fn from_args(a: &RunArgs, g: &GlobalArgs) -> Self {
        RunConfig {
            category: a.category.clone(),
            force_tp: crate::commands::forced_tp(&a.engine).ok().flatten(),
            // A checkpoint directory is stored absolute, so `--resume` works from anywhere.
            model: a.model.as_ref().map(|m| {
                let p = Path::new(m);
                if p.is_dir() {
                    std::path::absolute(p).map_or(m.clone(), |p| p.display().to_string())
                } else {
                    m.clone()
                }
            }),
            models: a.models.clone(),
            datasets: a.datasets.clone(),
            limit: a.limit,
            gpus: a.gpus.clone(),
            dtype: a.dtype.map(|d| d.as_str().to_string()),
            batch_size: a.batch_size.unwrap_or(DEFAULT_BATCH),
            max_seq_len: a.max_seq_len,
            num_fewshot: a.num_fewshot,
            gen_kwargs: a.gen_kwargs.clone(),
            seed: a.seed,
            fresh: a.fresh,
            skip_bad_rows: a.skip_bad_rows,
            allow_code_execution: a.allow_code_execution
                || a.allow_code_execution_with_network_access,
            allow_code_execution_with_network_access: a.allow_code_execution_with_network_access,
            chat_template: a.chat_template,
            catalog: g
                .catalog
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or(p.clone())),
            served_model_name: a.served_model_name.clone(),
            api_key_env: a.api_key_env.clone(),
        }
    }
}

/// What the run prints with `--json`.
#[derive(Debug, Serialize)]
pub struct RunOutput {
    pub run_id: i64,
    pub status: RunStatus,
    pub db: PathBuf,
    pub resume_command: Option<String>,
    pub jobs: Vec<JobReport>,
}

pub fn run(args: &RunArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args, global, printer))
}

async fn run_async(args: &RunArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let db = resolve_db_path(global.db.as_deref())?;
    let store = SqliteStore::open(&db).await?;
    let result = run_with_store(args, global, printer, &store, &db).await;
    store.close().await;
    result
}

async fn run_with_store(
    args: &RunArgs,
    global: &GlobalArgs,
    printer: &Printer,
    store: &SqliteStore,
    db: &Path,
) -> anyhow::Result<u8> {
    let (config, resume) = match args.resume {
        Some(id) => {
            let record = store
                .run(id)
                .await
                .map_err(|e| InputError(format!("--resume {id}: {e}")))?;
            let config: RunConfig = serde_json::from_value(record.config.clone()).map_err(|e| {
                InputError(format!(
                    "--resume {id}: the run's stored settings cannot be read: {e}"
                ))
            })?;
            (config, Some(id))
        }
        None => {
            crate::commands::forced_tp(&args.engine)?;
            (RunConfig::from_args(args, global), None)
        }
    };
    let settings = run_settings(&config)?;
    let mut inv =
        hardware::inventory(config.gpus.as_deref()).map_err(|e| InputError(e.to_string()))?;
    if let Some(notice) = &inv.notice {
        printer.notice(notice);
    }
    if !cfg!(feature = "cuda") && !inv.gpus.is_empty() && config.gpus.is_none() {
        // Detected GPUs are of no use to engines built without CUDA: run on the CPU instead
        // of failing every job at load.
        printer.notice(format!(
            "{} GPU(s) found, but this build has no CUDA support (rebuild with --features cuda): running on the CPU",
            inv.gpus.len()
        ));
        inv.gpus.clear();
        inv.source = hardware::Source::Cpu;
    }
    let mut catalog = catalog::load(config.catalog.as_deref())?;
    let category = select(&mut catalog, &config)?;
    let plan_settings = Settings {
        dtype: super::dtype_flag(config.dtype.as_deref())?,
        max_seq_len: config.max_seq_len,
        batch: Some(config.batch_size),
        prefill_chunk: None,
        force_tp: config.force_tp,
    };
    let req = Request {
        category: &category,
        limit: config.limit,
        settings: plan_settings,
    };
    let mut plan = plan::build(&catalog, &inv, &req, &catalog::find_local, &TableRates)
        .map_err(|e| InputError(e.to_string()))?;
    check_weights(&mut plan, &mut catalog, args.download, printer).await?;
    // One sandbox for the run, opened before anything is recorded: a host that cannot
    // isolate model-written code refuses here.
    let sandbox = run::code::open_sandbox(
        crate::sandbox::ExecutionPolicy {
            allow_code_execution: config.allow_code_execution,
            allow_network_access: config.allow_code_execution_with_network_access,
        },
        plan.datasets
            .iter()
            .filter_map(|d| catalog.datasets.get(&d.name)),
    )?;
    if let Some(s) = &sandbox {
        for line in s.notice() {
            printer.notice(line);
        }
    }

    let existing: BTreeMap<String, i64> = match resume {
        Some(id) => store
            .jobs(id)
            .await?
            .into_iter()
            .map(|j| (j.model, j.id))
            .collect(),
        None => BTreeMap::new(),
    };
    let jobs = job_specs(&plan, &catalog, &inv, &existing, plan_settings.dtype);
    check::preflight(&jobs, &config, &settings)?;

    let run_id = match resume {
        Some(id) => id,
        None => {
            store
                .create_run(NewRun {
                    started_at_ms: now_ms(),
                    tool_version: env!("CARGO_PKG_VERSION").to_string(),
                    catalog_hash: catalog_hash(&catalog, &plan),
                    config: config_json(&config, &catalog, &plan)?,
                    host: host_json(&inv),
                    gpus: serde_json::to_value(&inv.gpus)?,
                })
                .await?
        }
    };
    if resume.is_some() {
        store
            .finish_run(run_id, RunStatus::Running, now_ms(), None)
            .await?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(Notify::new());
    let env = Arc::new(RunEnv {
        store: store.clone(),
        run_id,
        exe: std::env::current_exe()?,
        worker_env: Vec::new(),
        settings,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        stop: stop.clone(),
        progress: Progress::for_terminal(printer.json, printer.quiet),
        sandbox: sandbox.map(Arc::new),
    });
    let signals = tokio::spawn(watch_signals(
        super::StopSignals::listen()?,
        stop.clone(),
        abort.clone(),
        *printer,
    ));
    let reports = run::execute(env, jobs, abort).await;
    signals.abort();
    let resume_command = format!("assay run --resume {run_id}{}", db_flag(global, db));

    let Some(reports) = reports else {
        // The jobs cut off mid-batch follow the run: resumable, not left `running`.
        for job in store.jobs(run_id).await? {
            if job.status == JobStatus::Running {
                store
                    .update_job(
                        job.id,
                        crate::store::JobUpdate {
                            status: JobStatus::Pending,
                            started_at_ms: None,
                            finished_at_ms: None,
                            memory_measured_bytes: None,
                            error: Some("interrupted".into()),
                        },
                    )
                    .await?;
            }
        }
        store
            .finish_run(
                run_id,
                RunStatus::Interrupted,
                now_ms(),
                Some("interrupted twice".into()),
            )
            .await?;
        printer.notice(format!(
            "interrupted; committed samples are kept. Resume with: {resume_command}"
        ));
        return Ok(EXIT_INTERRUPTED);
    };
    let interrupted = stop.load(Ordering::SeqCst) && reports.iter().any(JobReport::interrupted);
    let status = run_status(&reports, interrupted);
    let error = reports
        .iter()
        .filter_map(|j| {
            j.failure_text().map(|e| {
                format!(
                    "{}: {}",
                    j.model,
                    e.replace('\n', &format!("\n{}: ", j.model))
                )
            })
        })
        .collect::<Vec<_>>();
    store
        .finish_run(
            run_id,
            status,
            now_ms(),
            (!error.is_empty()).then(|| error.join("\n")),
        )
        .await
        .map_err(|e| {
            // The run is stored and its committed samples with it: it can be resumed once the
            // database can be written again.
            anyhow::Error::new(e).context(format!(
                "run {run_id} could not be marked {status}; what was committed is kept, and `{resume_command}` continues it once the database can be written"
            ))
        })?;
    let output = RunOutput {
        run_id,
        status,
        db: db.to_path_buf(),
        resume_command: (status != RunStatus::Completed).then(|| resume_command.clone()),
        jobs: reports,
    };
    if printer.json {
        printer.json(&output)?;
    } else {
        print_human(&output, printer)?;
    }
    if interrupted {
        printer.notice(format!("interrupted; resume with: {resume_command}"));
        return Ok(EXIT_INTERRUPTED);
    }
    let any_failure = output.jobs.iter().any(|j| {
        j.error.is_some()
            || j.failed_samples_total > 0
            || j.datasets.iter().any(|d| d.status == "failed")
    });
    Ok(if status == RunStatus::Completed && !any_failure {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

fn db_flag(global: &GlobalArgs, db: &Path) -> String {
    match &global.db {
        Some(_) => format!(" --db {}", db.display()),
        None => String::new(),
    }
}

/// First stop signal (Ctrl-C, SIGTERM, SIGHUP): stop after the batches in flight. Second: quit
/// now.
async fn watch_signals(
    mut signals: super::StopSignals,
    stop: Arc<AtomicBool>,
    abort: Arc<Notify>,
    printer: Printer,
) {
    let first = signals.next().await;
    stop.store(true, Ordering::SeqCst);
    printer.notice(format!(
        "{first}: stopping after the batches in flight (a second Ctrl-C or signal quits now)"
    ));
    signals.next().await;
    abort.notify_one();
}

/// `failed` when any job failed (a job fails with any failed dataset, see
/// `run::failures`); else `interrupted` when stopped early; else `completed`.
pub fn run_status(reports: &[JobReport], interrupted: bool) -> RunStatus {
    if reports.iter().any(|j| j.status == JobStatus::Failed) {
        RunStatus::Failed
    } else if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    }
}

fn run_settings(c: &RunConfig) -> Result<RunSettings, InputError> {
    let gen_kwargs = match &c.gen_kwargs {
        Some(t) => GenKwargs::parse(t).map_err(InputError)?,
        None => GenKwargs::default(),
    };
    Ok(RunSettings {
        limit: c.limit,
        batch_size: c.batch_size,
        max_seq_len: c.max_seq_len,
        num_fewshot: c.num_fewshot,
        chat: crate::commands::datasets::chat_mode(c.chat_template),
        seed: c.seed,
        fresh: c.fresh,
        skip_bad_rows: c.skip_bad_rows,
        allow_code_execution: c.allow_code_execution,
        gen_kwargs,
    })
}

fn print_human(out: &RunOutput, printer: &Printer) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for j in &out.jobs {
        let device = if j.device_desc.is_empty() {
            j.devices.join(",")
        } else {
            j.device_desc.clone()
        };
        let tps = j
            .tokens_per_s
            .map_or("-".to_string(), |t| format!("{t:.0}"));
        if j.datasets.is_empty() {
            rows.push(vec![
                j.model.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                j.engine.clone(),
                device.clone(),
                tps.clone(),
                j.status.to_string(),
            ]);
        }
        for d in &j.datasets {
            // Every metric under every filter, the headline first.
            let mut aggs: Vec<&crate::store::AggregateRow> = d.aggregates.iter().collect();
            let headline = d.headline_aggregate();
            aggs.sort_by_key(|a| !headline.is_some_and(|h| std::ptr::eq(*a, h)));
            let cells: Vec<(String, String, String)> = if aggs.is_empty() {
                vec![("-".into(), "-".into(), d.done.to_string())]
            } else {
                aggs.iter()
                    .map(|a| {
                        (
                            format!("{},{}", a.metric, a.filter),
                            match a.stderr {
                                Some(se) => format!("{:.3} ± {:.3}", a.value, se),
                                None => format!("{:.3}", a.value),
                            },
                            if a.n_failed > 0 {
                                format!("{} ({} failed)", a.n, a.n_failed)
                            } else {
                                a.n.to_string()
                            },
                        )
                    })
                    .collect()
            };
            for (metric, score, n) in cells {
                rows.push(vec![
                    j.model.clone(),
                    d.name.clone(),
                    metric,
                    score,
                    n,
                    j.engine.clone(),
                    device.clone(),
                    tps.clone(),
                    d.status.to_string(),
                ]);
            }
        }
    }
    printer.table(
        &[
            "model", "dataset", "metric", "score", "n", "engine", "device", "tok/s", "status",
        ],
        &rows,
    )?;
    for j in &out.jobs {
        if let Some(e) = &j.error {
            printer.line(format!("\n{} failed: {e}", j.model))?;
        }
        for d in &j.datasets {
            if let (Some(e), "failed" | "skipped") = (&d.error, d.status) {
                printer.line(format!("{} / {}: {} ({e})", j.model, d.name, d.status))?;
            } else if !d.failures.is_empty() {
                let samples = i64::try_from(d.samples).ok();
                printer.line(format!(
                    "{} / {}: {}",
                    j.model,
                    d.name,
                    run::failures::describe(&d.failures, samples)
                ))?;
            }
            for bad in &d.skipped_rows {
                printer.notice(format!("{}: skipped malformed row {bad}", d.name));
            }
        }
    }
    let line = format!(
        "\nrun {} {} in {:.1}s; results in {}",
        out.run_id,
        out.status,
        out.jobs.iter().map(|j| j.wall_s).fold(0.0, f64::max),
        out.db.display()
    );
    printer.line(line)?;
    if let Some(cmd) = &out.resume_command {
        printer.line(format!("resume with: {cmd}"))?;
    }
    Ok(())
}
