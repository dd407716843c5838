//! One file into the hub cache, the way `huggingface_hub` lays it out.
//!
//! A `HEAD` of `{endpoint}/{repo}/resolve/{commit}/{file}` gives the etag (`X-Linked-Etag` on
//! the redirect of an LFS file, else `ETag`, unquoted) and the size (`X-Linked-Size`, else
//! `Content-Length`). The bytes go to `blobs/<etag>.incomplete`, which a later run resumes with
//! a `Range` request; once the size (and, for LFS files whose etag is a sha256, the sha256)
//! checks out, it is renamed to `blobs/<etag>`, and `snapshots/<commit>/<file>` becomes a
//! relative symlink to `../../blobs/<etag>` (created under a temporary name, then renamed), so
//! an interrupted download never leaves a partial file that looks complete.

use super::{
    Event, FileOutcome, FileStatus, Hub, HubError, OnEvent, Resolved, encode, io_err, unquote_etag,
};
use reqwest::{StatusCode, header};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the `HEAD` said about a file.
#[derive(Debug)]
struct Meta {
    etag: String,
    size: u64,
    /// Where the bytes are (after the first redirect of an LFS file).
    url: String,
}

impl Hub {
    /// Make `snapshots/<commit>/<file>` present, fetching its blob unless the cache has it.
    pub(crate) async fn fetch_file(
        &self,
        r: &Resolved,
        file: &str,
        on_event: OnEvent<'_>,
    ) -> Result<FileOutcome, HubError> {
        let repo = r.repo.as_str();
        if file.starts_with('/') || file.contains('\\') || file.split('/').any(|p| p == "..") {
            return Err(HubError::BadResponse {
                repo: repo.into(),
                message: format!("unsafe file name {file:?}"),
            });
        }
        let repo_dir = self.repo_dir(repo);
        let pointer = repo_dir.join("snapshots").join(&r.commit).join(file);
        if let Ok(m) = std::fs::metadata(&pointer)
            && m.is_file()
        {
            on_event(Event::Done {
                file,
                status: FileStatus::Present,
            });
            return Ok(FileOutcome {
                file: file.into(),
                status: FileStatus::Present,
                size: m.len(),
                fetched: 0,
            });
        }
        let meta = self.head(r, file).await?;
        let blobs = repo_dir.join("blobs");
        let blob = blobs.join(&meta.etag);
        let mut status = FileStatus::Linked;
        let mut fetched = 0;
        let have = std::fs::metadata(&blob).is_ok_and(|m| m.is_file() && m.len() == meta.size);
        if !have {
            std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
            let (s, n) = self.fetch_blob(r, file, &meta, &blob, on_event).await?;
            status = s;
            fetched = n;
        } else {
            on_event(Event::Start {
                file,
                size: meta.size,
                from: meta.size,
            });
        }
        link(&pointer, file, &meta.etag)?;
        on_event(Event::Done { file, status });
        Ok(FileOutcome {
            file: file.into(),
            status,
            size: meta.size,
            fetched,
        })
    }

    /// A file's response status: 404 names the file and commit, others as for any request.
    fn check_file_status(
        &self,
        status: StatusCode,
        r: &Resolved,
        file: &str,
        what: &str,
    ) -> Result<(), HubError> {
        if status == StatusCode::NOT_FOUND {
            return Err(HubError::FileNotFound {
                repo: r.repo.clone(),
                file: file.into(),
                commit: r.commit.clone(),
            });
        }
        self.check_status(status, &r.repo, what)
    }

