//! Rank threads and the [`ShardedModel`] that fronts them.
//!
//! Each rank thread opens the checkpoint itself (memory-mapped), builds its shard of the model
//! through the registry with its own communicator, and then serves jobs from a channel. The
//! front thread's [`ShardedModel`] implements [`CausalLm`], so the single-device engine's
//! batching, scoring and generation drive the ranks unchanged: a forward pass sends the same
//! input ids and mask to every rank, each rank runs the shared model code on its shard (the
//! row-parallel layers all-reduce inside it), and rank 0's hidden states come back. KV caches
//! stay rank-owned tensors; the front only moves their handles (see [`KvCache::split_ranks`]).

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use candle_core::{DType as CDType, Device, Result as CResult, Tensor};

use crate::api::EngineError;
use crate::checkpoint::{ModelConfig, Weights};
use crate::models::{CausalLm, KvCache, ModelSpec, Step, registry};
use crate::parallel::threads::{ThreadComm, ThreadGroup};
use crate::parallel::{Comm, meter};
use crate::telemetry::RankTelemetry;

/// How ranks talk to each other.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// Threads on the CPU, one [`ThreadComm`] each.
    Threads(Vec<Arc<ThreadComm>>),
    /// One CUDA device per rank, NCCL between them.
    #[cfg(all(feature = "nccl", feature = "cuda"))]
    Nccl(cudarc::nccl::Id),
}

/// What every rank needs to load its shard.
#[derive(Debug, Clone)]
pub(crate) struct RankSetup {
    pub dir: PathBuf,
    pub config: ModelConfig,
    pub entry: &'static registry::Entry,
    pub devices: Vec<Device>,
    pub device_names: Vec<String>,
    pub dtype: CDType,
}

enum Job {
    Forward {
        ids: Tensor,
        positions: Vec<u32>,
        mask: Tensor,
        cache: KvCache,
    },
    LmHead(Tensor),
}

enum Reply {
    Hidden(Tensor, KvCache),
    Logits(Tensor),
}

struct RankHandle {
    jobs: Option<Sender<Job>>,
    replies: Receiver<CResult<Reply>>,
    thread: Option<JoinHandle<()>>,
}

/// Each rank's telemetry, written by the rank thread, read by the engine.
pub(crate) type SharedStats = Arc<Vec<Mutex<RankTelemetry>>>;

/// A model split over ranks, driven from the front thread.
pub(crate) struct ShardedModel {
    spec: ModelSpec,
    ranks: Vec<RankHandle>,
    group: Option<Arc<ThreadGroup>>,
}

impl std::fmt::Debug for ShardedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedModel")
            .field("ranks", &self.ranks.len())
            .finish()
    }
}

fn lost(rank: usize) -> candle_core::Error {
    candle_core::Error::Msg(format!("tensor-parallel rank {rank} stopped"))
}

