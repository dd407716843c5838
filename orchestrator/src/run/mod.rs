//! The executor of `assay run`: jobs from the plan, each on its engine in a worker process,
//! samples scored and committed as they finish, aggregates from the stored rows.
//!
//! - [`protocol`]: the JSON-lines messages between parent and worker.
//! - [`worker`]: the child side (`assay worker`), and the one engine constructor.
//! - [`child`]: the parent's handle on a worker process.
//! - [`job`]: one job (prepare, resume, load, batches, aggregates, telemetry).
//! - [`score`]: samples, their content hashes, rows and aggregates.
//! - [`code`]: code-generation samples run in the sandbox, and their pass@k.
//! - [`demo`]: the tiny demo checkpoint, created deterministically on first use.
//!
//! Independent jobs run concurrently when their devices are disjoint (CPU jobs share the CPU
//! and run one after the other). A stop request (first Ctrl-C) lets every batch in flight
//! finish and commit, then ends each job; the caller marks the run `interrupted`.

pub mod child;
pub mod code;
pub mod demo;
pub mod failures;
pub mod job;
pub mod progress;
pub mod protocol;
pub mod score;
pub mod worker;

use crate::catalog::{Dataset, GenerationKwargs, Model};
use crate::hardware::Gpu;
use crate::store::{AggregateRow, FailureGroup, JobStatus, SqliteStore};
use crate::tasks::ChatMode;
use crate::telemetry::{Summary, Verdict};
use progress::Progress;
use protocol::EngineKind;
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::Notify;

/// Run-wide settings every job uses.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub limit: Option<u64>,
    pub batch_size: u64,
    pub max_seq_len: Option<u64>,
    pub num_fewshot: Option<u32>,
    pub chat: ChatMode,
    pub seed: u64,
    pub fresh: bool,
    pub skip_bad_rows: bool,
    pub allow_code_execution: bool,
    pub gen_kwargs: GenKwargs,
}

/// What all jobs share.
#[derive(Debug)]
pub struct RunEnv {
    pub store: SqliteStore,
    pub run_id: i64,
    /// The binary started as `assay worker`.
    pub exe: PathBuf,
    pub worker_env: Vec<(String, String)>,
    pub settings: RunSettings,
    pub tool_version: String,
    pub stop: Arc<AtomicBool>,
    pub progress: Option<Progress>,
    /// The run's sandbox for code-generation datasets (see [`code::open_sandbox`]); `None`
    /// when code execution is off or nothing needs it.
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
}

/// One job as planned: a model, where it runs, its datasets.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub model: Model,
    pub placement: Placement,
    pub weights_hash: Option<String>,
    /// The dtype the weights are loaded in (`None`: the checkpoint's).
    pub load_dtype: Option<assay_engines::DType>,
    pub dtype: String,
    pub memory_estimate: u64,
    pub estimated_s: Option<f64>,
    pub datasets: Vec<Dataset>,
    /// Continue this job (resume of a run) instead of recording a new one.
    pub existing_job: Option<i64>,
}

/// Where a job runs, decided by the plan and carried to the worker and the store: one type,
/// so no combination of optional fields is checked at run time. Adding an engine adds a
/// variant (or a [`LocalEngine`]) here and its constructor in `worker::load_engine`.
#[derive(Debug, Clone)]
pub enum Placement {
    /// On this machine: a local engine over the checkpoint on disk, one worker per replica
    /// (data-parallel replicas share the samples).
    Local {
        engine: LocalEngine,
        checkpoint: PathBuf,
        /// Ranks per replica (1 for the lightweight engine).
        tp: u64,
        /// Device labels (`cpu`, `gpu0`, ...) per replica.
        replicas: Vec<Vec<String>>,
        /// The job's GPUs (all replicas).
        gpus: Vec<Gpu>,
    },
    /// On an OpenAI-compatible server; the worker is its client.
    Remote(assay_engines::RemoteConfig),
    /// Not runnable, and why (no engine supports the architecture, nothing can hold it).
    Blocked(String),
}

/// assay's own engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalEngine {
    Lightweight,
    TensorParallel,
}

impl Placement {
    /// The engine the worker loads; `None` for a blocked job.
    pub fn engine_kind(&self) -> Option<EngineKind> {
        match self {
            Placement::Local {
                engine: LocalEngine::Lightweight,
                ..
            } => Some(EngineKind::Lightweight),
            Placement::Local {
                engine: LocalEngine::TensorParallel,
                ..
            } => Some(EngineKind::TensorParallel),
            Placement::Remote(_) => Some(EngineKind::Remote),
            Placement::Blocked(_) => None,
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Placement::Remote(_))
    }
}

