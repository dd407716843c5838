//! Routing: which engine runs a model, on which devices, or why it cannot run here.
//!
//! Order of preference, with memory from `sizing`:
//! 1. **lightweight** on one GPU whose usable memory holds the whole model; candidates are listed
//!    best fit first (smallest usable memory that fits), so big cards stay free for big models.
//! 2. **tensor_parallel** with the smallest tp in {2, 4, 8} that is valid for the architecture
//!    (attention heads, kv heads (or replicable: tp a multiple of kv heads) and the FFN width all
//!    divisible by tp) and for which at least tp GPUs *of one kind* each hold one rank. The
//!    scheduler then prefers a gang inside one NVLink group.
//! 3. **unplaceable**: the shortfall and concrete ways to fit: a shorter `--max-seq-len`, a
//!    smaller `--batch-size`, more GPUs (tp) or a bigger GPU from the device table.
//!
//! On a host without GPUs the lightweight engine runs on the CPU when the model fits in usable RAM.
//! A model whose catalog entry names an `endpoint` routes to **remote** before any of this (it
//! is evaluated on that server, whatever fits here).
//!
//! Worked examples (bf16, unit-tested below; usable = 0.9 × total on an empty card):
//! - Llama-3.1-8B, seq 4096, batch 1: weights 14.96 GiB + kv 512 MiB + overhead 1 GiB, plus
//!   activations of 1.54 GiB with 1024-token prefill chunks (total 17.99 GiB) or 6.14 GiB
//!   unchunked (22.60 GiB). A 24 GB card offers 20.24 GiB (L4, A10) to 21.60 GiB (RTX 3090):
//!   it fits only with chunking.
//! - Llama-3.1-70B, seq 8192, batch 8, chunk 1024: per rank 102.58 GiB at tp=2 (66.69 weights,
//!   10 kv, 24.39 activations, 1.5 overhead + nccl) and 53.14 GiB at tp=4. An H100-80GB offers
//!   71.68 GiB, so tp=4; an H200-141GB offers 126.36 GiB, so tp=2.
use crate::catalog::{Arch, Model};
use crate::hardware::{Gpu, Inventory, MIB, spec};
use crate::sizing::{self, MemoryNeed, Resolved, Target, WeightSource};
use assay_engines::EngineKind;

pub const TP_DEGREES: [u64; 3] = [2, 4, 8];

/// What routing chose for a model: one of the engines, or nothing that can hold it. (Not
/// named `Engine`, which is the engines' trait.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteEngine {
    Lightweight,
    TensorParallel,
    /// An OpenAI-compatible server named by the model's `endpoint`.
    Remote,
    Unplaceable,
}

impl RouteEngine {
    /// The engine chosen; `None` when the model cannot be placed.
    pub fn kind(self) -> Option<EngineKind> {
        match self {
            RouteEngine::Lightweight => Some(EngineKind::Lightweight),
            RouteEngine::TensorParallel => Some(EngineKind::TensorParallel),
            RouteEngine::Remote => Some(EngineKind::Remote),
            RouteEngine::Unplaceable => None,
        }
    }

    /// The engine's name (see [`EngineKind::as_str`]), or `unplaceable`.
    pub fn as_str(self) -> &'static str {
        self.kind().map_or("unplaceable", EngineKind::as_str)
    }
}

/// A routing decision. `pools` are positions in `Inventory::gpus`: a gang of `tp` GPUs is taken
/// from one pool (one GPU kind). Empty pools with a placeable engine mean the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub engine: RouteEngine,
    pub tp: u64,
    pub on_cpu: bool,
    pub pools: Vec<Vec<usize>>,
    pub need: MemoryNeed,
    /// Usable bytes of the device the need was compared with.
    pub usable: u64,
    pub reason: String,
    pub shortfall_bytes: Option<u64>,
    pub suggestions: Vec<String>,
}

/// The model being routed, with its weight source and resolved settings.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub model: &'a Model,
    pub weights: WeightSource,
    pub settings: Resolved,
}

