//! `assay serve`: a local model behind an OpenAI-compatible HTTP API, so other tools (and
//! assay's own remote engine) can use it.
//!
//! Routes: `POST /v1/completions` (text; `echo: true` with `logprobs: k` returns every prompt
//! token's log-probability, its `text_offset` and top-k alternatives, as lm-evaluation-harness's
//! `local-completions` needs), `POST /v1/chat/completions` (the model's chat template),
//! `GET /v1/models` (with `max_model_len`), `POST /tokenize` (token count), `GET /health`.
//!
//! The engine lives on one thread ([`actor`]) behind a bounded queue: a full queue answers
//! 429 with `Retry-After`. Concurrent requests are batched per engine step. Streaming
//! (`stream: true`) sends Server-Sent Events in the OpenAI chunk format ending with
//! `data: [DONE]`, but the text arrives in one chunk once the request's batch has finished (the
//! engine has no per-token callback), so time to first token equals the request latency.
//! Invalid requests get 422 naming the field, bound and value; bodies that are not JSON 400;
//! unknown models 404.

pub mod actor;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use assay_engines::api::{ChatMessage, Engine};
use assay_engines::{FinishReason, LightweightEngine};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use actor::{Generated, Job, Prompt};
use validate::{ApiError, Limits};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Name clients use in `model`.
    pub served_name: String,
    /// Most requests waiting for the engine; more get 429.
    pub max_queue: usize,
    /// Most requests the engine takes in one step.
    pub max_batch: usize,
}

struct AppState {
    jobs: mpsc::Sender<Job>,
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
    async fn submit<T>(&self, make: impl FnOnce(actor::Reply<T>) -> Job) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        match self.jobs.try_send(make(tx)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(ApiError {
                    status: 429,
                    message: format!(
                        "the server is at capacity ({} queued requests); retry later",
                        self.jobs.max_capacity()
                    ),
                    kind: "rate_limit_error",
                    param: None,
                    code: Some("queue_full"),
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(engine_gone()),
        }
        rx.await.unwrap_or_else(|_| Err(engine_gone()))
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

/// An SSE body: each value as a `data:` event, then `data: [DONE]`.
fn sse(events: &[Value]) -> Response {
    let mut body = String::new();
    for e in events {
        body.push_str("data: ");
        body.push_str(&e.to_string());
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
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
    let g: Generated = s
        .submit(|reply| Job::Generate {
            prompt: Prompt::Text(req.prompt.clone()),
            max_tokens: req.max_tokens,
            stop: req.stop.clone(),
            sampling: req.sampling,
            reply,
        })
        .await?;
    let u = usage(g.result.prompt_tokens, g.result.token_ids.len());
    let choice = |text: &str, finish: Option<&str>| {
        json!([{"index": 0, "text": text, "logprobs": null, "finish_reason": finish,
                "stop_reason": g.stop_reason}])
    };
    if req.stream {
        let mut events = vec![head(choice(&g.result.text, None))];
        let mut last = head(choice("", Some(finish_str(&g))));
        if req.include_usage {
            last["usage"] = u;
        }
        events.push(last);
        return Ok(sse(&events));
    }
    let mut out = head(choice(&g.result.text, Some(finish_str(&g))));
    out["usage"] = u;
    Ok(json_response(200, &out))
}

async fn echo(
    s: &AppState,
    req: validate::Completion,
    head: impl Fn(Value) -> Value,
) -> Result<Response, ApiError> {
    let k = req.logprobs.unwrap_or(0);
    let sp = s
        .submit(|reply| Job::Echo {
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
    let g: Generated = s
        .submit(|reply| Job::Generate {
            prompt: Prompt::Chat(messages),
            max_tokens: req.max_tokens,
            stop: req.stop.clone(),
            sampling: req.sampling,
            reply,
        })
        .await?;
    let id = s.id("chatcmpl");
    let u = usage(g.result.prompt_tokens, g.result.token_ids.len());
    if req.stream {
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({"id": id, "object": "chat.completion.chunk", "created": s.created,
                   "model": s.limits.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut events = vec![
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": g.result.text}), None),
        ];
        let mut last = chunk(json!({}), Some(finish_str(&g)));
        if req.include_usage {
            last["usage"] = u;
        }
        events.push(last);
        return Ok(sse(&events));
    }
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
        let n = s.submit(|reply| Job::Tokenize { prompt, reply }).await?;
        Ok::<_, ApiError>(json_response(
            200,
            &json!({"count": n, "max_model_len": s.limits.max_seq_len}),
        ))
    };
    inner.await.unwrap_or_else(IntoResponse::into_response)
}