impl JobSpec {
    /// The engine's name as stored and printed (`none` for a blocked job).
    pub fn engine_name(&self) -> &'static str {
        self.placement
            .engine_kind()
            .map_or("none", EngineKind::as_str)
    }

    /// Ranks per replica (1 but for the tensor-parallel engine).
    pub fn tp(&self) -> u64 {
        match &self.placement {
            Placement::Local { tp, .. } => (*tp).max(1),
            _ => 1,
        }
    }

    /// The job's GPUs (none for a served or blocked job).
    pub fn gpus(&self) -> &[Gpu] {
        match &self.placement {
            Placement::Local { gpus, .. } => gpus,
            _ => &[],
        }
    }

    /// Requests sent to the engine at once: the run's batch size, or for a remote server at
    /// least its concurrency limit (the remote engine keeps that many requests in flight
    /// within one call).
    pub fn requests_per_batch(&self, batch_size: u64) -> usize {
        let base = batch_size.max(1) as usize;
        match &self.placement {
            Placement::Remote(r) => base.max(r.concurrency.max(1)),
            _ => base,
        }
    }

    /// Every device label the job holds while it runs (a server counts as one device, so
    /// jobs on one server take turns).
    pub fn devices(&self) -> Vec<String> {
        match &self.placement {
            Placement::Local { replicas, .. } => {
                let mut out: Vec<String> = Vec::new();
                for d in replicas.iter().flatten() {
                    if !out.contains(d) {
                        out.push(d.clone());
                    }
                }
                out
            }
            Placement::Remote(r) => vec![format!("remote:{}", r.base_url)],
            Placement::Blocked(_) => Vec::new(),
        }
    }
}

/// How one dataset of a job went.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    pub name: String,
    /// `completed`, `failed`, `skipped` or `interrupted`.
    pub status: &'static str,
    pub error: Option<String>,
    pub samples: u64,
    pub done: u64,
    pub failed: u64,
    /// Samples taken from earlier runs instead of computed.
    pub reused: u64,
    /// Malformed rows skipped with `--skip-bad-rows` (`file:line: reason`).
    pub skipped_rows: Vec<String>,
    /// The headline `(metric, filter)`.
    pub headline: Option<(String, String)>,
    pub aggregates: Vec<AggregateRow>,
    /// Failed samples by kind, largest group first, each with its first message.
    pub failures: Vec<FailureGroup>,
}

impl DatasetReport {
    pub fn new(name: &str, samples: u64, reused: u64) -> Self {
        DatasetReport {
            name: name.to_string(),
            status: "completed",
            error: None,
            samples,
            done: 0,
            failed: 0,
            reused,
            skipped_rows: Vec::new(),
            headline: None,
            aggregates: Vec::new(),
            failures: Vec::new(),
        }
    }
    pub fn failed(name: &str, error: String) -> Self {
        DatasetReport {
            status: "failed",
            error: Some(error),
            ..Self::new(name, 0, 0)
        }
    }
    pub fn skipped(name: &str, why: &str) -> Self {
        DatasetReport {
            status: "skipped",
            error: Some(why.to_string()),
            ..Self::new(name, 0, 0)
        }
    }
    /// The headline aggregate.
    pub fn headline_aggregate(&self) -> Option<&AggregateRow> {
        let (m, f) = self.headline.as_ref()?;
        self.aggregates
            .iter()
            .find(|a| &a.metric == m && &a.filter == f)
    }
}

/// How one job went, with its measurements.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub job_id: Option<i64>,
    pub model: String,
    pub engine: String,
    pub devices: Vec<String>,
    pub device_desc: String,
    pub dtype: String,
    /// Workers that loaded the model (data-parallel replicas sharing the samples).
    pub replicas: usize,
    pub status: JobStatus,
    pub error: Option<String>,
    pub samples: u64,
    pub reused: u64,
    /// Samples that failed in this invocation.
    pub failed_samples: u64,
    /// Failed samples stored for the job (this invocation and reused).
    pub failed_samples_total: u64,
    pub estimated_s: Option<f64>,
    pub wall_s: f64,
    pub prepare_s: f64,
    pub load_s: f64,
    /// Wall time of the batches as the parent saw them (send to reply, worker and IPC included).
    pub engine_s: f64,
    /// Time the engine itself spent in forward passes (prefill and decode).
    pub compute_s: f64,
    pub store_s: f64,
    pub tokens_per_s: Option<f64>,
    pub memory_estimate: u64,
    pub memory_measured: Option<i64>,
    pub verdicts: Vec<(String, Verdict)>,
    pub telemetry: Option<Summary>,
    /// The engine's own counters (summed over replicas): TTFT, latencies, token rates.
    #[serde(skip)]
    pub engine_telemetry: Option<assay_engines::EngineTelemetry>,
    pub datasets: Vec<DatasetReport>,
}

