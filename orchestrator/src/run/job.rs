//! One job: a model on its engine and devices, all its datasets, then unloaded.
//!
//! Datasets are prepared first (so bad data fails before a model is loaded), samples already
//! stored are reused, and only if something is left is a worker started per replica. Replicas
//! take batches from one shared queue. Each finished batch is scored and committed before the
//! next is sent, so an interruption loses at most the batches in flight.

use super::child::Worker;
use super::protocol::{EngineKind, FromWorker, ToWorker};
use super::score::{self, ModelIdentity, Scorer, Unit};
use super::{DatasetReport, JobReport, JobSpec, Placement, RunEnv, code, failures};
use crate::catalog::Dataset;
use crate::sandbox::{ExecutionPolicy, HumanEvalProblem};
use crate::store::{JobStats, JobStatus, JobUpdate, NewJob, ResumeScope, SampleRow, Store, now_ms};
use crate::tasks::{self, Prepared, TaskOptions};
use crate::telemetry::{Sampler, Summary, Verdict};
use assay_engines::{DeviceSpec, EngineTelemetry, LoadOptions};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A dataset ready to run within a job.
struct Ready {
    dataset: Dataset,
    hash: String,
    prepared: Prepared,
    scorer: Scorer,
    units: Vec<Unit>,
    pending: Vec<usize>,
    reused: u64,
    /// Code-generation datasets: each item's problem, by position in `prepared.items`.
    problems: Vec<HumanEvalProblem>,
}

/// Timings and counters of a job's engine work.
#[derive(Debug, Default, Clone)]
struct Stats {
    engine_s: f64,
    store_s: f64,
    done: u64,
    failed: u64,
    telemetry: Option<EngineTelemetry>,
}

/// Run one job to its end and record it. Never fails: every error ends up on the job.
pub async fn run_job(env: Arc<RunEnv>, spec: JobSpec) -> JobReport {
    let t0 = Instant::now();
    let mut report = JobReport::new(&spec);
    let job_id = match job_row(&env, &spec).await {
        Ok(id) => id,
        Err(e) => {
            report.fail(format!("cannot record the job: {e}"));
            return report;
        }
    };
    report.job_id = Some(job_id);
    let _ = env
        .store
        .update_job(
            job_id,
            update(JobStatus::Running, Some(now_ms()), None, None, None),
        )
        .await;
    if let Placement::Blocked(reason) = &spec.placement {
        report.fail(reason.clone());
        finish(&env, job_id, &mut report, None, t0).await;
        return report;
    }

    let t_prep = Instant::now();
    let mut ready = Vec::new();
    for dataset in &spec.datasets {
        match prepare(&env, &spec, dataset, job_id).await {
            Ok(Some(r)) => {
                report.reused += r.reused;
                ready.push(r);
            }
            Ok(None) => {
                let why = ExecutionPolicy::default()
                    .skip_reason(&dataset.name)
                    .unwrap_or_default();
                report
                    .datasets
                    .push(DatasetReport::skipped(&dataset.name, &why))
            }
            Err(e) => report
                .datasets
                .push(DatasetReport::failed(&dataset.name, e)),
        }
    }
    report.prepare_s = t_prep.elapsed().as_secs_f64();
    let pending: u64 = ready.iter().map(|r| r.pending.len() as u64).sum();
    report.samples = ready.iter().map(|r| r.units.len() as u64).sum();

    let bar = env
        .progress
        .as_ref()
        .map(|p| p.job_bar(&spec.model.id, report.samples));
    if let Some(b) = &bar {
        b.start_at(report.samples - pending);
    }
    let mut sampler = None;
    let mut stats = Stats::default();
    // Datasets whose remaining samples were not attempted, and why (see `GIVE_UP_AFTER`).
    let mut gave_up: Vec<(String, String)> = Vec::new();
    let remote = spec.placement.is_remote();
    if pending > 0 {
        // A remote job's worker is an HTTP client: its memory and CPU say nothing about the
        // model, so nothing local is sampled for it.
        let pids = if remote {
            Arc::new(Mutex::new(Vec::new()))
        } else {
            let devices: Vec<&crate::hardware::Gpu> = spec.gpus().iter().collect();
            let s = Sampler::start(env.store.clone(), env.run_id, job_id, &devices);
            let pids = s.pids.clone();
            sampler = Some(s);
            pids
        };
        match start_workers(&env, &spec, &pids, &mut report).await {
            Ok(workers) => {
                let mut workers = workers;
                for r in &ready {
                    if env.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let per = spec.requests_per_batch(env.settings.batch_size);
                    match run_dataset(&env, job_id, r, workers, per, bar.as_ref(), &mut stats).await
                    {
                        Ok((back, why)) => {
                            workers = back;
                            if let Some(why) = why {
                                gave_up.push((r.dataset.name.clone(), why));
                            }
                        }
                        Err(e) => {
                            report.fail(e);
                            workers = Vec::new();
                            break;
                        }
                    }
                }
                for w in workers {
                    w.shutdown().await;
                }
            }
            Err(e) => report.fail(e),
        }
    }
    report.engine_s = stats.engine_s;
    report.store_s = stats.store_s;
    report.failed_samples = stats.failed;
    report.engine_telemetry = stats.telemetry.clone();
    if let Some(t) = &stats.telemetry {
        let secs = t.prefill_s + t.decode_s;
        report.compute_s = secs;
        let tokens = (t.prefill_tokens + t.decode_tokens) as f64;
        report.tokens_per_s = (secs > 0.0).then(|| tokens / secs);
    }
    let no_compute = computed_nothing(remote, &stats);
    if no_compute {
        report.fail(format!(
            "no compute done: the engine returned {} samples but processed no tokens; nothing was scored",
            stats.done - stats.failed
        ));
    }
    // Aggregates come from the stored rows of every dataset that is complete.
    for r in &ready {
        let why = gave_up
            .iter()
            .find(|(name, _)| *name == r.dataset.name)
            .map(|(_, why)| why.as_str());
        let d = aggregate(&env, job_id, r, why, no_compute && !r.pending.is_empty()).await;
        report.failed_samples_total += d.failed;
        report.datasets.push(d);
    }
    if let Some(b) = &bar {
        b.finish();
    }
    let summary = match sampler {
        Some(s) => Some(s.stop().await),
        None if remote && pending > 0 => Some((
            Summary::default(),
            vec![("remote".to_string(), Verdict::Remote)],
        )),
        None => None,
    };
    finish(&env, job_id, &mut report, summary, t0).await;
    report
}

