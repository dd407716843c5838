//! The remote engine: the [`Engine`] trait over an OpenAI-compatible HTTP endpoint (vLLM,
//! SGLang, `assay serve`).
//!
//! - `generate` streams `/v1/completions` (or `/v1/chat/completions` for prompts made by
//!   [`Engine::apply_chat_template`], which on this engine packs the messages instead of
//!   rendering them: the server applies its own template). Greedy is `temperature: 0`.
//! - `loglikelihood` sends `context + continuation` to `/v1/completions` with `echo: true,
//!   logprobs: 1, max_tokens: 1, temperature: 0` and sums the log-probabilities of the tokens
//!   that hold continuation text, found by the server's `text_offset`s (so the token boundaries
//!   are the server's own tokenizer's), as lm-evaluation-harness's `local-completions` does.
//!   `is_greedy` compares each token with the top entry of `top_logprobs`. A server without
//!   prompt log-probabilities fails every request with a message saying so.
//! - `token_count` asks the vLLM-style `/tokenize` route.
//!
//! The trait is synchronous; the engine owns a current-thread tokio runtime and, inside one
//! call, runs up to `concurrency` HTTP requests at a time on it. Each request has a timeout and
//! is retried with exponential backoff on connection errors, timeouts, 429 and 5xx.
//! The API key is read from the environment variable named in the config when the engine is
//! built; it is never stored elsewhere and never printed (`Debug` redacts it).
//! `http://` and `https://` (rustls with the webpki root certificates; no system OpenSSL).

mod http;
pub mod parse;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{
    ChatMessage, Engine, EngineError, EngineInfo, FinishReason, GenerateRequest, GenerateResult,
    LoglikelihoodRequest, LoglikelihoodResult, RequestError, RequestTiming, Sampling,
};
use crate::telemetry::{BatchTelemetry, EngineTelemetry, LoadTelemetry, Recorder};
use http::Http;

/// Marks a prompt that carries chat messages for `/v1/chat/completions`.
const CHAT_PREFIX: &str = "\u{0}assay-chat-messages\u{0}";

/// Where an endpoint is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// OpenAI-style base URL including the API prefix, e.g. `http://10.0.0.5:8000/v1`.
    pub base_url: String,
    /// Model name the server serves (`model` field of every request).
    pub model: String,
    /// Environment variable that holds the API key (sent as `Authorization: Bearer`).
    pub api_key_env: Option<String>,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout (the whole response, streams included).
    pub timeout_s: f64,
    /// Retries after the first attempt on connection errors, timeouts, 429 and 5xx.
    pub max_retries: u32,
    /// First backoff; doubled per retry (capped at 30 s).
    pub backoff_s: f64,
    /// Context length when the server does not report `max_model_len` in `/v1/models`.
    pub max_seq_len: Option<usize>,
}

impl RemoteConfig {
    pub fn new(base_url: &str, model: &str) -> Self {
        RemoteConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key_env: None,
            concurrency: 32,
            timeout_s: 600.0,
            max_retries: 4,
            backoff_s: 0.5,
            max_seq_len: None,
        }
    }
}

/// An API key; `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A model served over HTTP.
pub struct RemoteEngine {
    cfg: RemoteConfig,
    http: Http,
    rt: tokio::runtime::Runtime,
    info: EngineInfo,
    rec: Recorder,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine")
            .field("base_url", &self.cfg.base_url)
            .field("model", &self.cfg.model)
            .field("api_key", &self.http.api_key)
            .finish()
    }
}

fn endpoint_error(cfg: &RemoteConfig, field: &str, reason: String) -> EngineError {
    EngineError::Config {
        path: PathBuf::from(&cfg.base_url),
        field: field.to_string(),
        reason,
    }
}

