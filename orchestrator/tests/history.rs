//! The read commands (`history`, `show`, `compare`, `export`, `report`) run as the real binary
//! against a database filled through the store's public API with deterministic synthetic runs.
//! Also: the query plans of the history and compare queries, and bad databases.
//!
//! The report test opens the page in headless Chromium (`apt-get install chromium`); it fails
//! with a message saying so when Chromium is missing.

#![allow(clippy::unwrap_used)]

use assay::store::{
    AggregateRow, JobStats, JobStatus, NewJob, NewRun, RunStatus, SampleRow, SqliteStore, Store,
    TelemetrySample,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const T0: i64 = 1_795_000_000_000; // 2026-11-18T11:06:40Z
const HOUR: i64 = 3_600_000;
const ITEMS: i64 = 40;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn assay(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("ASSAY_DB")
        .env_remove("ASSAY_LOG")
        .output()
        .expect("run assay")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = assay(db, args);
    assert!(
        out.status.success(),
        "assay {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(db: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(db, &all)).unwrap()
}

/// Exit code and stderr of a command that must fail.
fn fails(db: &Path, args: &[&str]) -> (i32, String) {
    let out = assay(db, args);
    assert!(!out.status.success(), "assay {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

struct JobSpec<'a> {
    model: &'a str,
    engine: &'a str,
    tp: i64,
    dtype: &'a str,
    /// Items right, per dataset: (dataset, metric key, right-or-score per item).
    datasets: Vec<(&'a str, &'a str, Vec<f64>)>,
    prompt_salt: &'a str,
    tokens_per_second: f64,
    status: JobStatus,
    error: Option<&'a str>,
}

fn correct_first(n: i64) -> Vec<f64> {
    (0..ITEMS).map(|i| if i < n { 1.0 } else { 0.0 }).collect()
}

fn f1_scores(shift: f64) -> Vec<f64> {
    (0..ITEMS)
        .map(|i| (0.5 + 0.01 * ((i * 7) % 13) as f64 + shift).min(1.0))
        .collect()
}

async fn add_run(
    store: &SqliteStore,
    started: i64,
    category: &str,
    status: RunStatus,
    jobs: Vec<JobSpec<'_>>,
) -> i64 {
    let run_id = store
        .create_run(NewRun {
            started_at_ms: started,
            tool_version: "0.1.0".into(),
            catalog_hash: "c0ffee".repeat(8),
            config: json!({
                "category": category, "batch_size": 4, "limit": ITEMS,
                "datasets": {"arith": {"num_fewshot": 5, "version": 2, "size": 1000}},
            }),
            host: json!({"cpu": "test cpu", "memory_bytes": 1u64 << 34}),
            gpus: json!([{"index": 0, "name": "Test GPU", "memory_bytes": 1u64 << 34}]),
        })
        .await
        .unwrap();
    for spec in jobs {
        let devices: Vec<i64> = (0..spec.tp).collect();
        let job_id = store
            .create_job(NewJob {
                run_id,
                model: spec.model.into(),
                revision: "main".into(),
                weights_hash: Some(format!("{}-weights", spec.model)),
                engine: spec.engine.into(),
                dtype: spec.dtype.into(),
                tp: spec.tp,
                devices: devices.clone(),
                memory_estimate_bytes: Some(3 << 30),
                status: JobStatus::Running,
            })
            .await
            .unwrap();
        let mut samples = Vec::new();
        let mut aggregates = Vec::new();
        for (dataset, key, scores) in &spec.datasets {
            for (item, score) in scores.iter().enumerate() {
                let prompt = format!("{}{dataset} item {item}", spec.prompt_salt);
                samples.push(SampleRow {
                    job_id,
                    sample_hash: format!("{run_id}-{job_id}-{dataset}-{item}"),
                    dataset: dataset.to_string(),
                    dataset_hash: format!("{dataset}-hash"),
                    item_index: item as i64,
                    repeat_index: 0,
                    prompt_hash: assay::store::sha256_hex(prompt.as_bytes()),
                    target: Some(format!("{}", item * 3)),
                    output: Some(format!("The answer is {}.", item * 3)),
                    filtered: BTreeMap::from([("strict-match".into(), format!("{}", item * 3))]),
                    loglikelihoods: None,
                    scores: BTreeMap::from([(key.to_string(), *score)]),
                    error: None,
                    error_kind: None,
                    latency_ms: Some(40.0 + item as f64),
                    prompt_tokens: Some(120),
                    output_tokens: Some(8),
                });
            }
            let n = scores.len() as f64;
            let value = scores.iter().sum::<f64>() / n;
            let (metric, filter) = key.split_once(',').unwrap();
            aggregates.push(AggregateRow {
                job_id,
                dataset: dataset.to_string(),
                metric: metric.into(),
                filter: filter.into(),
                value,
                stderr: assay::metrics::mean_stderr(scores),
                n: scores.len() as i64,
                n_scored: scores.len() as i64,
                n_failed: 0,
                partial: false,
                higher_is_better: true,
            });
        }
        store.insert_samples(samples).await.unwrap();
        store.upsert_aggregates(aggregates).await.unwrap();
        store
            .record_job_stats(JobStats {
                job_id,
                batch_size: Some(4),
                load_ms: Some(2500.0),
                eval_ms: Some(41_000.0),
                requests: Some(ITEMS * 2),
                prompt_tokens: Some(ITEMS * 240),
                output_tokens: Some(ITEMS * 16),
                tokens_per_second: Some(spec.tokens_per_second),
                prefill_tokens_per_second: Some(900.0),
                ttft_p50_ms: Some(35.5),
                ttft_p95_ms: Some(60.0),
                latency_p50_ms: Some(55.0),
                latency_p95_ms: Some(80.0),
                latency_p99_ms: Some(95.0),
                peak_rss_bytes: Some(1 << 30),
                gpu_verdict: None,
                detail: json!({"device": "test"}),
            })
            .await
            .unwrap();
        let readings: Vec<TelemetrySample> = (0..4)
            .flat_map(|t| {
                devices.iter().map(move |d| TelemetrySample {
                    run_id,
                    job_id: Some(job_id),
                    t_ms: started + t * 1000,
                    device: format!("gpu{d}"),
                    util_pct: Some(70.0 + t as f64),
                    mem_used_bytes: Some((2 << 30) + t * (1 << 20)),
                    mem_total_bytes: Some(1 << 34),
                    power_w: Some(200.0),
                    temp_c: Some(60.0),
                })
            })
            .collect();
        store.insert_telemetry(readings).await.unwrap();
        store
            .update_job(
                job_id,
                assay::store::JobUpdate {
                    status: spec.status,
                    started_at_ms: Some(started),
                    finished_at_ms: Some(started + 45_000),
                    memory_measured_bytes: None,
                    error: spec.error.map(str::to_string),
                },
            )
            .await
            .unwrap();
    }
    store
        .finish_run(run_id, status, started + 60_000, None)
        .await
        .unwrap();
    run_id
}

/// Three runs: 1 the baseline; 2 with alpha much worse on `arith`, beta in f16 with changed
/// prompts; 3 a failed run of gamma.
fn populate(dir: &Path) -> PathBuf {
    let db = dir.join("results.db");
    rt().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let alpha = |arith_right: i64, f1_shift: f64| JobSpec {
            model: "alpha",
            engine: "lightweight",
            tp: 1,
            dtype: "bf16",
            datasets: vec![
                (
                    "arith",
                    "exact_match,strict-match",
                    correct_first(arith_right),
                ),
                ("mc", "acc,none", correct_first(30)),
                ("reading", "f1,none", f1_scores(f1_shift)),
            ],
            prompt_salt: "",
            tokens_per_second: 42.0,
            status: JobStatus::Completed,
            error: None,
        };
        let beta = |dtype, salt| JobSpec {
            model: "beta",
            engine: "tensor_parallel",
            tp: 2,
            dtype,
            datasets: vec![("arith", "exact_match,strict-match", correct_first(20))],
            prompt_salt: salt,
            tokens_per_second: 17.5,
            status: JobStatus::Completed,
            error: None,
        };
        add_run(
            &store,
            T0,
            "mathematical_reasoning",
            RunStatus::Completed,
            vec![alpha(36, 0.0), beta("bf16", "")],
        )
        .await;
        add_run(
            &store,
            T0 + 24 * HOUR,
            "mathematical_reasoning",
            RunStatus::Completed,
            vec![alpha(10, 0.0), beta("f16", "v2 ")],
        )
        .await;
        let gamma = JobSpec {
            model: "gamma",
            engine: "lightweight",
            tp: 1,
            dtype: "f32",
            datasets: vec![("mc", "acc,none", correct_first(5))],
            prompt_salt: "",
            tokens_per_second: 99.0,
            status: JobStatus::Failed,
            error: Some("engine failed: out of memory while loading layer 3"),
        };
        add_run(
            &store,
            T0 + 48 * HOUR,
            "general_purpose",
            RunStatus::Failed,
            vec![gamma],
        )
        .await;
        store.close().await;
    });
    db
}

#[test]
fn history_filters_sorts_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let rows = json_of(&db, &["history", "--model", "alpha", "--dataset", "arith"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["run_id"], 2, "newest first");
    assert_eq!(rows[1]["run_id"], 1);
    assert_eq!(rows[1]["value"], 0.9);
    assert_eq!(rows[0]["value"], 0.25);
    assert_eq!(rows[0]["tp"], 1);
    assert_eq!(rows[0]["dtype"], "bf16");
    assert_eq!(rows[0]["engine"], "lightweight");
    assert_eq!(rows[0]["tokens_per_second"], 42.0);
    assert_eq!(rows[0]["n"], 40);
    assert!(rows[0]["stderr"].as_f64().unwrap() > 0.0);

    let all = json_of(&db, &["history"]);
    let all = all.as_array().unwrap();
    // run 3: 1 row; runs 1 and 2: alpha 3 + beta 1 each.
    assert_eq!(all.len(), 9);
    let starts: Vec<i64> = all
        .iter()
        .map(|r| r["run_started_at_ms"].as_i64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {starts:?}"
    );

    let cat = json_of(&db, &["history", "--category", "general_purpose"]);
    assert_eq!(cat.as_array().unwrap().len(), 1);
    assert_eq!(cat[0]["model"], "gamma");
    let failed = json_of(&db, &["history", "--status", "failed"]);
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["job_status"], "failed");
    let since = json_of(
        &db,
        &[
            "history",
            "--since",
            "2026-11-19T10:00",
            "--metric",
            "exact_match",
        ],
    );
    let since = since.as_array().unwrap();
    assert_eq!(since.len(), 2, "run 2's alpha and beta");
    assert!(since.iter().all(|r| r["run_id"] == 2));
    let metric = json_of(
        &db,
        &[
            "history",
            "--metric",
            "exact_match,strict-match",
            "--limit",
            "1",
        ],
    );
    assert_eq!(metric.as_array().unwrap().len(), 1);
    let none = json_of(&db, &["history", "--metric", "exact_match,other"]);
    assert!(none.as_array().unwrap().is_empty());

    let csv = ok(&db, &["history", "--model", "beta", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("run_id,date,category,model,dataset,metric,filter,value,stderr,n")
    );
    assert!(
        lines[1].starts_with(
            "2,2026-11-19T11:06:40Z,mathematical_reasoning,beta,arith,exact_match,strict-match,0.5,"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(",tensor_parallel,2,f16,4,17.5,completed"),
        "{}",
        lines[1]
    );

    let table = ok(&db, &["history", "--model", "alpha", "--dataset", "arith"]);
    assert!(table.contains("0.2500 ± 0.0693"), "{table}");
    assert!(table.contains("2026-11-19 11:06"), "{table}");
    assert!(table.lines().next().unwrap().contains("tok/s"));
}

#[test]
fn show_run_and_page_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let text = ok(&db, &["show", "2"]);
    for want in [
        "run 2 · completed",
        "\"category\":\"mathematical_reasoning\"",
        "Test GPU",
        "tensor_parallel",
        "35.5 ms",
        "55.0 ms / 80.0 ms / 95.0 ms",
        "3.00 GiB / 4.01 GiB",
        "used: GPUs averaged 71.5% busy",
        "0.2500 ± 0.0693",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    let failed = ok(&db, &["show", "3"]);
    assert!(
        failed.contains("engine failed: out of memory while loading layer 3"),
        "{failed}"
    );

    let s = json_of(&db, &["show", "2"]);
    assert_eq!(s["run"]["id"], 2);
    assert_eq!(s["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(s["jobs"][0]["stats"]["load_ms"], 2500.0);
    assert_eq!(
        s["jobs"][1]["memory_measured_bytes"],
        2 * ((2i64 << 30) + 3 * (1 << 20))
    );
    assert_eq!(s["scores"].as_array().unwrap().len(), 4);

    let page = json_of(
        &db,
        &[
            "show",
            "1",
            "--samples",
            "--model",
            "alpha",
            "--dataset",
            "arith",
            "--page",
            "2",
            "--page-size",
            "15",
        ],
    );
    assert_eq!(page["total"], 40);
    let items: Vec<i64> = page["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["item_index"].as_i64().unwrap())
        .collect();
    assert_eq!(items, (15..30).collect::<Vec<_>>());
    assert_eq!(
        page["samples"][0]["scores"]["exact_match,strict-match"],
        1.0
    );
    let human = ok(&db, &["show", "1", "--samples", "--page-size", "2"]);
    assert!(human.contains("page 1 of 60"), "{human}");
    assert!(human.contains("output: The answer is 3."), "{human}");
    let (code, err) = fails(&db, &["show", "1", "--samples", "--model", "zeta"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no job for model `zeta`; its models: alpha, beta"),
        "{err}"
    );
}

#[test]
fn compare_pits_model_against_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    // Two models of one run, on the items both scored: alpha got 36 of 40 arith right, beta 20.
    let c = json_of(&db, &["compare", "1", "1", "--models", "alpha,beta"]);
    let cells = c["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{c}");
    assert_eq!(cells[0]["model"], "alpha vs beta");
    assert_eq!(cells[0]["dataset"], "arith");
    assert!(
        (cells[0]["delta"].as_f64().unwrap() + 0.4).abs() < 1e-12,
        "{c}"
    );
    assert_eq!(cells[0]["n_paired"], 40);
    assert_eq!(cells[0]["verdict"], "regression");
    // Engine, tp and dtype differ and are listed; weights differing is the point, not listed.
    let fields: Vec<&str> = c["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"engine") && fields.contains(&"tp"),
        "{fields:?}"
    );
    assert!(!fields.contains(&"weights"), "{fields:?}");
    // Runs that share no model, one model each: paired without being told.
    let c = json_of(&db, &["compare", "3", "3", "--models", "gamma,gamma"]);
    assert_eq!(c["cells"].as_array().unwrap().len(), 1, "{c}");
    let (code, err) = fails(&db, &["compare", "1", "2", "--models", "alpha,nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("run 2 has no job for model `nope`; its models: alpha, beta"),
        "{err}"
    );
    let out = fails(&db, &["compare", "1", "2", "--models", "alpha"]);
    assert_eq!(out.0, 2);
    assert!(
        out.1.contains("--models") && out.1.contains("takes two model ids"),
        "{}",
        out.1
    );
}

#[test]
fn history_pivot_ranks_models_on_each_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let board = json_of(
        &db,
        &["history", "--pivot", "--category", "mathematical_reasoning"],
    );
    let cells = board["cells"].as_array().unwrap();
    let cell = |model: &str, dataset: &str| {
        cells
            .iter()
            .find(|c| c["model"] == model && c["dataset"] == dataset)
            .unwrap_or_else(|| panic!("{model} {dataset}: {board}"))
    };
    // The newest run (2): alpha got 10 of 40 arith right, beta 20.
    assert_eq!(cell("beta", "arith")["rank"], 1, "{board}");
    assert_eq!(cell("beta", "arith")["run_id"], 2, "{board}");
    assert_eq!(cell("alpha", "arith")["rank"], 2, "{board}");
    assert_eq!(cell("alpha", "mc")["rank"], 1, "{board}");
    let out = assay(&db, &["history", "--pivot"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("arith (exact_match,strict-match)"), "{text}");
    assert!(text.contains(" #1"), "{text}");
}

#[test]
fn compare_flags_the_regression_and_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let c = json_of(&db, &["compare", "1", "2"]);
    let cells = c["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4, "alpha x 3 datasets + beta x 1");
    let find = |model: &str, dataset: &str| {
        cells
            .iter()
            .find(|x| x["model"] == model && x["dataset"] == dataset)
            .unwrap()
    };
    let arith = find("alpha", "arith");
    assert_eq!(arith["test"], "mcnemar_chi2");
    assert_eq!(arith["discordant"], json!([26, 0]));
    assert!((arith["delta"].as_f64().unwrap() + 0.65).abs() < 1e-12);
    assert!(arith["p_adjusted"].as_f64().unwrap() < 1e-4);
    assert_eq!(arith["verdict"], "regression");
    assert_eq!(arith["n_paired"], 40);
    let mc = find("alpha", "mc");
    assert_eq!(mc["test"], "mcnemar_exact");
    assert_eq!(mc["p_value"], 1.0);
    assert_eq!(mc["verdict"], "no_change");
    let reading = find("alpha", "reading");
    assert_eq!(reading["test"], "paired_bootstrap");
    assert_eq!(reading["delta"], 0.0);
    assert_eq!(reading["verdict"], "no_change");
    // Holm: adjusted p-values are never below the raw ones.
    for cell in cells {
        assert!(cell["p_adjusted"].as_f64().unwrap() >= cell["p_value"].as_f64().unwrap());
    }
    let fields: Vec<(&str, &str)> = c["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model"].as_str().unwrap_or(""),
                m["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(fields, vec![("beta", "dtype"), ("beta", "prompts")], "{c}");

    let text = ok(&db, &["compare", "1", "2", "--correction", "bh"]);
    assert!(text.contains("not like for like"), "{text}");
    assert!(text.contains("REGRESSION"), "{text}");
    assert!(
        text.contains("1 regression(s); p adjusted with Bh"),
        "{text}"
    );

    // --model alone: that model's two newest runs.
    let m = json_of(&db, &["compare", "--model", "alpha"]);
    assert_eq!(
        (m["run_a"].as_i64(), m["run_b"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(m["cells"].as_array().unwrap().len(), 3);
    let (code, err) = fails(&db, &["compare", "--model", "gamma"]);
    assert_eq!(code, 2);
    assert!(err.contains("appears in 1 run(s)"), "{err}");
    let (code, err) = fails(&db, &["compare", "1", "9"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no run 9") && err.contains("closest run ids: 3"),
        "{err}"
    );
}

#[test]
fn export_follows_the_lm_eval_layout() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let doc = json_of(&db, &["export", "1", "--model", "alpha"]);
    let arith = &doc["results"]["arith"];
    assert_eq!(arith["alias"], "arith");
    assert_eq!(arith["exact_match,strict-match"], 0.9);
    assert!(arith["exact_match_stderr,strict-match"].as_f64().unwrap() > 0.0);
    assert_eq!(doc["results"]["mc"]["acc,none"], 0.75);
    assert_eq!(
        doc["n-samples"]["arith"],
        json!({"original": 1000, "effective": 40})
    );
    assert_eq!(
        doc["n-samples"]["mc"],
        json!({"original": 40, "effective": 40})
    );
    assert_eq!(doc["n-shot"]["arith"], 5);
    assert_eq!(doc["versions"]["arith"], 2);
    assert_eq!(doc["higher_is_better"]["arith"]["exact_match"], true);
    assert_eq!(doc["configs"]["arith"]["task"], "arith");
    assert_eq!(doc["config"]["batch_size"], 4);
    assert_eq!(doc["config"]["limit"], 40);
    assert_eq!(doc["config"]["model_dtype"], "bf16");
    assert!(
        doc["config"]["model_args"]
            .as_str()
            .unwrap()
            .starts_with("pretrained=alpha,revision=main")
    );
    assert_eq!(doc["date"], 1_795_000_000.0);
    assert_eq!(doc["model_name"], "alpha");
    assert_eq!(doc["total_evaluation_time_seconds"], "45.000");
    assert_eq!(doc["assay"]["run_id"], 1);
    assert_eq!(doc["assay"]["category"], "mathematical_reasoning");

    let both = json_of(&db, &["export", "1"]);
    assert_eq!(both.as_array().unwrap().len(), 2, "one document per model");

    let csv = ok(&db, &["export", "2", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let out = dir.path().join("exported");
    ok(&db, &["export", "2", "--out", out.to_str().unwrap()]);
    let file = out.join("beta").join("results_2026-11-19T11-06-40Z.json");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["config"]["model_dtype"], "f16");
    let (code, err) = fails(&db, &["export", "2", "--model", "gamma"]);
    assert_eq!(code, 2);
    assert!(err.contains("no job for model `gamma`"), "{err}");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

#[test]
fn report_renders_its_charts_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let out = dir.path().join("report");
    let msg = ok(
        &db,
        &[
            "report",
            "2",
            "--compare",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(msg.contains("report.html"), "{msg}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Run 2 − run 1"), "run 1 is the baseline");
    let page = out.join("report.html");
    for id in [
        "chart-heatmap",
        "chart-throughput",
        "chart-memory",
        "chart-time",
        "chart-delta",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing {id}");
    }
    assert!(html.matches("<svg").count() >= 5);
    assert!(
        html.contains("alpha\n</text>") && html.contains("arith (exact_match)\n</text>"),
        "labels drawn as SVG text"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );

    let Some(browser) = chromium() else {
        panic!(
            "this test opens the report in headless Chromium, which is not installed: \
             `apt-get install -y chromium` (Debian) provides it"
        );
    };
    let url = format!("file://{}", page.display());
    let dom = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
        ])
        .args(["--virtual-time-budget=5000", "--dump-dom", &url])
        .output()
        .unwrap();
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {log}");
    assert!(
        dom_text.contains("data-charts=\"5\""),
        "5 charts drawn with a size: {}",
        &dom_text[..dom_text.len().min(400)]
    );
    assert!(
        dom_text.contains("data-errors=\"0\""),
        "script errors: {log}"
    );
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );

    // A screenshot to look at; kept when ASSAY_REPORT_SCREENSHOT names a file.
    let shot = std::env::var_os("ASSAY_REPORT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    let status = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1280,2000", &url])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a non-trivial PNG"
    );
}

#[test]
fn bad_databases_and_ids_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let (code, err) = fails(&db, &["show", "7"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no run 7 in the results database; closest run ids: 3"),
        "{err}"
    );
    let (code, err) = fails(&db, &["history", "--since", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--since `last tuesday` is not a date"),
        "{err}"
    );
    let (code, err) = fails(&db, &["history", "--status", "done"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--status") && err.contains("`done` is not a job state"),
        "{err}"
    );

    // Missing file: not created.
    let missing = dir.path().join("nothing-here.db");
    let (code, err) = fails(&missing, &["history"]);
    assert_eq!(code, 2);
    assert!(err.contains("no results database at"), "{err}");
    assert!(!missing.exists());

    // An empty database.
    let empty = dir.path().join("empty.db");
    rt().block_on(async { SqliteStore::open(&empty).await.unwrap().close().await });
    for args in [
        &["history"][..],
        &["show", "1"],
        &["compare", "1", "2"],
        &["report", "1"],
    ] {
        let (code, err) = fails(&empty, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("holds no runs yet"), "{args:?}: {err}");
    }

    // Not SQLite.
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "these are my notes, not a database\n").unwrap();
    let (code, err) = fails(&text, &["history"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not an SQLite database"), "{err}");

    // From a newer assay: refused, and the file is left byte for byte as it was.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&db, &newer).unwrap();
    rt().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", newer.display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (29991231000000, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    let before = std::fs::read(&newer).unwrap();
    let (code, err) = fails(&newer, &["history"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("written by a newer assay") && err.contains("29991231000000"),
        "{err}"
    );
    assert_eq!(std::fs::read(&newer).unwrap(), before, "file unchanged");

    // Locked by another process holding an exclusive lock.
    let locked = dir.path().join("locked.db");
    std::fs::copy(&db, &locked).unwrap();
    rt().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", locked.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA locking_mode = EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE runs SET error = 'x' WHERE id = 1")
            .execute(&mut conn)
            .await
            .unwrap();
        let (code, err) = fails(&locked, &["history"]);
        assert_eq!(code, 1);
        assert!(err.contains("locked by another process"), "{err}");
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    });
}

/// Every history and compare query is served by an index: no scan of samples, aggregates or
/// jobs whatever the filters; the only scan allowed is of runs in start order through
/// `runs_started_at`, which the LIMIT stops early, and no sort of the whole result.
#[test]
fn history_and_compare_queries_use_indexes() {
    use assay::store::{
        HistoryQuery, JOB_STATS_SQL, RUNS_WITH_MODEL_SQL, SCORE_ROWS_SQL, history_failures_sql,
        history_sql,
    };
    let dir = tempfile::tempdir().unwrap();
    let db = populate(dir.path());
    let s = |v: &str| Some(v.to_string());
    let queries = [
        HistoryQuery {
            model: s("alpha"),
            dataset: s("arith"),
            limit: Some(50),
            ..Default::default()
        },
        HistoryQuery {
            model: s("alpha"),
            ..Default::default()
        },
        HistoryQuery {
            dataset: s("arith"),
            metric: s("acc"),
            ..Default::default()
        },
        HistoryQuery {
            category: s("general_purpose"),
            limit: Some(50),
            ..Default::default()
        },
        HistoryQuery {
            run_id: Some(2),
            ..Default::default()
        },
        HistoryQuery {
            since_ms: Some(T0),
            model: s("beta"),
            limit: Some(50),
            ..Default::default()
        },
        HistoryQuery {
            status: Some(JobStatus::Failed),
            limit: Some(50),
            ..Default::default()
        },
        HistoryQuery {
            limit: Some(50),
            ..Default::default()
        },
    ];
    let mut sqls: Vec<(String, usize)> = queries
        .iter()
        .map(|q| {
            let sql = history_sql(q).sql().as_str().to_string();
            let binds = sql.matches('?').count();
            (sql, binds)
        })
        .collect();
    // The failure half of `history` walks the same way.
    sqls.extend(queries.iter().map(|q| {
        let sql = history_failures_sql(q).sql().as_str().to_string();
        let binds = sql.matches('?').count();
        (sql, binds)
    }));
    sqls.push((SCORE_ROWS_SQL.to_string(), 2));
    sqls.push((RUNS_WITH_MODEL_SQL.to_string(), 2));
    sqls.push((JOB_STATS_SQL.to_string(), 1));
    rt().block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for (sql, binds) in &sqls {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(explain));
            for _ in 0..*binds {
                q = q.bind(1_i64);
            }
            let plan: Vec<String> = q
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            for line in &plan {
                let scan = line.starts_with("SCAN")
                    && !line.starts_with("SCAN r USING INDEX runs_started_at")
                    && !line.starts_with("SCAN r USING COVERING INDEX runs_started_at");
                assert!(!scan, "scan `{line}` in the plan of\n{sql}\n{plan:#?}");
                assert!(
                    line != "USE TEMP B-TREE FOR ORDER BY",
                    "sorts everything:\n{sql}\n{plan:#?}"
                );
            }
            assert!(
                plan.iter()
                    .any(|l| l.contains("INDEX") || l.contains("PRIMARY KEY")),
                "no index used by\n{sql}\n{plan:#?}"
            );
        }
        conn.close().await.unwrap();
    });
}