impl ShardedModel {
    /// Starts one thread per rank and waits until every rank has loaded its shard.
    pub fn start(
        setup: RankSetup,
        transport: Transport,
        group: Option<Arc<ThreadGroup>>,
    ) -> Result<(Self, SharedStats), EngineError> {
        let tp = setup.devices.len();
        let stats: SharedStats = Arc::new(
            (0..tp)
                .map(|rank| {
                    Mutex::new(RankTelemetry {
                        rank,
                        device: setup.device_names[rank].clone(),
                        ..RankTelemetry::default()
                    })
                })
                .collect(),
        );
        let mut ranks = Vec::with_capacity(tp);
        let mut loaded = Vec::with_capacity(tp);
        for rank in 0..tp {
            let (job_tx, job_rx) = channel::<Job>();
            let (reply_tx, reply_rx) = channel::<CResult<Reply>>();
            let (load_tx, load_rx) = channel::<Result<ModelSpec, EngineError>>();
            let setup = setup.clone();
            let transport = transport.clone();
            let stats = stats.clone();
            let group = group.clone();
            let thread = std::thread::Builder::new()
                .name(format!("tp-rank-{rank}"))
                .spawn(move || {
                    rank_main(
                        rank, setup, transport, group, stats, load_tx, job_rx, reply_tx,
                    )
                })
                .map_err(|e| EngineError::Device(format!("cannot start rank {rank}: {e}")))?;
            ranks.push(RankHandle {
                jobs: Some(job_tx),
                replies: reply_rx,
                thread: Some(thread),
            });
            loaded.push(load_rx);
        }
        let mut spec = None;
        let mut first_err = None;
        for (rank, rx) in loaded.into_iter().enumerate() {
            match rx.recv() {
                Ok(Ok(s)) => {
                    if rank == 0 {
                        spec = Some(s);
                    }
                }
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(EngineError::Device(format!(
                        "tensor-parallel rank {rank} stopped while loading"
                    )));
                }
            }
        }
        let model = ShardedModel {
            spec: spec.unwrap_or_else(placeholder_spec),
            ranks,
            group,
        };
        match first_err {
            Some(e) => Err(e),
            None => Ok((model, stats)),
        }
    }

    pub fn world_size(&self) -> usize {
        self.ranks.len()
    }

    /// Sends one job per rank and collects every rank's reply (in rank order).
    fn run(&self, jobs: Vec<Job>) -> CResult<Vec<Reply>> {
        for (rank, (h, job)) in self.ranks.iter().zip(jobs).enumerate() {
            let sent = h.jobs.as_ref().map(|tx| tx.send(job).is_ok());
            if sent != Some(true) {
                if let Some(g) = &self.group {
                    g.abort();
                }
                return Err(lost(rank));
            }
        }
        let replies: Vec<CResult<Reply>> = self
            .ranks
            .iter()
            .enumerate()
            .map(|(rank, h)| h.replies.recv().unwrap_or_else(|_| Err(lost(rank))))
            .collect();
        if replies.iter().any(|r| r.is_err())
            && let Some(g) = &self.group
        {
            g.reset();
        }
        replies.into_iter().collect()
    }
}

pub(crate) fn snapshot(stats: &[Mutex<RankTelemetry>]) -> Vec<RankTelemetry> {
    stats
        .iter()
        .filter_map(|s| s.lock().ok().map(|s| s.clone()))
        .collect()
}

fn placeholder_spec() -> ModelSpec {
    ModelSpec {
        family: "",
        vocab_size: 0,
        hidden_size: 0,
        num_layers: 0,
        max_position_embeddings: 0,
        sliding_window: None,
        num_parameters: 0,
        linear_params: 0,
        attn_width: 0,
    }
}

