//! Ingest benchmark: how many sample rows per second the store writes, through the same writer
//! path a run uses (batches sent to the writer task, which inserts each in one transaction, with
//! WAL checkpoints on their own task). `assay bench store` reports it.

use super::{JobStatus, NewJob, NewRun, SampleRow, SqliteStore, Store, StoreError, now_ms};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Rows per `insert_samples` call, like a run committing finished samples in small batches.
pub const DEFAULT_BATCH: usize = 1000;

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub rows: u64,
    pub batch: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// CPU time of the whole process (all threads) during the timed part: a figure that, unlike
    /// wall time, does not depend on what else the machine is running.
    pub cpu_seconds: f64,
    pub rows_per_cpu_second: f64,
    pub db_bytes: u64,
}

/// Write `rows` synthetic sample rows (realistic sizes: 64-hex hashes, a ~120-character output,
/// four log-likelihoods, two scores) into a new database at `path`, `batch` rows per call.
/// Only the inserts are timed (row construction is excluded).
pub async fn ingest(path: &Path, rows: u64, batch: usize) -> Result<IngestReport, StoreError> {
    let batch = batch.max(1);
    let store = SqliteStore::open(path).await?;
    let run_id = store
        .create_run(NewRun {
            started_at_ms: now_ms(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            catalog_hash: "bench".to_string(),
            config: serde_json::json!({"bench": "store"}),
            host: serde_json::json!({}),
            gpus: serde_json::json!([]),
        })
        .await?;
    let job_id = store
        .create_job(NewJob {
            run_id,
            model: "bench".to_string(),
            revision: "main".to_string(),
            weights_hash: None,
            engine: "lightweight".to_string(),
            dtype: "bf16".to_string(),
            tp: 1,
            devices: vec![],
            memory_estimate_bytes: None,
            status: JobStatus::Running,
        })
        .await?;
    let batches: Vec<Vec<SampleRow>> = (0..rows)
        .map(|i| synthetic_row(job_id, i))
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|c| c.to_vec())
        .collect();

    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut written = 0;
    for b in batches {
        written += store.insert_samples(b).await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    store.close().await;
    let db_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(IngestReport {
        rows: written,
        batch,
        seconds,
        rows_per_second: written as f64 / seconds.max(f64::MIN_POSITIVE),
        cpu_seconds,
        rows_per_cpu_second: written as f64 / cpu_seconds.max(f64::MIN_POSITIVE),
        db_bytes,
    })
}

/// User + system CPU seconds used so far by this process (0 if the kernel will not say).
fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` into the pointer it is given, which is valid and
    // properly aligned; the zeroed value is a valid `rusage` if the call fails.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

pub(crate) fn synthetic_row(job_id: i64, i: u64) -> SampleRow {
    let hash = super::sha256_hex(&i.to_le_bytes());
    let mut scores = BTreeMap::new();
    scores.insert("exact_match,strict-match".to_string(), (i % 2) as f64);
    scores.insert("f1".to_string(), (i % 7) as f64 / 7.0);
    let mut filtered = BTreeMap::new();
    filtered.insert("strict-match".to_string(), format!("{}", i % 1000));
    SampleRow {
        job_id,
        prompt_hash: super::sha256_hex(hash.as_bytes()),
        sample_hash: hash,
        dataset: "arithmetic_word_problems".to_string(),
        dataset_hash: "0f".repeat(32),
        item_index: (i / 4) as i64,
        repeat_index: (i % 4) as i64,
        target: Some(format!("{}", i % 1000)),
        output: Some(format!(
            "Let me work through this step by step. First we add the two amounts, then we take the difference: {}.",
            i % 1000
        )),
        filtered,
        loglikelihoods: Some(vec![-1.25, -3.5, -0.75, -7.0]),
        scores,
        error: None,
        error_kind: None,
        latency_ms: Some(12.5),
        prompt_tokens: Some(180),
        output_tokens: Some(32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ingest_writes_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let report = ingest(&dir.path().join("b.db"), 2_345, 1000).await.unwrap();
        assert_eq!(report.rows, 2_345);
        assert!(report.rows_per_second > 0.0);
        assert!(report.db_bytes > 0);
    }

    /// `cargo test -p assay --release --lib store::bench -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: 200,000 rows; run explicitly (ideally in release) to measure"]
    async fn ingest_200k() {
        let dir = tempfile::tempdir().unwrap();
        let batch = std::env::var("ASSAY_BENCH_BATCH")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(DEFAULT_BATCH);
        let report = ingest(&dir.path().join("b.db"), 200_000, batch)
            .await
            .unwrap();
        println!("{}", serde_json::to_string(&report).unwrap());
        assert_eq!(report.rows, 200_000);
    }
}
