//! Checkpoint downloads from the Hugging Face hub into the standard hub cache.
//!
//! A repository id and a revision (a branch, a tag or a commit; `main` by default) resolve to a
//! commit through `GET {endpoint}/api/models/{repo}/revision/{rev}`, whose `siblings` list the
//! files. Only what a checkpoint needs is fetched (see [`checkpoint_files`]): configs, tokenizer
//! files, the chat template and the safetensors weights (the index's shards when there is an
//! index), never `.bin`/`.pt`/`.gguf`/ONNX copies. Files are written as `huggingface_hub` writes
//! them (see [`fetch`]): `blobs/<etag>`, `snapshots/<commit>/<file>` as relative symlinks into
//! `blobs/`, and `refs/<revision>` holding the commit when the revision is a branch or tag, so
//! [`crate::catalog::local`] and every Hugging Face tool find the checkpoint. Up to
//! [`PARALLEL_FILES`] files transfer at once; `config.json` comes last, alone.
//!
//! The token (`HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`) is sent as `Authorization: Bearer` to
//! the endpoint's own host only (never to the host a file redirects to), and is neither printed
//! nor stored: `HubConfig`'s `Debug` hides it and no error text contains it. The endpoint is
//! `HF_ENDPOINT` (default `https://huggingface.co`). Library code: nothing here prints;
//! progress is reported through a callback.

pub mod fetch;

use crate::catalog::local::shards_from_index;
use futures_util::StreamExt;
use reqwest::{StatusCode, Url, header};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Revision used when none is given.
pub const DEFAULT_REVISION: &str = "main";
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;
/// Largest revision-API answer or index file read into memory.
const MAX_JSON_BYTES: usize = 64_000_000;

/// Where to download from and to.
#[derive(Clone)]
pub struct HubConfig {
    /// Base URL, without a trailing slash.
    pub endpoint: String,
    /// Bearer token; never printed.
    pub token: Option<String>,
    /// The hub cache root (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl HubConfig {
    /// Endpoint, token and cache root from the environment.
    pub fn from_env() -> Result<HubConfig, HubError> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let cache_dir = assay_engines::hub_cache::root().ok_or(HubError::NoCache)?;
        Ok(HubConfig {
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token: var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")),
            cache_dir,
        })
    }
}

/// Why a download failed. No variant carries the token.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("`{0}` is not a Hugging Face repository id (expected `org/name`)")]
    BadRepo(String),
    #[error("revision `{0}` is not a valid branch, tag or commit name")]
    BadRevision(String),
    #[error("HF_ENDPOINT `{0}` is not an http(s) URL")]
    BadEndpoint(String),
    #[error("no Hugging Face cache directory: set HF_HUB_CACHE or HF_HOME")]
    NoCache,
    #[error("{repo}: the hub answered HTTP {status}: {hint}")]
    Unauthorized {
        repo: String,
        status: u16,
        hint: String,
    },
    #[error("{repo}: repository or revision `{revision}` not found on {endpoint} (HTTP 404)")]
    NotFound {
        repo: String,
        revision: String,
        endpoint: String,
    },
    #[error("{repo}: `{file}` not found at commit {commit} (HTTP 404)")]
    FileNotFound {
        repo: String,
        file: String,
        commit: String,
    },
    #[error("{repo}: {what}: HTTP {status}")]
    Status {
        repo: String,
        what: String,
        status: u16,
    },
    /// Display leaves the cause to the error chain (printed with `{:#}`).
    #[error("{repo}: {what}")]
    Http {
        repo: String,
        what: String,
        source: reqwest::Error,
    },
    #[error("{repo}: unexpected answer from the hub: {message}")]
    BadResponse { repo: String, message: String },
    #[error(
        "{repo}: revision {commit} has no usable checkpoint ({message}); files: {}",
        files.join(", ")
    )]
    NoCheckpoint {
        repo: String,
        commit: String,
        message: String,
        files: Vec<String>,
    },
    #[error("{repo}: `{file}`: received {got} bytes, expected {expected}{resume}")]
    Size {
        repo: String,
        file: String,
        got: u64,
        expected: u64,
        resume: &'static str,
    },
    #[error("{repo}: `{file}`: sha256 {got} does not match the expected {expected}")]
    Checksum {
        repo: String,
        file: String,
        got: String,
        expected: String,
    },
    #[error("{path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A revision resolved on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    /// Every file of the repository at that commit.
    pub files: Vec<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Already in the snapshot: no request made.
    Present,
    /// Its blob was already in the cache (another snapshot): linked, not fetched.
    Linked,
    Downloaded,
    /// Completed from a partial blob with a range request.
    Resumed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOutcome {
    pub file: String,
    pub status: FileStatus,
    pub size: u64,
    /// Bytes transferred for this file.
    pub fetched: u64,
}