impl Drop for ShardedModel {
    fn drop(&mut self) {
        for h in &mut self.ranks {
            h.jobs.take();
        }
        for h in &mut self.ranks {
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl CausalLm for ShardedModel {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn forward(&self, input_ids: &Tensor, step: &Step, cache: &mut KvCache) -> CResult<Tensor> {
        let parts = cache.split_ranks(self.world_size(), self.spec.num_layers)?;
        let jobs = parts
            .into_iter()
            .map(|part| Job::Forward {
                ids: input_ids.clone(),
                positions: step.positions.clone(),
                mask: step.mask.clone(),
                cache: part,
            })
            .collect();
        let mut hidden = None;
        let mut caches = Vec::with_capacity(self.world_size());
        for reply in self.run(jobs)? {
            match reply {
                Reply::Hidden(h, c) => {
                    hidden.get_or_insert(h);
                    caches.push(c);
                }
                Reply::Logits(_) => candle_core::bail!("rank answered a forward with logits"),
            }
        }
        *cache = KvCache::join_ranks(caches);
        hidden.ok_or_else(|| lost(0))?.to_device(input_ids.device())
    }

    fn lm_head(&self, hidden: &Tensor) -> CResult<Tensor> {
        let jobs = (0..self.world_size())
            .map(|_| Job::LmHead(hidden.clone()))
            .collect();
        match self.run(jobs)?.into_iter().next() {
            Some(Reply::Logits(l)) => l.to_device(hidden.device()),
            _ => Err(lost(0)),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rank_main(
    rank: usize,
    setup: RankSetup,
    transport: Transport,
    group: Option<Arc<ThreadGroup>>,
    stats: SharedStats,
    load_tx: Sender<Result<ModelSpec, EngineError>>,
    jobs: Receiver<Job>,
    replies: Sender<CResult<Reply>>,
) {
    let t0 = Instant::now();
    let device = setup.devices[rank].clone();
    let loaded = load_shard(rank, &setup, &transport, &device);
    let (model, local) = match loaded {
        Ok((model, local, weight_bytes)) => {
            if let Some(Ok(mut s)) = stats.get(rank).map(|s| s.lock()) {
                s.load_s = t0.elapsed().as_secs_f64();
                s.weight_bytes = weight_bytes;
                s.peak_bytes = weight_bytes;
            }
            let _ = load_tx.send(Ok(model.spec().clone()));
            (model, local)
        }
        Err(e) => {
            let _ = load_tx.send(Err(e));
            return;
        }
    };
    drop(load_tx);
    while let Ok(job) = jobs.recv() {
        let started = Instant::now();
        meter::take_peak();
        let is_forward = matches!(job, Job::Forward { .. });
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| run_job(&*model, job, &device)))
            .unwrap_or_else(|_| {
                Err(candle_core::Error::Msg(format!(
                    "tensor-parallel rank {rank} panicked"
                )))
            });
        if out.is_err()
            && let Some(g) = &group
        {
            g.abort();
        }
        if let (Ok((_, live)), Some(Ok(mut s))) = (&out, stats.get(rank).map(|s| s.lock())) {
            let (kv, act) = *live;
            s.peak_kv_cache_bytes = s.peak_kv_cache_bytes.max(kv);
            s.peak_activation_bytes = s.peak_activation_bytes.max(act);
            s.peak_bytes = s.peak_bytes.max(s.weight_bytes + kv + act);
            if is_forward {
                s.forward_passes += 1;
                s.forward_s += started.elapsed().as_secs_f64();
            }
            if let Some(c) = &local {
                let cs = c.stats();
                s.collective_calls = cs.calls;
                s.collective_bytes = cs.bytes;
                s.collective_s = cs.seconds;
                s.collective_combine_s = cs.combine_seconds;
            }
        }
        if replies.send(out.map(|(r, _)| r)).is_err() {
            break;
        }
    }
    #[cfg(all(feature = "nccl", feature = "cuda"))]
    if let Transport::Nccl(_) = transport {
        crate::parallel::nccl::shutdown_thread();
    }
}

type Loaded = (Box<dyn CausalLm>, Option<Arc<ThreadComm>>, u64);

fn load_shard(
    rank: usize,
    setup: &RankSetup,
    transport: &Transport,
    device: &Device,
) -> Result<Loaded, EngineError> {
    let (comm, local): (Arc<dyn Comm>, Option<Arc<ThreadComm>>) = match transport {
        Transport::Threads(comms) => {
            let c = comms
                .get(rank)
                .cloned()
                .ok_or_else(|| EngineError::Device(format!("no communicator for rank {rank}")))?;
            (c.clone(), Some(c))
        }
        #[cfg(all(feature = "nccl", feature = "cuda"))]
        Transport::Nccl(id) => {
            let stream = device
                .as_cuda_device()
                .map_err(|e| EngineError::Device(format!("rank {rank}: {e}")))?
                .cuda_stream();
            let c = crate::parallel::nccl::init_rank(stream, rank, setup.devices.len(), *id)?;
            (Arc::new(c), None)
        }
    };
    let weights = Weights::open(&setup.dir, &setup.config.architecture, device, setup.dtype)?;
    let model = (setup.entry.build)(&setup.config, &weights, &comm)?;
    Ok((model, local, weights.loaded_bytes()))
}

/// Runs one job; returns the reply and the `(kv cache, activation)` bytes held at its peak.
fn run_job(model: &dyn CausalLm, job: Job, device: &Device) -> CResult<(Reply, (u64, u64))> {
    match job {
        Job::Forward {
            ids,
            positions,
            mask,
            mut cache,
        } => {
            let step = Step {
                positions,
                mask: mask.to_device(device)?,
            };
            let hidden = model.forward(&ids.to_device(device)?, &step, &mut cache)?;
            // The residual stream and its normalised copy are alive throughout.
            let act = meter::take_peak() + 2 * meter::bytes(&hidden) + meter::bytes(&step.mask);
            let kv = cache.bytes();
            Ok((Reply::Hidden(hidden, cache), (kv, act)))
        }
        Job::LmHead(hidden) => {
            let hidden = hidden.to_device(device)?;
            let logits = model.lm_head(&hidden)?;
            let act = meter::take_peak().max(meter::bytes(&logits)) + meter::bytes(&hidden);
            Ok((Reply::Logits(logits), (0, act)))
        }
    }
}
