//! The worker side: `assay worker` loads one model on its engine and serves batches read from
//! stdin, answering on stdout (see [`super::protocol`]). Engine calls run synchronously on the
//! main thread. A crash here (an out-of-memory kill, a device error, a native abort) ends this
//! process only; the parent records it on the job.
//!
//! Out of memory: items go to the engine in chunks of at most `max_batch_size`; a chunk whose
//! results report exhausted memory is retried at half the size, down to one request, before
//! its items fail. The smaller size is kept for later batches.

use super::protocol::{EngineKind, FromWorker, Op, Outcome, ToWorker, WorkItem, is_oom};
use crate::tasks::Prompt;
use assay_engines::{
    ChatMessage, DeviceSpec, Engine, EngineError, Failure, FailureKind, GenerateRequest,
    LoadOptions, LoglikelihoodRequest, RemoteConfig, RemoteEngine,
};
use std::io::{BufRead, Write};

/// The one place an engine is constructed for a job.
pub fn load_engine(
    kind: EngineKind,
    model: &str,
    devices: &[DeviceSpec],
    options: LoadOptions,
    remote: Option<Box<RemoteConfig>>,
) -> Result<Box<dyn Engine>, EngineError> {
    match kind {
        EngineKind::Lightweight => {
            let device = devices.first().copied().unwrap_or(DeviceSpec::Cpu);
            assay_engines::load_lightweight(model, LoadOptions { device, ..options })
        }
        EngineKind::TensorParallel => {
            assay_engines::load_tensor_parallel(model, devices.len(), devices, options)
        }
        EngineKind::Remote => {
            let cfg = remote.ok_or_else(|| {
                EngineError::Device(format!("remote job `{model}` came without an endpoint"))
            })?;
            Ok(Box::new(RemoteEngine::connect(*cfg)?))
        }
    }
}

/// Serve the protocol on stdin/stdout until `Shutdown` or end of input.
pub fn serve() -> std::io::Result<()> {
    ignore_stop_signals();
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut engine: Option<Box<dyn Engine>> = None;
    let mut kind_loaded = EngineKind::Lightweight;
    let mut chunk = 16usize;
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let msg: ToWorker = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                send(
                    &mut out,
                    &FromWorker::Failed(Failure::new(
                        FailureKind::Engine,
                        format!("worker: unreadable message: {e}"),
                    )),
                )?;
                return Ok(());
            }
        };
        match msg {
            ToWorker::Load {
                model,
                engine: kind,
                devices,
                options,
                remote,
            } => {
                chunk = options.max_batch_size.max(1);
                kind_loaded = kind;
                match load_engine(kind, &model, &devices, options, remote) {
                    Ok(e) => {
                        let info = Box::new(e.info().clone());
                        engine = Some(e);
                        send(&mut out, &FromWorker::Loaded { info })?;
                    }
                    Err(e) => {
                        let error = e.to_string();
                        let kind = if is_oom(&error) {
                            FailureKind::OutOfMemory
                        } else {
                            FailureKind::Engine
                        };
                        send(&mut out, &FromWorker::Failed(Failure::new(kind, error)))?;
                        return Ok(());
                    }
                }
            }
            ToWorker::Run { batch, items } => {
                let Some(e) = engine.as_mut() else {
                    send(
                        &mut out,
                        &FromWorker::Failed(Failure::new(
                            FailureKind::Engine,
                            "worker: batch before the model was loaded",
                        )),
                    )?;
                    return Ok(());
                };
                let outcomes = run_items(e.as_mut(), &items, &mut chunk);
                if let Some(failure) = server_gone(kind_loaded, &outcomes) {
                    // Every request of the batch exhausted its retries: the server is down or
                    // unreachable. Failing the job now keeps what is committed and lets
                    // `--resume` continue, instead of failing every remaining sample slowly.
                    send(&mut out, &FromWorker::Failed(failure))?;
                    return Ok(());
                }
                send(
                    &mut out,
                    &FromWorker::Results {
                        batch,
                        outcomes,
                        telemetry: Box::new(e.telemetry()),
                    },
                )?;
            }
            ToWorker::Shutdown => return Ok(()),
        }
    }
    Ok(())
}

/// The parent decides when a worker stops: SIGINT, SIGTERM and SIGHUP sent to every process
/// of a group or cgroup (systemd, Slurm's `scancel`, a container runtime) reach the worker too,
/// and dying on them would lose the batch in flight that the parent is waiting to commit. The
/// worker ends when the parent says `Shutdown`, closes its stdin (the parent exited, however),
/// or kills it.
fn ignore_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing SIG_IGN has no handler to run and no memory to share.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