impl Subject<'_> {
    fn need(&self, tp: u64, target: Target) -> MemoryNeed {
        sizing::estimate(self.model, self.weights, &self.settings, tp, target)
    }
    fn with(&self, settings: Resolved) -> Self {
        Subject { settings, ..*self }
    }
}

/// Whether `tp` ranks can split the model (the engines' rule, see [`Arch::check_tp`]).
pub fn valid_tp(arch: &Arch, tp: u64) -> bool {
    arch.check_tp(tp).is_ok()
}

/// Route one model onto the inventory.
pub fn choose(subject: &Subject<'_>, inv: &Inventory) -> Route {
    if let Some(ep) = &subject.model.endpoint {
        return Route {
            engine: RouteEngine::Remote,
            tp: 1,
            on_cpu: false,
            pools: vec![],
            need: subject.need(1, Target::Gpu),
            usable: 0,
            reason: format!(
                "served remotely at {} as `{}`",
                ep.base_url, ep.served_model_name
            ),
            shortfall_bytes: None,
            suggestions: vec![],
        };
    }
    if inv.is_cpu_only() {
        return choose_cpu(subject, inv);
    }
    let need = subject.need(1, Target::Gpu);
    let one_gpu = need.per_rank;
    if let Some(route) = single_gpu(need, inv) {
        return route;
    }
    for tp in TP_DEGREES
        .into_iter()
        .filter(|&tp| valid_tp(&subject.model.arch, tp))
    {
        if let Some(route) = tensor_parallel(subject, inv, tp, one_gpu) {
            return route;
        }
    }
    unplaceable(subject, inv)
}

/// `--engine tensor-parallel --tp N`: the tensor-parallel engine with degree `tp`, whatever
/// would fit on one device. On a CPU host the ranks are threads of one process (for tests and
/// demonstrations); the memory shown is per rank. Refused (unplaceable, with the numbers) when
/// tp does not divide the model or the ranks do not fit.
/// Why `--tp N` cannot split `model`, with the degrees that can; `None` when it can.
pub fn invalid_tp(model: &crate::catalog::Model, tp: u64) -> Option<(String, Vec<String>)> {
    let a = &model.arch;
    let e = a.check_tp(tp).err()?;
    Some((
        format!("--tp {tp} is not valid for {}: {e}", model.id),
        TP_DEGREES
            .into_iter()
            .filter(|&t| valid_tp(a, t))
            .map(|t| format!("--tp {t}"))
            .collect(),
    ))
}

pub fn forced_tensor_parallel(subject: &Subject<'_>, inv: &Inventory, tp: u64) -> Route {
    if let Some((reason, suggestions)) = invalid_tp(subject.model, tp) {
        let need = subject.need(1, Target::Cpu);
        return Route {
            engine: RouteEngine::Unplaceable,
            tp,
            on_cpu: inv.is_cpu_only(),
            pools: vec![],
            usable: 0,
            reason,
            shortfall_bytes: None,
            suggestions,
            need,
        };
    }
    if !inv.is_cpu_only() {
        let one_gpu = subject.need(1, Target::Gpu).per_rank;
        return tensor_parallel(subject, inv, tp, one_gpu).unwrap_or_else(|| {
            let mut r = unplaceable(subject, inv);
            r.reason = format!("forced tp={tp} does not fit: {}", r.reason);
            r
        });
    }
    let need = subject.need(tp, Target::Cpu);
    let usable = inv.cpu.usable_bytes();
    let total = need.per_rank.saturating_mul(tp);
    if total > usable {
        return Route {
            engine: RouteEngine::Unplaceable,
            tp,
            on_cpu: true,
            pools: vec![],
            usable,
            reason: format!(
                "forced tp={tp}: {tp} CPU ranks need {} ({} each) but {} of RAM is usable",
                crate::printer::human_bytes(total),
                crate::printer::human_bytes(need.per_rank),
                crate::printer::human_bytes(usable)
            ),
            shortfall_bytes: Some(total - usable),
            suggestions: vec![],
            need,
        };
    }
    Route {
        engine: RouteEngine::TensorParallel,
        tp,
        on_cpu: true,
        pools: vec![],
        usable,
        reason: format!(
            "forced tensor-parallel: {tp} CPU ranks (threads of one process), {} each, {} of {} usable RAM",
            crate::printer::human_bytes(need.per_rank),
            crate::printer::human_bytes(total),
            crate::printer::human_bytes(usable)
        ),
        shortfall_bytes: None,
        suggestions: vec![],
        need,
    }
}

