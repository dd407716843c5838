//! A fake Hugging Face hub on loopback, serving one repository built from a checkpoint
//! directory: the revision API, `resolve` with `ETag`, LFS redirects (`X-Linked-Etag`,
//! `X-Linked-Size`) to a second "storage" server on another port, and `Range` requests. Every
//! request is logged. Shared by the hub unit tests and the command-line tests.
#![allow(dead_code, clippy::unwrap_used)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The commit every revision of the fake repository resolves to.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// One request the fake hub saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub auth: Option<String>,
    /// Body bytes sent.
    pub sent: u64,
}

#[derive(Debug, Default)]
pub struct Hub {
    pub repo: String,
    pub files: BTreeMap<String, Vec<u8>>,
    /// Revisions that resolve (besides the commit itself).
    pub revisions: Vec<String>,
    /// The token requests must carry (401 without one, 403 with another).
    pub token: Option<String>,
    pub storage: String,
    pub log: Mutex<Vec<Hit>>,
    /// A file whose bytes are served with one byte flipped.
    pub corrupt: Mutex<Option<String>>,
    /// Milliseconds every request waits before it is answered (to make transfers overlap).
    pub delay_ms: AtomicU64,
    /// Requests being answered now, and the most seen at once.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// A file whose advertised size is this many bytes too large.
    pub oversize: Mutex<Option<(String, u64)>>,
}

/// A running fake hub.
#[derive(Debug, Clone)]
pub struct FakeHub {
    pub endpoint: String,
    pub hub: Arc<Hub>,
}