/// Whether the job's samples came back without the engine computing anything. A local engine
/// counts every token it computes, so samples that succeeded with no token processed are not
/// results, whatever they say. (A server reports tokens only when it sends usage, so remote
/// jobs are not judged this way.)
fn computed_nothing(remote: bool, stats: &Stats) -> bool {
    !remote
        && stats.done > stats.failed
        && stats
            .telemetry
            .as_ref()
            .is_some_and(|t| t.prefill_tokens + t.decode_tokens == 0)
}

async fn job_row(env: &RunEnv, spec: &JobSpec) -> Result<i64, crate::store::StoreError> {
    if let Some(id) = spec.existing_job {
        return Ok(id);
    }
    env.store
        .create_job(NewJob {
            run_id: env.run_id,
            model: spec.model.id.clone(),
            revision: spec.model.revision.clone(),
            weights_hash: spec.weights_hash.clone(),
            engine: spec.engine_name().to_string(),
            dtype: spec.dtype.clone(),
            tp: spec.tp() as i64,
            devices: spec.gpus().iter().map(|g| i64::from(g.index)).collect(),
            // No estimate (a served model uses no local memory) is stored as none.
            memory_estimate_bytes: (spec.memory_estimate > 0)
                .then_some(spec.memory_estimate as i64),
            status: JobStatus::Pending,
        })
        .await
}

fn update(
    status: JobStatus,
    started: Option<i64>,
    finished: Option<i64>,
    memory: Option<i64>,
    error: Option<String>,
) -> JobUpdate {
    JobUpdate {
        status,
        started_at_ms: started,
        finished_at_ms: finished,
        memory_measured_bytes: memory,
        error,
    }
}