fn choose_cpu(subject: &Subject<'_>, inv: &Inventory) -> Route {
    let need = subject.need(1, Target::Cpu);
    let usable = inv.cpu.usable_bytes();
    if need.per_rank <= usable {
        let reason = format!(
            "fits the CPU: needs {} of {} usable RAM",
            crate::printer::human_bytes(need.per_rank),
            crate::printer::human_bytes(usable)
        );
        return Route {
            engine: RouteEngine::Lightweight,
            tp: 1,
            on_cpu: true,
            pools: vec![],
            need,
            usable,
            reason,
            shortfall_bytes: None,
            suggestions: vec![],
        };
    }
    let fits = |s: &Subject<'_>| s.need(1, Target::Cpu).per_rank <= usable;
    let mut suggestions = shrink_suggestions(subject, &fits);
    suggestions.extend(bigger_gpu(subject));
    let short = need.per_rank - usable;
    let reason = format!(
        "needs {} but the CPU host has {} usable RAM: short by {} MiB",
        crate::printer::human_bytes(need.per_rank),
        crate::printer::human_bytes(usable),
        short.div_ceil(MIB)
    );
    Route {
        engine: RouteEngine::Unplaceable,
        tp: 1,
        on_cpu: true,
        pools: vec![],
        need,
        usable,
        reason,
        shortfall_bytes: Some(short),
        suggestions,
    }
}

/// GPUs that fit `need`, best fit (smallest usable) first.
fn fitting(inv: &Inventory, need: u64) -> Vec<usize> {
    let mut fit: Vec<usize> = (0..inv.gpus.len())
        .filter(|&i| inv.gpus[i].usable_bytes() >= need)
        .collect();
    fit.sort_by_key(|&i| (inv.gpus[i].usable_bytes(), i));
    fit
}

fn single_gpu(need: MemoryNeed, inv: &Inventory) -> Option<Route> {
    let fit = fitting(inv, need.per_rank);
    let best = &inv.gpus[*fit.first()?];
    let usable = best.usable_bytes();
    let reason = format!(
        "fits one GPU: needs {} of {} usable on {} (best fit; {} GPUs fit)",
        crate::printer::human_bytes(need.per_rank),
        crate::printer::human_bytes(usable),
        best.name,
        fit.len()
    );
    Some(Route {
        engine: RouteEngine::Lightweight,
        tp: 1,
        on_cpu: false,
        pools: vec![fit],
        need,
        usable,
        reason,
        shortfall_bytes: None,
        suggestions: vec![],
    })
}

/// Fitting GPUs grouped by kind, keeping kinds with at least `tp` members.
fn pools_of_kind(inv: &Inventory, fit: &[usize], tp: u64) -> Vec<Vec<usize>> {
    let mut pools: Vec<Vec<usize>> = Vec::new();
    for &i in fit {
        let same = |pool: &Vec<usize>| inv.gpus[pool[0]].same_kind(&inv.gpus[i]);
        match pools.iter_mut().find(|p| same(p)) {
            Some(pool) => pool.push(i),
            None => pools.push(vec![i]),
        }
    }
    pools.retain(|p| p.len() as u64 >= tp);
    pools
}

fn tensor_parallel(subject: &Subject<'_>, inv: &Inventory, tp: u64, one_gpu: u64) -> Option<Route> {
    let need = subject.need(tp, Target::Gpu);
    let fit = fitting(inv, need.per_rank);
    let pools = pools_of_kind(inv, &fit, tp);
    let first: &Gpu = &inv.gpus[*pools.first()?.first()?];
    let usable = first.usable_bytes();
    let reason = format!(
        "too big for one GPU ({} needed); tp={tp} needs {} per rank of {} usable on {}",
        crate::printer::human_bytes(one_gpu),
        crate::printer::human_bytes(need.per_rank),
        crate::printer::human_bytes(usable),
        first.name
    );
    Some(Route {
        engine: RouteEngine::TensorParallel,
        tp,
        on_cpu: false,
        pools,
        need,
        usable,
        reason,
        shortfall_bytes: None,
        suggestions: vec![],
    })
}

