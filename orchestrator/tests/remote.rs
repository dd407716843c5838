//! `assay run` on a model served over HTTP: the catalog names an `endpoint`, the plan routes
//! the model to the remote engine, and the run evaluates it through `assay serve` on loopback
//! with the same samples, log-likelihoods and greedy outputs as the same checkpoint run
//! in-process. The API key is read from the environment and never reaches the database.
#![allow(clippy::unwrap_used)]

use crate::util::{FakeServer, Output, Scratch, Served, fixture, llama_entry};
use assay::store::{SqliteStore, Store};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn remote_entry(id: &str, base_url: &str, key_env: &str) -> String {
    format!(
        "  - id: {id}\n    architecture: LlamaForCausalLM\n    params: 160000\n    layers: 2\n    \
         hidden: 64\n    heads: 4\n    kv_heads: 2\n    head_dim: 16\n    intermediate: 176\n    \
         vocab: 512\n    max_positions: 4096\n    endpoint:\n      base_url: {base_url}\n      \
         served_model_name: micro\n      api_key_env: {key_env}\n      concurrency: 4\n"
    )
}

pub(crate) fn run(s: &Scratch, db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all: Vec<String> = vec![
        "--catalog".into(),
        s.catalog().display().to_string(),
        "--db".into(),
        db.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut envs: Vec<(&str, String)> = vec![
        ("HF_HUB_CACHE", s.hf_cache().display().to_string()),
        (
            "XDG_CACHE_HOME",
            s.dir.path().join("cache").display().to_string(),
        ),
    ];
    envs.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    crate::util::run(&all, &envs)
}

pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

/// Per model: `(dataset, item) -> (output, log-likelihoods, scores)` of every stored sample.
type Samples = BTreeMap<(String, i64), (Option<String>, Option<Vec<f64>>, BTreeMap<String, f64>)>;

fn samples_by_model(db: &Path, run_id: i64) -> BTreeMap<String, Samples> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(db).await.unwrap();
        let mut out = BTreeMap::new();
        for job in store.jobs(run_id).await.unwrap() {
            let mut rows = Samples::new();
            for s in store.samples(job.id, None).await.unwrap() {
                assert!(s.row.error.is_none(), "{}: {:?}", job.model, s.row.error);
                rows.insert(
                    (s.row.dataset.clone(), s.row.item_index),
                    (s.row.output, s.row.loglikelihoods, s.row.scores),
                );
            }
            out.insert(job.model.clone(), rows);
        }
        store.close().await;
        out
    })
}

