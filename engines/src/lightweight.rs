//! The single-device engine: loads a checkpoint, tokenizes with lm-evaluation-harness
//! semantics, forms length-sorted batches, scores continuations (sharing one prefill per
//! context when several continuations share it), prefills in chunks, and generates with a KV
//! cache.

use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType as CDType, Device, Tensor};

use crate::api::{
    ChatMessage, DType, DeviceSpec, Engine, EngineError, EngineInfo, GenerateRequest,
    GenerateResult, LoadOptions, LoglikelihoodRequest, LoglikelihoodResult, RequestError,
    RequestTiming,
};
use crate::checkpoint::{
    GenerationConfig, ModelConfig, TokenizerBundle, Weights, resolve_model_dir,
};
use crate::models::{CausalLm, KvCache, SlotPos, build_step, registry};
use crate::parallel::{Comm, SingleRank};
use crate::sampling::logprob_of;
use crate::telemetry::{LoadTelemetry, Recorder, rss_bytes};

/// A model on one device.
pub struct LightweightEngine {
    model: Box<dyn CausalLm>,
    tok: TokenizerBundle,
    gen_cfg: GenerationConfig,
    info: EngineInfo,
    opts: LoadOptions,
    device: Device,
    max_len: usize,
    /// Token used for padding slots (never attended to).
    pad_id: u32,
    /// Token that conditions an empty context (BOS, else EOS).
    prefix_id: u32,
    rec: Recorder,
}

impl std::fmt::Debug for LightweightEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightweightEngine")
            .field("info", &self.info)
            .finish()
    }
}

