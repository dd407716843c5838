//! assay-engines: the inference side of assay (engine API, model families, engines).
//!
//! - [`api`]: the [`Engine`] trait and its plain-data requests, results and errors.
//! - [`checkpoint`]: Hugging Face directories and hub-cache entries, configs, tokenizer, weights.
//! - [`models`]: model families on candle (one registry table), KV cache and masks.
//! - [`parallel`]: communicator and column/row-parallel layers the families are built on.
//! - [`lightweight`]: the single-device engine.
//! - [`tensor_parallel`]: the same model code split over ranks.
//! - [`remote`]: an OpenAI-compatible HTTP endpoint behind the same trait.
//! - [`failure`]: why a request failed, as a kind summaries group by.
//! - [`hub_cache`]: the Hugging Face hub cache layout (root, repositories, revisions).
//! - [`telemetry`], [`bench`]: measurements.

pub mod api;
pub mod bench;
pub mod checkpoint;
pub mod failure;
pub mod hub_cache;
pub mod lightweight;
pub mod models;
pub mod parallel;
pub mod remote;
pub mod sampling;
pub mod telemetry;
pub mod tensor_parallel;

pub use api::{
    ChatMessage, DType, DeviceSpec, Engine, EngineError, EngineInfo, EngineKind, FinishReason,
    GenerateRequest, GenerateResult, LoadOptions, LoglikelihoodRequest, LoglikelihoodResult,
    RequestError, RequestTiming, Sampling,
};
pub use failure::{Failure, FailureKind, is_oom};
pub use lightweight::{LightweightEngine, PromptToken, ScoredPrompt};
pub use remote::{RemoteConfig, RemoteEngine};
pub use telemetry::{EngineTelemetry, LoadTelemetry, Percentiles, RankTelemetry};
pub use tensor_parallel::TensorParallelEngine;

/// Values of `config.json` `architectures` that an engine can run (from the model registry).
pub fn supported_architectures() -> &'static [&'static str] {
    models::registry::architectures()
}

/// Loads `model` (directory or hub-cache `org/name`) into the single-device engine.
pub fn load_lightweight(model: &str, opts: LoadOptions) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(LightweightEngine::load(model, opts)?))
}

/// Loads `model` split over `tp` ranks on `devices[..tp]` (all CPU: in-process ranks; all
/// CUDA: NCCL, with `--features nccl,cuda`). The tp is checked before any weight is read.
pub fn load_tensor_parallel(
    model: &str,
    tp: usize,
    devices: &[DeviceSpec],
    opts: LoadOptions,
) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(TensorParallelEngine::load(
        model, tp, devices, opts,
    )?))
}