/// A checkpoint in the cache after [`Hub::download`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Download {
    pub repo: String,
    pub revision: String,
    pub commit: String,
    /// `snapshots/<commit>`.
    pub dir: PathBuf,
    pub files: Vec<FileOutcome>,
    /// Bytes transferred in all.
    pub fetched: u64,
}

/// Progress of a download, reported as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The revision resolved to `commit`; `files` checkpoint files will be checked.
    Resolved { commit: &'a str, files: usize },
    /// A file transfer starts: `size` bytes in all, `from` already on disk.
    Start { file: &'a str, size: u64, from: u64 },
    /// `n` more bytes of `file` arrived (several files may be in flight at once).
    Bytes { file: &'a str, n: u64 },
    /// The file is complete (or was already there).
    Done { file: &'a str, status: FileStatus },
}

/// Files downloaded at the same time.
pub const PARALLEL_FILES: usize = 4;

/// A progress callback.
pub type OnEvent<'a> = &'a (dyn Fn(Event<'_>) + Send + Sync);

/// A hub client for one endpoint, token and cache.
#[derive(Debug, Clone)]
pub struct Hub {
    cfg: HubConfig,
    origin: Url,
    client: reqwest::Client,
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Result<Hub, HubError> {
        let endpoint = cfg.endpoint.trim_end_matches('/').to_string();
        let origin = Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| HubError::BadEndpoint(endpoint.clone()))?;
        // Redirects are followed by hand: the first hop carries the file's etag and size, and
        // the token must not travel to another host.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| HubError::Http {
                repo: String::new(),
                what: "starting the HTTP client".into(),
                source,
            })?;
        Ok(Hub {
            cfg: HubConfig { endpoint, ..cfg },
            origin,
            client,
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// `models--org--name` under the cache root.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        repo_dir(&self.cfg.cache_dir, repo)
    }

    /// Resolve `revision` of `repo` to a commit and its file list.
    pub async fn resolve(&self, repo: &str, revision: &str) -> Result<Resolved, HubError> {
        check_repo(repo)?;
        check_revision(revision)?;
        let url = format!(
            "{}/api/models/{repo}/revision/{}",
            self.cfg.endpoint,
            encode(revision, false)
        );
        let (resp, _) = self
            .send(
                reqwest::Method::GET,
                &url,
                None,
                repo,
                "resolving the revision",
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(HubError::NotFound {
                repo: repo.into(),
                revision: revision.into(),
                endpoint: self.cfg.endpoint.clone(),
            });
        }
        self.check_status(status, repo, "resolving the revision")?;
        let bytes = read_limited(resp, repo, "resolving the revision").await?;
        let bad = |message: String| HubError::BadResponse {
            repo: repo.into(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("revision info is not JSON: {e}")))?;
        let commit = value
            .get("sha")
            .and_then(|s| s.as_str())
            .ok_or_else(|| bad("revision info has no `sha`".into()))?;
        if !is_commit(commit) {
            return Err(bad(format!("`sha` {commit:?} is not a commit hash")));
        }
        let siblings = value
            .get("siblings")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("revision info has no `siblings` list".into()))?;
        let mut files = Vec::new();
        for s in siblings {
            let name = s
                .get("rfilename")
                .and_then(|n| n.as_str())
                .ok_or_else(|| bad("a `siblings` entry has no `rfilename`".into()))?;
            files.push(name.to_string());
        }
        Ok(Resolved {
            repo: repo.into(),
            revision: revision.into(),
            commit: commit.into(),
            files,
        })
    }

    /// Download what a checkpoint needs of `repo` at `revision` into the cache. Files already
    /// in the snapshot are skipped; a partial blob is resumed.
    pub async fn download(
        &self,
        repo: &str,
        revision: &str,
        on_event: OnEvent<'_>,
    ) -> Result<Download, HubError> {
        let resolved = self.resolve(repo, revision).await?;
        let repo_dir = self.repo_dir(repo);
        let snapshot = repo_dir.join("snapshots").join(&resolved.commit);
        let no_checkpoint = |message: &str| HubError::NoCheckpoint {
            repo: repo.into(),
            commit: resolved.commit.clone(),
            message: message.into(),
            files: resolved.files.clone(),
        };
        let mut wanted = checkpoint_files(&resolved.files);
        if !wanted.iter().any(|f| f == "config.json") {
            return Err(no_checkpoint("no config.json"));
        }
        on_event(Event::Resolved {
            commit: &resolved.commit,
            files: wanted.len(),
        });
        let mut outcomes = Vec::new();
        // The index names the shards, so it comes first; then only its shards are fetched.
        if wanted.iter().any(|f| f == INDEX) {
            let o = self.fetch_file(&resolved, INDEX, on_event).await?;
            outcomes.push(o);
            let path = snapshot.join(INDEX);
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let shards = shards_from_index(&bytes).map_err(|m| HubError::BadResponse {
                repo: repo.into(),
                message: format!("{INDEX}: {m}"),
            })?;
            for s in &shards {
                if !resolved.files.contains(s) {
                    return Err(no_checkpoint(&format!(
                        "{INDEX} names `{s}`, which is absent"
                    )));
                }
            }
            // Shards are top-level names, already among `wanted`; other weights are dropped.
            wanted.retain(|f| !f.ends_with(".safetensors") || shards.contains(f));
            wanted.retain(|f| f != INDEX);
        }
        if !wanted.iter().any(|f| f.ends_with(".safetensors")) {
            return Err(no_checkpoint("no .safetensors weights"));
        }
        // config.json last: a snapshot only looks like a checkpoint once everything is in.
        // The others are fetched up to `PARALLEL_FILES` at a time (shards of a large model
        // download side by side); results keep the listing's order.
        wanted.sort_by_key(|f| f == "config.json");
        let config = match wanted.last() {
            Some(f) if f == "config.json" => wanted.pop(),
            _ => None,
        };
        let mut rest = futures_util::stream::iter(wanted.iter())
            .map(|file| self.fetch_file(&resolved, file, on_event))
            .buffered(PARALLEL_FILES);
        while let Some(o) = rest.next().await {
            outcomes.push(o?);
        }
        drop(rest);
        if let Some(file) = &config {
            outcomes.push(self.fetch_file(&resolved, file, on_event).await?);
        }
        if revision != resolved.commit {
            fetch::write_ref(&repo_dir, revision, &resolved.commit)?;
        }
        Ok(Download {
            repo: repo.into(),
            revision: revision.into(),
            fetched: outcomes.iter().map(|o| o.fetched).sum(),
            commit: resolved.commit,
            dir: snapshot,
            files: outcomes,
        })
    }

    /// Send one request, following redirects by hand. The token goes only to the endpoint's
    /// host. Returns the final response and the `X-Linked-*` headers seen on the way.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        range_from: Option<u64>,
        repo: &str,
        what: &str,
    ) -> Result<(reqwest::Response, Linked), HubError> {
        self.send_hops(method, url, range_from, repo, what, MAX_REDIRECTS)
            .await
    }

    /// `send` following at most `max_hops` redirects; with 0, a redirect is returned as is.
    pub(crate) async fn send_hops(
        &self,
        method: reqwest::Method,
        url: &str,
        range_from: Option<u64>,
        repo: &str,
        what: &str,
        max_hops: usize,
    ) -> Result<(reqwest::Response, Linked), HubError> {
        let mut url = Url::parse(url).map_err(|e| HubError::BadResponse {
            repo: repo.into(),
            message: format!("bad URL {url}: {e}"),
        })?;
        let mut linked = Linked::default();
        for hop in 0..=max_hops {
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .header(header::ACCEPT_ENCODING, "identity");
            if let Some(from) = range_from {
                req = req.header(header::RANGE, format!("bytes={from}-"));
            }
            if let Some(token) = &self.cfg.token
                && url.origin() == self.origin.origin()
            {
                req = req.bearer_auth(token);
            }
            let resp = req.send().await.map_err(|source| HubError::Http {
                repo: repo.into(),
                what: what.into(),
                source,
            })?;
            linked.absorb(resp.headers());
            if !resp.status().is_redirection() || max_hops == 0 {
                return Ok((resp, linked));
            }
            if hop == max_hops {
                break;
            }
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| HubError::BadResponse {
                    repo: repo.into(),
                    message: format!("{what}: a redirect without a usable Location"),
                })?;
            url = location;
        }
        Err(HubError::BadResponse {
            repo: repo.into(),
            message: format!("{what}: more than {max_hops} redirects"),
        })
    }

    /// Map 401/403 and other failures to errors; `Ok` for 2xx.
    pub(crate) fn check_status(
        &self,
        status: StatusCode,
        repo: &str,
        what: &str,
    ) -> Result<(), HubError> {
        if status.is_success() {
            return Ok(());
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            let hint = if self.cfg.token.is_some() {
                "the token in HF_TOKEN lacks access to this repository (for a gated model, \
                 accept its terms on the hub with the token's account), or the repository \
                 does not exist"
            } else {
                "a token is needed (gated or private model): set HF_TOKEN to a token with \
                 access, or check that the repository exists"
            };
            return Err(HubError::Unauthorized {
                repo: repo.into(),
                status: status.as_u16(),
                hint: hint.into(),
            });
        }
        Err(HubError::Status {
            repo: repo.into(),
            what: what.into(),
            status: status.as_u16(),
        })
    }
}

/// `X-Linked-Etag` / `X-Linked-Size`: the LFS object's etag and size, sent by the hub on the
/// redirect to the file's storage.
#[derive(Debug, Default, Clone)]
pub(crate) struct Linked {
    pub etag: Option<String>,
    pub size: Option<u64>,
}

impl Linked {
    fn absorb(&mut self, h: &header::HeaderMap) {
        if self.etag.is_none()
            && let Some(e) = h.get("x-linked-etag").and_then(|v| v.to_str().ok())
        {
            self.etag = Some(unquote_etag(e));
        }
        if self.size.is_none() {
            self.size = h
                .get("x-linked-size")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
        }
    }
}

const INDEX: &str = "model.safetensors.index.json";

/// Top-level files a checkpoint needs, in the order of `files`.
pub fn checkpoint_files(files: &[String]) -> Vec<String> {
    const NAMED: &[&str] = &[
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
        INDEX,
    ];
    files
        .iter()
        .filter(|f| {
            !f.contains('/') && (NAMED.contains(&f.as_str()) || f.ends_with(".safetensors"))
        })
        .cloned()
        .collect()
}

/// `org/name` (or a bare `name`): letters, digits, `-`, `_`, `.`; no `..`.
pub fn check_repo(repo: &str) -> Result<(), HubError> {
    let parts: Vec<&str> = repo.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 96
                && !p.contains("..")
                && !p.starts_with(['-', '.'])
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(HubError::BadRepo(repo.into()))
    }
}

fn check_revision(revision: &str) -> Result<(), HubError> {
    let ok = !revision.is_empty()
        && revision.len() <= 255
        && !revision.starts_with('/')
        && !revision.ends_with('/')
        && !revision
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        && !revision.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(HubError::BadRevision(revision.into()))
    }
}

/// A full commit hash (40 hex digits, or 64 for SHA-256 repositories).
pub fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The cache directory of a model repository: `models--org--name`.
pub fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    assay_engines::hub_cache::repo_dir(cache, assay_engines::hub_cache::RepoKind::Model, repo)
}

/// An etag header value without `W/` and quotes.
pub fn unquote_etag(value: &str) -> String {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').to_string()
}

/// Percent-encode a path segment (`keep_slash` for file paths).
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn read_limited(
    mut resp: reqwest::Response,
    repo: &str,
    what: &str,
) -> Result<Vec<u8>, HubError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| HubError::Http {
        repo: repo.into(),
        what: what.into(),
        source,
    })? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_JSON_BYTES {
            return Err(HubError::BadResponse {
                repo: repo.into(),
                message: format!("{what}: answer larger than {MAX_JSON_BYTES} bytes"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
