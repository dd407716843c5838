//! The engine seam: the `Engine` trait, its request/response types, load options and errors.
//!
//! Everything here is plain serde data; no candle type crosses this boundary, so callers
//! (the orchestrator, worker processes) never depend on the tensor library.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::failure::{FailureKind, is_oom};
use crate::telemetry::{EngineTelemetry, LoadTelemetry};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSpec {
    #[default]
    Cpu,
    /// CUDA device 0 when this build has CUDA support and a device is present, else the CPU
    /// (the engine's device description says which, and why).
    Auto,
    /// A CUDA device by ordinal (needs a build with `--features cuda`).
    Cuda(usize),
}

/// Which engine runs a model: the one spelling of engine names, in plans, worker messages,
/// stored jobs and printed tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// One device (the CPU or one GPU).
    Lightweight,
    /// The same model code split over `tp` ranks.
    TensorParallel,
    /// An OpenAI-compatible server; the worker is its client.
    Remote,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Lightweight => "lightweight",
            EngineKind::TensorParallel => "tensor_parallel",
            EngineKind::Remote => "remote",
        }
    }
}

/// Storage dtype of weights (requested at load, and what the planner sizes with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    F16,
    Bf16,
}

impl DType {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::Bf16 => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
        }
    }

    /// Parses `float32`/`f32`/`float16`/`f16`/`bfloat16`/`bf16` (the spellings found in
    /// `config.json` and on command lines).
    pub fn parse(s: &str) -> Option<DType> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Some(DType::F32),
            "f16" | "float16" | "half" => Some(DType::F16),
            "bf16" | "bfloat16" => Some(DType::Bf16),
            _ => None,
        }
    }
}

/// Options fixed when a model is loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadOptions {
    pub device: DeviceSpec,
    /// Weight dtype; `None` takes the checkpoint's `torch_dtype`/`dtype` (f32 if absent).
    pub dtype: Option<DType>,
    /// Most sequences in one forward batch.
    pub max_batch_size: usize,
    /// Most tokens (padded batch size times length) in one forward batch.
    pub max_batch_tokens: usize,
    /// Prefill in chunks of at most this many tokens per sequence (bounds activation memory).
    pub prefill_chunk: Option<usize>,
    /// Score continuations that share a context from one prefill of that context.
    pub context_reuse: bool,
    /// Cap on the model's context length (defaults to `max_position_embeddings`).
    pub max_seq_len: Option<usize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            device: DeviceSpec::Cpu,
            dtype: None,
            max_batch_size: 16,
            max_batch_tokens: 8192,
            prefill_chunk: Some(512),
            context_reuse: true,
            max_seq_len: None,
        }
    }
}

/// What was loaded, where, and how it computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineInfo {
    pub model_dir: PathBuf,
    pub family: String,
    pub architecture: String,
    pub device: String,
    /// dtype the weights are stored in on the device.
    pub dtype: String,
    /// dtype the arithmetic runs in.
    pub compute_dtype: String,
    /// Set when the compute dtype differs from the requested one (e.g. CPU upcasts to f32).
    pub compute_note: Option<String>,
    pub max_seq_len: usize,
    pub vocab_size: usize,
    pub num_parameters: usize,
    pub load: LoadTelemetry,
}

/// lm-evaluation-harness `loglikelihood` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoglikelihoodRequest {
    pub context: String,
    pub continuation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoglikelihoodResult {
    /// Sum of log p(continuation token | preceding tokens) over the continuation tokens.
    pub logprob: f64,
    /// Whether greedy decoding would produce exactly the continuation tokens.
    pub is_greedy: bool,
    pub continuation_tokens: usize,
    /// Context tokens dropped from the left to fit the model's context length.
    pub context_tokens_truncated: usize,
    pub timing: RequestTiming,
}