impl JobReport {
    fn new(spec: &JobSpec) -> Self {
        JobReport {
            job_id: None,
            model: spec.model.id.clone(),
            engine: spec.engine_name().to_string(),
            devices: spec.devices(),
            device_desc: String::new(),
            dtype: spec.dtype.clone(),
            replicas: 0,
            status: JobStatus::Running,
            error: None,
            samples: 0,
            reused: 0,
            failed_samples: 0,
            failed_samples_total: 0,
            estimated_s: spec.estimated_s,
            wall_s: 0.0,
            prepare_s: 0.0,
            load_s: 0.0,
            engine_s: 0.0,
            compute_s: 0.0,
            store_s: 0.0,
            tokens_per_s: None,
            memory_estimate: spec.memory_estimate,
            memory_measured: None,
            verdicts: Vec::new(),
            telemetry: None,
            engine_telemetry: None,
            datasets: Vec::new(),
        }
    }

    fn fail(&mut self, error: String) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Everything that went wrong, one line each: the job's own error, then each failed
    /// dataset's. `None` when nothing failed.
    pub fn failure_text(&self) -> Option<String> {
        let mut lines: Vec<String> = self.error.iter().cloned().collect();
        lines.extend(
            self.datasets
                .iter()
                .filter(|d| d.status == "failed")
                .filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.name))),
        );
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// Whether the job left samples to compute (it was stopped).
    pub fn interrupted(&self) -> bool {
        self.datasets.iter().any(|d| d.status == "interrupted")
    }
}

/// Devices held by running jobs. A job waits until none of its devices is held, then holds
/// them all until it ends; jobs on disjoint devices therefore run at the same time.
#[derive(Debug, Default)]
pub struct DeviceLocks {
    busy: std::sync::Mutex<HashSet<String>>,
    freed: Notify,
}

impl DeviceLocks {
    /// Wait until every device in `devices` is free and take them.
    pub async fn acquire(&self, devices: &[String]) {
        loop {
            let notified = self.freed.notified();
            let claimed = self.busy.lock().ok().is_some_and(|mut b| {
                if devices.iter().any(|d| b.contains(d)) {
                    false
                } else {
                    b.extend(devices.iter().cloned());
                    true
                }
            });
            if claimed {
                return;
            }
            notified.await;
        }
    }

    pub fn release(&self, devices: &[String]) {
        if let Ok(mut b) = self.busy.lock() {
            for d in devices {
                b.remove(d);
            }
        }
        self.freed.notify_waiters();
    }
}

/// Run every job, concurrently where devices allow. `abort` (a second Ctrl-C) returns at once,
/// dropping the workers; whatever was committed stays.
pub async fn execute(
    env: Arc<RunEnv>,
    jobs: Vec<JobSpec>,
    abort: Arc<Notify>,
) -> Option<Vec<JobReport>> {
    let locks = Arc::new(DeviceLocks::default());
    let mut set = tokio::task::JoinSet::new();
    for (i, spec) in jobs.into_iter().enumerate() {
        let env = env.clone();
        let locks = locks.clone();
        set.spawn(async move {
            let devices = spec.devices();
            if !matches!(spec.placement, Placement::Blocked(_)) {
                locks.acquire(&devices).await;
            }
            let report = job::run_job(env, spec).await;
            locks.release(&devices);
            (i, report)
        });
    }
    let mut reports = Vec::new();
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(Ok(r)) => reports.push(r),
                Some(Err(e)) => tracing::error!("job task failed: {e}"),
                None => break,
            },
            _ = abort.notified() => {
                set.abort_all();
                return None;
            }
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    Some(reports.into_iter().map(|(_, r)| r).collect())
}

/// `--gen-kwargs key=value,...` overrides of every generation dataset's settings
/// (`max_gen_toks`, `temperature`, `top_p`, `top_k`, `do_sample`, `until`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct GenKwargs {
    pub max_gen_toks: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub do_sample: Option<bool>,
    pub until: Option<Vec<String>>,
}

