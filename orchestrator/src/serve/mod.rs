//! `assay serve`: a local model behind an OpenAI-compatible HTTP API, so other tools (and
//! assay's own remote engine) can use it.
//!
//! Routes: `POST /v1/completions` (text; `echo: true` with `logprobs: k` returns every prompt
//! token's log-probability, its `text_offset` and top-k alternatives, as lm-evaluation-harness's
//! `local-completions` needs), `POST /v1/chat/completions` (the model's chat template),
//! `GET /v1/models` (with `max_model_len`), `POST /tokenize` (token count), `GET /health`.
//!
//! The engine lives on one thread ([`actor`]) behind a bounded queue: a full queue answers
//! 429 with `Retry-After`. Concurrent requests are batched continuously: a request joins the
//! running batch between two decode steps and leaves it when it finishes. Streaming
//! (`stream: true`) sends Server-Sent Events in the OpenAI chunk format, one chunk per text
//! delta as tokens are generated, then a chunk with `finish_reason`, then `data: [DONE]`; the
//! status line waits for the first token, so a request the engine rejects (for instance a
//! prompt too long) still gets its HTTP error. A client that disconnects has its sequence
//! dropped from the batch. Invalid requests get 422 naming the field, bound and value; bodies
//! that are not JSON 400; unknown models 404.

pub mod actor;
pub mod validate;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use assay_engines::api::{ChatMessage, Engine};
use assay_engines::{FinishReason, LightweightEngine};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use actor::{EngineCall, Generated, Prompt, Sink, StreamEvent};
use validate::{ApiError, Limits};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Name clients use in `model`.
    pub served_name: String,
    /// Most requests waiting for the engine; more get 429.
    pub max_queue: usize,
    /// Most sequences decoding together in the engine's batch.
    pub max_batch: usize,
}

struct AppState {
    jobs: mpsc::Sender<EngineCall>,
    limits: Limits,
    created: u64,
    next_id: AtomicU64,
}

/// The routes over an engine thread. The thread stops when the router (every handle to the
/// queue) is dropped.
pub fn router(engine: LightweightEngine, opts: &ServeOptions) -> std::io::Result<Router> {
    let limits = Limits {
        model: opts.served_name.clone(),
        max_seq_len: engine.info().max_seq_len,
    };
    let (tx, rx) = mpsc::channel(opts.max_queue.max(1));
    let max_batch = opts.max_batch;
    std::thread::Builder::new()
        .name("assay-serve-engine".into())
        .spawn(move || actor::run(engine, rx, max_batch))?;
    let state = Arc::new(AppState {
        jobs: tx,
        limits,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        next_id: AtomicU64::new(0),
    });
    Ok(Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/tokenize", post(tokenize))
        .with_state(state))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

type AppRef = State<Arc<AppState>>;

fn json_response(status: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.status, &self.body());
        if self.status == 429 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

async fn health() -> Response {
    json_response(200, &json!({"status": "ok"}))
}

async fn models(State(s): AppRef) -> Response {
    json_response(
        200,
        &json!({"object": "list", "data": [{
            "id": s.limits.model, "object": "model", "created": s.created, "owned_by": "assay",
            "max_model_len": s.limits.max_seq_len,
        }]}),
    )
}

impl AppState {
    /// Queues a job; 429 when the queue is full, 503 when the engine thread is gone.
    fn queue(&self, job: EngineCall) -> Result<(), ApiError> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError {
                status: 429,
                message: format!(
                    "the server is at capacity ({} queued requests); retry later",
                    self.jobs.max_capacity()
                ),
                kind: "rate_limit_error",
                param: None,
                code: Some("queue_full"),
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(engine_gone()),
        }
    }

    /// Queues a job and waits for its one reply.
    async fn submit<T>(
        &self,
        make: impl FnOnce(actor::Reply<T>) -> EngineCall,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.queue(make(tx))?;
        rx.await.unwrap_or_else(|_| Err(engine_gone()))
    }

    /// Queues a generation whose events stream back, and waits for the first one: an error
    /// before any text becomes the HTTP error.
    async fn submit_stream(
        &self,
        make: impl FnOnce(Sink) -> EngineCall,
    ) -> Result<(StreamEvent, mpsc::UnboundedReceiver<StreamEvent>), ApiError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.queue(make(Sink::Stream(tx)))?;
        match rx.recv().await {
            None => Err(engine_gone()),
            Some(StreamEvent::Done(Err(e))) => Err(e),
            Some(first) => Ok((first, rx)),
        }
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

fn engine_gone() -> ApiError {
    ApiError {
        status: 503,
        message: "the engine thread has stopped".into(),
        kind: "server_error",
        param: None,
        code: None,
    }
}

fn finish_str(g: &Generated) -> &'static str {
    match g.result.finish_reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Eos => "stop",
    }
}

fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}

/// One Server-Sent Event.
fn event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// Renders one stream event as SSE text (the last one ends with `data: [DONE]`).
type Render = Box<dyn FnMut(StreamEvent) -> String + Send>;

/// A streamed SSE body: `prelude`, then each engine event rendered as it arrives. Dropping it
/// (the client went away) closes the channel, and the engine cancels the sequence.
struct SseBody {
    pending: Option<String>,
    first: Option<StreamEvent>,
    rx: mpsc::UnboundedReceiver<StreamEvent>,
    render: Render,
    done: bool,
}

impl futures_core::Stream for SseBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(text) = self.pending.take() {
            return Poll::Ready(Some(Ok(Bytes::from(text))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        let ev = match self.first.take() {
            Some(ev) => ev,
            None => match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // The engine thread stopped without a last event.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(ev)) => ev,
            },
        };
        self.done = matches!(ev, StreamEvent::Done(_));
        let mut text = (self.render)(ev);
        // Events already waiting (a client slower than the engine) go out in one write.
        while !self.done {
            let Ok(ev) = self.rx.try_recv() else { break };
            self.done = matches!(ev, StreamEvent::Done(_));
            text.push_str(&(self.render)(ev));
        }
        Poll::Ready(Some(Ok(Bytes::from(text))))
    }
}