/// Render a dataset, build its samples and find those already stored.
async fn prepare(
    env: &RunEnv,
    spec: &JobSpec,
    dataset: &Dataset,
    job_id: i64,
) -> Result<Option<Ready>, String> {
    let hash = match &dataset.data {
        crate::catalog::DataState::Ready { hash, .. } => hash.clone(),
        crate::catalog::DataState::Missing { reason } => return Err(reason.clone()),
    };
    let scorer = Scorer::new(dataset);
    if scorer.needs_execution() {
        if !env.settings.allow_code_execution {
            return Ok(None);
        }
        if env.sandbox.is_none() {
            return Err(format!(
                "dataset `{}` needs code execution, but this run has no sandbox",
                dataset.name
            ));
        }
    }
    let mut dataset = dataset.clone();
    env.settings.gen_kwargs.apply(&mut dataset.generation);
    let options = TaskOptions {
        num_fewshot: env.settings.num_fewshot,
        chat: chat_prompts(env, spec, &dataset)?,
        limit: env.settings.limit.map(|l| l as usize),
        skip_bad_rows: env.settings.skip_bad_rows,
        ..TaskOptions::default()
    };
    let prepared =
        tasks::prepare(&dataset, &options, &tasks::CatalogSource).map_err(|e| e.to_string())?;
    let problems = if scorer.needs_execution() {
        prepared
            .items
            .iter()
            .map(|item| code::problem(&dataset, item))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let id = ModelIdentity {
        model: spec.model.id.clone(),
        revision: spec.model.revision.clone(),
        weights_hash: spec.weights_hash.clone().unwrap_or_default(),
        engine: spec.engine_name().to_string(),
        dtype: spec.dtype.clone(),
        tool_version: env.tool_version.clone(),
    };
    let units = score::units(&prepared, &hash, &id, env.settings.seed);
    let mut reused = 0;
    let done: HashSet<String> = if env.settings.fresh {
        HashSet::new()
    } else {
        let scope = ResumeScope {
            model: spec.model.id.clone(),
            dataset: dataset.name.clone(),
        };
        let hashes: Vec<String> = units.iter().map(|u| u.hash.clone()).collect();
        let done = env
            .store
            .done_hashes(&scope, &hashes)
            .await
            .map_err(|e| e.to_string())?;
        if !done.is_empty() {
            reused = env
                .store
                .reuse_samples(job_id, scope, done.iter().cloned().collect())
                .await
                .map_err(|e| e.to_string())?;
        }
        done
    };
    let pending = (0..units.len())
        .filter(|&i| !done.contains(&units[i].hash))
        .collect();
    Ok(Some(Ready {
        dataset,
        hash,
        prepared,
        scorer,
        units,
        pending,
        reused,
        problems,
    }))
}

/// Whether the dataset's prompts are chat messages for this job. A server scores only plain
/// prompts (log-likelihoods come from `/v1/completions` with `echo`; the chat template stays
/// on the server), so log-likelihood datasets on a remote engine use plain prompts, as
/// lm-evaluation-harness's `local-completions` does; forcing chat there is refused.
fn chat_prompts(env: &RunEnv, spec: &JobSpec, dataset: &Dataset) -> Result<bool, String> {
    let chat = env.settings.chat.resolve(dataset.chat, spec.model.chat);
    let scores_likelihoods = dataset.output_type != crate::catalog::OutputType::GenerateUntil;
    if !(chat && scores_likelihoods && spec.placement.is_remote()) {
        return Ok(chat);
    }
    if env.settings.chat == tasks::ChatMode::On {
        return Err(format!(
            "dataset `{}` scores log-likelihoods, which a served model gives only for plain \
             prompts (the server's chat template is not exposed): run it with \
             --chat-template off or auto",
            dataset.name
        ));
    }
    Ok(false)
}

/// Start and load one worker per replica.
async fn start_workers(
    env: &RunEnv,
    spec: &JobSpec,
    pids: &Arc<Mutex<Vec<u32>>>,
    report: &mut JobReport,
) -> Result<Vec<Worker>, String> {
    let (model, replicas, remote) = match &spec.placement {
        Placement::Local {
            checkpoint,
            replicas,
            ..
        } => (checkpoint.display().to_string(), replicas.clone(), None),
        Placement::Remote(r) => (
            format!("{} at {}", r.model, r.base_url),
            vec![spec.devices()],
            Some(Box::new(r.clone())),
        ),
        Placement::Blocked(reason) => return Err(reason.clone()),
    };
    let Some(engine) = spec.placement.engine_kind() else {
        return Err("no engine for this job".into());
    };
    let tp = spec.tp();
    let mut workers = Vec::new();
    for devices in &replicas {
        let mut w = Worker::spawn(&env.exe, &env.worker_env).map_err(|e| e.to_string())?;
        if let Ok(mut p) = pids.lock() {
            p.push(w.pid);
        }
        let mut specs: Vec<DeviceSpec> = devices.iter().map(|d| device_spec(d)).collect();
        // Tensor parallelism on the CPU host: the ranks are threads sharing the one CPU slot.
        if engine == EngineKind::TensorParallel
            && specs.iter().all(|d| *d == DeviceSpec::Cpu)
            && (specs.len() as u64) < tp
        {
            specs = vec![DeviceSpec::Cpu; tp as usize];
        }
        let options = LoadOptions {
            dtype: spec.load_dtype,
            max_batch_size: spec.requests_per_batch(env.settings.batch_size),
            max_seq_len: env.settings.max_seq_len.map(|n| n as usize),
            ..LoadOptions::default()
        };
        let load = ToWorker::Load {
            model: model.clone(),
            engine,
            devices: specs,
            options,
            remote: remote.clone(),
        };
        let reply = match w.send(&load).await {
            Ok(()) => w.recv().await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(FromWorker::Loaded { info, .. }) => {
                report.load_s = report.load_s.max(info.load.load_s);
                report.replicas += 1;
                report.device_desc = info.device.clone();
                report.dtype = info.dtype.clone();
                workers.push(w);
            }
            Ok(FromWorker::Failed(failure)) => {
                let what = if failure.kind == assay_engines::FailureKind::OutOfMemory {
                    "out of memory loading"
                } else {
                    "cannot load"
                };
                return Err(format!(
                    "{what} {} on {}: {}",
                    spec.model.id,
                    devices.join(","),
                    failure.message
                ));
            }
            Ok(other) => return Err(format!("worker answered the load with {other:?}")),
            Err(e) => return Err(format!("loading {}: {e}", spec.model.id)),
        }
        if engine == EngineKind::TensorParallel {
            break;
        }
    }
    Ok(workers)
}

fn device_spec(label: &str) -> DeviceSpec {
    label
        .strip_prefix("gpu")
        .and_then(|n| n.parse().ok())
        .map_or(DeviceSpec::Cpu, DeviceSpec::Cuda)
}

/// Run a dataset's pending samples over the workers; returns the workers for the next one,
/// and why the dataset's remaining samples were not attempted, if they were not.
async fn run_dataset(
    env: &Arc<RunEnv>,
    job_id: i64,
    r: &Ready,
    workers: Vec<Worker>,
    per: usize,
    bar: Option<&super::progress::JobBar>,
    stats: &mut Stats,
) -> Result<(Vec<Worker>, Option<String>), String> {
    if let Some(b) = bar {
        b.dataset(&r.dataset.name);
    }
    let queue = Arc::new(Mutex::new(failures::batches(&r.pending, per)));
    // Shared, read-only view of this dataset for the replica tasks.
    let shared = Arc::new(Shared {
        dataset: r.dataset.clone(),
        hash: r.hash.clone(),
        items: r.prepared.items.clone(),
        scorer: r.scorer.clone(),
        units: r.units.clone(),
        problems: r.problems.clone(),
        tally: Mutex::new(failures::Tally::default()),
    });
    let mut set = tokio::task::JoinSet::new();
    for (n, w) in workers.into_iter().enumerate() {
        let env = env.clone();
        let queue = queue.clone();
        let shared = shared.clone();
        let bar = bar.cloned();
        set.spawn(replica(env, job_id, n as u64, w, queue, shared, bar));
    }
    let mut back = Vec::new();
    let mut error = None;
    let mut tel: Vec<EngineTelemetry> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((w, s, e)) => {
                stats.engine_s += s.engine_s;
                stats.store_s += s.store_s;
                stats.done += s.done;
                stats.failed += s.failed;
                if let Some(t) = s.telemetry {
                    tel.push(t);
                }
                if let Some(w) = w {
                    back.push(w);
                }
                if e.is_some() && error.is_none() {
                    error = e;
                }
            }
            Err(e) => error = Some(format!("replica task failed: {e}")),
        }
    }
    // Engine counters are cumulative per worker: keep the latest totals. With several replicas
    // the counters add up; percentiles cannot be merged exactly, so the busiest replica's stand.
    tel.sort_by_key(|t| std::cmp::Reverse(t.requests));
    let mut replicas = tel.into_iter();
    if let Some(mut sum) = replicas.next() {
        for t in replicas {
            sum.requests += t.requests;
            sum.batches += t.batches;
            sum.prefill_tokens += t.prefill_tokens;
            sum.decode_tokens += t.decode_tokens;
            sum.prefill_s += t.prefill_s;
            sum.decode_s += t.decode_s;
            sum.truncated_requests += t.truncated_requests;
            sum.truncated_tokens += t.truncated_tokens;
            sum.reused_context_requests += t.reused_context_requests;
            sum.peak_rss_bytes = sum.peak_rss_bytes.max(t.peak_rss_bytes);
        }
        let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        sum.prefill_tokens_per_s = rate(sum.prefill_tokens, sum.prefill_s);
        sum.decode_tokens_per_s = rate(sum.decode_tokens, sum.decode_s);
        stats.telemetry = Some(sum);
    }
    match error {
        Some(e) => {
            for w in back {
                w.shutdown().await;
            }
            Err(e)
        }
        None => {
            let why = shared.tally.lock().ok().and_then(|t| t.gave_up.clone());
            Ok((back, why))
        }
    }
}

