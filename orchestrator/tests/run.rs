//! `assay run`: end-to-end runs on real tiny checkpoints (the demo model, the llama-micro
//! fixture) into a temporary database, with resume, SIGKILL, failure isolation, bad rows and
//! concurrent readers.
#![allow(clippy::unwrap_used)]

use crate::util::{Output, Scratch};
use assay::store::{HistoryQuery, Queries, SqliteStore, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The llama-micro checkpoint of the engine tests.
fn micro() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engines/tests/fixtures/llama-micro")
}

/// A command for the binary with the built-in catalog on, caches in `home`, the db at `db`.
fn command(home: &Path, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .env_remove("ASSAY_CATALOG")
        .env_remove("ASSAY_DB")
        .env("ASSAY_NO_BUILTIN_CATALOG", "0")
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("HF_HUB_CACHE", home.join("hf"))
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run assay");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `(dataset, metric, filter, value, n, n_failed)` of a run's aggregates, sorted.
fn aggregates(db: &Path, run_id: i64) -> Vec<(String, String, String, String, i64, i64)> {
    rt().block_on(async {
        let store = SqliteStore::open(db).await.expect("open db");
        let rows = store
            .history_rows(&HistoryQuery {
                run_id: Some(run_id),
                ..HistoryQuery::default()
            })
            .await
            .expect("history");
        store.close().await;
        let mut out: Vec<_> = rows
            .into_iter()
            .map(|r| {
                (
                    r.dataset,
                    r.metric,
                    r.filter,
                    format!("{:.12}", r.value),
                    r.n,
                    r.n_failed,
                )
            })
            .collect();
        out.sort();
        out
    })
}

/// Every sample row of a run's jobs as `(job, dataset, item, repeat)`.
fn sample_keys(db: &Path, run_id: i64) -> Vec<(i64, String, i64, i64)> {
    rt().block_on(async {
        let store = SqliteStore::open(db).await.expect("open db");
        let mut out = Vec::new();
        for job in store.jobs(run_id).await.expect("jobs") {
            for s in store.samples(job.id, None).await.expect("samples") {
                out.push((job.id, s.row.dataset, s.row.item_index, s.row.repeat_index));
            }
        }
        store.close().await;
        out
    })
}

#[test]
fn demo_runs_end_to_end_and_a_rerun_reuses_every_sample() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("a.db");
    let out = output(command(
        home.path(),
        &db,
        &["--json", "run", "demo", "--limit", "4"],
    ));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "completed");
    let job = &v["jobs"][0];
    assert_eq!(job["model"], "demo-llama");
    assert_eq!(job["engine"], "lightweight");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["verdicts"][0][1]["verdict"], "cpu");
    let names: Vec<&str> = job["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["boolean_questions", "spatial_reasoning", "quick_facts"]
    );
    for d in job["datasets"].as_array().unwrap() {
        assert_eq!(d["status"], "completed", "{d}");
        assert_eq!(d["done"], 4);
        let acc = &d["aggregates"][0];
        assert_eq!(acc["n"], 4);
        let value = acc["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value));
    }
    assert!(job["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        job["memory_measured"].as_i64().unwrap() > 0,
        "worker RSS measured"
    );
    let run1 = v["run_id"].as_i64().unwrap();
    // Worker readings were stored with the job: RSS and CPU use from /proc.
    let telemetry = rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let t = store.telemetry(run1).await.unwrap();
        store.close().await;
        t
    });
    assert!(!telemetry.is_empty());
    assert!(
        telemetry
            .iter()
            .all(|t| t.device == "cpu" && t.job_id.is_some())
    );
    assert!(
        telemetry
            .iter()
            .any(|t| t.mem_used_bytes.unwrap_or(0) > 1 << 20)
    );
    // The demo checkpoint was created in the cache directory given.
    assert!(
        home.path()
            .join("cache/assay/models/demo-llama-h128-l4-v1/model.safetensors")
            .is_file()
    );
    // Export in lm-eval's shape carries each dataset's version, few-shot count and size.
    let export = output(command(home.path(), &db, &["export", &run1.to_string()]));
    assert_eq!(export.code, 0, "{}", export.stderr);
    let e: Value = serde_json::from_str(&export.stdout).unwrap();
    let doc = if e.is_array() { &e[0] } else { &e };
    assert_eq!(doc["versions"]["boolean_questions"], "1.0", "{doc}");
    assert_eq!(doc["n-shot"]["boolean_questions"], 3, "{doc}");
    assert_eq!(
        doc["n-samples"]["boolean_questions"]["original"], 64,
        "{doc}"
    );
    assert_eq!(
        doc["n-samples"]["boolean_questions"]["effective"], 4,
        "{doc}"
    );

    // The same command again: nothing is computed, the same figures come back.
    let again = output(command(
        home.path(),
        &db,
        &["--json", "run", "demo", "--limit", "4"],
    ));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let w = json(&again);
    assert_eq!(w["jobs"][0]["reused"], 12);
    assert_eq!(
        w["jobs"][0]["load_s"], 0.0,
        "no model loaded when nothing is left"
    );
    let run2 = w["run_id"].as_i64().unwrap();
    assert_eq!(aggregates(&db, run1), aggregates(&db, run2));
    // --fresh computes everything again.
    let fresh = output(command(
        home.path(),
        &db,
        &[
            "--json",
            "run",
            "demo",
            "--limit",
            "2",
            "--datasets",
            "boolean_questions",
            "--fresh",
        ],
    ));
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(json(&fresh)["jobs"][0]["reused"], 0);
}