/// For a remote engine: the error that ends the job when every request of a batch gave up
/// after its retries (connection refused, timeouts, 429/5xx throughout).
fn server_gone(kind: EngineKind, outcomes: &[Outcome]) -> Option<Failure> {
    if kind != EngineKind::Remote || outcomes.is_empty() {
        return None;
    }
    let mut first = None;
    for o in outcomes {
        match o.failure() {
            Some(f) if f.kind.is_server_gone() => {
                first.get_or_insert(f);
            }
            _ => return None,
        }
    }
    first.map(|f: &Failure| {
        Failure::new(
            f.kind,
            format!(
                "the server stopped answering ({} requests in a row failed after retries): {}",
                outcomes.len(),
                f.message
            ),
        )
    })
}

fn send(out: &mut impl Write, msg: &FromWorker) -> std::io::Result<()> {
    let line = serde_json::to_string(msg).map_err(std::io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Serve `items` in chunks of `*chunk`, halving the chunk on out-of-memory results.
pub fn run_items(engine: &mut dyn Engine, items: &[WorkItem], chunk: &mut usize) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut start = 0;
    while start < items.len() {
        let end = (start + (*chunk).max(1)).min(items.len());
        let got = run_chunk(engine, &items[start..end]);
        let oom = got.iter().any(|o| {
            o.failure()
                .is_some_and(|f| f.kind == FailureKind::OutOfMemory)
        });
        if oom && *chunk > 1 {
            *chunk = (*chunk / 2).max(1);
            tracing::warn!(
                chunk = *chunk,
                "out of memory: retrying with a smaller batch"
            );
            continue;
        }
        outcomes.extend(got);
        start = end;
    }
    outcomes
}

/// One engine call per kind of request in `items`, results back in item order.
fn run_chunk(engine: &mut dyn Engine, items: &[WorkItem]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut ll_idx = Vec::new();
    let mut ll_reqs = Vec::new();
    let mut gen_idx = Vec::new();
    let mut gen_reqs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let context = match render_prompt(engine, &item.prompt) {
            Ok(c) => c,
            Err(e) => {
                outcomes[i] = Some(Outcome::error(
                    FailureKind::InvalidRequest,
                    format!("chat template: {e}"),
                ));
                continue;
            }
        };
        match &item.op {
            Op::Loglikelihood { continuation } => {
                ll_idx.push(i);
                ll_reqs.push(LoglikelihoodRequest {
                    context,
                    continuation: continuation.clone(),
                });
            }
            Op::Generate {
                until,
                max_gen_toks,
                sampling,
            } => {
                gen_idx.push(i);
                gen_reqs.push(GenerateRequest {
                    prompt: context,
                    until: until.clone(),
                    max_gen_toks: *max_gen_toks,
                    sampling: *sampling,
                });
            }
        }
    }
    if !ll_reqs.is_empty() {
        for (i, r) in ll_idx.into_iter().zip(engine.loglikelihood(&ll_reqs)) {
            outcomes[i] = Some(match r {
                Ok(r) => Outcome::Loglikelihood(r),
                Err(e) => Outcome::Error(e.into()),
            });
        }
    }
    if !gen_reqs.is_empty() {
        for (i, r) in gen_idx.into_iter().zip(engine.generate(&gen_reqs)) {
            outcomes[i] = Some(match r {
                Ok(r) => Outcome::Generated(r),
                Err(e) => Outcome::Error(e.into()),
            });
        }
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Outcome::error(FailureKind::Engine, "engine returned no result"))
        })
        .collect()
}

