//! The engine actor: one thread owns the (not `Sync`) engine and serves jobs from a bounded
//! channel. Each step takes every job that is queued (up to `max_batch`) and runs the
//! generation jobs as one `Engine::generate` batch and the echo-scoring jobs as one
//! `score_prompts` batch, so concurrent requests share forward passes. This is batching at the
//! request level: a request that arrives while a batch runs waits for the next step (no
//! per-token joining of running batches).

use assay_engines::api::{ChatMessage, Engine, GenerateRequest, GenerateResult, RequestError};
use assay_engines::{LightweightEngine, Sampling, ScoredPrompt};
use tokio::sync::{mpsc, oneshot};

use super::validate::{ApiError, SamplingParams};

pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// Work for the engine thread.
pub enum Job {
    /// Generation from a prompt, or from chat messages rendered by the model's template.
    Generate {
        prompt: Prompt,
        max_tokens: usize,
        stop: Vec<String>,
        sampling: SamplingParams,
        reply: Reply<Generated>,
    },
    /// Every prompt token's log-probability and top-`k` alternatives.
    Echo {
        prompt: String,
        top_k: usize,
        reply: Reply<ScoredPrompt>,
    },
    /// Token count of a prompt (with special tokens).
    Tokenize { prompt: String, reply: Reply<usize> },
}

pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

pub struct Generated {
    pub result: GenerateResult,
    /// Which stop string ended the text, if one did.
    pub stop_reason: Option<String>,
}

fn request_error(e: RequestError) -> ApiError {
    match e {
        RequestError::Inference(m) => ApiError {
            status: 500,
            message: format!("inference failed: {m}"),
            kind: "server_error",
            param: None,
            code: None,
        },
        RequestError::TooLong { needed, max, .. } => ApiError::invalid(
            "prompt",
            format!("prompt is {needed} tokens but the model allows at most {max}"),
        ),
        other => ApiError::invalid("prompt", other.to_string()),
    }
}

fn sampling(s: SamplingParams) -> Sampling {
    if s.temperature <= 0.0 {
        Sampling::Greedy
    } else {
        Sampling::Sample {
            temperature: s.temperature as f32,
            top_p: (s.top_p < 1.0).then_some(s.top_p as f32),
            top_k: None,
            seed: s.seed,
        }
    }
}

/// Runs jobs until every sender is dropped.
pub fn run(mut engine: LightweightEngine, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_batch.max(1) {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        step(&mut engine, jobs);
    }
}

fn step(engine: &mut LightweightEngine, jobs: Vec<Job>) {
    let max_len = engine.info().max_seq_len;
    let mut gen_reqs = Vec::new();
    let mut gen_replies = Vec::new();
    let mut echo_prompts = Vec::new();
    let mut echo_replies = Vec::new();
    let mut top_k = 0;
    for job in jobs {
        match job {
            Job::Tokenize { prompt, reply } => {
                let n = engine
                    .token_count(&prompt)
                    .map_err(|e| ApiError::invalid("prompt", e.to_string()));
                let _ = reply.send(n);
            }
            Job::Echo {
                prompt,
                top_k: k,
                reply,
            } => {
                top_k = top_k.max(k);
                echo_prompts.push(prompt);
                echo_replies.push((reply, k));
            }
            Job::Generate {
                prompt,
                max_tokens,
                stop,
                sampling: s,
                reply,
            } => {
                let text = match prompt {
                    Prompt::Text(t) => Ok(t),
                    Prompt::Chat(m) => engine
                        .apply_chat_template(&m, true)
                        .map_err(|e| ApiError::invalid("messages", e.to_string())),
                };
                let checked = text.and_then(|t| {
                    let n = engine
                        .token_count(&t)
                        .map_err(|e| ApiError::invalid("prompt", e.to_string()))?;
                    if n + max_tokens > max_len {
                        return Err(ApiError::invalid(
                            "prompt",
                            format!(
                                "prompt tokens + `max_tokens` must be <= {max_len} (the model's \
                                 context length). Given: {n} + {max_tokens}"
                            ),
                        ));
                    }
                    Ok(t)
                });
                match checked {
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                    Ok(t) => {
                        gen_reqs.push(GenerateRequest {
                            prompt: t,
                            until: stop,
                            max_gen_toks: max_tokens,
                            sampling: sampling(s),
                        });
                        gen_replies.push(reply);
                    }
                }
            }
        }
    }
    if !gen_reqs.is_empty() {
        let out = engine.generate(&gen_reqs);
        for ((r, reply), req) in out.into_iter().zip(gen_replies).zip(&gen_reqs) {
            let _ = reply.send(r.map_err(request_error).map(|result| Generated {
                stop_reason: stop_reason(&result, &req.until),
                result,
            }));
        }
    }
    if !echo_prompts.is_empty() {
        let out = engine.score_prompts(&echo_prompts, top_k);
        for (r, (reply, k)) in out.into_iter().zip(echo_replies) {
            let _ = reply.send(r.map_err(request_error).map(|mut sp| {
                for t in sp.tokens.iter_mut().chain(std::iter::once(&mut sp.next)) {
                    t.top.truncate(k);
                }
                sp
            }));
        }
    }
}

/// The stop string that ended generation. The engine cuts the text before the first match but
/// does not say which string matched; with several, the first listed is reported.
fn stop_reason(r: &GenerateResult, until: &[String]) -> Option<String> {
    (r.finish_reason == assay_engines::FinishReason::Stop)
        .then(|| until.first().cloned())
        .flatten()
}