#[test]
fn model_path_run_and_human_table() {
    let s = Scratch::new();
    let db = s.dir.path().join("r.db");
    let micro = micro();
    let mut cmd = command(
        s.dir.path(),
        &db,
        &[
            "--catalog",
            s.catalog().to_str().unwrap(),
            "run",
            "--model",
            micro.to_str().unwrap(),
            "--datasets",
            "tf,arith",
        ],
    );
    cmd.env("ASSAY_NO_BUILTIN_CATALOG", "1");
    let out = output(cmd);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let first = out.stdout.lines().next().unwrap();
    assert!(first.starts_with("model"), "{}", out.stdout);
    assert!(first.contains("tok/s"));
    assert!(out.stdout.contains("llama-micro  tf "), "{}", out.stdout);
    assert!(out.stdout.contains("acc,none"));
    assert!(out.stdout.contains("exact_match,get-answer"));
    assert!(out.stdout.contains("run 1 completed"));
    let keys = sample_keys(&db, 1);
    assert_eq!(keys.len(), 2 + 3, "{keys:?}");
}

#[test]
fn sigkill_mid_run_then_resume_matches_an_uninterrupted_run() {
    let home = tempfile::tempdir().unwrap();
    let args = ["run", "demo", "--limit", "20", "--batch-size", "1"];
    let killed_db = home.path().join("killed.db");
    let mut child: Child = command(home.path(), &killed_db, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some samples are committed, then SIGKILL the parent.
    let rt = rt();
    let start = Instant::now();
    let committed = loop {
        let n = rt.block_on(async {
            if !killed_db.exists() {
                return 0;
            }
            let Ok(store) = SqliteStore::open(&killed_db).await else {
                return 0;
            };
            let mut n = 0;
            if let Ok(jobs) = store.jobs(1).await {
                for j in jobs {
                    n += store
                        .samples(j.id, None)
                        .await
                        .map(|s| s.len())
                        .unwrap_or(0);
                }
            }
            store.close().await;
            n
        });
        if n >= 5 {
            break n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no samples committed within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let after_kill = sample_keys(&killed_db, 1).len();
    assert!(
        after_kill >= committed,
        "committed rows lost: {after_kill} < {committed}"
    );
    assert!(after_kill < 60, "the run finished before it was killed");

    let resumed = output(command(
        home.path(),
        &killed_db,
        &["--json", "run", "--resume", "1"],
    ));
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    let v = json(&resumed);
    assert_eq!(v["run_id"], 1);
    assert_eq!(v["status"], "completed");

    // Exactly one row per sample.
    let mut keys = sample_keys(&killed_db, 1);
    assert_eq!(keys.len(), 60);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 60, "duplicate rows after resume");

    let clean_db = home.path().join("clean.db");
    let clean = output(command(home.path(), &clean_db, &args));
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let a = aggregates(&killed_db, 1);
    assert!(!a.is_empty());
    assert_eq!(a, aggregates(&clean_db, 1));
}

#[test]
fn reads_during_a_run_neither_block_nor_fail() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("c.db");
    let mut child = command(
        home.path(),
        &db,
        &["run", "demo", "--limit", "20", "--batch-size", "1"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let rt = rt();
    let mut reads = 0;
    let mut slowest = Duration::ZERO;
    let mut saw_rows = false;
    loop {
        let finished = child.try_wait().unwrap().is_some();
        if db.exists() {
            rt.block_on(async {
                let store = SqliteStore::open(&db).await.expect("open during a run");
                let t = Instant::now();
                let runs = store.runs(10).await.expect("runs during a run");
                store
                    .history_rows(&HistoryQuery::default())
                    .await
                    .expect("history during a run");
                for r in runs {
                    for j in store.jobs(r.id).await.expect("jobs during a run") {
                        let n = store.samples(j.id, None).await.expect("samples").len();
                        saw_rows |= n > 0;
                    }
                }
                slowest = slowest.max(t.elapsed());
                store.close().await;
            });
            reads += 1;
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.wait().unwrap().success());
    assert!(reads > 3, "only {reads} reads during the run");
    assert!(saw_rows);
    assert!(slowest < Duration::from_secs(2), "a read took {slowest:?}");
}

#[test]
fn malformed_rows_fail_the_dataset_unless_skipped() {
    let s = Scratch::new();
    let path = s.write(
        "datasets/tf/test.jsonl",
        "{\"statement\": \"x\", \"label\": 1}\nnot json\n{\"statement\": \"y\", \"label\": 0}\n[1]\n",
    );
    let db = s.dir.path().join("b.db");
    let micro = micro();
    let catalog = s.catalog();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--catalog",
            catalog.to_str().unwrap(),
            "run",
            "--model",
            micro.to_str().unwrap(),
            "--datasets",
            "tf",
        ];
        args.extend_from_slice(extra);
        let mut cmd = command(s.dir.path(), &db, &args);
        cmd.env("ASSAY_NO_BUILTIN_CATALOG", "1");
        output(cmd)
    };
    let out = run(&[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let f = path.display();
    assert!(
        out.stdout
            .contains(&format!("{f}:2: row is not valid JSON")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("{f}:4: row must be a JSON object")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--skip-bad-rows"));

    let out = run(&["--skip-bad-rows", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let d = &v["jobs"][0]["datasets"][0];
    assert_eq!(d["status"], "completed");
    assert_eq!(d["done"], 2);
    let skipped: Vec<&str> = d["skipped_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0].starts_with(&format!("{f}:2: ")));
}

#[test]
fn a_model_that_fails_to_load_fails_its_job_only() {
    let s = Scratch::new();
    // A copy of the micro checkpoint without its tokenizer: the weights are on disk (so the
    // run starts), but the engine cannot load it.
    let broken = s.dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for f in std::fs::read_dir(micro()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), broken.join(f.file_name())).unwrap();
    }
    std::fs::remove_file(broken.join("tokenizer.json")).unwrap();
    let micro = micro();
    s.write(
        "categories/pair.yaml",
        "name: pair\ndescription: two models\nmodels: [good-micro, broken-micro]\ndatasets: [tf]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n{}{}",
            crate::util::llama_entry("good-micro", &micro),
            crate::util::llama_entry("broken-micro", &broken)
        ),
    );
    let db = s.dir.path().join("f.db");
    let mut cmd = command(
        s.dir.path(),
        &db,
        &[
            "--catalog",
            s.catalog().to_str().unwrap(),
            "--json",
            "run",
            "pair",
        ],
    );
    cmd.env("ASSAY_NO_BUILTIN_CATALOG", "1");
    let out = output(cmd);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "failed");
    let jobs = v["jobs"].as_array().unwrap();
    let good = jobs.iter().find(|j| j["model"] == "good-micro").unwrap();
    let bad = jobs.iter().find(|j| j["model"] == "broken-micro").unwrap();
    assert_eq!(good["status"], "completed", "{good}");
    assert_eq!(good["datasets"][0]["done"], 2);
    assert_eq!(bad["status"], "failed");
    let err = bad["error"].as_str().unwrap();
    assert!(err.contains("broken-micro"), "{err}");
    // The error is on the job in the database too.
    let recorded = rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let jobs = store.jobs(1).await.unwrap();
        store.close().await;
        jobs
    });
    let bad_row = recorded.iter().find(|j| j.model == "broken-micro").unwrap();
    assert_eq!(bad_row.status.as_str(), "failed");
    assert!(
        bad_row
            .error
            .as_deref()
            .unwrap_or("")
            .contains("cannot load")
    );
}

/// A window too small for any answer is refused before anything runs (it used to fail every
/// request one by one); the remote case, where the server refuses, is in `failures.rs`.
#[test]
fn a_window_too_small_for_the_answers_is_refused_up_front() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("x.db");
    let out = output(command(
        home.path(),
        &db,
        &[
            "run",
            "demo",
            "--limit",
            "2",
            "--max-seq-len",
            "4",
            "--datasets",
            "quick_facts",
        ],
    ));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("max_gen_toks 16 (from the manifest) leaves no room"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_input_errors() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("e.db");
    let out = output(command(
        home.path(),
        &db,
        &["run", "--model", "/no/such/dir", "--datasets", "tf"],
    ));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "neither a catalog model id, a directory with a config.json, nor an `org/name`"
        ),
        "{}",
        out.stderr
    );
    let out = output(command(
        home.path(),
        &db,
        &["run", "demo", "--gen-kwargs", "max_gen_toks=0"],
    ));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("max_gen_toks"), "{}", out.stderr);
    // Catalog models without weights are listed with how to fetch them.
    let out = output(command(home.path(), &db, &["run", "text_geospatial"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("have no weights on disk"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("phi-2"), "{}", out.stderr);
    // With --download they are fetched first; here the hub cannot be reached.
    let mut cmd = command(home.path(), &db, &["run", "text_geospatial", "--download"]);
    cmd.env("HF_ENDPOINT", "http://127.0.0.1:9");
    let out = output(cmd);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(": resolving the revision: error sending request"),
        "{}",
        out.stderr
    );
}

#[test]
fn code_datasets_are_skipped_unless_code_execution_is_allowed() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("k.db");
    let micro = micro().display().to_string();
    let out = output(command(
        home.path(),
        &db,
        &[
            "--json",
            "run",
            "--model",
            &micro,
            "--datasets",
            "code_generation,boolean_questions",
            "--limit",
            "1",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let code = &v["jobs"][0]["datasets"][0];
    assert_eq!(code["name"], "code_generation");
    assert_eq!(code["status"], "skipped");
    let why = code["error"].as_str().unwrap();
    assert!(
        why.contains("code execution is off") && why.contains("--allow-code-execution"),
        "{why}"
    );
    assert_eq!(v["jobs"][0]["datasets"][1]["status"], "completed");
    // No sandbox is set up when code execution is off.
    assert!(!out.stderr.contains("sandbox:"), "{}", out.stderr);
}

#[test]
fn code_datasets_run_in_the_sandbox_with_code_execution_allowed() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("x.db");
    let micro = micro().display().to_string();
    let out = output(command(
        home.path(),
        &db,
        &[
            "--json",
            "run",
            "--model",
            &micro,
            "--datasets",
            "code_generation",
            "--limit",
            "2",
            "--allow-code-execution",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The sandbox says once what protects the host.
    assert_eq!(
        out.stderr.matches("note: sandbox: ").count(),
        1,
        "{}",
        out.stderr
    );
    let v = json(&out);
    let run_id = v["run_id"].as_i64().unwrap();
    let code = &v["jobs"][0]["datasets"][0];
    assert_eq!(code["status"], "completed", "{code}");
    assert_eq!(code["headline"], serde_json::json!(["pass@1", "none"]));
    // A random model's completions do not pass: pass@1 = 0 over 2 problems, none failed.
    assert_eq!(
        aggregates(&db, run_id),
        vec![(
            "code_generation".to_string(),
            "pass@1".to_string(),
            "none".to_string(),
            format!("{:.12}", 0.0),
            2,
            0
        )]
    );
    // Each sample row keeps its verdict, the failure kind and its detail.
    let rows = rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let job = store.jobs(run_id).await.unwrap()[0].id;
        let rows = store.samples(job, Some("code_generation")).await.unwrap();
        store.close().await;
        rows
    });
    assert_eq!(rows.len(), 2);
    let kinds = [
        "wrong_answer",
        "exception",
        "timeout",
        "memory",
        "output_limit",
        "killed",
    ];
    for r in &rows {
        let r = &r.row;
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.scores.get("pass_at_k,none"), Some(&0.0), "{r:?}");
        let kind = r.filtered.get("execution").map(String::as_str).unwrap();
        assert!(kinds.contains(&kind), "{kind}");
        assert!(!r.filtered["execution_detail"].is_empty(), "{r:?}");
        assert_eq!(r.filtered.get("none"), r.output.as_ref());
    }
}

#[test]
fn a_second_ctrl_c_quits_at_once_keeping_committed_rows() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("q.db");
    let child = demo_under_way(home.path(), &db);
    let pid = child.id() as i32;
    // SAFETY: kill(2) on a child we started and have not waited for.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    std::thread::sleep(Duration::from_millis(30));
    let committed = sample_keys(&db, 1).len();
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sample_keys(&db, 1).len() >= committed);
    let status = rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let run = store.run(1).await.unwrap();
        store.close().await;
        run.status
    });
    assert_eq!(status.as_str(), "interrupted");
}