impl GenKwargs {
    /// Parse `key=value` pairs separated by commas. `until` takes `|`-separated strings with
    /// `\n` and `\t` escapes.
    pub fn parse(text: &str) -> Result<GenKwargs, String> {
        let mut g = GenKwargs::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--gen-kwargs: `{pair}` is not key=value"))?;
            let bad = |what: &str| format!("--gen-kwargs: `{key}` must be {what}. Given: {value}");
            match key.trim() {
                "max_gen_toks" => {
                    g.max_gen_toks = Some(value.parse().map_err(|_| bad("a positive integer"))?)
                }
                "temperature" => g.temperature = Some(value.parse().map_err(|_| bad("a number"))?),
                "top_p" => g.top_p = Some(value.parse().map_err(|_| bad("a number in (0, 1]"))?),
                "top_k" => g.top_k = Some(value.parse().map_err(|_| bad("a positive integer"))?),
                "do_sample" => {
                    g.do_sample = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("true or false")),
                    })
                }
                "until" => {
                    g.until = Some(
                        value
                            .split('|')
                            .map(|s| s.replace("\\n", "\n").replace("\\t", "\t"))
                            .collect(),
                    )
                }
                other => {
                    return Err(format!(
                        "--gen-kwargs: unknown key `{other}`; known: max_gen_toks, temperature, top_p, top_k, do_sample, until"
                    ));
                }
            }
        }
        GenerationKwargs::check(g.max_gen_toks, g.temperature, g.top_p, g.top_k)
            .map_err(|(_, message)| format!("--gen-kwargs: {message}"))?;
        Ok(g)
    }

    pub fn apply(&self, g: &mut GenerationKwargs) {
        if let Some(v) = self.max_gen_toks {
            g.max_gen_toks = v;
        }
        if let Some(v) = self.temperature {
            g.temperature = v;
        }
        if let Some(v) = self.top_p {
            g.top_p = v;
        }
        if let Some(v) = self.top_k {
            g.top_k = Some(v);
        }
        if let Some(v) = self.do_sample {
            g.do_sample = v;
        }
        if let Some(v) = &self.until {
            g.until = v.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn jobs_on_disjoint_devices_overlap_and_shared_devices_wait() {
        let locks = Arc::new(DeviceLocks::default());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let job = |name: &'static str, devices: &[&str]| {
            let locks = locks.clone();
            let log = log.clone();
            let devices: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
            tokio::spawn(async move {
                locks.acquire(&devices).await;
                log.lock().unwrap().push(format!("start {name}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                log.lock().unwrap().push(format!("end {name}"));
                locks.release(&devices);
            })
        };
        let a = job("a", &["gpu0"]);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let b = job("b", &["gpu1", "gpu2"]);
        let c = job("c", &["gpu0", "gpu1"]);
        for h in [a, b, c] {
            h.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        let pos = |e: &str| log.iter().position(|l| l == e).unwrap();
        // a and b hold disjoint devices: b starts before a ends.
        assert!(pos("start b") < pos("end a"), "{log:?}");
        // c needs gpu0 (a) and gpu1 (b): it starts only after both ended.
        assert!(
            pos("start c") > pos("end a") && pos("start c") > pos("end b"),
            "{log:?}"
        );
    }

    #[test]
    fn gen_kwargs_parse_and_reject() {
        let g = GenKwargs::parse("max_gen_toks=8, do_sample=true,temperature=0.7,until=\\n|Q:")
            .unwrap();
        assert_eq!(g.max_gen_toks, Some(8));
        assert_eq!(g.do_sample, Some(true));
        assert_eq!(g.until, Some(vec!["\n".to_string(), "Q:".to_string()]));
        assert!(
            GenKwargs::parse("max_gen_toks=x")
                .unwrap_err()
                .contains("max_gen_toks")
        );
        assert!(
            GenKwargs::parse("nope=1")
                .unwrap_err()
                .contains("unknown key `nope`")
        );
        assert!(GenKwargs::parse("top_p=2").unwrap_err().contains("top_p"));
        for bad in ["temperature=-1", "temperature=nan", "temperature=inf"] {
            let e = GenKwargs::parse(bad).unwrap_err();
            assert!(
                e.contains("`temperature` must be between 0 and 100"),
                "{bad}: {e}"
            );
        }
        assert!(
            GenKwargs::parse("top_p=nan")
                .unwrap_err()
                .contains("(0, 1]")
        );
        assert!(
            GenKwargs::parse("max_gen_toks=0")
                .unwrap_err()
                .contains("max_gen_toks")
        );
        assert!(
            GenKwargs::parse("max_gen_toks=1000000000")
                .unwrap_err()
                .contains("between 1 and 1000000. Given: 1000000000")
        );
    }
}
