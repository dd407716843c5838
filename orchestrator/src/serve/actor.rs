//! The engine actor: one thread owns the (not `Sync`) engine and serves jobs from a bounded
//! channel with continuous batching. Generation requests join a running
//! [`DecodeBatch`] between decode steps (up to `max_batch` live sequences; the rest wait in
//! the channel, whose bound answers 429), every live sequence advances one token per step,
//! and each leaves the batch as soon as it finishes. Streaming requests get their text deltas
//! as the tokens come; a request whose client went away (its reply or stream channel is
//! closed) is cancelled before the next step, without touching the others. Echo-scoring and
//! token-count jobs run between steps. When nothing is live the thread blocks on the queue.

use std::collections::HashMap;

use assay_engines::api::{ChatMessage, Engine, GenerateRequest, GenerateResult, RequestError};
use assay_engines::lightweight::{Admission, BatchEvent, DecodeBatch};
use assay_engines::{LightweightEngine, Sampling, ScoredPrompt};
use tokio::sync::{mpsc, oneshot};

use super::validate::{ApiError, SamplingParams};

pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// Work for the engine thread.
pub enum EngineCall {
    /// Generation from a prompt, or from chat messages rendered by the model's template.
    Generate {
        prompt: Prompt,
        max_tokens: usize,
        stop: Vec<String>,
        sampling: SamplingParams,
        sink: Sink,
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

/// Where a generation's outcome goes.
pub enum Sink {
    /// The whole result once it has finished.
    Once(Reply<Generated>),
    /// Text deltas as they are generated, then [`StreamEvent::Done`].
    Stream(mpsc::UnboundedSender<StreamEvent>),
}

/// What a streaming request receives, in order: deltas, then one `Done`.
#[derive(Debug)]
pub enum StreamEvent {
    Delta(String),
    Done(Result<Generated, ApiError>),
}

#[derive(Debug)]
pub struct Generated {
    pub result: GenerateResult,
    /// Which stop string ended the text, if one did.
    pub stop_reason: Option<String>,
}

impl Sink {
    /// Whether the client is gone (nobody will read what is sent).
    fn is_closed(&self) -> bool {
        match self {
            Sink::Once(r) => r.is_closed(),
            Sink::Stream(tx) => tx.is_closed(),
        }
    }

    fn done(self, r: Result<Generated, ApiError>) {
        match self {
            Sink::Once(reply) => {
                let _ = reply.send(r);
            }
            Sink::Stream(tx) => {
                let _ = tx.send(StreamEvent::Done(r));
            }
        }
    }
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

/// A live generation: where its outcome goes and its stop strings (for `stop_reason`).
struct Live {
    sink: Sink,
    until: Vec<String>,
}

/// The actor's state: the engine, the running batch and the live requests by id.
struct Actor {
    engine: LightweightEngine,
    batch: DecodeBatch<u64>,
    live: HashMap<u64, Live>,
    next_id: u64,
    max_batch: usize,
}

/// Runs jobs until every sender is dropped and the last live request has finished.
pub fn run(engine: LightweightEngine, mut rx: mpsc::Receiver<EngineCall>, max_batch: usize) {
    let mut a = Actor {
        batch: DecodeBatch::new(&engine),
        engine,
        live: HashMap::new(),
        next_id: 0,
        max_batch: max_batch.max(1),
    };
    let mut open = true;
    loop {
        let mut jobs = Vec::new();
        if a.batch.is_empty() {
            if !open {
                return;
            }
            match rx.blocking_recv() {
                Some(j) => jobs.push(j),
                None => return,
            }
        }
        // Take queued jobs while there are free rows; the rest stay queued (and count
        // against the queue bound).
        while open && jobs.len() + a.batch.len() < a.max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        a.serve(jobs);
        a.cancel_abandoned();
        let events = a.engine.step(&mut a.batch);
        a.dispatch(events);
    }
}

impl Actor {
    /// Answers token-count and echo jobs, and admits generation jobs into the batch.
    fn serve(&mut self, jobs: Vec<EngineCall>) {
        let mut admit = Vec::new();
        let mut echo_prompts = Vec::new();
        let mut echo_replies = Vec::new();
        let mut top_k = 0;
        for job in jobs {
            match job {
                EngineCall::Tokenize { prompt, reply } => {
                    let n = self
                        .engine
                        .token_count(&prompt)
                        .map_err(|e| ApiError::invalid("prompt", e.to_string()));
                    let _ = reply.send(n);
                }
                EngineCall::Echo {
                    prompt,
                    top_k: k,
                    reply,
                } => {
                    top_k = top_k.max(k);
                    echo_prompts.push(prompt);
                    echo_replies.push((reply, k));
                }
                EngineCall::Generate {
                    prompt,
                    max_tokens,
                    stop,
                    sampling: s,
                    sink,
                } => match self.check(prompt, max_tokens) {
                    Err(e) => sink.done(Err(e)),
                    Ok(_) if sink.is_closed() => {}
                    Ok(text) => {
                        let id = self.next_id;
                        self.next_id += 1;
                        admit.push(Admission {
                            id,
                            request: GenerateRequest {
                                prompt: text,
                                until: stop.clone(),
                                max_gen_toks: max_tokens,
                                sampling: sampling(s),
                            },
                            stream: matches!(sink, Sink::Stream(_)),
                        });
                        self.live.insert(id, Live { sink, until: stop });
                    }
                },
            }
        }
        if !echo_prompts.is_empty() {
            let out = self.engine.score_prompts(&echo_prompts, top_k);
            for (r, (reply, k)) in out.into_iter().zip(echo_replies) {
                let _ = reply.send(r.map_err(request_error).map(|mut sp| {
                    for t in sp.tokens.iter_mut().chain(std::iter::once(&mut sp.next)) {
                        t.top.truncate(k);
                    }
                    sp
                }));
            }
        }
        if !admit.is_empty() {
            let events = self.engine.admit(&mut self.batch, admit);
            self.dispatch(events);
        }
    }

    /// The prompt text, checked against the context length (422 naming the numbers).
    fn check(&self, prompt: Prompt, max_tokens: usize) -> Result<String, ApiError> {
        let max_len = self.engine.info().max_seq_len;
        let text = match prompt {
            Prompt::Text(t) => t,
            Prompt::Chat(m) => self
                .engine
                .apply_chat_template(&m, true)
                .map_err(|e| ApiError::invalid("messages", e.to_string()))?,
        };
        let n = self
            .engine
            .token_count(&text)
            .map_err(|e| ApiError::invalid("prompt", e.to_string()))?;
        if n + max_tokens > max_len {
            return Err(ApiError::invalid(
                "prompt",
                format!(
                    "prompt tokens + `max_tokens` must be <= {max_len} (the model's context \
                     length). Given: {n} + {max_tokens}"
                ),
            ));
        }
        Ok(text)
    }

    /// Drops the rows of requests whose client has gone.
    fn cancel_abandoned(&mut self) {
        let gone: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, l)| l.sink.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.live.remove(&id);
            let (_, events) = self.engine.cancel(&mut self.batch, &id);
            self.dispatch(events);
        }
    }

    /// Sends deltas to streaming requests and outcomes to finished ones.
    fn dispatch(&mut self, events: Vec<BatchEvent<u64>>) {
        for e in events {
            match e {
                BatchEvent::Text { id, delta } => {
                    if let Some(Live {
                        sink: Sink::Stream(tx),
                        ..
                    }) = self.live.get(&id)
                    {
                        // A closed stream is cancelled before the next step.
                        let _ = tx.send(StreamEvent::Delta(delta));
                    }
                }
                BatchEvent::Finished { id, result } => {
                    if let Some(l) = self.live.remove(&id) {
                        let stop_reason = stop_reason(&result, &l.until);
                        l.sink.done(Ok(Generated {
                            result,
                            stop_reason,
                        }));
                    }
                }
                BatchEvent::Failed { id, error } => {
                    if let Some(l) = self.live.remove(&id) {
                        l.sink.done(Err(request_error(error)));
                    }
                }
            }
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
