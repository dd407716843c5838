//! Downloads from a fake hub on loopback into a temporary cache (no network).
#![allow(clippy::unwrap_used)]

#[path = "../../tests/fake_hub.rs"]
mod fake_hub;

use super::fetch::{incomplete_path, link_target};
use super::*;
use crate::catalog::local::{checkpoint_dir_in, read_checkpoint};
use fake_hub::{COMMIT, FakeHub, etag, sha256_hex};
use std::sync::Mutex;

const REPO: &str = "test-org/llama-micro";
const TOKEN: &str = "hf_secret_token_123";

fn micro() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tests/fixtures/llama-micro")
}

fn hub(fake: &FakeHub, cache: &Path, token: Option<&str>) -> Hub {
    Hub::new(HubConfig {
        endpoint: fake.endpoint.clone(),
        token: token.map(String::from),
        cache_dir: cache.to_path_buf(),
    })
    .unwrap()
}

fn quiet(_: Event<'_>) {}

fn names(d: &Download, status: FileStatus) -> Vec<&str> {
    d.files
        .iter()
        .filter(|f| f.status == status)
        .map(|f| f.file.as_str())
        .collect()
}

/// A catalog model for the fake repository at `revision`.
fn model(revision: &str) -> crate::catalog::Model {
    let mut cat = crate::catalog::load(None).unwrap();
    let mut m = cat
        .models
        .pop_first()
        .map(|(_, m)| m)
        .unwrap_or_else(|| panic!("the built-in catalog has no model"));
    m.path = None;
    m.hf_repo = Some(REPO.into());
    m.revision = revision.into();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_writes_the_hub_cache_layout_and_the_catalog_finds_it() {
    let fake = FakeHub::start(&micro(), REPO, Some(TOKEN)).await;
    let cache = tempfile::tempdir().unwrap();
    let events = Mutex::new(Vec::new());
    let record = |e: Event<'_>| {
        let line = match e {
            Event::Resolved { commit, files } => format!("resolved {commit} {files}"),
            Event::Start { file, size, from } => format!("start {file} {size} {from}"),
            Event::Bytes { .. } => return,
            Event::Done { file, status } => format!("done {file} {status:?}"),
        };
        events.lock().unwrap().push(line);
    };
    let d = hub(&fake, cache.path(), Some(TOKEN))
        .download(REPO, "main", &record)
        .await
        .unwrap();
    assert_eq!(d.commit, COMMIT);
    let repo_dir = cache.path().join("models--test-org--llama-micro");
    let snap = repo_dir.join("snapshots").join(COMMIT);
    assert_eq!(d.dir, snap);

    // Exactly the checkpoint's files, config.json last; no .bin, ONNX or reference.json.
    let got: Vec<&str> = d.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        got,
        [
            "chat_template.jinja",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "config.json"
        ]
    );
    assert_eq!(names(&d, FileStatus::Downloaded).len(), 6);
    let mut listed: Vec<String> = std::fs::read_dir(&snap)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 6, "{listed:?}");

    // blobs/<etag>, snapshot entries are relative symlinks to them, refs/main holds the commit.
    for f in &d.files {
        let bytes = std::fs::read(micro().join(&f.file)).unwrap();
        let tag = etag(&f.file, &bytes);
        let blob = repo_dir.join("blobs").join(&tag);
        assert_eq!(std::fs::read(&blob).unwrap(), bytes, "{}", f.file);
        let link = std::fs::read_link(snap.join(&f.file)).unwrap();
        assert_eq!(link, PathBuf::from(format!("../../blobs/{tag}")));
        assert_eq!(f.size, bytes.len() as u64);
        assert_eq!(f.fetched, bytes.len() as u64);
    }
    let weights = std::fs::read(micro().join("model.safetensors")).unwrap();
    assert!(
        repo_dir.join("blobs").join(sha256_hex(&weights)).is_file(),
        "an LFS blob is named by its sha256"
    );
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    let leftovers: Vec<_> = std::fs::read_dir(repo_dir.join("blobs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".incomplete")
        })
        .collect();
    assert!(leftovers.is_empty());

    // The catalog's local lookup finds it through refs/main and reads it.
    let m = model("main");
    let dir = checkpoint_dir_in(&m, Some(cache.path())).unwrap();
    assert_eq!(dir, snap);
    let local = read_checkpoint(&dir, &m.arch).unwrap();
    assert_eq!(local.arch.layers, 2);
    assert_eq!(local.arch.hidden, 64);

    // The token went to the hub as a bearer header, and never to the storage host.
    let hits = fake.hits();
    let bearer = format!("Bearer {TOKEN}");
    assert!(hits.iter().any(|h| h.path.starts_with("/api/")));
    for h in &hits {
        if h.path.starts_with("/storage/") {
            assert_eq!(h.auth, None, "{h:?}");
        } else {
            assert_eq!(h.auth.as_deref(), Some(bearer.as_str()), "{h:?}");
        }
    }
    assert!(hits.iter().any(|h| h.path.starts_with("/storage/")));
    let ev = events.lock().unwrap();
    assert_eq!(ev[0], format!("resolved {COMMIT} 6"));
    assert!(ev.contains(&format!("start model.safetensors {} 0", weights.len())));
    assert_eq!(ev.last().unwrap(), "done config.json Downloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_download_fetches_nothing() {
    let fake = FakeHub::start(&micro(), REPO, None).await;
    let cache = tempfile::tempdir().unwrap();
    let h = hub(&fake, cache.path(), None);
    let first = h.download(REPO, "main", &quiet).await.unwrap();
    assert!(first.fetched > 600_000);
    let sent = fake.bytes_sent();
    let again = h.download(REPO, "main", &quiet).await.unwrap();
    assert_eq!(again.fetched, 0);
    assert_eq!(names(&again, FileStatus::Present).len(), 6);
    assert_eq!(fake.bytes_sent(), sent, "only the revision was asked again");
    let last = fake.hits().pop().unwrap();
    assert!(last.path.starts_with("/api/models/"), "{last:?}");

    // A pinned commit resolves to the same snapshot and writes no ref for itself.
    let pinned = h.download(REPO, COMMIT, &quiet).await.unwrap();
    assert_eq!(pinned.fetched, 0);
    let refs = cache.path().join("models--test-org--llama-micro/refs");
    assert!(!refs.join(COMMIT).exists());
    // A tag gets its own ref.
    h.download(REPO, "v1.0", &quiet).await.unwrap();
    assert_eq!(std::fs::read_to_string(refs.join("v1.0")).unwrap(), COMMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_blob_is_resumed_with_a_range_request() {
    let fake = FakeHub::start(&micro(), REPO, None).await;
    let cache = tempfile::tempdir().unwrap();
    let weights = std::fs::read(micro().join("model.safetensors")).unwrap();
    let blobs = cache.path().join("models--test-org--llama-micro/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = blobs.join(sha256_hex(&weights));
    let part = incomplete_path(&blob);
    std::fs::write(&part, &weights[..100_000]).unwrap();

    let d = hub(&fake, cache.path(), None)
        .download(REPO, "main", &quiet)
        .await
        .unwrap();
    let w = d
        .files
        .iter()
        .find(|f| f.file == "model.safetensors")
        .unwrap();
    assert_eq!(w.status, FileStatus::Resumed);
    assert_eq!(w.fetched, weights.len() as u64 - 100_000);
    assert_eq!(std::fs::read(&blob).unwrap(), weights);
    assert!(!part.exists());
    let ranged: Vec<_> = fake
        .hits()
        .into_iter()
        .filter(|h| h.range.is_some())
        .collect();
    assert_eq!(ranged.len(), 1);
    assert_eq!(ranged[0].range.as_deref(), Some("bytes=100000-"));
    assert_eq!(ranged[0].sent, weights.len() as u64 - 100_000);

    // A whole partial file (stopped before its rename) is checked and kept, not fetched.
    let other = tempfile::tempdir().unwrap();
    let blobs = other.path().join("models--test-org--llama-micro/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = blobs.join(sha256_hex(&weights));
    std::fs::write(incomplete_path(&blob), &weights).unwrap();
    let sent = fake.bytes_sent();
    let d = hub(&fake, other.path(), None)
        .download(REPO, "main", &quiet)
        .await
        .unwrap();
    let w = d
        .files
        .iter()
        .find(|f| f.file == "model.safetensors")
        .unwrap();
    assert_eq!((w.status, w.fetched), (FileStatus::Resumed, 0));
    assert_eq!(fake.bytes_sent() - sent, d.fetched);
    assert_eq!(std::fs::read(&blob).unwrap(), weights);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_checksum_or_size_is_rejected_and_leaves_no_snapshot_file() {
    let fake = FakeHub::start(&micro(), REPO, None).await;
    let cache = tempfile::tempdir().unwrap();
    let weights = std::fs::read(micro().join("model.safetensors")).unwrap();
    let repo_dir = cache.path().join("models--test-org--llama-micro");
    let snap_file = repo_dir
        .join("snapshots")
        .join(COMMIT)
        .join("model.safetensors");
    let blob = repo_dir.join("blobs").join(sha256_hex(&weights));
    let h = hub(&fake, cache.path(), None);

    *fake.hub.corrupt.lock().unwrap() = Some("model.safetensors".into());
    let err = h.download(REPO, "main", &quiet).await.unwrap_err();
    assert!(matches!(err, HubError::Checksum { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(text.contains(&sha256_hex(&weights)), "{text}");
    assert!(!snap_file.exists() && std::fs::symlink_metadata(&snap_file).is_err());
    assert!(!blob.exists());
    assert!(
        !incomplete_path(&blob).exists(),
        "a bad download is not kept"
    );
    // No config.json either: the snapshot does not look like a checkpoint.
    assert!(checkpoint_dir_in(&model("main"), Some(cache.path())).is_none());

    *fake.hub.corrupt.lock().unwrap() = None;
    *fake.hub.oversize.lock().unwrap() = Some(("model.safetensors".into(), 10));
    let err = h.download(REPO, "main", &quiet).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{REPO}: `model.safetensors`: received {} bytes, expected {}; run again to resume",
            weights.len(),
            weights.len() + 10
        )
    );
    assert!(std::fs::symlink_metadata(&snap_file).is_err());
    assert!(!blob.exists());

    // With the server right again, the download completes.
    *fake.hub.oversize.lock().unwrap() = None;
    h.download(REPO, "main", &quiet).await.unwrap();
    assert_eq!(std::fs::read(&snap_file).unwrap(), weights);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_not_found_errors_are_clear_and_never_show_the_token() {
    let fake = FakeHub::start(&micro(), REPO, Some(TOKEN)).await;
    let cache = tempfile::tempdir().unwrap();

    let err = hub(&fake, cache.path(), None)
        .download(REPO, "main", &quiet)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{REPO}: the hub answered HTTP 401: a token is needed (gated or private model): \
             set HF_TOKEN to a token with access, or check that the repository exists"
        )
    );

    let wrong = "hf_wrong_token_456";
    let h = hub(&fake, cache.path(), Some(wrong));
    let err = h.download(REPO, "main", &quiet).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{REPO}: the hub answered HTTP 403: the token in HF_TOKEN lacks access"
        )),
        "{text}"
    );
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(!format!("{h:?}").contains(wrong));
    assert!(
        fake.hits()
            .iter()
            .any(|x| x.auth.as_deref() == Some("Bearer hf_wrong_token_456"))
    );

    let h = hub(&fake, cache.path(), Some(TOKEN));
    let err = h
        .download(REPO, "no-such-branch", &quiet)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{REPO}: repository or revision `no-such-branch` not found on {} (HTTP 404)",
            fake.endpoint
        )
    );
    let err = h
        .download("test-org/missing", "main", &quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotFound { .. }), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    assert!(
        std::fs::read_dir(cache.path()).unwrap().next().is_none(),
        "nothing written"
    );

    let err = h.download("../etc", "main", &quiet).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`../etc` is not a Hugging Face repository id (expected `org/name`)"
    );
}