/// Whether the model fits this GPU inventory at all (one GPU or a valid tp of one kind).
fn fits_gpus(subject: &Subject<'_>, inv: &Inventory) -> bool {
    let tp_fits = |tp: u64| {
        valid_tp(&subject.model.arch, tp)
            && !pools_of_kind(
                inv,
                &fitting(inv, subject.need(tp, Target::Gpu).per_rank),
                tp,
            )
            .is_empty()
    };
    !fitting(inv, subject.need(1, Target::Gpu).per_rank).is_empty()
        || TP_DEGREES.into_iter().any(tp_fits)
}

fn unplaceable(subject: &Subject<'_>, inv: &Inventory) -> Route {
    let need = subject.need(1, Target::Gpu);
    let best = inv
        .gpus
        .iter()
        .max_by_key(|g| g.usable_bytes())
        .map(Gpu::usable_bytes)
        .unwrap_or(0);
    let short = need.per_rank.saturating_sub(best);
    let mut suggestions = shrink_suggestions(subject, &|s| fits_gpus(s, inv));
    suggestions.extend(more_gpus(subject, inv));
    suggestions.extend(bigger_gpu(subject));
    let reason = format!(
        "needs {} on one GPU, the largest usable is {}: short by {} MiB; no valid tp in {{2, 4, 8}} fits the GPUs present",
        crate::printer::human_bytes(need.per_rank),
        crate::printer::human_bytes(best),
        short.div_ceil(MIB)
    );
    Route {
        engine: RouteEngine::Unplaceable,
        tp: 1,
        on_cpu: false,
        pools: vec![],
        need,
        usable: best,
        reason,
        shortfall_bytes: Some(short),
        suggestions,
    }
}

/// The largest `--max-seq-len` (a multiple of 256, at least 256) and `--batch-size` that fit.
fn shrink_suggestions(subject: &Subject<'_>, fits: &dyn Fn(&Subject<'_>) -> bool) -> Vec<String> {
    let s = subject.settings;
    let mut out = Vec::new();
    let seq_fits = |seq: u64| {
        fits(&subject.with(Resolved {
            max_seq_len: seq,
            ..s
        }))
    };
    if let Some(seq) = largest_fitting(256, s.max_seq_len.saturating_sub(1), 256, &seq_fits) {
        out.push(format!("fits with --max-seq-len {seq}"));
    }
    let batch_fits = |batch: u64| fits(&subject.with(Resolved { batch, ..s }));
    if let Some(batch) = largest_fitting(1, s.batch.saturating_sub(1), 1, &batch_fits) {
        out.push(format!("fits with --batch-size {batch}"));
    }
    out
}

/// Largest multiple of `step` in `[lo, hi]` for which `fits` holds (monotone: smaller fits more).
fn largest_fitting(lo: u64, hi: u64, step: u64, fits: &dyn Fn(u64) -> bool) -> Option<u64> {
    let (mut lo_k, mut hi_k) = (lo.div_ceil(step), hi / step);
    if lo_k > hi_k || !fits(lo_k * step) {
        return None;
    }
    while lo_k < hi_k {
        let mid = (lo_k + hi_k).div_ceil(2);
        if fits(mid * step) {
            lo_k = mid
        } else {
            hi_k = mid - 1
        }
    }
    Some(lo_k * step)
}

/// The smallest valid tp whose per-rank need fits the largest GPU kind present, if more of
/// those GPUs would be needed than there are.
fn more_gpus(subject: &Subject<'_>, inv: &Inventory) -> Option<String> {
    let biggest = inv.gpus.iter().max_by_key(|g| g.usable_bytes())?;
    let have = inv.gpus.iter().filter(|g| g.same_kind(biggest)).count() as u64;
    let tp = TP_DEGREES
        .into_iter()
        .filter(|&tp| valid_tp(&subject.model.arch, tp))
        .find(|&tp| subject.need(tp, Target::Gpu).per_rank <= biggest.usable_bytes())?;
    (tp > have).then(|| format!("needs tp={tp} ({tp} × {}; {have} present)", biggest.name))
}