fn sse(
    prelude: Option<String>,
    first: StreamEvent,
    rx: mpsc::UnboundedReceiver<StreamEvent>,
    render: Render,
) -> Response {
    let body = SseBody {
        pending: prelude,
        first: Some(first),
        rx,
        render,
        done: false,
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The closing events of a stream: the last chunk (`finish_reason`, usage when asked), or an
/// error event for a failure after the stream began; then `data: [DONE]`.
fn closing(r: Result<Generated, ApiError>, last: impl FnOnce(&Generated) -> Value) -> String {
    let mut out = match r {
        Ok(g) => event(&last(&g)),
        Err(e) => event(&e.body()),
    };
    out.push_str("data: [DONE]\n\n");
    out
}

async fn completions(State(s): AppRef, body: Bytes) -> Response {
    match completions_inner(&s, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn completions_inner(s: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let req = validate::completion(&validate::object(body)?, &s.limits)?;
    let id = s.id("cmpl");
    let head = |choices: Value| {
        json!({"id": id, "object": "text_completion", "created": s.created,
               "model": s.limits.model, "choices": choices})
    };
    if req.echo {
        return echo(s, req, head).await;
    }
    let job = |sink| EngineCall::Generate {
        prompt: Prompt::Text(req.prompt.clone()),
        max_tokens: req.max_tokens,
        stop: req.stop.clone(),
        sampling: req.sampling,
        sink,
    };
    if req.stream {
        let (first, rx) = s.submit_stream(job).await?;
        let chunk = {
            let (id, created, model) = (id.clone(), s.created, s.limits.model.clone());
            move |text: &str, finish: Option<&str>, stop: Option<&str>| {
                json!({"id": id, "object": "text_completion", "created": created,
                       "model": model, "choices": [{"index": 0, "text": text, "logprobs": null,
                       "finish_reason": finish, "stop_reason": stop}]})
            }
        };
        let include_usage = req.include_usage;
        let render: Render = Box::new(move |ev| match ev {
            StreamEvent::Delta(d) => event(&chunk(&d, None, None)),
            StreamEvent::Done(r) => closing(r, |g| {
                let mut last = chunk("", Some(finish_str(g)), g.stop_reason.as_deref());
                if include_usage {
                    last["usage"] = usage(g.result.prompt_tokens, g.result.token_ids.len());
                }
                last
            }),
        });
        return Ok(sse(None, first, rx, render));
    }
    let g: Generated = s.submit(|reply| job(Sink::Once(reply))).await?;
    let choice = |text: &str, finish: Option<&str>| {
        json!([{"index": 0, "text": text, "logprobs": null, "finish_reason": finish,
                "stop_reason": g.stop_reason}])
    };
    let mut out = head(choice(&g.result.text, Some(finish_str(&g))));
    out["usage"] = usage(g.result.prompt_tokens, g.result.token_ids.len());
    Ok(json_response(200, &out))
}

async fn echo(
    s: &AppState,
    req: validate::Completion,
    head: impl Fn(Value) -> Value,
) -> Result<Response, ApiError> {
    let k = req.logprobs.unwrap_or(0);
    let sp = s
        .submit(|reply| EngineCall::Echo {
            prompt: req.prompt.clone(),
            top_k: k.max(1),
            reply,
        })
        .await?;
    let mut toks: Vec<&assay_engines::PromptToken> = sp.tokens.iter().collect();
    let mut text = req.prompt.clone();
    if req.max_tokens == 1 {
        toks.push(&sp.next);
        text.push_str(&sp.next.text);
    }
    let logprobs = req.logprobs.map(|k| {
        json!({
            "tokens": toks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
            "token_logprobs": toks.iter().map(|t| t.logprob).collect::<Vec<_>>(),
            "top_logprobs": toks.iter().map(|t| t.logprob.map(|_| {
                t.top.iter().take(k).map(|(_, s, lp)| (s.clone(), json!(lp)))
                    .collect::<serde_json::Map<String, Value>>()
            })).collect::<Vec<_>>(),
            "text_offset": toks.iter().map(|t| t.offset).collect::<Vec<_>>(),
        })
    });
    let finish = if req.max_tokens == 1 {
        "length"
    } else {
        "stop"
    };
    let mut out = head(json!([{"index": 0, "text": text, "logprobs": logprobs,
                               "finish_reason": finish, "stop_reason": null}]));
    out["usage"] = usage(sp.tokens.len(), req.max_tokens);
    Ok(json_response(200, &out))
}

async fn chat_completions(State(s): AppRef, body: Bytes) -> Response {
    match chat_inner(&s, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn chat_inner(s: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let req = validate::chat(&validate::object(body)?, &s.limits)?;
    let messages = req
        .messages
        .iter()
        .map(|(role, content)| ChatMessage {
            role: role.clone(),
            content: content.clone(),
        })
        .collect();
    let job = |sink| EngineCall::Generate {
        prompt: Prompt::Chat(messages),
        max_tokens: req.max_tokens,
        stop: req.stop.clone(),
        sampling: req.sampling,
        sink,
    };
    let id = s.id("chatcmpl");
    if req.stream {
        let (first, rx) = s.submit_stream(job).await?;
        let chunk = {
            let (created, model) = (s.created, s.limits.model.clone());
            move |delta: Value, finish: Option<&str>| {
                json!({"id": id, "object": "chat.completion.chunk", "created": created,
                       "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            }
        };
        let prelude = event(&chunk(json!({"role": "assistant", "content": ""}), None));
        let include_usage = req.include_usage;
        let render: Render = Box::new(move |ev| match ev {
            StreamEvent::Delta(d) => event(&chunk(json!({"content": d}), None)),
            StreamEvent::Done(r) => closing(r, |g| {
                let mut last = chunk(json!({}), Some(finish_str(g)));
                if include_usage {
                    last["usage"] = usage(g.result.prompt_tokens, g.result.token_ids.len());
                }
                last
            }),
        });
        return Ok(sse(Some(prelude), first, rx, render));
    }
    let g: Generated = s.submit(|reply| job(Sink::Once(reply))).await?;
    let u = usage(g.result.prompt_tokens, g.result.token_ids.len());
    Ok(json_response(
        200,
        &json!({"id": id, "object": "chat.completion", "created": s.created,
                "model": s.limits.model,
                "choices": [{"index": 0, "finish_reason": finish_str(&g),
                             "message": {"role": "assistant", "content": g.result.text}}],
                "usage": u}),
    ))
}

async fn tokenize(State(s): AppRef, body: Bytes) -> Response {
    let inner = async {
        let m = validate::object(&body)?;
        let prompt = m
            .get("prompt")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid("prompt", "`prompt` must be a string".into()))?
            .to_string();
        let n = s
            .submit(|reply| EngineCall::Tokenize { prompt, reply })
            .await?;
        Ok::<_, ApiError>(json_response(
            200,
            &json!({"count": n, "max_model_len": s.limits.max_seq_len}),
        ))
    };
    inner.await.unwrap_or_else(IntoResponse::into_response)
}