    async fn head(&self, r: &Resolved, file: &str) -> Result<Meta, HubError> {
        let repo = r.repo.as_str();
        let url = format!(
            "{}/{repo}/resolve/{}/{}",
            self.config().endpoint,
            r.commit,
            encode(file, true)
        );
        let what = format!("`{file}`");
        let mut current = url;
        // Follow redirects until one carries the LFS headers or a file answers.
        for _ in 0..=super::MAX_REDIRECTS {
            let (resp, linked) = self
                .send_once(reqwest::Method::HEAD, &current, repo, &what)
                .await?;
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| resp.url().join(l).ok())
                    .map(|u| u.to_string())
                    .ok_or_else(|| HubError::BadResponse {
                        repo: repo.into(),
                        message: format!("{what}: a redirect without a usable Location"),
                    })?;
                if let (Some(etag), Some(size)) = (linked.etag, linked.size) {
                    return self.meta(repo, file, etag, size, next);
                }
                current = next;
                continue;
            }
            self.check_file_status(status, r, file, &what)?;
            let h = resp.headers();
            let etag = linked.etag.or_else(|| {
                h.get(header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(unquote_etag)
            });
            let size = linked.size.or_else(|| {
                h.get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
            });
            let (Some(etag), Some(size)) = (etag, size) else {
                return Err(HubError::BadResponse {
                    repo: repo.into(),
                    message: format!("{what}: no ETag or size in the answer"),
                });
            };
            return self.meta(repo, file, etag, size, current);
        }
        Err(HubError::BadResponse {
            repo: repo.into(),
            message: format!("{what}: too many redirects"),
        })
    }

    fn meta(
        &self,
        repo: &str,
        file: &str,
        etag: String,
        size: u64,
        url: String,
    ) -> Result<Meta, HubError> {
        let safe = !etag.is_empty()
            && etag.len() <= 128
            && etag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !safe {
            return Err(HubError::BadResponse {
                repo: repo.into(),
                message: format!("`{file}`: etag {etag:?} cannot name a cache file"),
            });
        }
        Ok(Meta { etag, size, url })
    }

    /// One request; a redirect is returned, not followed, so `head` can read its headers.
    async fn send_once(
        &self,
        method: reqwest::Method,
        url: &str,
        repo: &str,
        what: &str,
    ) -> Result<(reqwest::Response, super::Linked), HubError> {
        self.send_hops(method, url, None, repo, what, 0).await
    }

    /// Download the blob to `<blob>.incomplete` (resuming it), check it, rename it.
    async fn fetch_blob(
        &self,
        r: &Resolved,
        file: &str,
        meta: &Meta,
        blob: &Path,
        on_event: OnEvent<'_>,
    ) -> Result<(FileStatus, u64), HubError> {
        let repo = r.repo.as_str();
        let part = incomplete_path(blob);
        let mut from = std::fs::metadata(&part).map_or(0, |m| m.len());
        if from > meta.size {
            remove(&part)?;
            from = 0;
        }
        let want_sha = (meta.etag.len() == 64 && meta.etag.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| meta.etag.to_ascii_lowercase());
        // A partial file of full length (stopped before its rename): keep it if it checks out.
        if from > 0 && from == meta.size {
            if let Some(expected) = &want_sha {
                let mut h = Sha256::new();
                hash_prefix(&part, &mut h).await?;
                if hex(&h.finalize()) == *expected {
                    std::fs::rename(&part, blob).map_err(io_err(blob))?;
                    return Ok((FileStatus::Resumed, 0));
                }
            }
            remove(&part)?;
            from = 0;
        }
        let what = format!("`{file}`");
        let (mut resp, _) = self
            .send(
                reqwest::Method::GET,
                &meta.url,
                (from > 0 && from < meta.size).then_some(from),
                repo,
                &what,
            )
            .await?;
        let mut status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            // The partial file does not fit the server's copy: start over.
            remove(&part)?;
            from = 0;
            (resp, _) = self
                .send(reqwest::Method::GET, &meta.url, None, repo, &what)
                .await?;
            status = resp.status();
        }
        self.check_file_status(status, r, file, &what)?;
        let resumed = status == StatusCode::PARTIAL_CONTENT && from > 0;
        if !resumed {
            from = 0;
        }
        let mut hasher = Sha256::new();
        let mut out = if resumed {
            if want_sha.is_some() {
                hash_prefix(&part, &mut hasher).await?;
            }
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .await
                .map_err(io_err(&part))?
        } else {
            tokio::fs::File::create(&part)
                .await
                .map_err(io_err(&part))?
        };
        on_event(Event::Start {
            file,
            size: meta.size,
            from,
        });
        let mut got = from;
        let mut fetched = 0u64;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(source) => {
                    // Keep what arrived: the next run resumes from it.
                    let _ = out.flush().await;
                    return Err(HubError::Http {
                        repo: repo.into(),
                        what: format!("{what}: download interrupted after {got} bytes"),
                        source,
                    });
                }
            };
            got += chunk.len() as u64;
            fetched += chunk.len() as u64;
            if got > meta.size {
                drop(out);
                remove(&part)?;
                return Err(HubError::Size {
                    repo: repo.into(),
                    file: file.into(),
                    got,
                    expected: meta.size,
                    resume: "",
                });
            }
            if want_sha.is_some() {
                hasher.update(&chunk);
            }
            out.write_all(&chunk).await.map_err(io_err(&part))?;
            on_event(Event::Bytes {
                file,
                n: chunk.len() as u64,
            });
        }
        out.flush().await.map_err(io_err(&part))?;
        out.sync_all().await.map_err(io_err(&part))?;
        drop(out);
        if got < meta.size {
            return Err(HubError::Size {
                repo: repo.into(),
                file: file.into(),
                got,
                expected: meta.size,
                resume: "; run again to resume",
            });
        }
        if let Some(expected) = want_sha {
            let got = hex(&hasher.finalize());
            if got != expected {
                remove(&part)?;
                return Err(HubError::Checksum {
                    repo: repo.into(),
                    file: file.into(),
                    got,
                    expected,
                });
            }
        }
        std::fs::rename(&part, blob).map_err(io_err(blob))?;
        let status = if resumed {
            FileStatus::Resumed
        } else {
            FileStatus::Downloaded
        };
        Ok((status, fetched))
    }
}