#[test]
fn only_checkpoint_files_are_picked() {
    let files: Vec<String> = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "model.gguf",
        "onnx/model.onnx",
        "original/consolidated.safetensors",
        "tokenizer.model",
        "README.md",
        ".gitattributes",
        "chat_template.jinja",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        checkpoint_files(&files),
        [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "tokenizer.model",
            "chat_template.jinja"
        ]
    );
    assert_eq!(unquote_etag("W/\"abc\""), "abc");
    assert_eq!(unquote_etag("\"abc\""), "abc");
    assert_eq!(
        link_target("a/b.json", "e"),
        PathBuf::from("../../../blobs/e")
    );
    assert_eq!(encode("refs/pr/1", false), "refs%2Fpr%2F1");
    assert!(is_commit(COMMIT));
    assert!(!is_commit("main"));
    let cfg = HubConfig {
        endpoint: "x".into(),
        token: Some(TOKEN.into()),
        cache_dir: PathBuf::new(),
    };
    assert!(!format!("{cfg:?}").contains(TOKEN));
    assert!(matches!(Hub::new(cfg), Err(HubError::BadEndpoint(_))));
}

#[tokio::test]
#[ignore = "needs network access to huggingface.co"]
async fn resolves_a_public_repository_on_the_real_hub() {
    let cache = tempfile::tempdir().unwrap();
    let h = Hub::new(HubConfig {
        endpoint: DEFAULT_ENDPOINT.into(),
        token: None,
        cache_dir: cache.path().to_path_buf(),
    })
    .unwrap();
    let r = h
        .resolve("Qwen/Qwen2.5-0.5B-Instruct", "main")
        .await
        .unwrap();
    assert!(is_commit(&r.commit), "{r:?}");
    let picked = checkpoint_files(&r.files);
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(picked.iter().any(|p| p == f), "{picked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_download_side_by_side() {
    use std::sync::atomic::Ordering;
    let fake = FakeHub::start(&micro(), REPO, None).await;
    // Every answer takes 150 ms: files fetched one after another would never overlap.
    fake.hub.delay_ms.store(150, Ordering::SeqCst);
    let cache = tempfile::tempdir().unwrap();
    let d = hub(&fake, cache.path(), None)
        .download(REPO, "main", &quiet)
        .await
        .unwrap();
    assert_eq!(names(&d, FileStatus::Downloaded).len(), 6);
    assert_eq!(d.files.last().unwrap().file, "config.json");
    let most = fake.hub.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=super::PARALLEL_FILES).contains(&most),
        "{most} requests at once"
    );
}