struct Shared {
    dataset: Dataset,
    hash: String,
    items: Vec<tasks::Item>,
    scorer: Scorer,
    units: Vec<Unit>,
    problems: Vec<HumanEvalProblem>,
    tally: Mutex<failures::Tally>,
}

/// One replica: take batches until the queue is empty or the run is stopping.
async fn replica(
    env: Arc<RunEnv>,
    job_id: i64,
    seq: u64,
    mut w: Worker,
    queue: Arc<Mutex<VecDeque<Vec<usize>>>>,
    shared: Arc<Shared>,
    bar: Option<super::progress::JobBar>,
) -> (Option<Worker>, Stats, Option<String>) {
    let mut stats = Stats::default();
    let mut batch_no = seq << 32;
    loop {
        if env.stop.load(Ordering::SeqCst) {
            break;
        }
        let Some(batch) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
            break;
        };
        batch_no += 1;
        let items: Vec<_> = batch
            .iter()
            .flat_map(|&u| shared.units[u].work.iter().cloned())
            .collect();
        let t = Instant::now();
        let reply = match w
            .send(&ToWorker::Run {
                batch: batch_no,
                items,
            })
            .await
        {
            Ok(()) => w.recv().await,
            Err(e) => Err(e),
        };
        stats.engine_s += t.elapsed().as_secs_f64();
        let outcomes = match reply {
            Ok(FromWorker::Results {
                outcomes,
                telemetry,
                ..
            }) => {
                stats.telemetry = Some(*telemetry);
                outcomes
            }
            Ok(FromWorker::Failed(failure)) => return (None, stats, Some(failure.message)),
            Ok(other) => {
                return (
                    None,
                    stats,
                    Some(format!("worker answered a batch with {other:?}")),
                );
            }
            Err(e) => return (None, stats, Some(e.to_string())),
        };
        let mut rows: Vec<SampleRow> = Vec::with_capacity(batch.len());
        let mut at = 0;
        for &u in &batch {
            let unit = &shared.units[u];
            let n = unit.work.len();
            let slice = outcomes.get(at..at + n).unwrap_or(&[]);
            at += n;
            let item = &shared.items[unit.item];
            let row = score::sample_row(
                job_id,
                &shared.dataset,
                &shared.hash,
                &shared.scorer,
                item,
                unit,
                slice,
            );
            rows.push(row);
        }
        if let Some(sandbox) = env.sandbox.as_ref().filter(|_| !shared.problems.is_empty()) {
            let (sandbox, shared) = (sandbox.clone(), shared.clone());
            let batch = batch.clone();
            let scored = tokio::task::spawn_blocking(move || {
                let problems: Vec<Option<&HumanEvalProblem>> = batch
                    .iter()
                    .map(|&u| shared.problems.get(shared.units[u].item))
                    .collect();
                code::score_rows(&sandbox, &mut rows, &problems, code::parallelism());
                rows
            })
            .await;
            rows = match scored {
                Ok(rows) => rows,
                Err(e) => return (Some(w), stats, Some(format!("running code samples: {e}"))),
            };
        }
        stats.failed += rows.iter().filter(|r| r.error.is_some()).count() as u64;
        let t = Instant::now();
        let n = rows.len() as u64;
        let give_up = shared.tally.lock().is_ok_and(|mut t| t.count(&rows));
        if let Err(e) = env.store.insert_samples(rows).await {
            return (Some(w), stats, Some(format!("storing samples: {e}")));
        }
        stats.store_s += t.elapsed().as_secs_f64();
        stats.done += n;
        if let Some(b) = &bar {
            b.inc(n);
        }
        if give_up {
            // Nobody takes another batch of this dataset.
            if let Ok(mut q) = queue.lock() {
                q.clear();
            }
            break;
        }
    }
    (Some(w), stats, None)
}

