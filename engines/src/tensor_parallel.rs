//! The tensor-parallel engine: `tp` ranks, each owning one shard of the model, running the
//! same model code as the single-device engine.
//!
//! - Sharding ([`crate::parallel`]): q/k/v and gate/up are column-parallel (output rows split),
//!   o and down are row-parallel (input columns split, then all-reduced); embeddings and norms
//!   are replicated; the LM head is vocabulary-parallel when the vocabulary splits evenly and
//!   the head is not tied to the embedding (else replicated). KV heads split over ranks, or are
//!   replicated one per rank when tp exceeds them. Each rank reads only its slices from the
//!   memory-mapped safetensors files.
//! - Validation ([`validate`]): tp must divide the attention heads and the FFN width, the kv
//!   heads must split or replicate, and tp must not exceed the devices given; all checked from
//!   `config.json` before any weight is read, with errors that name the numbers.
//! - Threading model: one OS thread per rank (see [`rank`]). Each rank thread builds and owns
//!   its shard, its KV cache tensors and its communicator; the engine's front thread holds a
//!   [`rank::ShardedModel`] (a [`CausalLm`](crate::models::CausalLm)) that sends jobs over
//!   channels and collects replies, so the single-device engine's batching, scoring and
//!   generation code serves both engines. On CPU, ranks meet in
//!   [`ThreadGroup`](crate::parallel::threads::ThreadGroup) (deterministic rank-order sums); on
//!   CUDA devices (`--features nccl,cuda`), each rank thread holds its NCCL communicator in a
//!   thread-local (see `parallel::nccl`).
//! - Telemetry: the single-device counters plus one
//!   [`RankTelemetry`](crate::telemetry::RankTelemetry) per rank: load time, weight bytes,
//!   peak KV cache and activation bytes (counted from the tensors each rank holds), forward
//!   and collective time.
//! - Serving: [`TensorParallelEngine::into_lightweight`] hands over the front engine (the rank
//!   threads stay with its model), so continuous batching serves both engines.

pub mod bench;
pub(crate) mod rank;

use crate::api::{
    ChatMessage, DeviceSpec, Engine, EngineError, EngineInfo, GenerateRequest, GenerateResult,
    LoadOptions, LoglikelihoodRequest, LoglikelihoodResult, RequestError,
};
use crate::checkpoint::{ModelConfig, resolve_model_dir};
use crate::lightweight::{LightweightEngine, make_device};
use crate::parallel::TpShape;
use crate::parallel::threads::ThreadGroup;
use crate::telemetry::{EngineTelemetry, RankTelemetry};
use rank::{RankSetup, ShardedModel, Transport};

use std::sync::{Arc, Mutex};

/// A model split over `tp` ranks.
pub struct TensorParallelEngine {
    inner: LightweightEngine,
    info: EngineInfo,
    tp: usize,
    stats: Arc<Vec<Mutex<RankTelemetry>>>,
}

impl std::fmt::Debug for TensorParallelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorParallelEngine")
            .field("tp", &self.tp)
            .field("info", &self.info)
            .finish()
    }
}

/// Checks `tp` against the model in `config` and the `devices` available, before any weight
/// is read. Errors name the field, the numbers and the devices.
pub fn validate(
    config: &ModelConfig,
    tp: usize,
    devices: &[DeviceSpec],
) -> Result<(), EngineError> {
    let heads = config.usize("num_attention_heads")?;
    let shape = TpShape {
        heads,
        kv_heads: config.opt_usize("num_key_value_heads")?.unwrap_or(heads),
        intermediate: config.usize("intermediate_size")?,
    };
    if let Err(e) = shape.check(tp) {
        let field = match e {
            crate::parallel::TpError::Zero => "tp",
            crate::parallel::TpError::Heads { .. } | crate::parallel::TpError::UnknownHeads => {
                "num_attention_heads"
            }
            crate::parallel::TpError::KvHeads { .. } => "num_key_value_heads",
            crate::parallel::TpError::Intermediate { .. } => "intermediate_size",
        };
        return Err(config.err(
            field,
            format!("cannot split over tensor-parallel ranks: {e}"),
        ));
    }
    if tp > devices.len() {
        return Err(EngineError::Device(format!(
            "tp {tp} needs {tp} devices, but {} {} given",
            devices.len(),
            if devices.len() == 1 { "is" } else { "are" }
        )));
    }
    let cuda: Vec<usize> = devices[..tp]
        .iter()
        .filter_map(|d| match d {
            DeviceSpec::Cuda(i) => Some(*i),
            // Ranks name their devices; `Auto` resolves to the CPU transport here.
            DeviceSpec::Cpu | DeviceSpec::Auto => None,
        })
        .collect();
    if !cuda.is_empty() && cuda.len() != tp {
        return Err(EngineError::Device(format!(
            "tensor-parallel ranks must be all CPU or all CUDA; got {:?}",
            &devices[..tp]
        )));
    }
    let mut distinct = cuda.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != cuda.len() {
        return Err(EngineError::Device(format!(
            "tensor-parallel ranks need one CUDA device each; got ordinals {cuda:?}"
        )));
    }
    Ok(())
}

