//! Why a request failed, as a kind that failure summaries group by ([`FailureKind`]) and a
//! message that says the rest ([`Failure`]).
//!
//! The kind is decided once, where the error is made (an HTTP status, a timeout, a prompt past
//! the model's window), and travels with the message through the worker protocol into the
//! store, so no reader has to guess it back from text.

use serde::{Deserialize, Serialize};

use crate::api::RequestError;

/// What kind of failure a request (or a sample) met. Serialised as its label (`http_400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The server answered with this HTTP status (after any retries).
    Http(u16),
    /// The server did not answer in time, every attempt.
    Timeout,
    /// The server could not be reached (connection refused, reset, DNS), every attempt.
    Unreachable,
    /// The prompt (plus the tokens to generate) does not fit the model's window.
    ContextOverflow,
    /// The request itself is unusable (empty continuation, untokenizable text, bad settings).
    InvalidRequest,
    /// The device or host ran out of memory.
    OutOfMemory,
    /// The engine failed while computing (a kernel, a worker, a malformed server reply).
    Engine,
    /// Model-written code could not be run in the sandbox.
    Sandbox,
    /// The output could not be scored (gold answer not among the choices, bad metric input).
    Scoring,
}

impl FailureKind {
    /// Every kind but [`FailureKind::Http`] (which carries its status).
    pub const NAMED: [FailureKind; 8] = [
        FailureKind::Timeout,
        FailureKind::Unreachable,
        FailureKind::ContextOverflow,
        FailureKind::InvalidRequest,
        FailureKind::OutOfMemory,
        FailureKind::Engine,
        FailureKind::Sandbox,
        FailureKind::Scoring,
    ];

    /// The stored and printed name: `http_400`, `timeout`, `context_overflow`, ...
    pub fn label(self) -> String {
        match self {
            FailureKind::Http(status) => format!("http_{status}"),
            other => other.fixed_label().to_string(),
        }
    }

    fn fixed_label(self) -> &'static str {
        match self {
            FailureKind::Http(_) => "http",
            FailureKind::Timeout => "timeout",
            FailureKind::Unreachable => "unreachable",
            FailureKind::ContextOverflow => "context_overflow",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::Engine => "engine",
            FailureKind::Sandbox => "sandbox",
            FailureKind::Scoring => "scoring",
        }
    }

    /// The inverse of [`FailureKind::label`].
    pub fn parse(label: &str) -> Option<FailureKind> {
        if let Some(code) = label.strip_prefix("http_") {
            return code.parse().ok().map(FailureKind::Http);
        }
        Self::NAMED.into_iter().find(|k| k.fixed_label() == label)
    }

    /// Whether sending the same request again can be expected to fail the same way: the
    /// request or the model is the problem, not the moment (a 4xx other than 408/429, a prompt
    /// past the window, an unusable request).
    pub fn is_deterministic(self) -> bool {
        match self {
            FailureKind::Http(s) => (400..500).contains(&s) && s != 408 && s != 429,
            FailureKind::ContextOverflow | FailureKind::InvalidRequest => true,
            _ => false,
        }
    }

    /// Whether the server stopped answering (every retry of every request gave up).
    pub fn is_server_gone(self) -> bool {
        matches!(self, FailureKind::Timeout | FailureKind::Unreachable)
            || matches!(self, FailureKind::Http(s) if s == 429 || s >= 500)
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = String::deserialize(d)?;
        FailureKind::parse(&label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown failure kind `{label}`")))
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// One failure: its kind and the full message (for HTTP: endpoint, status and the server's
/// own words).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&RequestError> for Failure {
    fn from(e: &RequestError) -> Failure {
        Failure::new(e.kind(), e.to_string())
    }
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Failure {
        Failure::from(&e)
    }
}

/// Whether an engine error message reports exhausted memory (CUDA or host allocation). The
/// tensor library reports these as text only, so this is the one place that reads it.
pub fn is_oom(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("out of memory")
        || m.contains("cuda_error_out_of_memory")
        || m.contains("memory allocation of")
        || m.contains("cannot allocate memory")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn labels_round_trip() {
        let http = [FailureKind::Http(400), FailureKind::Http(503)];
        for k in http.into_iter().chain(FailureKind::NAMED) {
            assert_eq!(FailureKind::parse(&k.label()), Some(k), "{k}");
        }
        assert_eq!(FailureKind::Http(400).label(), "http_400");
        assert_eq!(FailureKind::parse("http_x"), None);
        assert_eq!(FailureKind::parse("nope"), None);
        let json = serde_json::to_string(&FailureKind::Http(404)).unwrap();
        assert_eq!(json, "\"http_404\"");
        assert_eq!(
            serde_json::from_str::<FailureKind>(&json).unwrap(),
            FailureKind::Http(404)
        );
    }

    #[test]
    fn request_errors_have_their_kind() {
        let http = RequestError::Http {
            endpoint: "http://h/v1/completions".into(),
            status: 400,
            message: "max_tokens is too large".into(),
        };
        let f = Failure::from(&http);
        assert_eq!(f.kind, FailureKind::Http(400));
        assert!(f.message.contains("http://h/v1/completions"), "{f}");
        assert!(f.message.contains("HTTP 400"), "{f}");
        assert!(f.message.contains("max_tokens is too large"), "{f}");
        assert!(f.kind.is_deterministic());
        let too_long = RequestError::TooLong {
            needed: 9,
            max: 8,
            max_gen_toks: 4,
        };
        assert_eq!(too_long.kind(), FailureKind::ContextOverflow);
        let oom = RequestError::Inference("CUDA_ERROR_OUT_OF_MEMORY".into());
        assert_eq!(oom.kind(), FailureKind::OutOfMemory);
        assert_eq!(
            RequestError::Inference("matmul".into()).kind(),
            FailureKind::Engine
        );
        let gone = RequestError::GaveUp {
            endpoint: "http://h/v1/completions".into(),
            why: "timed out".into(),
            attempts: 3,
            kind: FailureKind::Timeout,
        };
        assert!(gone.kind().is_server_gone());
        assert!(!gone.kind().is_deterministic());
        assert!(gone.to_string().contains("gave up after 3 attempts"));
    }
}