/// `assay run demo` (60 samples, one per batch) started, once it has committed 3 samples.
fn demo_under_way(home: &Path, db: &Path) -> Child {
    let child = command(
        home,
        db,
        &["run", "demo", "--limit", "20", "--batch-size", "1"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for_rows(db, 3);
    child
}

/// Wait until the run's jobs hold at least `n` sample rows.
fn wait_for_rows(db: &Path, n: usize) {
    let start = Instant::now();
    while !db.exists() || sample_keys_lenient(db) < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no samples within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sample_keys_lenient(db: &Path) -> usize {
    rt().block_on(async {
        let Ok(store) = SqliteStore::open(db).await else {
            return 0;
        };
        let mut n = 0;
        if let Ok(jobs) = store.jobs(1).await {
            for j in jobs {
                n += store
                    .samples(j.id, None)
                    .await
                    .map(|s| s.len())
                    .unwrap_or(0);
            }
        }
        store.close().await;
        n
    })
}

/// The processes of a run: the parent and its workers.
fn process_tree(pid: u32) -> Vec<i32> {
    let mut out = vec![pid as i32];
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    for t in tasks.flatten() {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok()),
        );
    }
    out
}

/// Ctrl-C (SIGINT), SIGTERM (docker, systemd, Slurm, Kubernetes) and SIGHUP stop a run the
/// same way, even when they reach the workers too: the batch in flight is committed, the run
/// and its job are marked for resuming, the resume command is printed, and the resume
/// completes the run.
#[test]
fn stop_signals_commit_mark_interrupted_and_say_how_to_resume() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let home = tempfile::tempdir().unwrap();
        let db = home.path().join("t.db");
        let child = demo_under_way(home.path(), &db);
        for pid in process_tree(child.id()) {
            // SAFETY: kill(2) on processes of a run this test started.
            unsafe {
                libc::kill(pid, sig);
            }
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "signal {sig}: {stderr}");
        let resume = format!("assay run --resume 1 --db {}", db.display());
        assert!(stderr.contains(&resume), "signal {sig}: {stderr}");
        let (status, jobs) = rt().block_on(async {
            let store = SqliteStore::open(&db).await.unwrap();
            let run = store.run(1).await.unwrap();
            let jobs = store.jobs(1).await.unwrap();
            store.close().await;
            (run.status, jobs)
        });
        assert_eq!(status.as_str(), "interrupted", "signal {sig}");
        for j in &jobs {
            assert_eq!(j.status.as_str(), "pending", "signal {sig}: {j:?}");
        }
        let kept = sample_keys(&db, 1).len();
        assert!((3..60).contains(&kept), "signal {sig}: {kept}");
        let resumed = output(command(
            home.path(),
            &db,
            &["--json", "run", "--resume", "1"],
        ));
        assert_eq!(resumed.code, 0, "{}", resumed.stderr);
        assert_eq!(json(&resumed)["status"], "completed");
        assert_eq!(sample_keys(&db, 1).len(), 60);
    }
}