/// `blobs/<etag>.incomplete`, as `huggingface_hub` names a partial blob.
pub fn incomplete_path(blob: &Path) -> PathBuf {
    let mut name = blob.as_os_str().to_owned();
    name.push(".incomplete");
    PathBuf::from(name)
}

/// The relative target of `snapshots/<commit>/<file>`: `../../blobs/<etag>`, one more `../`
/// per directory level of `file`.
pub fn link_target(file: &str, etag: &str) -> PathBuf {
    let depth = 2 + file.matches('/').count();
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.join("blobs").join(etag)
}

/// Point `pointer` (`snapshots/<commit>/<file>`) at its blob, replacing whatever is there.
fn link(pointer: &Path, file: &str, etag: &str) -> Result<(), HubError> {
    let parent = pointer.parent().ok_or_else(|| HubError::Io {
        path: pointer.display().to_string(),
        source: std::io::Error::other("no parent directory"),
    })?;
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(
        ".{}.{}.link",
        pointer
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let target = link_target(file, etag);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
    #[cfg(not(unix))]
    std::fs::copy(parent.join(&target), &tmp).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, pointer).map_err(io_err(pointer))
}

/// Write `refs/<revision>` = `commit` (no newline, as `huggingface_hub` does), atomically.
pub fn write_ref(repo_dir: &Path, revision: &str, commit: &str) -> Result<(), HubError> {
    let path = repo_dir.join("refs").join(revision);
    if std::fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit) {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(repo_dir);
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(".ref.{}.tmp", std::process::id()));
    std::fs::write(&tmp, commit).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

async fn hash_prefix(path: &Path, hasher: &mut Sha256) -> Result<(), HubError> {
    let mut f = tokio::fs::File::open(path).await.map_err(io_err(path))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(io_err(path))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn remove(path: &Path) -> Result<(), HubError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}
