//! The plan for a category: every model sized, routed and scheduled over its datasets, with the
//! arithmetic behind each number. Pure: the catalog, inventory, checkpoint lookup and device
//! rates come in as arguments (the `plan` command passes `catalog::find_local` and the table).
//!
//! A job is one model with all the category's datasets: the model is loaded once per replica.
//! Samples per dataset are `min(--limit, test rows)`; a dataset whose data is missing counts 0 and
//! is flagged. Models whose architecture no engine supports are sized and routed but marked
//! `runnable: false` and left out of the schedule (they would not run).
//!
//! Duration estimator, per sample (times `repeats`), with `P = min((num_fewshot + 1) · 160, seq)`
//! prompt tokens: multiple choice scores the shared context once plus `8` tokens per choice
//! (4 choices unless listed); generate-until prefills `P` and decodes `max_gen_toks` (an upper
//! bound: generation stops earlier at a stop string); loglikelihood prefills `P + 16`. Compute is
//! `2 · active params · tokens`, at `PREFILL_EFFICIENCY` of the device's peak for prefill and
//! `DECODE_EFFICIENCY_PER_SEQ · batch` (capped at the prefill figure) for decode, which is
//! memory-bound. Every replica also loads its weights at `LOAD_BYTES_PER_S`.
use crate::catalog::{
    Catalog, Category, ChoiceSpec, DataState, Dataset, LocalCheckpoint, Model, OutputType,
};
use crate::hardware::{Inventory, Source};
use crate::route::{self, Route, RouteEngine, Subject};
use crate::schedule::{self, Rates, Slot};
use crate::sizing::{MemoryNeed, Resolved, Settings, WeightSource};
use std::path::PathBuf;
use std::sync::Arc;

pub const PROMPT_TOKENS_PER_DOC: u64 = 160;
pub const TOKENS_PER_CHOICE: u64 = 8;
pub const DEFAULT_CHOICES: u64 = 4;
pub const CONTINUATION_TOKENS: u64 = 16;
pub const PREFILL_EFFICIENCY: f64 = 0.4;
pub const DECODE_EFFICIENCY_PER_SEQ: f64 = 0.005;
pub const LOAD_BYTES_PER_S: f64 = 2e9;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `close` holds the nearest names, or every known name when none is near.
    #[error("unknown category `{name}`; {}", did_you_mean(.close, *.near))]
    UnknownCategory {
        name: String,
        close: Vec<String>,
        near: bool,
    },
}

fn did_you_mean(close: &[String], near: bool) -> String {
    match (close.is_empty(), near) {
        (true, _) => "the catalog has no categories".to_string(),
        (false, true) => crate::suggest::did_you_mean(close),
        (false, false) => format!("known categories: {}", close.join(", ")),
    }
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub category: &'a str,
    pub limit: Option<u64>,
    pub settings: Settings,
}