/// The smallest card in the device table that holds the model alone, else the smallest
/// (card, tp) pair that does.
fn bigger_gpu(subject: &Subject<'_>) -> Option<String> {
    let mut kinds: Vec<&spec::DeviceKind> = spec::DEVICES.iter().collect();
    kinds.sort_by_key(|d| d.memory_mib);
    let usable = |d: &spec::DeviceKind| {
        let gpu = fresh_gpu(d);
        gpu.usable_bytes()
    };
    if let Some(d) = kinds
        .iter()
        .find(|d| subject.need(1, Target::Gpu).per_rank <= usable(d))
    {
        return Some(format!("fits one {}", d.name));
    }
    for tp in TP_DEGREES
        .into_iter()
        .filter(|&tp| valid_tp(&subject.model.arch, tp))
    {
        let per_rank = subject.need(tp, Target::Gpu).per_rank;
        if let Some(d) = kinds.iter().find(|d| per_rank <= usable(d)) {
            return Some(format!("fits tp={tp} on {tp} × {}", d.name));
        }
    }
    None
}

fn fresh_gpu(d: &spec::DeviceKind) -> Gpu {
    let total = d.memory_mib * MIB;
    Gpu {
        index: 0,
        name: d.name.into(),
        kind: Some(d.name),
        uuid: None,
        memory_total: total,
        memory_free: total,
        memory_used: 0,
        power_watts: None,
        power_limit_watts: None,
        compute_capability: None,
        nvlink_peers: vec![],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::catalog::DType;
    use crate::hardware::{cpu, spec};
    use crate::synthetic::{llama_8b, llama_70b};

    fn cluster(text: &str) -> Inventory {
        spec::parse(text)
            .unwrap()
            .into_inventory(cpu::tests::host(16, 64))
    }
    fn settings(seq: u64, batch: u64, chunk: u64) -> Resolved {
        Resolved {
            dtype: DType::Bf16,
            max_seq_len: seq,
            batch,
            prefill_chunk: chunk,
        }
    }
    fn route(model: &Model, s: Resolved, inv: &Inventory) -> Route {
        choose(
            &Subject {
                model,
                weights: WeightSource::Params,
                settings: s,
            },
            inv,
        )
    }

    #[test]
    fn llama_8b_fits_a_24gb_gpu_only_with_prefill_chunks() {
        let m = llama_8b();
        for card in [
            "1xL4-24GB",
            "1xA10-24GB",
            "1xRTX4090-24GB",
            "1xRTX3090-24GB",
        ] {
            let inv = cluster(card);
            let chunked = route(&m, settings(4096, 1, 1024), &inv);
            assert_eq!(
                chunked.engine,
                RouteEngine::Lightweight,
                "{card}: {}",
                chunked.reason
            );
            let whole = route(&m, settings(4096, 1, 4096), &inv);
            assert_eq!(
                whole.engine,
                RouteEngine::Unplaceable,
                "{card}: {}",
                whole.reason
            );
            assert!(whole.shortfall_bytes.unwrap() > 0);
        }
    }

    #[test]
    fn llama_70b_needs_tp4_on_h100_and_tp2_on_h200() {
        let m = llama_70b();
        let s = settings(8192, 8, 1024);
        let h100 = route(&m, s, &cluster("8xH100-80GB"));
        assert_eq!(
            (h100.engine, h100.tp),
            (RouteEngine::TensorParallel, 4),
            "{}",
            h100.reason
        );
        let tp2 = sizing::estimate(&m, WeightSource::Params, &s, 2, Target::Gpu);
        assert!(
            tp2.per_rank > cluster("1xH100-80GB").gpus[0].usable_bytes(),
            "tp=2 must not fit an H100"
        );
        let h200 = route(&m, s, &cluster("8xH200-141GB"));
        assert_eq!(
            (h200.engine, h200.tp),
            (RouteEngine::TensorParallel, 2),
            "{}",
            h200.reason
        );
    }

    #[test]
    fn tp_validity_follows_the_head_counts() {
        let mut arch = llama_8b().arch;
        assert!(valid_tp(&arch, 2) && valid_tp(&arch, 4) && valid_tp(&arch, 8));
        arch.kv_heads = 2;
        assert!(
            valid_tp(&arch, 8),
            "kv heads replicate when tp is a multiple of them"
        );
        arch.kv_heads = 3;
        assert!(!valid_tp(&arch, 2));
        arch.kv_heads = 8;
        arch.intermediate = 14_338;
        assert!(!valid_tp(&arch, 4));
    }

    #[test]
    fn unplaceable_says_what_would_fit() {
        let m = llama_70b();
        let r = route(&m, settings(8192, 8, 1024), &cluster("2xH100-80GB"));
        assert_eq!(r.engine, RouteEngine::Unplaceable);
        assert!(r.shortfall_bytes.unwrap() > 50 * 1024 * MIB);
        assert!(
            r.suggestions
                .iter()
                .any(|s| s == "needs tp=4 (4 × H100-80GB; 2 present)"),
            "{:?}",
            r.suggestions
        );
        // With tp=2 impossible on two H100s at any length (weights alone are 66.7 GiB/rank plus
        // buffers), no --max-seq-len suggestion may be made unless it really fits.
        for s in &r.suggestions {
            if let Some(seq) = s.strip_prefix("fits with --max-seq-len ") {
                let seq: u64 = seq.parse().unwrap();
                let again = route(&m, settings(seq, 8, 1024), &cluster("2xH100-80GB"));
                assert_ne!(again.engine, RouteEngine::Unplaceable);
            }
        }
        let small = route(&llama_8b(), settings(4096, 1, 4096), &cluster("1xL4-24GB"));
        assert!(
            small
                .suggestions
                .contains(&"fits one V100-32GB".to_string()),
            "{:?}",
            small.suggestions
        );
        assert!(
            small
                .suggestions
                .iter()
                .any(|s| s.starts_with("fits with --max-seq-len ")),
            "{:?}",
            small.suggestions
        );
    }

    #[test]
    fn lightweight_prefers_the_best_fitting_gpu() {
        let inv = cluster("1xH200-141GB,1xL40S-48GB,1xL4-24GB");
        let r = route(&llama_8b(), settings(4096, 1, 1024), &inv);
        assert_eq!(r.engine, RouteEngine::Lightweight);
        assert_eq!(r.pools, vec![vec![2, 1, 0]]);
    }

    #[test]
    fn tensor_parallel_gangs_stay_within_one_kind() {
        // 2 H100 + 2 A100-80GB: tp=4 would need mixing kinds, which is not allowed.
        let inv = cluster("2xH100-80GB,2xA100-80GB");
        let r = route(&llama_70b(), settings(8192, 8, 1024), &inv);
        assert_eq!(r.engine, RouteEngine::Unplaceable, "{}", r.reason);
        let inv = cluster("4xA100-80GB,2xH100-80GB");
        let r = route(&llama_70b(), settings(8192, 8, 1024), &inv);
        assert_eq!(
            (r.engine, r.pools.clone()),
            (RouteEngine::TensorParallel, vec![vec![0, 1, 2, 3]])
        );
    }

    #[test]
    fn cpu_host_runs_small_models_in_ram() {
        let small_host = Inventory {
            source: crate::hardware::Source::Cpu,
            gpus: vec![],
            cpu: cpu::tests::host(2, 24),
            notice: None,
        };
        let r = route(&llama_8b(), settings(4096, 1, 1024), &small_host);
        assert_eq!(
            (r.engine, r.on_cpu),
            (RouteEngine::Lightweight, true),
            "{}",
            r.reason
        );
        let r = route(&llama_70b(), settings(4096, 1, 1024), &small_host);
        assert_eq!(r.engine, RouteEngine::Unplaceable);
        assert!(r.reason.contains("short by"));
    }
}