/// Whether the fake hub stores `file` with LFS (and so redirects to storage).
pub fn is_lfs(file: &str) -> bool {
    file.ends_with(".safetensors") || file.ends_with(".bin")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The etag the fake hub gives `file`: the sha256 for LFS files, else a 40-hex git-like id.
pub fn etag(file: &str, bytes: &[u8]) -> String {
    if is_lfs(file) {
        sha256_hex(bytes)
    } else {
        let mut data = b"blob ".to_vec();
        data.extend_from_slice(bytes);
        sha256_hex(&data)[..40].to_string()
    }
}

impl FakeHub {
    /// Serve `dir`'s files (plus a `.bin` and an ONNX copy that a checkpoint does not need) as
    /// `repo`. Must be called inside a Tokio runtime that outlives the tests' requests.
    pub async fn start(dir: &Path, repo: &str, token: Option<&str>) -> FakeHub {
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            files.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
        files.insert("pytorch_model.bin".into(), vec![7u8; 1000]);
        files.insert("onnx/model.onnx".into(), vec![8u8; 100]);
        let hub_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let storage_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", hub_listener.local_addr().unwrap());
        let storage = format!("http://{}", storage_listener.local_addr().unwrap());
        let hub = Arc::new(Hub {
            repo: repo.into(),
            files,
            revisions: vec!["main".into(), "v1.0".into()],
            token: token.map(String::from),
            storage,
            ..Hub::default()
        });
        for listener in [hub_listener, storage_listener] {
            let app = axum::Router::new().fallback(handle).with_state(hub.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        FakeHub { endpoint, hub }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hub.log.lock().unwrap().clone()
    }

    /// Body bytes sent so far, over all requests.
    pub fn bytes_sent(&self) -> u64 {
        self.hits().iter().map(|h| h.sent).sum()
    }
}

async fn handle(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let path = uri.path().to_string();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let now = hub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    hub.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = hub.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let (resp, sent) = route(&hub, &method, &path, auth.as_deref(), range.as_deref());
    hub.in_flight.fetch_sub(1, Ordering::SeqCst);
    hub.log.lock().unwrap().push(Hit {
        method: method.to_string(),
        path,
        range,
        auth,
        sent: if method == Method::HEAD { 0 } else { sent },
    });
    resp
}

fn status(code: StatusCode, text: &str) -> (Response<Body>, u64) {
    let resp = Response::builder()
        .status(code)
        .body(Body::from(text.to_string()))
        .unwrap();
    (resp, 0)
}

fn route(
    hub: &Hub,
    method: &Method,
    path: &str,
    auth: Option<&str>,
    range: Option<&str>,
) -> (Response<Body>, u64) {
    if let Some(sha) = path.strip_prefix("/storage/") {
        let Some((name, bytes)) = hub.files.iter().find(|(n, b)| etag(n, b) == sha) else {
            return status(StatusCode::NOT_FOUND, "no such object");
        };
        return serve_bytes(hub, name, bytes, method, range, None);
    }
    if let Some(token) = &hub.token {
        match auth {
            None => {
                return status(
                    StatusCode::UNAUTHORIZED,
                    "Invalid credentials in Authorization header",
                );
            }
            Some(a) if a != format!("Bearer {token}") => {
                return status(StatusCode::FORBIDDEN, "Access to this model is restricted");
            }
            Some(_) => {}
        }
    }
    let api = format!("/api/models/{}/revision/", hub.repo);
    if let Some(rev) = path.strip_prefix(&api) {
        let rev = rev.replace("%2F", "/");
        if rev != COMMIT && !hub.revisions.contains(&rev) {
            return status(StatusCode::NOT_FOUND, "Invalid rev id");
        }
        let siblings: Vec<serde_json::Value> = hub
            .files
            .keys()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body = serde_json::json!({ "id": hub.repo, "sha": COMMIT, "siblings": siblings });
        let resp = Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        return (resp, 0);
    }
    let resolve = format!("/{}/resolve/{COMMIT}/", hub.repo);
    let Some(file) = path.strip_prefix(&resolve) else {
        return status(StatusCode::NOT_FOUND, "Repository not found");
    };
    let Some(bytes) = hub.files.get(file) else {
        return status(StatusCode::NOT_FOUND, "Entry not found");
    };
    if is_lfs(file) {
        let tag = etag(file, bytes);
        let size = bytes.len() as u64 + oversize(hub, file);
        let resp = Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("{}/storage/{tag}", hub.storage))
            .header("x-linked-etag", format!("\"{tag}\""))
            .header("x-linked-size", size.to_string())
            .header("x-repo-commit", COMMIT)
            .body(Body::empty())
            .unwrap();
        return (resp, 0);
    }
    serve_bytes(hub, file, bytes, method, range, Some(etag(file, bytes)))
}

fn oversize(hub: &Hub, file: &str) -> u64 {
    match &*hub.oversize.lock().unwrap() {
        Some((f, n)) if f == file => *n,
        _ => 0,
    }
}

/// The bytes of `name`, whole or from a `bytes=N-` range.
fn serve_bytes(
    hub: &Hub,
    name: &str,
    bytes: &[u8],
    method: &Method,
    range: Option<&str>,
    etag: Option<String>,
) -> (Response<Body>, u64) {
    let mut data = bytes.to_vec();
    if hub.corrupt.lock().unwrap().as_deref() == Some(name) && data.len() > 100 {
        data[100] ^= 0xff;
    }
    let total = data.len();
    let from = match range.and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => match r.trim_end_matches('-').parse::<usize>() {
            Ok(n) if n < total => Some(n),
            _ => {
                let resp = Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                    .body(Body::empty())
                    .unwrap();
                return (resp, 0);
            }
        },
        None => None,
    };
    let mut b = Response::builder().header(header::ACCEPT_RANGES, "bytes");
    if let Some(tag) = etag {
        b = b.header(header::ETAG, format!("\"{tag}\""));
    }
    let body = match from {
        Some(n) => {
            b = b.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {n}-{}/{total}", total - 1),
            );
            data[n..].to_vec()
        }
        None => data,
    };
    let sent = body.len() as u64;
    b = b.header(header::CONTENT_LENGTH, sent.to_string());
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    (b.body(body).unwrap(), sent)
}
