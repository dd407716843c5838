//! Request parsing for the OpenAI-compatible routes: raw JSON in, a checked request out, or an
//! OpenAI-style error naming the field, the bound and the value (HTTP 422; 400 for bodies that
//! are not JSON objects, 404 for unknown models).

use serde_json::{Map, Value, json};

/// An HTTP error with an OpenAI-style body `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn invalid(param: &str, message: String) -> Self {
        ApiError {
            status: 422,
            message,
            kind: "invalid_request_error",
            param: Some(param.to_string()),
            code: Some("invalid_value"),
        }
    }

    pub fn bad_json(message: String) -> Self {
        ApiError {
            status: 400,
            message,
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_json"),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        }})
    }
}

/// How to sample, as checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
}

/// A checked `/v1/completions` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub prompt: String,
    pub max_tokens: usize,
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    pub echo: bool,
    /// `logprobs: k` (with `echo`): top-k alternatives per token.
    pub logprobs: Option<usize>,
    pub stream: bool,
    pub include_usage: bool,
}

/// A checked `/v1/chat/completions` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub messages: Vec<(String, String)>,
    pub max_tokens: usize,
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    pub stream: bool,
    pub include_usage: bool,
}

/// Limits the server enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub model: String,
    /// The model's context length: prompt plus generated tokens.
    pub max_seq_len: usize,
}

pub const MAX_LOGPROBS: u64 = 5;
pub const MAX_STOP: usize = 16;
const DEFAULT_MAX_TOKENS: u64 = 16;

/// Parses a request body into a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_json(
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::bad_json(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

fn check_model(m: &Map<String, Value>, lim: &Limits) -> Result<(), ApiError> {
    match m.get("model") {
        Some(Value::String(s)) if *s == lim.model => Ok(()),
        Some(Value::String(s)) => Err(ApiError {
            status: 404,
            message: format!(
                "The model `{s}` does not exist; this server serves `{}`",
                lim.model
            ),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
        }),
        Some(v) => Err(ApiError::invalid(
            "model",
            format!("`model` must be a string. Given: {v}"),
        )),
        None => Err(ApiError::invalid("model", "`model` is required".into())),
    }
}

fn uint(m: &Map<String, Value>, key: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(n),
            Some(n) => Err(ApiError::invalid(
                key,
                format!("`{key}` must be <= {max}. Given: {n}"),
            )),
            None => Err(ApiError::invalid(
                key,
                format!("`{key}` must be an integer in [0, {max}]. Given: {v}"),
            )),
        },
    }
}

fn float(m: &Map<String, Value>, key: &str, default: f64) -> Result<f64, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ApiError::invalid(key, format!("`{key}` must be a number. Given: {v}"))),
    }
}

fn boolean(m: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be true or false. Given: {v}"),
        )),
    }
}

fn common(
    m: &Map<String, Value>,
    lim: &Limits,
) -> Result<(usize, Vec<String>, SamplingParams, bool, bool), ApiError> {
    check_model(m, lim)?;
    let n = uint(m, "n", 1, u64::MAX)?;
    if n != 1 {
        return Err(ApiError::invalid("n", format!("`n` must be 1. Given: {n}")));
    }
    let max_len = lim.max_seq_len.saturating_sub(1) as u64;
    let key = if m.contains_key("max_completion_tokens") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let max_tokens = uint(m, key, DEFAULT_MAX_TOKENS.min(max_len), max_len)? as usize;
    let temperature = float(m, "temperature", 1.0)?;
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            "temperature",
            format!("`temperature` must be in [0, 2]. Given: {temperature}"),
        ));
    }
    let top_p = float(m, "top_p", 1.0)?;
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid(
            "top_p",
            format!("`top_p` must be in (0, 1]. Given: {top_p}"),
        ));
    }
    let seed = match m.get("seed") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().map(|s| s as u64).ok_or_else(|| {
            ApiError::invalid("seed", format!("`seed` must be an integer. Given: {v}"))
        })?,
    };
    let stop = match m.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.len() <= MAX_STOP => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::invalid(
                    "stop",
                    "`stop` must be a string or a list of strings".into(),
                )
            })?,
        Some(Value::Array(a)) => {
            return Err(ApiError::invalid(
                "stop",
                format!(
                    "`stop` may hold at most {MAX_STOP} strings. Given: {}",
                    a.len()
                ),
            ));
        }
        Some(v) => {
            return Err(ApiError::invalid(
                "stop",
                format!("`stop` must be a string or a list of strings. Given: {v}"),
            ));
        }
    };
    let stream = boolean(m, "stream")?;
    let include_usage = m
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sampling = SamplingParams {
        temperature,
        top_p,
        seed,
    };
    Ok((max_tokens, stop, sampling, stream, include_usage))
}