/// How to pick the next token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Sampling {
    #[default]
    Greedy,
    Sample {
        temperature: f32,
        top_p: Option<f32>,
        top_k: Option<usize>,
        seed: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: String,
    /// Stop sequences, matched on the decoded text; the text is cut before the first match.
    pub until: Vec<String>,
    pub max_gen_toks: usize,
    pub sampling: Sampling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Eos,
    Length,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateResult {
    pub text: String,
    pub token_ids: Vec<u32>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub prompt_tokens_truncated: usize,
    pub timing: RequestTiming,
}

/// Per-request timing. Requests in one batch share the batch's forward passes, so
/// `latency_s` is the wall time from the batch start to this request's completion.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct RequestTiming {
    pub latency_s: f64,
    /// Time to the first generated token (generation) or to the scores (loglikelihood).
    pub ttft_s: f64,
    pub batch_size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A single request that could not be served; the rest of its batch is unaffected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum RequestError {
    #[error("empty continuation: loglikelihood needs at least one continuation token")]
    EmptyContinuation,
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error(
        "prompt needs {needed} tokens but the model allows {max} (max_gen_toks {max_gen_toks})"
    )]
    TooLong {
        needed: usize,
        max: usize,
        max_gen_toks: usize,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("inference failed: {0}")]
    Inference(String),
    /// A server answered with an error status that retrying cannot change.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Http {
        endpoint: String,
        status: u16,
        /// The server's own words (its JSON `error.message`, or the body).
        message: String,
    },
    /// Every attempt of a request failed for a reason that might have passed (timeouts,
    /// refused connections, 429 and 5xx answers).
    #[error("{endpoint}: {why} (gave up after {attempts} attempts)")]
    GaveUp {
        endpoint: String,
        why: String,
        attempts: u32,
        /// What the last attempt met: [`FailureKind::Timeout`], [`FailureKind::Unreachable`]
        /// or [`FailureKind::Http`].
        kind: FailureKind,
    },
}

impl RequestError {
    /// What kind of failure this is, for failure summaries.
    pub fn kind(&self) -> FailureKind {
        match self {
            RequestError::EmptyContinuation
            | RequestError::Tokenize(_)
            | RequestError::Invalid(_) => FailureKind::InvalidRequest,
            RequestError::TooLong { .. } => FailureKind::ContextOverflow,
            RequestError::Inference(m) if is_oom(m) => FailureKind::OutOfMemory,
            RequestError::Inference(_) => FailureKind::Engine,
            RequestError::Http { status, .. } => FailureKind::Http(*status),
            RequestError::GaveUp { kind, .. } => *kind,
        }
    }
}

/// Errors from loading or running an engine, one variant per phase.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("config {path}: field `{field}`: {reason}")]
    Config {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("weights {path} ({architecture}): tensor `{tensor}`: {reason}")]
    Weights {
        path: PathBuf,
        architecture: String,
        tensor: String,
        reason: String,
    },
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error(
        "unsupported architecture `{architecture}` in {path}; supported: {}",
        supported.join(", ")
    )]
    UnsupportedArchitecture {
        path: PathBuf,
        architecture: String,
        supported: Vec<String>,
    },
    #[error("device: {0}")]
    Device(String),
    #[error("inference: {0}")]
    Inference(String),
}

impl EngineError {
    /// Whether the error is about the checkpoint the user pointed at (unreadable, malformed,
    /// an architecture no engine runs) rather than a failure of the device or the computation.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            EngineError::Checkpoint { .. }
                | EngineError::Config { .. }
                | EngineError::Weights { .. }
                | EngineError::Tokenizer { .. }
                | EngineError::UnsupportedArchitecture { .. }
        )
    }
}

impl From<candle_core::Error> for EngineError {
    fn from(e: candle_core::Error) -> Self {
        EngineError::Inference(e.to_string())
    }
}

/// A loaded model that serves evaluation requests. Batching is the engine's job: callers hand
/// over any number of requests and get one result per request, in order.
pub trait Engine: Send {
    fn info(&self) -> &EngineInfo;
    fn loglikelihood(
        &mut self,
        reqs: &[LoglikelihoodRequest],
    ) -> Vec<Result<LoglikelihoodResult, RequestError>>;
    fn generate(&mut self, reqs: &[GenerateRequest]) -> Vec<Result<GenerateResult, RequestError>>;
    /// Cumulative counters since load.
    fn telemetry(&self) -> EngineTelemetry;
    /// Renders the checkpoint's chat template (`tokenizer_config.json` `chat_template`).
    fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError>;
    /// Number of tokens `text` encodes to (with the tokenizer's special tokens).
    fn token_count(&self, text: &str) -> Result<usize, EngineError>;
}
