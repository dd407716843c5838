//! History benchmark: fill a new database with synthetic runs through the store's own write
//! path (one transaction per batch), then time the queries behind
//! `history --model M --dataset D` and `compare A B` in-process against it.
//!
//! Shape (defaults: 10,000 runs, 1,000,000 samples): each run evaluates [`MODELS_PER_RUN`] of
//! [`MODELS`] models (run `i` the same ones as run `i + 10`), each on its own
//! [`DATASETS_PER_JOB`] of [`DATASETS`] datasets, with an accuracy and an F1 per dataset;
//! samples are spread evenly over the (job, dataset) pairs. Everything derives from the run
//! index, so two fills are identical.

use super::compare::{Correction, Options, compare};
use crate::store::{
    AggregateRow, HistoryQuery, JobStats, JobStatus, NewJob, NewRun, Queries, RunStatus, SampleRow,
    SqliteStore, Store, StoreError,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

pub const MODELS: u64 = 20;
pub const DATASETS: u64 = 10;
pub const MODELS_PER_RUN: u64 = 2;
pub const DATASETS_PER_JOB: u64 = 2;
/// Timed repetitions of each query.
pub const REPS: usize = 50;
/// 2026-01-01T00:00:00Z; run `i` starts `i` hours later.
const T0_MS: i64 = 1_767_225_600_000;
const INSERT_BATCH: usize = 2_000;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub reps: usize,
    /// Rows returned (history) or cells compared (compare).
    pub rows: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryBench {
    pub runs: u64,
    pub samples: u64,
    pub fill_seconds: Option<f64>,
    pub db_bytes: u64,
    pub history_query: String,
    pub history: Timing,
    pub compare_runs: (i64, i64),
    pub compare: Timing,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (mix(z) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn model_name(m: u64) -> String {
    format!("model-{m:02}")
}

pub fn dataset_name(d: u64) -> String {
    format!("dataset-{d:02}")
}

/// Fill a new database at `path`. Returns the seconds taken.
pub async fn fill(path: &Path, runs: u64, samples: u64) -> Result<f64, StoreError> {
    let start = Instant::now();
    let store = SqliteStore::open(path).await?;
    let pairs = (runs * MODELS_PER_RUN * DATASETS_PER_JOB).max(1);
    let per_pair = samples / pairs;
    let mut extra = samples % pairs; // the first pairs take one more
    let mut pending: Vec<SampleRow> = Vec::with_capacity(INSERT_BATCH);
    for i in 0..runs {
        let started = T0_MS + i as i64 * 3_600_000;
        let run_id = store
            .create_run(NewRun {
                started_at_ms: started,
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                catalog_hash: "bench".to_string(),
                config: serde_json::json!({"category": format!("category-{}", i % 5), "batch_size": 8}),
                host: serde_json::json!({"cpu": "bench"}),
                gpus: serde_json::json!([]),
            })
            .await?;
        for k in 0..MODELS_PER_RUN {
            let m = ((i % 10) * MODELS_PER_RUN + k) % MODELS;
            let model = model_name(m);
            let job_id = store
                .create_job(NewJob {
                    run_id,
                    model: model.clone(),
                    revision: "main".to_string(),
                    weights_hash: Some(format!("{m:064x}")),
                    engine: "lightweight".to_string(),
                    dtype: "bf16".to_string(),
                    tp: 1,
                    devices: vec![],
                    memory_estimate_bytes: Some(((m + 1) << 30) as i64),
                    status: JobStatus::Completed,
                })
                .await?;
            let mut aggregates = Vec::new();
            for q in 0..DATASETS_PER_JOB {
                let dataset = dataset_name((m + q * 5) % DATASETS);
                let n = per_pair + u64::from(extra > 0);
                extra = extra.saturating_sub(1);
                let skill = 0.3 + 0.6 * unit(m * 31 + q);
                let (mut acc, mut f1) = (0.0, 0.0);
                for item in 0..n {
                    let noise = unit(i * 1_000_003 + k * 7919 + q * 104_729 + item);
                    let a = if unit(noise.to_bits() ^ item) < skill {
                        1.0
                    } else {
                        0.0
                    };
                    let f = (skill + 0.2 * (noise - 0.5)).clamp(0.0, 1.0);
                    acc += a;
                    f1 += f;
                    let mut scores = BTreeMap::new();
                    scores.insert("acc,none".to_string(), a);
                    scores.insert("f1,none".to_string(), f);
                    let hash =
                        crate::store::sha256_hex(format!("{job_id}/{dataset}/{item}").as_bytes());
                    pending.push(SampleRow {
                        job_id,
                        prompt_hash: crate::store::sha256_hex(
                            format!("{dataset}/{item}").as_bytes(),
                        ),
                        sample_hash: hash,
                        dataset: dataset.clone(),
                        dataset_hash: format!("{:064x}", mix(q)),
                        item_index: item as i64,
                        repeat_index: 0,
                        target: Some(format!("{}", item % 4)),
                        output: Some(format!(
                            "The answer is {} because of the reasons given.",
                            item % 4
                        )),
                        filtered: BTreeMap::from([("none".to_string(), format!("{}", item % 4))]),
                        loglikelihoods: Some(vec![-1.25, -3.5, -0.75, -7.0]),
                        scores,
                        error: None,
                        error_kind: None,
                        latency_ms: Some(20.0 + 10.0 * noise),
                        prompt_tokens: Some(180),
                        output_tokens: Some(16),
                    });
                    if pending.len() >= INSERT_BATCH {
                        store.insert_samples(std::mem::take(&mut pending)).await?;
                    }
                }
                let nf = n.max(1) as f64;
                for (metric, total) in [("acc", acc), ("f1", f1)] {
                    let v = total / nf;
                    aggregates.push(AggregateRow {
                        job_id,
                        dataset: dataset.clone(),
                        metric: metric.to_string(),
                        filter: "none".to_string(),
                        value: v,
                        stderr: (n > 1).then(|| (v * (1.0 - v) / nf).sqrt()),
                        n: n as i64,
                        n_scored: n as i64,
                        n_failed: 0,
                        partial: false,
                        higher_is_better: true,
                    });
                }
            }
            store.upsert_aggregates(aggregates).await?;
            store
                .record_job_stats(JobStats {
                    job_id,
                    batch_size: Some(8),
                    load_ms: Some(1000.0 + 100.0 * m as f64),
                    eval_ms: Some(30_000.0),
                    tokens_per_second: Some(50.0 + 5.0 * m as f64),
                    ..JobStats::default()
                })
                .await?;
        }
        store
            .finish_run(run_id, RunStatus::Completed, started + 60_000, None)
            .await?;
    }
    if !pending.is_empty() {
        store.insert_samples(pending).await?;
    }
    store.close().await;
    Ok(start.elapsed().as_secs_f64())
}

fn timing(mut ms: Vec<f64>, rows: usize) -> Timing {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Timing {
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
        reps: ms.len(),
        rows,
    }
}

/// Fill `path` when it does not exist yet (else reuse what an earlier fill wrote there), then
/// time the two queries, [`REPS`] times each. `fill_seconds` is `None` when reused.
pub async fn run(path: &Path, runs: u64, samples: u64) -> Result<HistoryBench, super::LookupError> {
    let fill_seconds = if path.exists() {
        None
    } else {
        Some(fill(path, runs, samples).await?)
    };
    let db_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let store = SqliteStore::open(path).await?;
    let shown = path.display().to_string();
    let runs = store.run_count().await? as u64;
    let model = model_name(7);
    let dataset = dataset_name(7);
    let q = HistoryQuery {
        model: Some(model.clone()),
        dataset: Some(dataset.clone()),
        limit: Some(50),
        ..HistoryQuery::default()
    };
    let mut ms = Vec::with_capacity(REPS);
    let mut rows = 0;
    for _ in 0..REPS {
        let t = Instant::now();
        rows = store.history_rows(&q).await?.len();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let history = timing(ms, rows);

    let newest = store.runs_with_model(&model, 2).await?;
    let (a, b) = match newest.as_slice() {
        [b, a] => (*a, *b),
        _ => (1, 1),
    };
    let opts = Options {
        model: None,
        models: None,
        correction: Correction::Holm,
        alpha: 0.05,
    };
    let mut ms = Vec::with_capacity(REPS);
    let mut cells = 0;
    for _ in 0..REPS {
        let t = Instant::now();
        cells = compare(&store, a, b, &shown, &opts).await?.cells.len();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    store.close().await;
    Ok(HistoryBench {
        runs,
        samples: if fill_seconds.is_some() { samples } else { 0 },
        fill_seconds,
        db_bytes,
        history_query: format!("history --model {model} --dataset {dataset} (limit 50)"),
        history,
        compare_runs: (a, b),
        compare: timing(ms, cells),
    })
}