impl RemoteEngine {
    /// Reads the API key, checks that the server lists `cfg.model` in `/models`, and takes the
    /// context length from there (`max_model_len`) or from the config.
    pub fn connect(cfg: RemoteConfig) -> Result<Self, EngineError> {
        let t0 = Instant::now();
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(endpoint_error(
                &cfg,
                "base_url",
                "must start with http:// or https://".into(),
            ));
        }
        let api_key = match &cfg.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(Secret(v)),
                _ => {
                    return Err(endpoint_error(
                        &cfg,
                        "api_key_env",
                        format!("environment variable `{var}` is not set (it holds the API key)"),
                    ));
                }
            },
        };
        let timeout = Duration::from_secs_f64(cfg.timeout_s.clamp(0.001, 86_400.0));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.concurrency.max(1))
            .build()
            .map_err(|e| EngineError::Device(format!("HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Device(format!("tokio runtime: {e}")))?;
        let http = Http {
            client,
            base: cfg.base_url.clone(),
            api_key,
            max_retries: cfg.max_retries,
            backoff: Duration::from_secs_f64(cfg.backoff_s.clamp(0.0, 30.0)),
        };
        let models = rt
            .block_on(http.get_json("/models"))
            .map_err(|e| endpoint_error(&cfg, "base_url", format!("listing models: {e}")))?;
        let listed: Vec<&Value> = models
            .get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let entry = listed
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(cfg.model.as_str()));
        let Some(entry) = entry else {
            let names: Vec<&str> = listed
                .iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str))
                .collect();
            return Err(endpoint_error(
                &cfg,
                "model",
                format!(
                    "the server does not serve `{}`; it serves: {}",
                    cfg.model,
                    names.join(", ")
                ),
            ));
        };
        let max_seq_len = entry
            .get("max_model_len")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .or(cfg.max_seq_len)
            .unwrap_or(0);
        let load = LoadTelemetry {
            load_s: t0.elapsed().as_secs_f64(),
            weight_bytes: 0,
            rss_after_load_bytes: None,
        };
        let device = format!("remote {}", cfg.base_url);
        let info = EngineInfo {
            model_dir: PathBuf::from(&cfg.base_url),
            family: "remote".into(),
            architecture: cfg.model.clone(),
            device: device.clone(),
            dtype: "server".into(),
            compute_dtype: "server".into(),
            compute_note: None,
            max_seq_len,
            vocab_size: 0,
            num_parameters: 0,
            load: load.clone(),
        };
        Ok(RemoteEngine {
            http,
            rt,
            info,
            rec: Recorder::new(load, device, None),
            cfg,
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.cfg
    }

    /// Runs `f(i)` for every index with at most `concurrency` in flight; results in order.
    fn fan_out<T, F, Fut>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let sem = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
        self.rt
            .block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..n {
                    let fut = f(i);
                    let sem = sem.clone();
                    set.spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        (i, fut.await)
                    });
                }
                let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
                while let Some(done) = set.join_next().await {
                    if let Ok((i, v)) = done {
                        out[i] = Some(v);
                    }
                }
                out
            })
            .into_iter()
            .map(|v| v.ok_or(()))
            .collect::<Result<Vec<T>, ()>>()
            .unwrap_or_default()
    }
}

/// The messages packed by `apply_chat_template`, if `prompt` is such a prompt.
fn chat_messages(prompt: &str) -> Option<Value> {
    serde_json::from_str(prompt.strip_prefix(CHAT_PREFIX)?).ok()
}

fn sampling_fields(body: &mut Value, s: Sampling) {
    match s {
        Sampling::Greedy => body["temperature"] = json!(0.0),
        Sampling::Sample {
            temperature,
            top_p,
            top_k,
            seed,
        } => {
            body["temperature"] = json!(temperature);
            body["seed"] = json!(seed);
            if let Some(p) = top_p {
                body["top_p"] = json!(p);
            }
            if let Some(k) = top_k {
                body["top_k"] = json!(k);
            }
        }
    }
}

/// Cuts `text` before the first stop string (servers do this too; kept for ones that do not).
fn cut_at_stop(text: &mut String, until: &[String]) -> bool {
    let first = until
        .iter()
        .filter(|u| !u.is_empty())
        .filter_map(|u| text.find(u.as_str()))
        .min();
    if let Some(at) = first {
        text.truncate(at);
    }
    first.is_some()
}