#[test]
fn a_served_model_runs_like_the_same_checkpoint_in_process() {
    let micro = fixture("llama-micro");
    let server = Served::start(&micro, &["--served-name", "micro"]);
    let s = Scratch::new();
    s.write(
        "categories/pair.yaml",
        "name: pair\ndescription: one checkpoint, local and served\nmodels: [local-micro, served-micro]\n\
         datasets: [tf, arith]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n{}{}",
            llama_entry("local-micro", &micro),
            remote_entry("served-micro", &server.base_url(), "MICRO_API_KEY")
        ),
    );
    let db = s.dir.path().join("r.db");
    let secret = "sk-never-stored-4b1d";

    // The plan routes the served model to its endpoint.
    let out = run(&s, &db, &["--json", "plan", "pair"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = json(&out);
    let jobs = plan["jobs"].as_array().unwrap();
    let served = jobs.iter().find(|j| j["model"] == "served-micro").unwrap();
    assert_eq!(served["engine"], "remote", "{served}");

    // Plain prompts on both sides: a server scores log-likelihoods of plain prompts only.
    let out = run(
        &s,
        &db,
        &["--json", "run", "pair", "--chat-template", "off"],
        &[("MICRO_API_KEY", secret)],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "completed", "{v}");
    let jobs = v["jobs"].as_array().unwrap();
    let remote = jobs.iter().find(|j| j["model"] == "served-micro").unwrap();
    let local = jobs.iter().find(|j| j["model"] == "local-micro").unwrap();
    assert_eq!(remote["engine"], "remote", "{remote}");
    assert_eq!(remote["status"], "completed", "{remote}");
    assert_eq!(local["status"], "completed", "{local}");
    assert!(
        remote["device_desc"]
            .as_str()
            .unwrap()
            .contains(&server.addr),
        "{remote}"
    );
    assert_eq!(remote["verdicts"][0][1]["verdict"], "remote", "{remote}");
    assert!(remote["memory_measured"].is_null(), "{remote}");

    // Same samples, same outputs, log-likelihoods equal to within float noise, same scores.
    let by_model = samples_by_model(&db, v["run_id"].as_i64().unwrap());
    let (l, r) = (&by_model["local-micro"], &by_model["served-micro"]);
    assert_eq!(l.len(), 5, "{l:?}");
    assert_eq!(l.keys().collect::<Vec<_>>(), r.keys().collect::<Vec<_>>());
    for (k, (lo, lll, ls)) in l {
        let (ro, rll, rs) = &r[k];
        assert_eq!(lo, ro, "{k:?}");
        assert_eq!(ls, rs, "{k:?}");
        match (lll, rll) {
            (Some(a), Some(b)) => {
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-3, "{k:?}: {x} vs {y}");
                }
            }
            (None, None) => {}
            other => panic!("{k:?}: {other:?}"),
        }
    }

    let plain = r.clone();

    // The key's value is in neither the output nor the database; its variable's name may be.
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    for f in ["r.db", "r.db-wal"] {
        if let Ok(bytes) = std::fs::read(s.dir.path().join(f)) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f} holds the key"
            );
        }
    }

    // Rerunning computes nothing: every remote sample is reused.
    let out = run(
        &s,
        &db,
        &[
            "--json",
            "run",
            "pair",
            "--models",
            "served-micro",
            "--chat-template",
            "off",
        ],
        &[("MICRO_API_KEY", secret)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["jobs"][0]["reused"], 5, "{v}");

    // Chat prompts: generation goes through /v1/chat/completions and the server's template,
    // giving the in-process engine's greedy texts.
    let out = run(
        &s,
        &db,
        &["--json", "run", "pair", "--datasets", "arith", "--fresh"],
        &[("MICRO_API_KEY", secret)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let by_model = samples_by_model(&db, json(&out)["run_id"].as_i64().unwrap());
    let (l, r) = (&by_model["local-micro"], &by_model["served-micro"]);
    assert_eq!(l.len(), 3);
    for (k, (lo, _, ls)) in l {
        assert_eq!(lo, &r[k].0, "{k:?}");
        assert_eq!(ls, &r[k].2, "{k:?}");
    }
    // Forcing chat prompts on a log-likelihood dataset of a served model is refused.
    let out = run(
        &s,
        &db,
        &[
            "--json",
            "run",
            "pair",
            "--models",
            "served-micro",
            "--datasets",
            "tf",
            "--chat-template",
            "on",
        ],
        &[("MICRO_API_KEY", secret)],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let v = json(&out);
    let err = v["jobs"][0]["datasets"][0]["error"].as_str().unwrap();
    assert!(err.contains("--chat-template off"), "{err}");

    // Without the key's variable the remote job fails, naming it; the local job still runs.
    let out = run(
        &s,
        &db,
        &["--json", "run", "pair", "--fresh", "--datasets", "tf"],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let v = json(&out);
    let jobs = v["jobs"].as_array().unwrap();
    let remote = jobs.iter().find(|j| j["model"] == "served-micro").unwrap();
    let local = jobs.iter().find(|j| j["model"] == "local-micro").unwrap();
    assert_eq!(remote["status"], "failed");
    assert!(
        remote["error"].as_str().unwrap().contains("MICRO_API_KEY"),
        "{remote}"
    );
    assert_eq!(local["status"], "completed", "{local}");

    // `--model URL --served-model-name NAME` evaluates a server without a catalog entry.
    let out = run(
        &s,
        &db,
        &[
            "--json",
            "run",
            "--model",
            &server.base_url(),
            "--served-model-name",
            "micro",
            "--datasets",
            "tf",
            "--chat-template",
            "off",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["jobs"][0]["model"], "micro", "{v}");
    assert_eq!(v["jobs"][0]["engine"], "remote", "{v}");
    let lls = samples_by_model(&db, v["run_id"].as_i64().unwrap());
    assert_eq!(lls["micro"].len(), 2);
    for (k, (_, ll, _)) in &lls["micro"] {
        let (a, b) = (ll.as_ref().unwrap(), plain[k].1.as_ref().unwrap());
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3), "{k:?}");
    }
    let out = run(
        &s,
        &db,
        &["run", "--model", &server.base_url(), "--datasets", "tf"],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--served-model-name"), "{}", out.stderr);
}

/// A served model runs on its server whatever its architecture: one no local engine supports
/// is still runnable (routed remote), and needs no weights on disk.
#[test]
fn a_served_model_of_an_unsupported_architecture_is_runnable() {
    let s = Scratch::new();
    s.write(
        "categories/far.yaml",
        "name: far\ndescription: served only\nmodels: [big-served]\ndatasets: [tf]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        "models:\n  - id: big-served\n    architecture: Gemma2ForCausalLM\n    params: 27000000000\n    \
         layers: 46\n    hidden: 4608\n    heads: 32\n    kv_heads: 16\n    head_dim: 128\n    \
         intermediate: 36864\n    vocab: 256000\n    max_positions: 8192\n    endpoint:\n      \
         base_url: http://10.1.2.3:8000/v1\n",
    );
    let db = s.dir.path().join("p.db");
    let out = run(&s, &db, &["--json", "plan", "far"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let job = &v["jobs"][0];
    assert_eq!(job["engine"], "remote", "{job}");
    assert_eq!(job["runnable"], true, "{job}");
    assert_eq!(v["totals"]["download_bytes"], 0, "{v}");
}

/// A server that lists its model and then answers every request with 503: the remote job
/// fails once a whole batch has given up after its retries, naming the server, instead of
/// failing every sample one by one; the local job of the same run completes.
#[test]
fn a_server_that_stops_answering_fails_its_job_only() {
    let server = FakeServer::start(
        "503 Service Unavailable",
        r#"{"error":{"message":"overloaded"}}"#,
    );
    let port = server.port;
    let s = Scratch::new();
    let micro = fixture("llama-micro");
    s.write(
        "categories/pair.yaml",
        "name: pair\ndescription: x\nmodels: [local-micro, down-micro]\ndatasets: [tf]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n{}{}",
            llama_entry("local-micro", &micro),
            remote_entry("down-micro", &server.base_url(), "UNUSED_KEY")
        ),
    );
    let db = s.dir.path().join("d.db");
    let out = run(&s, &db, &["--json", "run", "pair"], &[("UNUSED_KEY", "k")]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "failed", "{v}");
    let jobs = v["jobs"].as_array().unwrap();
    let down = jobs.iter().find(|j| j["model"] == "down-micro").unwrap();
    let local = jobs.iter().find(|j| j["model"] == "local-micro").unwrap();
    assert_eq!(down["status"], "failed", "{down}");
    let err = down["error"].as_str().unwrap();
    assert!(err.contains("stopped answering"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(local["status"], "completed", "{local}");
    assert!(v["resume_command"].as_str().is_some(), "{v}");
}