/// Checks a `/v1/completions` body.
pub fn completion(m: &Map<String, Value>, lim: &Limits) -> Result<Completion, ApiError> {
    let (max_tokens, stop, sampling, stream, include_usage) = common(m, lim)?;
    let prompt = match m.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        Some(Value::Array(a)) => {
            return Err(ApiError::invalid(
                "prompt",
                format!(
                    "`prompt` must be one string (batches of prompts are not supported). Given: a list of {}",
                    a.len()
                ),
            ));
        }
        Some(v) => {
            return Err(ApiError::invalid(
                "prompt",
                format!("`prompt` must be a string. Given: {v}"),
            ));
        }
        None => return Err(ApiError::invalid("prompt", "`prompt` is required".into())),
    };
    let echo = boolean(m, "echo")?;
    let logprobs = match m.get("logprobs") {
        None | Some(Value::Null) => None,
        Some(_) => Some(uint(m, "logprobs", 0, MAX_LOGPROBS)? as usize),
    };
    if logprobs.is_some() && !echo {
        return Err(ApiError::invalid(
            "logprobs",
            "`logprobs` is supported with `echo: true` (prompt log-probabilities) only".into(),
        ));
    }
    if echo {
        if max_tokens > 1 {
            return Err(ApiError::invalid(
                "max_tokens",
                format!("`max_tokens` must be <= 1 when `echo` is true. Given: {max_tokens}"),
            ));
        }
        if max_tokens == 1 && sampling.temperature > 0.0 {
            return Err(ApiError::invalid(
                "temperature",
                format!(
                    "`temperature` must be 0 when `echo` is true and `max_tokens` is 1. Given: {}",
                    sampling.temperature
                ),
            ));
        }
        if stream {
            return Err(ApiError::invalid(
                "stream",
                "`stream` must be false when `echo` is true".into(),
            ));
        }
    }
    Ok(Completion {
        prompt,
        max_tokens,
        stop,
        sampling,
        echo,
        logprobs,
        stream,
        include_usage,
    })
}

/// Checks a `/v1/chat/completions` body.
pub fn chat(m: &Map<String, Value>, lim: &Limits) -> Result<Chat, ApiError> {
    let (max_tokens, stop, sampling, stream, include_usage) = common(m, lim)?;
    let Some(Value::Array(msgs)) = m.get("messages") else {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must be a non-empty list of {role, content}".into(),
        ));
    };
    if msgs.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must be a non-empty list of {role, content}. Given: []".into(),
        ));
    }
    let mut messages = Vec::new();
    for (i, msg) in msgs.iter().enumerate() {
        let role = msg.get("role").and_then(Value::as_str);
        let content = msg.get("content").and_then(Value::as_str);
        match (role, content) {
            (Some(r), Some(c)) => messages.push((r.to_string(), c.to_string())),
            _ => {
                return Err(ApiError::invalid(
                    &format!("messages[{i}]"),
                    format!("`messages[{i}]` must have string `role` and `content`. Given: {msg}"),
                ));
            }
        }
    }
    if m.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid(
            "logprobs",
            "`logprobs` is not supported on chat completions".into(),
        ));
    }
    Ok(Chat {
        messages,
        max_tokens,
        stop,
        sampling,
        stream,
        include_usage,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            model: "m".into(),
            max_seq_len: 128,
        }
    }

    fn req(v: Value) -> Result<Completion, ApiError> {
        completion(v.as_object().unwrap(), &lim())
    }

    #[test]
    fn errors_name_field_bound_and_value() {
        let e = req(json!({"model": "m", "prompt": "x", "temperature": 3})).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (422, Some("temperature")));
        assert_eq!(e.message, "`temperature` must be in [0, 2]. Given: 3");
        let e = req(json!({"model": "m", "prompt": "x", "top_p": 0})).unwrap_err();
        assert_eq!(e.message, "`top_p` must be in (0, 1]. Given: 0");
        let e = req(json!({"model": "m", "prompt": "x", "max_tokens": 500})).unwrap_err();
        assert_eq!(e.message, "`max_tokens` must be <= 127. Given: 500");
        let e = req(json!({"model": "m", "prompt": "x", "echo": true, "logprobs": 9})).unwrap_err();
        assert_eq!(e.message, "`logprobs` must be <= 5. Given: 9");
        let e = req(json!({"model": "m", "prompt": "x", "n": 2})).unwrap_err();
        assert_eq!(e.message, "`n` must be 1. Given: 2");
        let e = req(json!({"model": "m", "prompt": "x", "max_tokens": -1})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn unknown_model_is_404_and_bad_json_400() {
        let e = req(json!({"model": "other", "prompt": "x"})).unwrap_err();
        assert_eq!((e.status, e.code), (404, Some("model_not_found")));
        assert_eq!(object(b"{not json").unwrap_err().status, 400);
        assert_eq!(object(b"[1]").unwrap_err().status, 400);
        let body = ApiError::invalid("n", "m".into()).body();
        assert_eq!(body["error"]["param"], "n");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn echo_scoring_request_is_accepted() {
        let c = req(
            json!({"model": "m", "prompt": "ab", "echo": true, "logprobs": 1,
            "max_tokens": 1, "temperature": 0, "stop": ["\n"]}),
        )
        .unwrap();
        assert!(c.echo);
        assert_eq!((c.logprobs, c.max_tokens), (Some(1), 1));
        assert_eq!(c.stop, vec!["\n".to_string()]);
        let e =
            req(json!({"model": "m", "prompt": "ab", "echo": true, "max_tokens": 5})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn chat_messages_are_checked() {
        let ok = chat(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
                .as_object()
                .unwrap(),
            &lim(),
        )
        .unwrap();
        assert_eq!(ok.messages, vec![("user".to_string(), "hi".to_string())]);
        let e = chat(
            json!({"model": "m", "messages": [{"role": "user"}]})
                .as_object()
                .unwrap(),
            &lim(),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0]"));
    }
}