impl TensorParallelEngine {
    /// Loads `model` (a directory or hub-cache `org/name`) split over `tp` ranks placed on
    /// `devices[..tp]`: all [`DeviceSpec::Cpu`] gives in-process CPU ranks; all
    /// [`DeviceSpec::Cuda`] gives one GPU per rank over NCCL (`--features nccl,cuda`).
    /// `opts.device` is ignored (the front thread works on the CPU).
    pub fn load(
        model: &str,
        tp: usize,
        devices: &[DeviceSpec],
        opts: LoadOptions,
    ) -> Result<Self, EngineError> {
        let dir = resolve_model_dir(model)?;
        let config = ModelConfig::read(&dir)?;
        validate(&config, tp, devices)?;
        let devices = &devices[..tp];
        let mut rank_devices = Vec::with_capacity(tp);
        let mut names = Vec::with_capacity(tp);
        for d in devices {
            let (dev, name) = make_device(*d)?;
            rank_devices.push(dev);
            names.push(name);
        }
        let on_cuda = matches!(devices.first(), Some(DeviceSpec::Cuda(_)));
        let requested_dtype = opts
            .dtype
            .or_else(|| config.declared_dtype().and_then(crate::api::DType::parse));
        let front_opts = LoadOptions {
            device: DeviceSpec::Cpu,
            ..opts
        };
        let mut stats = None;
        let inner = LightweightEngine::load_with(model, front_opts, |cx| {
            let dtype = match (on_cuda, requested_dtype) {
                (true, Some(d)) => crate::lightweight::to_candle(d),
                _ => cx.dtype,
            };
            let setup = RankSetup {
                dir: cx.dir.to_path_buf(),
                config: cx.config.clone(),
                entry: cx.entry,
                devices: rank_devices,
                device_names: names.clone(),
                dtype,
            };
            let (transport, group) = transport(tp, on_cuda)?;
            let (model, s) = ShardedModel::start(setup, transport, group)?;
            let weight_bytes = rank::snapshot(&s).iter().map(|r| r.weight_bytes).sum();
            stats = Some(s);
            Ok((Box::new(model), weight_bytes))
        })?;
        let stats = stats.ok_or_else(|| EngineError::Device("ranks were not started".into()))?;
        let mut info = inner.info().clone();
        info.device = format!(
            "{} x{tp} ({})",
            names.first().map(String::as_str).unwrap_or("cpu"),
            if on_cuda {
                "NCCL"
            } else {
                "in-process CPU ranks"
            }
        );
        Ok(TensorParallelEngine {
            inner,
            info,
            tp,
            stats,
        })
    }

    /// `tp` in-process ranks on the CPU.
    pub fn load_cpu(model: &str, tp: usize, opts: LoadOptions) -> Result<Self, EngineError> {
        Self::load(model, tp, &vec![DeviceSpec::Cpu; tp], opts)
    }

    pub fn tp(&self) -> usize {
        self.tp
    }

    /// Per-rank load, memory and time figures.
    pub fn rank_telemetry(&self) -> Vec<RankTelemetry> {
        rank::snapshot(&self.stats)
    }

    /// The single-device engine API over the ranks (encoding, per-token log-probabilities).
    pub fn front(&self) -> &LightweightEngine {
        &self.inner
    }

    /// The front engine that drives the ranks, for callers that need the whole
    /// [`LightweightEngine`] API (continuous batching in `assay serve`). The rank threads live
    /// as long as the returned engine (its model owns them); its `info()` keeps this engine's
    /// device description. Per-rank telemetry is no longer available through it.
    pub fn into_lightweight(self) -> LightweightEngine {
        let mut inner = self.inner;
        inner.set_device_description(self.info.device);
        inner
    }
}

fn transport(
    tp: usize,
    on_cuda: bool,
) -> Result<(Transport, Option<Arc<ThreadGroup>>), EngineError> {
    if !on_cuda {
        let (group, comms) = ThreadGroup::new(tp);
        return Ok((Transport::Threads(comms), Some(group)));
    }
    nccl_transport()
}

#[cfg(all(feature = "nccl", feature = "cuda"))]
fn nccl_transport() -> Result<(Transport, Option<Arc<ThreadGroup>>), EngineError> {
    Ok((Transport::Nccl(crate::parallel::nccl::unique_id()?), None))
}

#[cfg(not(all(feature = "nccl", feature = "cuda")))]
fn nccl_transport() -> Result<(Transport, Option<Arc<ThreadGroup>>), EngineError> {
    Err(EngineError::Device(
        "tensor parallelism over CUDA devices needs a build with --features nccl,cuda".into(),
    ))
}

impl Engine for TensorParallelEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn loglikelihood(
        &mut self,
        reqs: &[LoglikelihoodRequest],
    ) -> Vec<Result<LoglikelihoodResult, RequestError>> {
        self.inner.loglikelihood(reqs)
    }

    fn generate(&mut self, reqs: &[GenerateRequest]) -> Vec<Result<GenerateResult, RequestError>> {
        self.inner.generate(reqs)
    }

    fn telemetry(&self) -> EngineTelemetry {
        let mut t = self.inner.telemetry();
        t.device = self.info.device.clone();
        t.ranks = self.rank_telemetry();
        t
    }

    fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        self.inner
            .apply_chat_template(messages, add_generation_prompt)
    }

    fn token_count(&self, text: &str) -> Result<usize, EngineError> {
        self.inner.token_count(text)
    }
}