/// Free space where checkpoints are downloaded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiskSpace {
    pub path: PathBuf,
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CheckpointState {
    OnDisk {
        dir: PathBuf,
        disk_bytes: u64,
    },
    Missing {
        download_bytes: u64,
        command: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DatasetPlan {
    pub name: String,
    pub samples: u64,
    pub missing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobPlan {
    pub model: String,
    pub architecture: String,
    pub runnable: bool,
    pub engine: RouteEngine,
    pub tp: u64,
    pub devices: Vec<String>,
    pub replicas: usize,
    pub settings: Resolved,
    pub memory: MemoryNeed,
    pub usable_bytes: u64,
    /// Where a `remote` job is served (no memory is used here).
    pub endpoint: Option<crate::catalog::Endpoint>,
    /// Shared by all jobs of the plan (the same list as `Plan::datasets`).
    #[serde(serialize_with = "shared_slice")]
    pub datasets: Arc<[DatasetPlan]>,
    pub samples: u64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub reason: String,
    pub suggestions: Vec<String>,
    pub shortfall_bytes: Option<u64>,
    pub checkpoint: CheckpointState,
    pub arithmetic: Vec<String>,
    /// How the job's duration was estimated (tokens, compute, load).
    pub estimate: String,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PiecePlan {
    pub model: String,
    pub replica: usize,
    pub replicas: usize,
    pub devices: Vec<String>,
    pub samples: u64,
    pub start_s: f64,
    pub end_s: f64,
    pub wave: usize,
    pub nvlink: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SchedulePlan {
    pub makespan_s: f64,
    pub lower_bound_s: f64,
    pub waves: usize,
    pub pieces: Vec<PiecePlan>,
    /// How the durations were estimated (estimator and device rates).
    pub how: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Totals {
    pub models: usize,
    pub runnable: usize,
    pub placed: usize,
    pub unplaceable: usize,
    pub samples: u64,
    pub download_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub category: String,
    pub limit: Option<u64>,
    pub hardware: String,
    /// The category's datasets with the samples each job scores.
    pub datasets: Vec<DatasetPlan>,
    pub jobs: Vec<JobPlan>,
    pub totals: Totals,
    pub schedule: SchedulePlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskSpace>,
    pub notes: Vec<String>,
}

fn shared_slice<S: serde::Serializer>(
    items: &Arc<[DatasetPlan]>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&items[..], ser)
}

/// What every job of a plan shares: its inputs and the category's datasets.
struct Context<'a> {
    inv: &'a Inventory,
    req: &'a Request<'a>,
    locate: &'a dyn Fn(&Model) -> Option<LocalCheckpoint>,
    datasets: Arc<[DatasetPlan]>,
    /// Each dataset present in the catalog with its samples.
    scored: Vec<(&'a Dataset, u64)>,
}

/// The category `name`, or an error with the closest names (every name when none is close).
/// `plan` and `run` both look categories up here, so a typo gets one answer.
pub fn find_category<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a Category, PlanError> {
    catalog.categories.get(name).ok_or_else(|| {
        let names: Vec<&str> = catalog.categories.keys().map(String::as_str).collect();
        let close = crate::suggest::closest(name, names.iter().copied(), 3);
        let near = !close.is_empty();
        let close = if near {
            close
        } else {
            names.iter().map(|n| n.to_string()).collect()
        };
        PlanError::UnknownCategory {
            name: name.to_string(),
            close,
            near,
        }
    })
}

/// Size, route and schedule `req.category`.
pub fn build(
    catalog: &Catalog,
    inv: &Inventory,
    req: &Request<'_>,
    locate: &dyn Fn(&Model) -> Option<LocalCheckpoint>,
    rates: &dyn Rates,
) -> Result<Plan, PlanError> {
    let category = find_category(catalog, req.category)?;
    let mut notes = Vec::new();
    let datasets: Vec<DatasetPlan> = category
        .datasets
        .iter()
        .map(|n| dataset_plan(catalog, n, req.limit))
        .collect();
    let scored = datasets
        .iter()
        .filter_map(|dp| catalog.datasets.get(&dp.name).map(|d| (d, dp.samples)))
        .collect();
    let ctx = Context {
        inv,
        req,
        locate,
        datasets: datasets.clone().into(),
        scored,
    };
    let mut jobs = Vec::new();
    let mut sched_jobs = Vec::new();
    let slots = slots(inv, rates);
    for id in &category.models {
        let Some(model) = catalog.models.get(id) else {
            notes.push(format!(
                "model `{id}` is listed by the category but not in the model catalog"
            ));
            continue;
        };
        let (job, sched) = job_plan(model, &ctx);
        jobs.push(job);
        sched_jobs.push(sched);
    }
    let schedule = schedule::build(&sched_jobs, &slots);
    let pieces = attach_schedule(&mut jobs, &schedule, &slots);
    notes.extend(
        datasets
            .iter()
            .filter(|d| d.missing)
            .map(|d| format!("dataset `{}` has no data: 0 samples", d.name)),
    );
    let totals = totals(&jobs);
    let how = how_estimated(inv, rates);
    Ok(Plan {
        category: category.name.clone(),
        limit: req.limit,
        hardware: describe(inv),
        datasets,
        jobs,
        totals,
        schedule: SchedulePlan {
            makespan_s: schedule.makespan,
            lower_bound_s: schedule.lower_bound,
            waves: pieces.iter().map(|p| p.wave + 1).max().unwrap_or(0),
            pieces,
            how,
        },
        disk: None,
        notes,
    })
}

impl Plan {
    /// Record the free disk space and note when the downloads would not fit in it.
    pub fn attach_disk(&mut self, disk: Option<DiskSpace>) {
        if let Some(d) = &disk
            && self.totals.download_bytes > d.free_bytes
        {
            self.notes.push(format!(
                "downloads need {} but only {} is free at {}",
                crate::printer::human_bytes(self.totals.download_bytes),
                crate::printer::human_bytes(d.free_bytes),
                d.path.display()
            ));
        }
        self.disk = disk;
    }
}

fn dataset_plan(catalog: &Catalog, name: &str, limit: Option<u64>) -> DatasetPlan {
    let Some(d) = catalog.datasets.get(name) else {
        return DatasetPlan {
            name: name.into(),
            samples: 0,
            missing: true,
            reason: Some("not in the catalog".into()),
        };
    };
    let rows = d.test_rows();
    let samples = limit.map_or(rows, |l| l.min(rows));
    match &d.data {
        DataState::Ready { .. } => DatasetPlan {
            name: name.into(),
            samples,
            missing: false,
            reason: None,
        },
        DataState::Missing { reason } => DatasetPlan {
            name: name.into(),
            samples: 0,
            missing: true,
            reason: Some(reason.clone()),
        },
    }
}

/// Prefill and decode tokens for one sample (see the module header).
pub fn tokens_per_sample(d: &Dataset, seq: u64) -> (u64, u64) {
    let prompt = ((u64::from(d.num_fewshot) + 1) * PROMPT_TOKENS_PER_DOC).min(seq);
    let repeats = u64::from(d.repeats.max(1));
    let (prefill, decode) = match d.output_type {
        OutputType::MultipleChoice => {
            let choices = match &d.doc_to_choice {
                Some(ChoiceSpec::List(list)) => list.len() as u64,
                _ => DEFAULT_CHOICES,
            };
            (prompt + choices * TOKENS_PER_CHOICE, 0)
        }
        OutputType::GenerateUntil => (
            prompt,
            u64::from(d.generation.max_gen_toks).min(seq.saturating_sub(prompt)),
        ),
        OutputType::Loglikelihood => ((prompt + CONTINUATION_TOKENS).min(seq), 0),
    };
    (prefill * repeats, decode * repeats)
}

/// Parameters that do work per token: all of a dense model; for a mixture of experts the
/// non-expert share plus `active / experts` of the rest (embeddings excluded from the split).
fn active_params(model: &Model) -> f64 {
    let a = &model.arch;
    match a.experts {
        Some((e, k)) if e > 0 => {
            let embed = (a.vocab * a.hidden) as f64;
            embed + (a.params as f64 - embed).max(0.0) * k as f64 / e as f64
        }
        _ => a.params as f64,
    }
}

fn job_plan(model: &Model, ctx: &Context<'_>) -> (JobPlan, schedule::Task) {
    let local = (ctx.locate)(model);
    let weights = local
        .as_ref()
        .map_or(WeightSource::Params, |l| WeightSource::Headers {
            bytes: l.weight_bytes,
        });
    let settings = ctx.req.settings.resolve(&model.arch, model.dtype);
    let subject = Subject {
        model,
        weights,
        settings,
    };
    let route = match ctx.req.settings.force_tp {
        Some(tp) => route::forced_tensor_parallel(&subject, ctx.inv, tp),
        None => route::choose(&subject, ctx.inv),
    };
    // A served model runs on its server, whatever its architecture.
    let runnable = route.engine == RouteEngine::Remote
        || assay_engines::supported_architectures().contains(&model.arch.architecture.as_str());
    let (mut prefill, mut decode) = (0u64, 0u64);
    for &(d, samples) in &ctx.scored {
        let (p, g) = tokens_per_sample(d, settings.max_seq_len);
        prefill += p * samples;
        decode += g * samples;
    }
    let samples: u64 = ctx.datasets.iter().map(|d| d.samples).sum();
    let inv = ctx.inv;
    let sched = schedule_job(
        model,
        &route,
        &settings,
        runnable,
        samples,
        (prefill, decode),
        inv,
    );
    let mut reason = route.reason.clone();
    if !runnable {
        reason = format!(
            "no engine supports {} (not scheduled); {reason}",
            model.arch.architecture
        );
    } else if samples == 0 {
        reason = format!("no samples to score (not scheduled); {reason}");
    }
    let job = JobPlan {
        model: model.id.clone(),
        architecture: model.arch.architecture.clone(),
        runnable,
        engine: route.engine,
        tp: route.tp,
        devices: vec![],
        replicas: 0,
        settings,
        arithmetic: route.need.lines.clone(),
        estimate: estimate_line(prefill, decode, &sched),
        memory: route.need.clone(),
        usable_bytes: route.usable,
        endpoint: model.endpoint.clone(),
        datasets: ctx.datasets.clone(),
        samples,
        prefill_tokens: prefill,
        decode_tokens: decode,
        reason,
        suggestions: route.suggestions.clone(),
        shortfall_bytes: route.shortfall_bytes,
        checkpoint: checkpoint_state(model, local.as_ref()),
        start_s: None,
        end_s: None,
    };
    (job, sched)
}

/// The scheduler's view of a job; no pools (not scheduled) when unplaceable, unrunnable or empty.
fn schedule_job(
    model: &Model,
    route: &Route,
    settings: &Resolved,
    runnable: bool,
    samples: u64,
    (prefill, decode): (u64, u64),
    inv: &Inventory,
) -> schedule::Task {
    // Remote jobs run on their server, not on the local devices this schedule covers.
    let schedulable = runnable
        && samples > 0
        && route.engine != RouteEngine::Unplaceable
        && route.engine != RouteEngine::Remote;
    let pools = match (schedulable, route.on_cpu) {
        (false, _) => vec![],
        (true, true) => vec![vec![0]],
        (true, false) => route.pools.clone(),
    };
    let decode_eff = (DECODE_EFFICIENCY_PER_SEQ * settings.batch as f64).min(PREFILL_EFFICIENCY);
    let flop_per_token = 2.0 * active_params(model);
    let work = flop_per_token * (prefill as f64 / PREFILL_EFFICIENCY + decode as f64 / decode_eff);
    let one_device = route.tp == 1 && !inv.is_cpu_only();
    schedule::Task {
        // CPU ranks are threads of one process on the one CPU slot.
        gang: if route.on_cpu { 1 } else { route.tp as usize },
        pools,
        work,
        // Ranks load their shards in parallel.
        load_s: route.need.weights as f64 / LOAD_BYTES_PER_S,
        max_replicas: if one_device {
            samples.max(1) as usize
        } else {
            1
        },
    }
}

fn estimate_line(prefill: u64, decode: u64, job: &schedule::Task) -> String {
    format!(
        "{} prefill + {} decode tokens → {:.3e} FLOP at peak (after efficiency), load {:.1} s per replica",
        crate::sizing::int(prefill),
        crate::sizing::int(decode),
        job.work,
        job.load_s
    )
}

fn checkpoint_state(model: &Model, local: Option<&LocalCheckpoint>) -> CheckpointState {
    if let Some(l) = local {
        return CheckpointState::OnDisk {
            dir: l.dir.clone(),
            disk_bytes: l.disk_bytes,
        };
    }
    let command = model.hf_repo.as_ref().map(|repo| {
        format!(
            "huggingface-cli download {repo} --revision {}",
            model.revision
        )
    });
    CheckpointState::Missing {
        download_bytes: model.arch.params * model.dtype.bytes(),
        command,
    }
}

/// Slots for the scheduler: one per GPU (NVLink components as groups), or the CPU host.
fn slots(inv: &Inventory, rates: &dyn Rates) -> Vec<Slot> {
    if inv.is_cpu_only() {
        return vec![Slot {
            label: "cpu".into(),
            group: 0,
            flops: rates.cpu(&inv.cpu).flops,
        }];
    }
    let mut group_of = vec![0; inv.gpus.len()];
    for (g, members) in inv.nvlink_groups().into_iter().enumerate() {
        for m in members {
            group_of[m] = g;
        }
    }
    inv.gpus
        .iter()
        .enumerate()
        .map(|(i, gpu)| Slot {
            label: format!("gpu{}", gpu.index),
            group: group_of[i],
            flops: rates.gpu(gpu).flops,
        })
        .collect()
}

/// Fill each job's devices, replicas and times from the schedule; return the pieces.
fn attach_schedule(jobs: &mut [JobPlan], s: &schedule::Schedule, slots: &[Slot]) -> Vec<PiecePlan> {
    let mut out = Vec::with_capacity(s.pieces.len());
    for p in &s.pieces {
        let job = &mut jobs[p.job];
        let devices: Vec<String> = p.slots.iter().map(|&i| slots[i].label.clone()).collect();
        for d in &devices {
            if !job.devices.contains(d) {
                job.devices.push(d.clone());
            }
        }
        job.replicas = p.replicas;
        job.start_s = Some(job.start_s.map_or(p.start, |t| t.min(p.start)));
        job.end_s = Some(job.end_s.map_or(p.end, |t| t.max(p.end)));
        // Samples are shared out evenly; the first `samples % replicas` replicas take one more.
        let r = p.replicas.max(1) as u64;
        let samples = job.samples / r + u64::from((p.replica as u64) < job.samples % r);
        out.push(PiecePlan {
            model: job.model.clone(),
            replica: p.replica,
            replicas: p.replicas,
            devices,
            samples,
            start_s: p.start,
            end_s: p.end,
            wave: p.wave,
            nvlink: p.nvlink,
        });
    }
    out
}

fn totals(jobs: &[JobPlan]) -> Totals {
    let download_bytes = jobs
        .iter()
        .filter(|j| j.engine != RouteEngine::Remote)
        .map(|j| match j.checkpoint {
            CheckpointState::Missing { download_bytes, .. } => download_bytes,
            CheckpointState::OnDisk { .. } => 0,
        })
        .sum();
    Totals {
        models: jobs.len(),
        runnable: jobs.iter().filter(|j| j.runnable).count(),
        placed: jobs
            .iter()
            .filter(|j| j.engine != RouteEngine::Unplaceable)
            .count(),
        unplaceable: jobs
            .iter()
            .filter(|j| j.engine == RouteEngine::Unplaceable)
            .count(),
        samples: jobs.iter().map(|j| j.samples).sum(),
        download_bytes,
    }
}

/// One line naming the hardware planned for.
pub fn describe(inv: &Inventory) -> String {
    let source = match inv.source {
        Source::Nvml => "detected",
        Source::Described => "described",
        Source::Cpu => "CPU only",
    };
    if inv.is_cpu_only() {
        let c = &inv.cpu;
        return format!(
            "{} ({} cores, {:.1} GiB RAM; {source})",
            c.model,
            c.cores,
            c.memory_total as f64 / (1u64 << 30) as f64
        );
    }
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for g in &inv.gpus {
        match kinds.iter_mut().find(|(n, _)| *n == g.name) {
            Some((_, n)) => *n += 1,
            None => kinds.push((g.name.clone(), 1)),
        }
    }
    let list: Vec<String> = kinds
        .into_iter()
        .map(|(n, c)| format!("{c} × {n}"))
        .collect();
    format!("{} ({source})", list.join(" + "))
}

fn how_estimated(inv: &Inventory, rates: &dyn Rates) -> Vec<String> {
    let mut how = vec![
        format!(
            "tokens per sample: prompt = min((num_fewshot + 1) × {PROMPT_TOKENS_PER_DOC}, seq); multiple choice + {TOKENS_PER_CHOICE}/choice; generate_until decodes max_gen_toks; loglikelihood + {CONTINUATION_TOKENS}"
        ),
        format!(
            "time = load (weights / {:.0} GB/s) + 2 × active params × (prefill / {PREFILL_EFFICIENCY} + decode / ({DECODE_EFFICIENCY_PER_SEQ} × batch)) / (rate × tp × {} if tp > 1)",
            LOAD_BYTES_PER_S / 1e9,
            schedule::TP_EFFICIENCY
        ),
        "lower bound = max(longest job at its most replicas, Σ gpus × time / total devices)"
            .to_string(),
    ];
    let mut seen: Vec<String> = Vec::new();
    let sources: Vec<String> = if inv.is_cpu_only() {
        vec![rates.cpu(&inv.cpu).source]
    } else {
        inv.gpus.iter().map(|g| rates.gpu(g).source).collect()
    };
    for s in sources {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    how.push(format!("rates: {}", seen.join("; ")));
    how
}

/// Free space for downloads: statvfs of the Hugging Face cache (see
/// `assay_engines::hub_cache::root`) or its nearest existing parent. `None` if nothing can be
/// read.
pub fn hf_cache_disk() -> Option<DiskSpace> {
    let dir = assay_engines::hub_cache::root()?;
    let existing = dir.ancestors().find(|p| p.exists())?.to_path_buf();
    free_bytes(&existing).map(|free_bytes| DiskSpace {
        path: existing,
        free_bytes,
    })
}

fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory of
    // the right type; statvfs only writes into it and we read it only when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    let free = stat.f_bavail as u64 * stat.f_frsize as u64;
    Some(free)
}

#[cfg(test)]
mod tests;