async fn generate_one(
    http: Http,
    model: String,
    req: GenerateRequest,
) -> (Result<GenerateResult, RequestError>, usize) {
    let start = Instant::now();
    let (path, chat, mut body) = match chat_messages(&req.prompt) {
        Some(messages) => (
            "/chat/completions",
            true,
            json!({"model": model, "messages": messages, "max_tokens": req.max_gen_toks}),
        ),
        None => (
            "/completions",
            false,
            json!({"model": model, "prompt": req.prompt, "max_tokens": req.max_gen_toks}),
        ),
    };
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    if !req.until.is_empty() {
        body["stop"] = json!(req.until);
    }
    sampling_fields(&mut body, req.sampling);
    let s = match http.post_stream(path, &body, chat).await {
        Ok(s) => s,
        Err(e) => return (Err(e), 0),
    };
    let mut text = s.text;
    let cut = cut_at_stop(&mut text, &req.until);
    let usage = |k: &str| {
        s.usage
            .as_ref()
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
    };
    let completion_tokens = usage("completion_tokens").unwrap_or(s.chunks.saturating_sub(1));
    let finish_reason = match s.finish_reason.as_deref() {
        Some("length") => FinishReason::Length,
        _ if cut || s.stop_reason.as_ref().is_some_and(Value::is_string) => FinishReason::Stop,
        _ => FinishReason::Eos,
    };
    let latency_s = start.elapsed().as_secs_f64();
    let result = GenerateResult {
        text,
        token_ids: Vec::new(),
        finish_reason,
        prompt_tokens: usage("prompt_tokens").unwrap_or(0),
        prompt_tokens_truncated: 0,
        timing: RequestTiming {
            latency_s,
            ttft_s: s.ttft_s.unwrap_or(latency_s),
            batch_size: 1,
        },
    };
    (Ok(result), completion_tokens)
}

async fn score_one(
    http: Http,
    model: String,
    req: LoglikelihoodRequest,
) -> Result<LoglikelihoodResult, RequestError> {
    let start = Instant::now();
    if chat_messages(&req.context).is_some() {
        return Err(RequestError::Inference(
            "log-likelihoods of chat messages are not available over an OpenAI-compatible API \
             (the server does not expose its rendered chat template): score this dataset with \
             plain prompts (--chat-template off)"
                .into(),
        ));
    }
    // lm-eval: trailing whitespace of the context belongs to the continuation.
    let boundary = req.context.trim_end().chars().count();
    let prompt = format!("{}{}", req.context, req.continuation);
    let prompt_chars = prompt.chars().count();
    if prompt_chars <= boundary {
        return Err(RequestError::EmptyContinuation);
    }
    let body = json!({
        "model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
        "logprobs": 1, "echo": true,
    });
    let v = http.post_json("/completions", &body).await?;
    let s = parse::echo_loglikelihood(&v, prompt_chars, boundary)?;
    let latency_s = start.elapsed().as_secs_f64();
    Ok(LoglikelihoodResult {
        logprob: s.logprob,
        is_greedy: s.is_greedy,
        continuation_tokens: s.tokens,
        context_tokens_truncated: 0,
        timing: RequestTiming {
            latency_s,
            ttft_s: latency_s,
            batch_size: 1,
        },
    })
}

impl Engine for RemoteEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn loglikelihood(
        &mut self,
        reqs: &[LoglikelihoodRequest],
    ) -> Vec<Result<LoglikelihoodResult, RequestError>> {
        let start = Instant::now();
        let out = self.fan_out(reqs.len(), |i| {
            score_one(self.http.clone(), self.cfg.model.clone(), reqs[i].clone())
        });
        let out = if out.len() == reqs.len() {
            out
        } else {
            lost(reqs.len())
        };
        let wall = start.elapsed().as_secs_f64();
        let mut tokens = 0;
        for r in out.iter().flatten() {
            self.rec.request(r.timing.ttft_s, r.timing.latency_s);
            tokens += r.continuation_tokens;
        }
        self.rec.batch(BatchTelemetry {
            kind: "loglikelihood".into(),
            requests: reqs.len(),
            prefill_tokens: tokens,
            prefill_s: wall,
            decode_tokens: 0,
            decode_s: 0.0,
            wall_s: wall,
            peak_rss_bytes: None,
        });
        out
    }

    fn generate(&mut self, reqs: &[GenerateRequest]) -> Vec<Result<GenerateResult, RequestError>> {
        let start = Instant::now();
        let out = self.fan_out(reqs.len(), |i| {
            generate_one(self.http.clone(), self.cfg.model.clone(), reqs[i].clone())
        });
        let out: Vec<(Result<GenerateResult, RequestError>, usize)> = if out.len() == reqs.len() {
            out
        } else {
            lost(reqs.len()).into_iter().map(|r| (r, 0)).collect()
        };
        let wall = start.elapsed().as_secs_f64();
        let mut decode_tokens = 0;
        let mut prompt_tokens = 0;
        for (r, n) in &out {
            if let Ok(r) = r {
                self.rec.request(r.timing.ttft_s, r.timing.latency_s);
                prompt_tokens += r.prompt_tokens;
            }
            decode_tokens += n;
        }
        self.rec.batch(BatchTelemetry {
            kind: "generate".into(),
            requests: reqs.len(),
            prefill_tokens: prompt_tokens,
            prefill_s: 0.0,
            decode_tokens,
            decode_s: wall,
            wall_s: wall,
            peak_rss_bytes: None,
        });
        out.into_iter().map(|(r, _)| r).collect()
    }

    fn telemetry(&self) -> EngineTelemetry {
        self.rec.snapshot()
    }

    /// Packs the messages for `/v1/chat/completions`: the server renders its own template.
    fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        if !add_generation_prompt {
            return Err(EngineError::Inference(
                "a remote endpoint renders chat templates itself and only for generation \
                 (add_generation_prompt); score chat-formatted text with a local engine"
                    .into(),
            ));
        }
        let json = serde_json::to_string(messages)
            .map_err(|e| EngineError::Inference(format!("chat messages: {e}")))?;
        Ok(format!("{CHAT_PREFIX}{json}"))
    }

    /// Asks the server's `/tokenize` route (vLLM and `assay serve` have it, next to `/v1`).
    fn token_count(&self, text: &str) -> Result<usize, EngineError> {
        let root = self.cfg.base_url.trim_end_matches("/v1");
        let http = Http {
            base: root.to_string(),
            ..self.http.clone()
        };
        let body = json!({"model": self.cfg.model, "prompt": text});
        let v = self
            .rt
            .block_on(http.post_json("/tokenize", &body))
            .map_err(|e| EngineError::Inference(format!("{root}/tokenize: {e}")))?;
        v.get("count")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .ok_or_else(|| {
                EngineError::Inference(format!("{root}/tokenize: no `count` in the response"))
            })
    }
}