fn render_prompt(engine: &dyn Engine, prompt: &Prompt) -> Result<String, EngineError> {
    match prompt {
        Prompt::Plain(text) => Ok(text.clone()),
        Prompt::Chat(messages) => {
            let msgs: Vec<ChatMessage> = messages
                .iter()
                .map(|m| ChatMessage {
                    role: m.role.clone(),
                    content: m.content.clone(),
                })
                .collect();
            engine.apply_chat_template(&msgs, true)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use assay_engines::{
        EngineInfo, EngineTelemetry, GenerateResult, LoglikelihoodResult, RequestError,
        RequestTiming,
    };

    /// An engine that runs out of memory on batches above `fits` requests (test double for a
    /// device's memory limit; the real engines report CUDA OOM the same way, per request).
    struct Tight {
        fits: usize,
        calls: Vec<usize>,
        info: EngineInfo,
    }

    impl Engine for Tight {
        fn info(&self) -> &EngineInfo {
            &self.info
        }
        fn loglikelihood(
            &mut self,
            reqs: &[LoglikelihoodRequest],
        ) -> Vec<Result<LoglikelihoodResult, RequestError>> {
            self.calls.push(reqs.len());
            reqs.iter()
                .map(|r| {
                    if reqs.len() > self.fits {
                        Err(RequestError::Inference(
                            "CUDA_ERROR_OUT_OF_MEMORY: out of memory".into(),
                        ))
                    } else {
                        Ok(LoglikelihoodResult {
                            logprob: -(r.continuation.len() as f64),
                            is_greedy: false,
                            continuation_tokens: 1,
                            context_tokens_truncated: 0,
                            timing: RequestTiming::default(),
                        })
                    }
                })
                .collect()
        }
        fn generate(
            &mut self,
            reqs: &[GenerateRequest],
        ) -> Vec<Result<GenerateResult, RequestError>> {
            reqs.iter()
                .map(|_| Err(RequestError::Invalid("unused".into())))
                .collect()
        }
        fn telemetry(&self) -> EngineTelemetry {
            EngineTelemetry::default()
        }
        fn apply_chat_template(&self, _: &[ChatMessage], _: bool) -> Result<String, EngineError> {
            Ok(String::new())
        }
        fn token_count(&self, text: &str) -> Result<usize, EngineError> {
            Ok(text.len())
        }
    }

    fn info() -> EngineInfo {
        EngineInfo {
            model_dir: "x".into(),
            family: "llama".into(),
            architecture: "LlamaForCausalLM".into(),
            device: "cpu".into(),
            dtype: "f32".into(),
            compute_dtype: "f32".into(),
            compute_note: None,
            max_seq_len: 16,
            vocab_size: 8,
            num_parameters: 1,
            load: Default::default(),
        }
    }

    #[test]
    fn out_of_memory_halves_the_batch_and_retries() {
        let mut engine = Tight {
            fits: 3,
            calls: vec![],
            info: info(),
        };
        let items: Vec<WorkItem> = (0..10)
            .map(|i| WorkItem {
                prompt: Prompt::Plain("q".into()),
                op: Op::Loglikelihood {
                    continuation: "x".repeat(i + 1),
                },
            })
            .collect();
        let mut chunk = 16;
        let out = run_items(&mut engine, &items, &mut chunk);
        assert_eq!(chunk, 2, "16 -> 8 -> 4 -> 2");
        assert_eq!(out.len(), 10);
        for (i, o) in out.iter().enumerate() {
            match o {
                Outcome::Loglikelihood(r) => assert_eq!(r.logprob, -((i + 1) as f64)),
                other => panic!("item {i}: {other:?}"),
            }
        }
        assert_eq!(engine.calls, vec![10, 8, 4, 2, 2, 2, 2, 2]);

        // Even one request does not fit: the items fail with the engine's message.
        let mut engine = Tight {
            fits: 0,
            calls: vec![],
            info: info(),
        };
        let mut chunk = 4;
        let out = run_items(&mut engine, &items[..2], &mut chunk);
        assert_eq!(chunk, 1);
        assert!(out.iter().all(|o| {
            o.failure()
                .is_some_and(|f| f.kind == FailureKind::OutOfMemory)
        }));
    }

    #[test]
    fn a_batch_whose_requests_all_gave_up_means_the_server_is_gone() {
        let gone = Outcome::Error(
            RequestError::GaveUp {
                endpoint: "http://h/v1/completions".into(),
                why: "HTTP 503: busy".into(),
                attempts: 5,
                kind: FailureKind::Http(503),
            }
            .into(),
        );
        let other = Outcome::error(FailureKind::Http(400), "HTTP 400: prompt too long");
        assert!(server_gone(EngineKind::Remote, &[gone.clone(), gone.clone()]).is_some());
        // One request that got an answer, or a local engine: not a dead server.
        assert!(server_gone(EngineKind::Remote, &[gone.clone(), other]).is_none());
        assert!(server_gone(EngineKind::Lightweight, std::slice::from_ref(&gone)).is_none());
        assert!(server_gone(EngineKind::Remote, &[]).is_none());
    }

    #[test]
    fn tensor_parallel_loads_two_cpu_ranks() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../engines/tests/fixtures/llama-micro"
        );
        let mut engine = load_engine(
            EngineKind::TensorParallel,
            dir,
            &[DeviceSpec::Cpu, DeviceSpec::Cpu],
            LoadOptions::default(),
            None,
        )
        .unwrap();
        let out = engine.loglikelihood(&[assay_engines::LoglikelihoodRequest {
            context: "The capital of France is".into(),
            continuation: " Paris".into(),
        }]);
        assert!(out[0].as_ref().unwrap().logprob < 0.0);
        // CUDA ranks need a build with NCCL and CUDA: a clear refusal, not a crash.
        let err = load_engine(
            EngineKind::TensorParallel,
            dir,
            &[DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)],
            LoadOptions::default(),
            None,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("--features"), "{err}");
    }
}