/// Aggregates and the failure summary of a dataset from its stored rows. Aggregates are
/// written only when every sample has a row and some sample succeeded; `gave_up` (the rest was
/// not attempted) and `no_compute` (the engine computed nothing) fail the dataset unscored.
async fn aggregate(
    env: &RunEnv,
    job_id: i64,
    r: &Ready,
    gave_up: Option<&str>,
    no_compute: bool,
) -> DatasetReport {
    let hashes: HashSet<String> = r.units.iter().map(|u| u.hash.clone()).collect();
    let rows = match env.store.samples(job_id, Some(&r.dataset.name)).await {
        Ok(rows) => rows,
        Err(e) => return DatasetReport::failed(&r.dataset.name, format!("reading samples: {e}")),
    };
    let mine: Vec<&SampleRow> = rows
        .iter()
        .map(|s| &s.row)
        .filter(|row| hashes.contains(&row.sample_hash))
        .collect();
    let have: HashSet<&str> = mine.iter().map(|row| row.sample_hash.as_str()).collect();
    let groups = failures::group(mine.iter().copied());
    let failed: u64 = groups.iter().map(|g| g.count as u64).sum();
    let mut report = DatasetReport::new(&r.dataset.name, r.units.len() as u64, r.reused);
    report.failed = failed;
    report.done = have.len() as u64;
    report.failures = groups.clone();
    report.skipped_rows = r
        .prepared
        .skipped
        .iter()
        .map(|(f, b)| format!("{f}:{}: {}", b.line, b.reason))
        .collect();
    if let Err(e) = env
        .store
        .replace_failures(job_id, r.dataset.name.clone(), groups.clone())
        .await
    {
        report.status = "failed";
        report.error = Some(format!("storing the failure summary: {e}"));
        return report;
    }
    let samples = r.units.len() as i64;
    if let Some(why) = gave_up {
        report.status = "failed";
        report.error = Some(format!(
            "{why}. {}",
            failures::describe(&groups, Some(samples))
        ));
        return report;
    }
    if no_compute {
        report.status = "failed";
        report.error = Some("not scored: the engine processed no tokens".into());
        return report;
    }
    if have.len() < hashes.len() {
        report.status = "interrupted";
        return report;
    }
    let verdict = failures::Verdict::of(report.samples, failed);
    if verdict == failures::Verdict::AllFailed {
        report.status = "failed";
        report.error = Some(format!(
            "not scored: {}",
            failures::describe(&groups, Some(samples))
        ));
        return report;
    }
    let aggs = score::aggregates(job_id, &r.dataset.name, &r.scorer, &rows, &hashes);
    if let Err(e) = env.store.upsert_aggregates(aggs.clone()).await {
        report.status = "failed";
        report.error = Some(format!("storing aggregates: {e}"));
    } else if verdict.failed() {
        report.status = "failed";
        report.error = Some(failures::describe(&groups, Some(samples)));
    }
    report.headline = score::headline(&r.scorer);
    report.aggregates = aggs;
    report
}