/// Builds the candle device for `spec`, with an actionable error when CUDA is not compiled in.
/// `DeviceSpec::Cpu` is always available; the returned string describes the device.
pub fn make_device(spec: DeviceSpec) -> Result<(Device, String), EngineError> {
    match spec {
        DeviceSpec::Cpu => Ok((
            Device::Cpu,
            format!("cpu ({} threads)", candle_core::utils::get_num_threads()),
        )),
        DeviceSpec::Cuda(ordinal) => cuda_device(ordinal),
        DeviceSpec::Auto => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                cuda_device(0)
            } else {
                let why = if cfg!(feature = "cuda") {
                    "no CUDA device found"
                } else {
                    "built without CUDA support"
                };
                let (d, desc) = make_device(DeviceSpec::Cpu)?;
                Ok((d, format!("{desc}; {why}, running on CPU")))
            }
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(ordinal: usize) -> Result<(Device, String), EngineError> {
    Device::new_cuda(ordinal)
        .map(|d| (d, format!("cuda:{ordinal}")))
        .map_err(|e| EngineError::Device(format!("CUDA device {ordinal}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(ordinal: usize) -> Result<(Device, String), EngineError> {
    Err(EngineError::Device(format!(
        "CUDA device {ordinal} requested, but assay-engines was built without CUDA support: \
         rebuild with --features cuda"
    )))
}

pub(crate) fn to_candle(d: DType) -> CDType {
    match d {
        DType::F32 => CDType::F32,
        DType::F16 => CDType::F16,
        DType::Bf16 => CDType::BF16,
    }
}

/// What a model builder gets: the resolved checkpoint and the engine's device and dtype.
pub(crate) struct BuildContext<'a> {
    pub dir: &'a std::path::Path,
    pub config: &'a ModelConfig,
    pub entry: &'static registry::Entry,
    pub device: &'a Device,
    pub dtype: CDType,
}

/// A built model and the bytes its weights occupy.
pub(crate) type Built = (Box<dyn CausalLm>, u64);

impl LightweightEngine {
    /// Loads `model` (a directory or a hub-cache `org/name`) with `opts`.
    pub fn load(model: &str, opts: LoadOptions) -> Result<Self, EngineError> {
        Self::load_with(model, opts, |cx| {
            let weights = Weights::open(cx.dir, &cx.config.architecture, cx.device, cx.dtype)?;
            let comm: Arc<dyn Comm> = Arc::new(SingleRank);
            let model = (cx.entry.build)(cx.config, &weights, &comm)?;
            Ok((model, weights.storage_bytes))
        })
    }

    /// Loads the tokenizer and configuration of `model` and serves them with the model that
    /// `build` makes (one device, or a tensor-parallel group behind a [`CausalLm`]).
    pub(crate) fn load_with(
        model: &str,
        opts: LoadOptions,
        build: impl FnOnce(&BuildContext) -> Result<Built, EngineError>,
    ) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        let dir = resolve_model_dir(model)?;
        let config = ModelConfig::read(&dir)?;
        let entry =
            registry::lookup(&config.architecture).ok_or_else(|| registry::unsupported(&config))?;
        let (device, device_desc) = make_device(opts.device)?;
        let requested = opts
            .dtype
            .or_else(|| config.declared_dtype().and_then(DType::parse))
            .unwrap_or(DType::F32);
        let (compute, compute_note) = if device.is_cpu() && requested != DType::F32 {
            (
                DType::F32,
                Some(format!(
                    "CPU computes in f32: weights requested as {} are loaded as f32",
                    requested.as_str()
                )),
            )
        } else {
            (requested, None)
        };
        let mut tok = TokenizerBundle::read(&dir)?;
        if let Some(re) = entry.pretokenize_regex {
            tok.set_split_regex(re)?;
        }
        let tok_vocab = tok.tokenizer.get_vocab_size(true);
        let model_vocab = config.usize("vocab_size")?;
        if tok_vocab > model_vocab {
            return Err(EngineError::Tokenizer {
                path: tok.path.clone(),
                reason: format!(
                    "tokenizer has {tok_vocab} tokens but config.json vocab_size is {model_vocab} \
                     (tokenizer and checkpoint do not match)"
                ),
            });
        }
        let gen_cfg = GenerationConfig::read(&dir, &config)?;
        let (model, weight_bytes) = build(&BuildContext {
            dir: &dir,
            config: &config,
            entry,
            device: &device,
            dtype: to_candle(compute),
        })?;
        let spec = model.spec().clone();
        let max_len = opts
            .max_seq_len
            .map_or(spec.max_position_embeddings, |m| {
                m.min(spec.max_position_embeddings)
            })
            .max(2);
        let prefix_id = tok
            .bos_token_id
            .or(gen_cfg.bos_token_id)
            .or(gen_cfg.eos_token_ids.first().copied())
            .unwrap_or(0);
        let pad_id = gen_cfg.pad_token_id.unwrap_or(prefix_id);
        let load = LoadTelemetry {
            load_s: t0.elapsed().as_secs_f64(),
            weight_bytes,
            rss_after_load_bytes: rss_bytes(),
        };
        let info = EngineInfo {
            model_dir: dir,
            family: entry.family.to_string(),
            architecture: config.architecture.clone(),
            device: device_desc.clone(),
            dtype: requested.as_str().to_string(),
            compute_dtype: compute.as_str().to_string(),
            compute_note: compute_note.clone(),
            max_seq_len: max_len,
            vocab_size: spec.vocab_size,
            num_parameters: spec.num_parameters,
            load: load.clone(),
        };
        Ok(LightweightEngine {
            model,
            tok,
            gen_cfg,
            info,
            opts,
            device,
            max_len,
            pad_id,
            prefix_id,
            rec: Recorder::new(load, device_desc, compute_note),
        })
    }

    /// Replaces the device description in `info()` and telemetry (a tensor-parallel front
    /// engine describes its ranks).
    pub(crate) fn set_device_description(&mut self, device: String) {
        self.info.device = device.clone();
        self.rec.totals.device = device;
    }

    /// Dimensions of the loaded model (for FLOP accounting).
    pub fn model_dims(&self) -> &crate::models::ModelSpec {
        self.model.spec()
    }

    pub fn options(&self) -> &LoadOptions {
        &self.opts
    }

    pub fn eos_token_ids(&self) -> &[u32] {
        &self.gen_cfg.eos_token_ids
    }

    /// Log-probabilities of each next token of `ids` (`out[i] = log p(ids[i+1] | ids[..=i])`)
    /// and the full next-token log-distribution after the last token. No truncation.
    pub fn token_logprobs(&self, ids: &[u32]) -> Result<(Vec<f64>, Vec<f64>), EngineError> {
        if ids.is_empty() || ids.len() > self.max_len {
            return Err(EngineError::Inference(format!(
                "token_logprobs needs 1..={} tokens, got {}",
                self.max_len,
                ids.len()
            )));
        }
        let mut cache = KvCache::new(self.model.spec().num_layers);
        let mut layout = vec![Vec::new()];
        let pos: Vec<SlotPos> = (0..ids.len() as u32).map(Some).collect();
        let want: Vec<(usize, usize)> = (0..ids.len()).map(|c| (0, c)).collect();
        let hidden = self.prefill(&mut cache, &mut layout, &[ids.to_vec()], &[pos], &want)?;
        let logits = self.logits_rows(&hidden)?;
        let next = ids[1..]
            .iter()
            .zip(&logits)
            .map(|(&t, l)| logprob_of(l, t).0)
            .collect();
        let last = logits
            .last()
            .map(|l| (0..l.len() as u32).map(|t| logprob_of(l, t).0).collect())
            .unwrap_or_default();
        Ok((next, last))
    }

    /// Encodes `text` with the tokenizer's special tokens (BOS where the checkpoint adds it).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.tok
            .encode(text, true)
            .map_err(|reason| EngineError::Tokenizer {
                path: self.tok.path.clone(),
                reason,
            })
    }

    /// lm-eval tokenization: trailing whitespace of the context moves to the continuation;
    /// `whole = encode(context + continuation)`, `context = encode(context)`,
    /// `continuation = whole[len(context)..]`. An empty context conditions on BOS.
    pub fn encode_pair(
        &self,
        context: &str,
        continuation: &str,
    ) -> Result<(Vec<u32>, Vec<u32>), RequestError> {
        let trimmed = context.trim_end();
        let (context, continuation) = if trimmed.len() < context.len() {
            (
                trimmed.to_string(),
                format!("{}{}", &context[trimmed.len()..], continuation),
            )
        } else {
            (context.to_string(), continuation.to_string())
        };
        if continuation.is_empty() {
            return Err(RequestError::EmptyContinuation);
        }
        let enc =
            |s: &str, special: bool| self.tok.encode(s, special).map_err(RequestError::Tokenize);
        if context.is_empty() {
            let cont = enc(&continuation, false)?;
            if cont.is_empty() {
                return Err(RequestError::EmptyContinuation);
            }
            return Ok((vec![self.prefix_id], cont));
        }
        let whole = enc(&format!("{context}{continuation}"), true)?;
        let ctx = enc(&context, true)?;
        if ctx.is_empty() {
            // A context that encodes to nothing (no BOS added) conditions on the prefix token.
            return Ok((vec![self.prefix_id], whole));
        }
        let n = ctx.len().min(whole.len());
        let cont = whole[n..].to_vec();
        if cont.is_empty() {
            return Err(RequestError::EmptyContinuation);
        }
        Ok((ctx, cont))
    }

    /// Runs `ids` (`[b][t]`, with slot positions `pos`) through the model in chunks of the
    /// configured prefill size, appending to `cache`/`layout`; returns the final hidden states
    /// at the `want` `(row, column)` cells, in order, as `[want.len(), hidden]`.
    fn prefill(
        &self,
        cache: &mut KvCache,
        layout: &mut [Vec<SlotPos>],
        ids: &[Vec<u32>],
        pos: &[Vec<SlotPos>],
        want: &[(usize, usize)],
    ) -> candle_core::Result<Tensor> {
        let t = ids.first().map_or(0, |r| r.len());
        let chunk = self.opts.prefill_chunk.unwrap_or(t).max(1);
        let mut picked: Vec<(usize, Tensor)> = Vec::new();
        let mut start = 0;
        while start < t {
            let len = chunk.min(t - start);
            let chunk_ids: Vec<u32> = ids
                .iter()
                .flat_map(|r| r[start..start + len].iter().copied())
                .collect();
            let chunk_pos: Vec<Vec<SlotPos>> =
                pos.iter().map(|r| r[start..start + len].to_vec()).collect();
            let input = Tensor::from_vec(chunk_ids, (ids.len(), len), &self.device)?;
            let step = build_step(
                layout,
                &chunk_pos,
                self.model.spec().sliding_window,
                &self.device,
            )?;
            let hidden = self.model.forward(&input, &step, cache)?;
            for (row, p) in layout.iter_mut().zip(chunk_pos) {
                row.extend(p);
            }
            let idx: Vec<(usize, u32)> = want
                .iter()
                .enumerate()
                .filter(|(_, (_, c))| *c >= start && *c < start + len)
                .map(|(i, (r, c))| (i, (r * len + c - start) as u32))
                .collect();
            if !idx.is_empty() {
                let rows = Tensor::new(idx.iter().map(|x| x.1).collect::<Vec<_>>(), &self.device)?;
                let flat = hidden.reshape((ids.len() * len, ()))?;
                let sel = flat.index_select(&rows, 0)?;
                for (k, (i, _)) in idx.iter().enumerate() {
                    picked.push((*i, sel.get(k)?));
                }
            }
            start += len;
        }
        picked.sort_by_key(|p| p.0);
        let rows: Vec<Tensor> = picked.into_iter().map(|p| p.1).collect();
        Tensor::stack(&rows, 0)
    }

    /// Logits `[n, vocab]` as f32 rows for hidden states `[n, hidden]`.
    fn logits_rows(&self, hidden: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = hidden.dim(0)?;
        let mut out = Vec::with_capacity(n);
        let block = 256;
        let mut s = 0;
        while s < n {
            let len = block.min(n - s);
            let logits = self.model.lm_head(&hidden.narrow(0, s, len)?)?;
            out.extend(logits.to_dtype(CDType::F32)?.to_vec2::<f32>()?);
            s += len;
        }
        Ok(out)
    }

    fn score_rows(
        &self,
        hidden: &Tensor,
        targets: &[u32],
    ) -> candle_core::Result<Vec<(f64, bool)>> {
        Ok(self
            .logits_rows(hidden)?
            .iter()
            .zip(targets)
            .map(|(l, &t)| logprob_of(l, t))
            .collect())
    }

    /// Splits `items` (sorted longest first) into batches bounded by sequence count and padded
    /// tokens.
    fn batches(&self, lens: &[usize]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < lens.len() {
            let longest = lens[start].max(1);
            let by_tokens = (self.opts.max_batch_tokens / longest).max(1);
            let n = self
                .opts
                .max_batch_size
                .max(1)
                .min(by_tokens)
                .min(lens.len() - start);
            out.push(start..start + n);
            start += n;
        }
        out
    }
}

/// A tokenized loglikelihood request.
struct Scored {
    idx: usize,
    ctx: Vec<u32>,
    cont: Vec<u32>,
    truncated: usize,
}

mod echo;
pub use echo::{PromptToken, ScoredPrompt};
mod continuous;
pub use continuous::{Admission, BatchEvent, DecodeBatch};
mod generate;
mod score;

impl Engine for LightweightEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn loglikelihood(
        &mut self,
        reqs: &[LoglikelihoodRequest],
    ) -> Vec<Result<LoglikelihoodResult, RequestError>> {
        score::loglikelihood(self, reqs)
    }

    fn generate(&mut self, reqs: &[GenerateRequest]) -> Vec<Result<GenerateResult, RequestError>> {
        generate::generate(self, reqs)
    }

    fn telemetry(&self) -> crate::telemetry::EngineTelemetry {
        self.rec.snapshot()
    }

    fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        self.tok
            .apply_chat_template(messages, add_generation_prompt)
    }

    fn token_count(&self, text: &str) -> Result<usize, EngineError> {
        self.tok
            .encode(text, true)
            .map(|v| v.len())
            .map_err(|reason| EngineError::Tokenizer {
                path: self.tok.path.clone(),
                reason,
            })
    }
}

fn timing(start: Instant, ttft: f64, batch_size: usize) -> RequestTiming {
    RequestTiming {
        latency_s: start.elapsed().as_secs_f64(),
        ttft_s: ttft,
        batch_size,
    }
}
