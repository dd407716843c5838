//! `assay download` and `assay run --download` against a fake hub on loopback (HF_ENDPOINT),
//! into a scratch Hugging Face cache.
#![allow(clippy::unwrap_used)]

use crate::fake_hub::{COMMIT, FakeHub};
use crate::util::{Output, Scratch, run};
use assay::store::{SqliteStore, Store};
use serde_json::Value;
use std::path::PathBuf;

const REPO: &str = "test-org/llama-micro";
const TOKEN: &str = "hf_cli_secret_789";

fn micro() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tests/fixtures/llama-micro")
}

/// A runtime serving the fake hub while the test runs the binary.
fn fake_hub() -> (tokio::runtime::Runtime, FakeHub) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hub = rt.block_on(FakeHub::start(&micro(), REPO, Some(TOKEN)));
    (rt, hub)
}

fn assay(s: &Scratch, hub: &FakeHub, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["--catalog".to_string(), s.catalog().display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    run(
        &all,
        &[
            ("HF_HUB_CACHE", s.hf_cache().display().to_string()),
            ("HF_ENDPOINT", hub.endpoint.clone()),
            ("HF_TOKEN", token.to_string()),
            ("ASSAY_DB", s.dir.path().join("h.db").display().to_string()),
        ],
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

#[test]
fn download_command_fills_the_cache_once() {
    let (_rt, hub) = fake_hub();
    let s = Scratch::new();
    let out = assay(&s, &hub, TOKEN, &["--json", "download", REPO]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let m = &v["models"][0];
    assert_eq!(m["model"], REPO);
    assert_eq!(m["revision"], "main");
    assert_eq!(m["commit"], COMMIT);
    let snap = s
        .hf_cache()
        .join("models--test-org--llama-micro/snapshots")
        .join(COMMIT);
    assert_eq!(m["dir"], snap.display().to_string());
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    assert!(files.iter().all(|f| f["status"] == "downloaded"), "{m}");
    assert_eq!(
        std::fs::read(snap.join("model.safetensors")).unwrap(),
        std::fs::read(micro().join("model.safetensors")).unwrap()
    );
    assert!(!out.stderr.contains(TOKEN));

    // Again: nothing fetched; the human table says so.
    let out = assay(&s, &hub, TOKEN, &["download", REPO, "--revision", "v1.0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            REPO,
            "v1.0",
            COMMIT,
            "0/6",
            "0",
            "B",
            &snap.display().to_string()
        ],
        "{}",
        out.stdout
    );

    // A refused token and unknown names are input errors (exit 2) that never show the token.
    let bad = "hf_not_the_right_one";
    let out = assay(&s, &hub, bad, &["download", REPO]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 403"), "{}", out.stderr);
    assert!(!out.stderr.contains(bad));
    let out = assay(&s, &hub, TOKEN, &["download", "test-org/nothing-here"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("test-org/nothing-here: repository or revision `main` not found"),
        "{}",
        out.stderr
    );
    let out = assay(&s, &hub, TOKEN, &["download", "llama"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown model `llama`"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_with_download_fetches_then_evaluates() {
    let (_rt, hub) = fake_hub();
    let s = Scratch::new();
    s.write(
        "categories/hub.yaml",
        "name: hub\ndescription: a model from the hub\nmodels: [hub-micro]\ndatasets: [tf]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n  - id: hub-micro\n    hf_repo: {REPO}\n    revision: main\n    dtype: f32\n    \
             architecture: LlamaForCausalLM\n    params: 160000\n    layers: 2\n    hidden: 64\n    \
             heads: 4\n    kv_heads: 2\n    head_dim: 16\n    intermediate: 176\n    vocab: 512\n    \
             max_positions: 4096\n"
        ),
    );

    // Without --download: the missing model and how to get it.
    let out = assay(&s, &hub, TOKEN, &["run", "hub"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "hub-micro (0.61 MiB): huggingface-cli download {REPO} --revision main"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--download"), "{}", out.stderr);
    assert!(hub.hits().is_empty(), "no request without --download");

    let out = assay(&s, &hub, TOKEN, &["--json", "run", "hub", "--download"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "completed");
    let job = &v["jobs"][0];
    assert_eq!(job["model"], "hub-micro");
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["datasets"][0]["done"], 2);
    assert!(!out.stderr.contains(TOKEN));

    // The run stored the resolved commit as the model's revision.
    let db = s.dir.path().join("h.db");
    let run_id = v["run_id"].as_i64().unwrap();
    let jobs = jobs_of(&db, run_id);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].revision, COMMIT);

    // The checkpoint is in the cache now: a second run downloads nothing.
    let sent = hub.bytes_sent();
    let requests = hub.hits().len();
    let out = assay(
        &s,
        &hub,
        TOKEN,
        &["--json", "run", "hub", "--download", "--fresh"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(hub.bytes_sent(), sent);
    assert_eq!(hub.hits().len(), requests, "nothing was missing");
    // A checkpoint found on disk records its snapshot's commit too, not the branch name.
    let run_id = json(&out)["run_id"].as_i64().unwrap();
    let jobs = jobs_of(&db, run_id);
    assert_eq!(jobs[0].revision, COMMIT);
}

/// The jobs a run recorded in the database at `db`.
fn jobs_of(db: &std::path::Path, run_id: i64) -> Vec<assay::store::JobRecord> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = SqliteStore::open(db).await.unwrap();
            let jobs = store.jobs(run_id).await.unwrap();
            store.close().await;
            jobs
        })
}
