//! The worker protocol: JSON lines over the worker's stdin (parent → worker) and stdout
//! (worker → parent). One message per line; each side reads a line, parses it, answers.
//!
//! A worker's life is: `Load`, then any number of `Run` batches, then `Shutdown` (or end of input).
//! The worker answers `Load` with `Loaded` or `Failed`, and every `Run` with `Results` (one
//! outcome per item, in order) or `Failed` (the engine is unusable; the worker then exits).

use crate::tasks::Prompt;
pub use assay_engines::is_oom;
use assay_engines::{
    EngineInfo, EngineTelemetry, Failure, FailureKind, GenerateResult, LoadOptions,
    LoglikelihoodResult, RemoteConfig, Sampling,
};
use serde::{Deserialize, Serialize};

pub use assay_engines::EngineKind;

/// Parent → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Load {
        /// A checkpoint directory or hub-cache id (for a remote engine: a label).
        model: String,
        engine: EngineKind,
        /// Devices of the job (one for lightweight, `tp` for tensor-parallel).
        devices: Vec<assay_engines::DeviceSpec>,
        options: LoadOptions,
        /// Where the server is, for [`EngineKind::Remote`] (the API key stays in the
        /// environment, named by `api_key_env`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<Box<RemoteConfig>>,
    },
    Run {
        batch: u64,
        items: Vec<WorkItem>,
    },
    Shutdown,
}

/// One engine request: a prompt (chat messages are rendered by the worker with the model's
/// chat template) and what to compute from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkItem {
    pub prompt: Prompt,
    pub op: Op,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Loglikelihood {
        continuation: String,
    },
    Generate {
        until: Vec<String>,
        max_gen_toks: usize,
        sampling: Sampling,
    },
}

/// Worker → parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    Loaded {
        info: Box<EngineInfo>,
    },
    Results {
        batch: u64,
        outcomes: Vec<Outcome>,
        telemetry: Box<EngineTelemetry>,
    },
    /// The engine could not load or is unusable (its server stopped answering); the kind says
    /// which (out of memory, unreachable, ...).
    Failed(Failure),
}

/// The result of one work item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Outcome {
    Loglikelihood(LoglikelihoodResult),
    Generated(GenerateResult),
    /// The item failed; its kind says how (an HTTP status, a timeout, a prompt too long).
    Error(Failure),
}

impl Outcome {
    /// An item that failed with `kind`.
    pub fn error(kind: FailureKind, message: impl Into<String>) -> Outcome {
        Outcome::Error(Failure::new(kind, message))
    }

    /// The failure, when the item failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Error(f) => Some(f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_round_trip_as_single_json_lines() {
        let msg = ToWorker::Run {
            batch: 3,
            items: vec![WorkItem {
                prompt: Prompt::Plain("Q: 1+1?\nA:".into()),
                op: Op::Generate {
                    until: vec!["\n".into()],
                    max_gen_toks: 8,
                    sampling: Sampling::Greedy,
                },
            }],
        };
        let line = serde_json::to_string(&msg).unwrap();
        assert!(!line.contains('\n'));
        match serde_json::from_str::<ToWorker>(&line).unwrap() {
            ToWorker::Run { batch, items } => {
                assert_eq!(batch, 3);
                assert!(matches!(
                    &items[0].op,
                    Op::Generate {
                        max_gen_toks: 8,
                        ..
                    }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
        let back = FromWorker::Failed(Failure::new(
            FailureKind::OutOfMemory,
            "CUDA_ERROR_OUT_OF_MEMORY",
        ));
        let line = serde_json::to_string(&back).unwrap();
        assert!(matches!(
            serde_json::from_str::<FromWorker>(&line).unwrap(),
            FromWorker::Failed(Failure {
                kind: FailureKind::OutOfMemory,
                ..
            })
        ));
    }

    #[test]
    fn oom_messages() {
        assert!(is_oom(
            "inference: DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"
        ));
        assert!(is_oom("memory allocation of 123 bytes failed"));
        assert!(!is_oom("tokenizer: bad input"));
    }

    #[test]
    fn failures_keep_their_kind_across_the_pipe() {
        let o = Outcome::error(
            FailureKind::Http(400),
            "http://h/v1/completions: HTTP 400: no",
        );
        let back: Outcome = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back.failure().unwrap().kind, FailureKind::Http(400));
    }
}