fn lost<T>(n: usize) -> Vec<Result<T, RequestError>> {
    (0..n)
        .map(|_| Err(RequestError::Inference("request task was lost".into())))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An `https://` endpoint is contacted over TLS: a plain-TCP peer that is not a TLS server
    /// fails the handshake, reported as a connection problem with the endpoint.
    #[test]
    fn https_endpoints_are_contacted_over_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                use std::io::Write;
                let mut s = stream;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let mut cfg = RemoteConfig::new(&format!("https://127.0.0.1:{port}/v1"), "m");
        cfg.max_retries = 0;
        cfg.timeout_s = 5.0;
        let err = RemoteEngine::connect(cfg).err().unwrap().to_string();
        assert!(err.contains("listing models"), "{err}");
        assert!(!err.contains("not yet supported"), "{err}");
    }

    #[test]
    fn chat_prompts_round_trip_and_plain_prompts_do_not_match() {
        let msgs = vec![ChatMessage {
            role: "user".into(),
            content: "hi".into(),
        }];
        let packed = format!("{CHAT_PREFIX}{}", serde_json::to_string(&msgs).unwrap());
        let v = chat_messages(&packed).unwrap();
        assert_eq!(v[0]["content"], "hi");
        assert!(chat_messages("hello").is_none());
    }

    #[test]
    fn stop_strings_cut_at_the_first_match() {
        let mut t = "abc\n\nQ: next".to_string();
        assert!(cut_at_stop(&mut t, &["Q:".into(), "\n\n".into()]));
        assert_eq!(t, "abc");
        let mut t = "abc".to_string();
        assert!(!cut_at_stop(&mut t, &["x".into(), String::new()]));
    }

    #[test]
    fn api_key_is_redacted_and_missing_key_names_the_variable() {
        assert_eq!(format!("{:?}", Secret("sk-123".into())), "<redacted>");
        let mut cfg = RemoteConfig::new("http://127.0.0.1:9/v1", "m");
        cfg.api_key_env = Some("ASSAY_TEST_SURELY_UNSET_KEY".into());
        let e = RemoteEngine::connect(cfg).unwrap_err().to_string();
        assert!(e.contains("ASSAY_TEST_SURELY_UNSET_KEY"), "{e}");
        let e = RemoteEngine::connect(RemoteConfig::new("ftp://x", "m"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("base_url"), "{e}");
    }

    #[test]
    fn unreachable_server_fails_after_retries() {
        let mut cfg = RemoteConfig::new("http://127.0.0.1:9/v1", "m");
        cfg.max_retries = 1;
        cfg.backoff_s = 0.01;
        let e = RemoteEngine::connect(cfg).unwrap_err().to_string();
        assert!(e.contains("gave up after 2 attempts"), "{e}");
    }
}