/// Record how the job ended.
async fn finish(
    env: &RunEnv,
    job_id: i64,
    report: &mut JobReport,
    summary: Option<(Summary, Vec<(String, Verdict)>)>,
    t0: Instant,
) {
    report.wall_s = t0.elapsed().as_secs_f64();
    let interrupted = report.datasets.iter().any(|d| d.status == "interrupted");
    let dataset_failed = report.datasets.iter().any(|d| d.status == "failed");
    report.status = if report.error.is_some() || dataset_failed {
        JobStatus::Failed
    } else if interrupted {
        JobStatus::Pending
    } else {
        JobStatus::Completed
    };
    let error = report.failure_text();
    let mut memory = None;
    if let Some((s, verdicts)) = summary {
        memory = s.peak_gpu_mem_bytes.or(s.peak_rss_bytes);
        report.verdicts = verdicts;
        report.telemetry = Some(s);
    }
    report.memory_measured = memory;
    let _ = env
        .store
        .update_job(
            job_id,
            update(report.status, None, Some(now_ms()), memory, error),
        )
        .await;
    let measurements = serde_json::json!({
        "estimated_duration_s": report.estimated_s,
        "measured_duration_s": report.wall_s,
        "memory_estimate_bytes": report.memory_estimate,
        "memory_measured_bytes": memory,
        "load_s": report.load_s,
        "prepare_s": report.prepare_s,
        "engine_s": report.engine_s,
        "compute_s": report.compute_s,
        "store_s": report.store_s,
        "tokens_per_s": report.tokens_per_s,
        "gpu_use": report.verdicts,
        "telemetry": report.telemetry,
    });
    let _ = env.store.set_job_measurements(job_id, measurements).await;
    let _ = env
        .store
        .record_job_stats(job_stats(env, job_id, report))
        .await;
}

