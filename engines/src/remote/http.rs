//! HTTP for the remote engine: JSON POSTs with a per-request timeout, retries with exponential
//! backoff on connection errors, timeouts, 429 and 5xx (honouring `Retry-After`), and SSE
//! streaming with the time to the first content chunk.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::parse::{drain_sse, error_message};
use crate::api::RequestError;
use crate::failure::FailureKind;

/// A cloneable client bound to one endpoint.
#[derive(Clone)]
pub(super) struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub api_key: Option<super::Secret>,
    pub max_retries: u32,
    pub backoff: Duration,
}

/// What a streamed completion produced.
#[derive(Debug, Default)]
pub(super) struct Streamed {
    pub text: String,
    pub finish_reason: Option<String>,
    pub stop_reason: Option<Value>,
    pub usage: Option<Value>,
    pub ttft_s: Option<f64>,
    pub chunks: usize,
}

enum Attempt<T> {
    Done(T),
    /// Worth another try: why, what kind of failure it would be if it were the last, and
    /// how long the server asked us to wait.
    Retry(String, FailureKind, Option<Duration>),
    Fail(RequestError),
}

impl Http {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .post(self.endpoint(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = &self.api_key {
            rb = rb.header("authorization", format!("Bearer {}", k.0));
        }
        rb
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, RequestError> {
        let mut rb = self.client.get(self.endpoint(path));
        if let Some(k) = &self.api_key {
            rb = rb.header("authorization", format!("Bearer {}", k.0));
        }
        self.retrying(path, || async {
            match rb.try_clone() {
                Some(rb) => {
                    classify(&self.endpoint(path), rb.send().await, |r| async {
                        read_json(r).await
                    })
                    .await
                }
                None => Attempt::Fail(RequestError::Inference("request not cloneable".into())),
            }
        })
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, RequestError> {
        self.retrying(path, || async {
            classify(
                &self.endpoint(path),
                self.post(path, body).send().await,
                |r| async { read_json(r).await },
            )
            .await
        })
        .await
    }

    /// POSTs `body` (which must ask for `stream: true`) and collects the SSE chunks; `chat`
    /// reads `delta.content` instead of `text`.
    pub async fn post_stream(
        &self,
        path: &str,
        body: &Value,
        chat: bool,
    ) -> Result<Streamed, RequestError> {
        self.retrying(path, || async {
            let start = Instant::now();
            classify(
                &self.endpoint(path),
                self.post(path, body).send().await,
                |r| read_stream(r, start, chat),
            )
            .await
        })
        .await
    }

    async fn retrying<T, F, Fut>(&self, path: &str, mut f: F) -> Result<T, RequestError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(why, kind, after) => {
                    if attempt >= self.max_retries {
                        return Err(RequestError::GaveUp {
                            endpoint: self.endpoint(path),
                            why,
                            attempts: attempt + 1,
                            kind,
                        });
                    }
                    let wait = after.unwrap_or_else(|| backoff(self.backoff, attempt));
                    tracing::debug!("{path}: {why}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// The wait before retry `attempt` (0-based) when the server named none: exponential from
/// `base`, at most 30 s, with "equal jitter" (a random half of it) so that many clients that
/// failed together do not retry together.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = (base * 2u32.saturating_pow(attempt)).min(Duration::from_secs(30));
    full / 2 + full.mul_f64(rand::random::<f64>() / 2.0)
}

/// What one attempt came to. `endpoint` names the URL in errors.
async fn classify<T, F, Fut>(
    endpoint: &str,
    sent: reqwest::Result<reqwest::Response>,
    ok: F,
) -> Attempt<T>
where
    F: FnOnce(reqwest::Response) -> Fut,
    Fut: std::future::Future<Output = Result<T, (bool, String)>>,
{
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Retry(format!("timed out: {e}"), FailureKind::Timeout, None);
        }
        Err(e) if e.is_connect() || e.is_request() => {
            return Attempt::Retry(
                format!("connection failed: {e}"),
                FailureKind::Unreachable,
                None,
            );
        }
        Err(e) => return Attempt::Fail(RequestError::Inference(e.to_string())),
    };
    let status = resp.status();
    if status.is_success() {
        return match ok(resp).await {
            Ok(v) => Attempt::Done(v),
            // The connection broke while the answer was arriving.
            Err((true, why)) => Attempt::Retry(why, FailureKind::Unreachable, None),
            Err((false, why)) => Attempt::Fail(RequestError::Inference(why)),
        };
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(60.0)));
    let text = resp.text().await.unwrap_or_default();
    let code = status.as_u16();
    let message = error_message(&text);
    if code == 429 || status.is_server_error() {
        Attempt::Retry(
            format!("HTTP {code}: {message}"),
            FailureKind::Http(code),
            retry_after,
        )
    } else {
        Attempt::Fail(RequestError::Http {
            endpoint: endpoint.to_string(),
            status: code,
            message,
        })
    }
}

async fn read_json(resp: reqwest::Response) -> Result<Value, (bool, String)> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| (true, format!("reading the response: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| (false, format!("response is not JSON: {e}")))
}

async fn read_stream(
    mut resp: reqwest::Response,
    start: Instant,
    chat: bool,
) -> Result<Streamed, (bool, String)> {
    let mut out = Streamed::default();
    let mut buf = String::new();
    let mut raw: Vec<u8> = Vec::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| (true, format!("reading the stream: {e}")))?;
        let Some(chunk) = chunk else {
            return Err((true, "the stream ended without `data: [DONE]`".into()));
        };
        raw.extend_from_slice(&chunk);
        // Only whole UTF-8 sequences go into the text buffer.
        let valid = match std::str::from_utf8(&raw) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        buf.push_str(&String::from_utf8_lossy(&raw[..valid]));
        raw.drain(..valid);
        for data in drain_sse(&mut buf) {
            if data.trim() == "[DONE]" {
                return Ok(out);
            }
            let v: Value = serde_json::from_str(&data)
                .map_err(|e| (false, format!("stream chunk is not JSON: {e}: {data}")))?;
            if let Some(err) = v.get("error") {
                return Err((false, format!("server error in stream: {err}")));
            }
            out.chunks += 1;
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                out.usage = Some(u.clone());
            }
            let Some(choice) = v.pointer("/choices/0") else {
                continue;
            };
            let piece = if chat {
                choice.pointer("/delta/content")
            } else {
                choice.get("text")
            };
            if let Some(p) = piece.and_then(Value::as_str).filter(|p| !p.is_empty()) {
                out.ttft_s.get_or_insert(start.elapsed().as_secs_f64());
                out.text.push_str(p);
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                out.finish_reason = Some(f.to_string());
                out.stop_reason = choice.get("stop_reason").cloned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        for attempt in 0..12 {
            let full = (base * 2u32.pow(attempt)).min(Duration::from_secs(30));
            let waits: Vec<Duration> = (0..50).map(|_| backoff(base, attempt)).collect();
            assert!(
                waits.iter().all(|w| *w >= full / 2 && *w <= full),
                "{attempt}: {waits:?}"
            );
            assert!(
                waits.iter().any(|w| *w != waits[0]),
                "no jitter at {attempt}"
            );
        }
    }
}