#[test]
fn two_runs_writing_one_database_both_succeed() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("shared.db");
    // Create the database (and the demo model) first, so both start from the same state.
    let first = output(command(home.path(), &db, &["run", "demo", "--limit", "1"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let spawn = |limit: &str| {
        command(
            home.path(),
            &db,
            &["--json", "run", "demo", "--fresh", "--limit", limit],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn("6"), spawn("5"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ids: Vec<i64> = [&a, &b]
        .iter()
        .map(|o| {
            serde_json::from_slice::<Value>(&o.stdout).unwrap()["run_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    for (id, n) in ids.iter().zip([18, 15]) {
        assert_eq!(sample_keys(&db, *id).len(), n);
    }
}

#[test]
fn data_parallel_replicas_share_a_models_samples() {
    use assay::run::{GenKwargs, JobSpec, LocalEngine, Placement, RunEnv, RunSettings, job};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("dp.db");
    let catalog = assay::catalog::load(None).unwrap();
    let dataset = catalog.datasets["boolean_questions"].clone();
    let mut model = catalog.models["demo-llama"].clone();
    model.path = Some(micro());
    let report = rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let run_id = store
            .create_run(assay::store::NewRun {
                started_at_ms: 0,
                tool_version: "test".into(),
                catalog_hash: "x".into(),
                config: Value::Null,
                host: Value::Null,
                gpus: Value::Array(vec![]),
            })
            .await
            .unwrap();
        let env = Arc::new(RunEnv {
            store: store.clone(),
            run_id,
            exe: PathBuf::from(env!("CARGO_BIN_EXE_assay")),
            worker_env: Vec::new(),
            settings: RunSettings {
                limit: Some(12),
                batch_size: 1,
                max_seq_len: None,
                num_fewshot: None,
                chat: assay::tasks::ChatMode::Off,
                seed: 1,
                fresh: true,
                skip_bad_rows: false,
                allow_code_execution: false,
                gen_kwargs: GenKwargs::default(),
            },
            tool_version: "test".into(),
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
            sandbox: None,
        });
        let spec = JobSpec {
            model,
            placement: Placement::Local {
                engine: LocalEngine::Lightweight,
                checkpoint: micro(),
                tp: 1,
                // Two replicas on the CPU, each its own worker process.
                replicas: vec![vec!["cpu".into()], vec!["cpu".into()]],
                gpus: Vec::new(),
            },
            weights_hash: Some("w".into()),
            load_dtype: None,
            dtype: "f32".into(),
            memory_estimate: 0,
            estimated_s: None,
            datasets: vec![dataset],
            existing_job: None,
        };
        let report = job::run_job(env, spec).await;
        store.close().await;
        report
    });
    assert_eq!(report.replicas, 2, "{:?}", report.error);
    assert_eq!(report.status.as_str(), "completed", "{:?}", report.error);
    let mut keys = sample_keys(&db, 1);
    assert_eq!(keys.len(), 12);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 12);
    assert_eq!(report.datasets[0].aggregates[0].n, 12);
}

/// `--engine tensor-parallel --tp 2` on a CPU host: two rank threads hold half the layers each,
/// and the scores equal the lightweight engine's (same samples, same aggregates).
#[test]
fn forced_tensor_parallel_matches_the_lightweight_engine() {
    let home = tempfile::tempdir().unwrap();
    let micro = micro();
    let run = |db: &Path, extra: &[&str]| {
        let mut args = vec![
            "--json",
            "run",
            "--model",
            micro.to_str().unwrap(),
            "--datasets",
            "boolean_questions,spatial_reasoning",
            "--limit",
            "6",
        ];
        args.extend_from_slice(extra);
        output(command(home.path(), db, &args))
    };
    let tp_db = home.path().join("tp.db");
    let out = run(&tp_db, &["--engine", "tensor-parallel", "--tp", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["jobs"][0]["engine"], "tensor_parallel", "{v}");
    let lw_db = home.path().join("lw.db");
    let out = run(&lw_db, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let tp = aggregates(&tp_db, 1);
    let lw = aggregates(&lw_db, 1);
    assert!(!tp.is_empty());
    assert_eq!(tp, lw);

    // An invalid degree is refused before anything is recorded, with the numbers (exit 2).
    let out = run(&tp_db, &["--engine", "tensor-parallel", "--tp", "3"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "--tp 3 is not valid for llama-micro: tp 3 does not divide num_attention_heads 4"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("try --tp 2"), "{}", out.stderr);
    let out = run(&tp_db, &["--tp", "2"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--tp 2 needs --engine tensor-parallel"),
        "{}",
        out.stderr
    );
}

/// `--model org/name` finds the checkpoint in the Hugging Face cache (as `serve` does), and a
/// cache snapshot given as a path is named after its repository, with its commit as revision.
#[test]
fn a_hub_cache_model_runs_by_its_repository_id() {
    let home = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo_dir = home.path().join("hf/models--acme--micro");
    let snapshot = repo_dir.join("snapshots").join(commit);
    crate::util::copy_tree(&micro(), &snapshot);
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
    for (given, db) in [
        ("acme/micro".to_string(), "a.db"),
        (snapshot.display().to_string(), "b.db"),
    ] {
        let db = home.path().join(db);
        let out = output(command(
            home.path(),
            &db,
            &[
                "--json",
                "run",
                "--model",
                &given,
                "--datasets",
                "boolean_questions",
                "--limit",
                "3",
            ],
        ));
        assert_eq!(out.code, 0, "{given}: {}", out.stderr);
        let v = json(&out);
        assert_eq!(v["jobs"][0]["model"], "acme/micro", "{given}: {v}");
        let revision = rt().block_on(async {
            let store = SqliteStore::open(&db).await.unwrap();
            let jobs = store.jobs(1).await.unwrap();
            store.close().await;
            jobs[0].revision.clone()
        });
        assert_eq!(revision, commit, "{given}");
    }
    // `bench` takes the repository id too.
    let out = output(command(
        home.path(),
        &home.path().join("bench.db"),
        &["--json", "bench", "acme/micro"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out)["info"]["architecture"], "LlamaForCausalLM");
    // Not in the cache: the message says where it looked.
    let out = output(command(
        home.path(),
        &home.path().join("c.db"),
        &[
            "run",
            "--model",
            "acme/absent",
            "--datasets",
            "boolean_questions",
        ],
    ));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("Hugging Face cache"), "{}", out.stderr);
}

/// With stderr not a terminal (a log file, Slurm, CI), progress comes as log lines: the
/// dataset, done/total, rate and ETA, and a last line when the job ends.
#[test]
fn progress_is_logged_in_lines_when_stderr_is_not_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("p.db");
    let mut cmd = command(home.path(), &db, &["run", "demo", "--limit", "3"]);
    cmd.env("ASSAY_PROGRESS_EVERY", "0");
    let out = output(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("demo-llama · "))
        .collect();
    assert!(lines.len() >= 3, "{}", out.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("quick_facts: ") && l.contains("/9 samples")),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().contains("9/9 samples"), "{lines:?}");
    assert!(lines.last().unwrap().ends_with("done"), "{lines:?}");
    // --quiet keeps stderr free of them.
    let mut cmd = command(
        home.path(),
        &db,
        &["--quiet", "run", "demo", "--limit", "3"],
    );
    cmd.env("ASSAY_PROGRESS_EVERY", "0");
    let out = output(cmd);
    assert!(!out.stderr.contains("samples,"), "{}", out.stderr);
}