/// The summary `assay show` and `assay history` read: timings, token rates, percentiles.
fn job_stats(env: &RunEnv, job_id: i64, report: &JobReport) -> JobStats {
    let t = report.engine_telemetry.as_ref();
    let ms = |s: f64| s * 1e3;
    let verdict = report
        .verdicts
        .iter()
        .map(|(device, v)| match v {
            Verdict::Cpu | Verdict::Remote => v.describe(),
            _ => format!("{device}: {}", v.describe()),
        })
        .collect::<Vec<_>>()
        .join("; ");
    JobStats {
        job_id,
        batch_size: i64::try_from(env.settings.batch_size).ok(),
        load_ms: Some(ms(report.load_s)),
        eval_ms: Some(ms(report.engine_s)),
        requests: t.and_then(|t| i64::try_from(t.requests).ok()),
        prompt_tokens: t.and_then(|t| i64::try_from(t.prefill_tokens).ok()),
        output_tokens: t.and_then(|t| i64::try_from(t.decode_tokens).ok()),
        tokens_per_second: report.tokens_per_s,
        prefill_tokens_per_second: t.map(|t| t.prefill_tokens_per_s),
        ttft_p50_ms: t.filter(|t| t.ttft.count > 0).map(|t| ms(t.ttft.p50)),
        ttft_p95_ms: t.filter(|t| t.ttft.count > 0).map(|t| ms(t.ttft.p95)),
        latency_p50_ms: t.filter(|t| t.latency.count > 0).map(|t| ms(t.latency.p50)),
        latency_p95_ms: t.filter(|t| t.latency.count > 0).map(|t| ms(t.latency.p95)),
        latency_p99_ms: t.filter(|t| t.latency.count > 0).map(|t| ms(t.latency.p99)),
        peak_rss_bytes: report.telemetry.as_ref().and_then(|s| s.peak_rss_bytes),
        gpu_verdict: (!verdict.is_empty()).then_some(verdict),
        detail: t
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or(serde_json::Value::Null),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stats(done: u64, failed: u64, tokens: Option<usize>) -> Stats {
        Stats {
            done,
            failed,
            telemetry: tokens.map(|n| EngineTelemetry {
                prefill_tokens: n,
                ..EngineTelemetry::default()
            }),
            ..Stats::default()
        }
    }

    #[test]
    fn samples_without_a_token_computed_are_not_results() {
        assert!(computed_nothing(false, &stats(4, 0, Some(0))));
        assert!(!computed_nothing(false, &stats(4, 0, Some(12))));
        // Every sample failed: that is a failure summary's business, not this.
        assert!(!computed_nothing(false, &stats(4, 4, Some(0))));
        // A server that sends no usage reports no tokens.
        assert!(!computed_nothing(true, &stats(4, 0, Some(0))));
        assert!(!computed_nothing(false, &stats(0, 0, None)));
    }
}
