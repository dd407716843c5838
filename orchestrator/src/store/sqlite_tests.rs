//! Tests of the SQLite store against real database files in temporary directories.

use super::*;
use crate::store::{HistoryQuery, HistoryRow, Queries, SampleKey, sha256_hex};
use sha2::Digest;
use std::collections::BTreeMap;

/// The aggregate a history row reports.
fn aggregate_of(h: &HistoryRow) -> AggregateRow {
    AggregateRow {
        job_id: h.job_id,
        dataset: h.dataset.clone(),
        metric: h.metric.clone(),
        filter: h.filter.clone(),
        value: h.value,
        stderr: h.stderr,
        n: h.n,
        n_scored: h.n_scored,
        n_failed: h.n_failed,
        partial: h.partial,
        higher_is_better: h.higher_is_better,
    }
}

fn new_run(started_at_ms: i64) -> NewRun {
    NewRun {
        started_at_ms,
        tool_version: "0.1.0".into(),
        catalog_hash: "cafe".into(),
        config: serde_json::json!({"limit": 10, "models": ["phi-2"]}),
        host: serde_json::json!({"cpu": "AMD EPYC", "cores": 2}),
        gpus: serde_json::json!([]),
    }
}

fn new_job(run_id: i64, model: &str) -> NewJob {
    NewJob {
        run_id,
        model: model.into(),
        revision: "rev1".into(),
        weights_hash: Some("w1".into()),
        engine: "lightweight".into(),
        dtype: "bf16".into(),
        tp: 1,
        devices: vec![0],
        memory_estimate_bytes: Some(5_000_000_000),
        status: JobStatus::Running,
    }
}

fn hash_of(item: u64) -> String {
    SampleKey {
        model: "phi-2",
        model_revision: "rev1",
        weights_hash: "w1",
        engine: "lightweight",
        dtype: "bf16",
        tool_version: "0.1.0",
        dataset_hash: "d1",
        item_index: item,
        rendered_prompt: "Q?",
        generation: "{}",
        repeat_index: 0,
    }
    .hash()
}

fn sample(job_id: i64, item: u64) -> SampleRow {
    SampleRow {
        job_id,
        sample_hash: hash_of(item),
        dataset: "quick_facts".into(),
        dataset_hash: "d1".into(),
        item_index: item as i64,
        repeat_index: 0,
        prompt_hash: sha256_hex(b"Q?"),
        target: Some("Paris".into()),
        output: Some(" Paris".into()),
        filtered: BTreeMap::from([("strict-match".to_string(), "Paris".to_string())]),
        loglikelihoods: None,
        scores: BTreeMap::from([("exact_match".to_string(), 1.0)]),
        error: None,
        error_kind: None,
        latency_ms: Some(10.0),
        prompt_tokens: Some(5),
        output_tokens: Some(2),
    }
}

fn failed(job_id: i64, item: u64) -> SampleRow {
    SampleRow {
        output: None,
        filtered: BTreeMap::new(),
        scores: BTreeMap::new(),
        error: Some("engine failed".into()),
        ..sample(job_id, item)
    }
}

fn file_digest(path: &Path) -> String {
    hex_digest(&std::fs::read(path).unwrap())
}

fn hex_digest(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

async fn count(store: &SqliteStore, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_apply_on_open_and_wal_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("assay.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    let expected: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
    assert_eq!(versions.len(), 5);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // New databases get 16 KiB pages (fewer page splits and WAL frames per batch of samples).
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(page, 16384);
    for table in ["runs", "jobs", "samples", "aggregates", "telemetry"] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = ?")
            .bind(table)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "table {table}");
    }
    store.close().await;
    // Reopening applies nothing new and works.
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.runs(10).await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn run_job_samples_aggregates_telemetry_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("a.db")).await.unwrap();
    let run_id = store.create_run(new_run(1_000)).await.unwrap();
    let job_id = store.create_job(new_job(run_id, "phi-2")).await.unwrap();

    let mut mc = sample(job_id, 1);
    mc.loglikelihoods = Some(vec![-1.5, f64::NEG_INFINITY, -0.25]);
    let rows = vec![sample(job_id, 0), mc.clone(), failed(job_id, 2)];
    assert_eq!(store.insert_samples(rows.clone()).await.unwrap(), 3);

    let back = store.samples(job_id, Some("quick_facts")).await.unwrap();
    assert_eq!(back.len(), 3);
    assert_eq!(back[0].row, rows[0]);
    assert_eq!(back[1].row, mc, "-inf survives as null and back");
    assert_eq!(back[2].row.error.as_deref(), Some("engine failed"));
    assert!(
        store
            .samples(job_id, Some("other"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.samples(job_id, None).await.unwrap().len(), 3);

    let agg = AggregateRow {
        job_id,
        dataset: "quick_facts".into(),
        metric: "exact_match".into(),
        filter: "strict-match".into(),
        value: 2.0 / 3.0,
        stderr: Some(0.33),
        n: 3,
        n_scored: 2,
        n_failed: 1,
        partial: true,
        higher_is_better: true,
    };
    store.upsert_aggregates(vec![agg.clone()]).await.unwrap();
    // Upserting again replaces, not duplicates.
    let agg2 = AggregateRow {
        value: 1.0,
        ..agg.clone()
    };
    store.upsert_aggregates(vec![agg2.clone()]).await.unwrap();
    let hist = store.history_rows(&HistoryQuery::default()).await.unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(aggregate_of(&hist[0]), agg2);
    assert_eq!((hist[0].run_id, hist[0].model.as_str()), (run_id, "phi-2"));

    let t = TelemetrySample {
        run_id,
        job_id: Some(job_id),
        t_ms: 5,
        device: "cpu".into(),
        util_pct: Some(97.5),
        mem_used_bytes: Some(1 << 30),
        mem_total_bytes: Some(24 << 30),
        power_w: None,
        temp_c: None,
    };
    store.insert_telemetry(vec![t.clone()]).await.unwrap();
    assert_eq!(store.telemetry(run_id).await.unwrap(), vec![t]);

    store
        .update_job(
            job_id,
            JobUpdate {
                status: JobStatus::Completed,
                started_at_ms: Some(1_001),
                finished_at_ms: Some(2_000),
                memory_measured_bytes: Some(4_900_000_000),
                error: None,
            },
        )
        .await
        .unwrap();
    store
        .finish_run(run_id, RunStatus::Completed, 2_001, None)
        .await
        .unwrap();
    let run = store.run(run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.finished_at_ms, Some(2_001));
    assert_eq!(run.config, new_run(0).config);
    let jobs = store.jobs(run_id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Completed);
    assert_eq!(jobs[0].devices, vec![0]);
    assert_eq!(jobs[0].memory_measured_bytes, Some(4_900_000_000));
    assert_eq!(jobs[0].started_at_ms, Some(1_001));

    assert!(matches!(
        store.run(999).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.finish_run(999, RunStatus::Failed, 1, None).await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
}

#[tokio::test]
async fn history_filters_and_orders_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("h.db")).await.unwrap();
    for (started, model) in [(100, "phi-2"), (300, "phi-2"), (200, "tinyllama-1.1b-chat")] {
        let run_id = store.create_run(new_run(started)).await.unwrap();
        let job_id = store.create_job(new_job(run_id, model)).await.unwrap();
        let rows = ["acc", "acc_norm"]
            .iter()
            .map(|m| AggregateRow {
                job_id,
                dataset: "boolean_questions".into(),
                metric: m.to_string(),
                filter: "none".into(),
                value: started as f64 / 1000.0,
                stderr: None,
                n: 10,
                n_scored: 10,
                n_failed: 0,
                partial: false,
                higher_is_better: true,
            })
            .collect();
        store.upsert_aggregates(rows).await.unwrap();
    }
    let all = store.history_rows(&HistoryQuery::default()).await.unwrap();
    let starts: Vec<i64> = all.iter().map(|a| a.run_started_at_ms).collect();
    assert_eq!(starts, vec![300, 300, 200, 200, 100, 100]);
    let phi_acc = store
        .history_rows(&HistoryQuery {
            model: Some("phi-2".into()),
            metric: Some("acc".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(phi_acc.len(), 2);
    assert_eq!(phi_acc[0].value, 0.3);
    let limited = store
        .history_rows(&HistoryQuery {
            since_ms: Some(150),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].run_started_at_ms, 300);
    let runs = store.runs(2).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.started_at_ms).collect::<Vec<_>>(),
        vec![300, 200]
    );
    store.close().await;
}

#[tokio::test]
async fn duplicate_hashes_are_ignored_and_failures_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("d.db")).await.unwrap();
    let run_id = store.create_run(new_run(1)).await.unwrap();
    let job_id = store.create_job(new_job(run_id, "phi-2")).await.unwrap();

    let first = vec![sample(job_id, 0), failed(job_id, 1)];
    assert_eq!(store.insert_samples(first.clone()).await.unwrap(), 2);
    // The same rows again, and the same hash twice in one batch: nothing new.
    let mut again = first.clone();
    again.push(sample(job_id, 0));
    assert_eq!(store.insert_samples(again).await.unwrap(), 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM samples").await, 2);

    // A success for the failed hash replaces the failed row; a different output for a
    // successful hash does not overwrite it.
    let mut changed = sample(job_id, 0);
    changed.output = Some("London".into());
    let n = store
        .insert_samples(vec![sample(job_id, 1), changed])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let rows = store.samples(job_id, None).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.row.error.is_none()));
    assert_eq!(rows[0].row.output.as_deref(), Some(" Paris"));
    store.close().await;
}

#[tokio::test]
async fn resume_finds_done_hashes_and_reuses_them_in_a_new_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("r.db")).await.unwrap();
    let run1 = store.create_run(new_run(1)).await.unwrap();
    let job1 = store.create_job(new_job(run1, "phi-2")).await.unwrap();
    let mut rows: Vec<SampleRow> = (0..700).map(|i| sample(job1, i)).collect();
    rows.push(failed(job1, 700));
    store.insert_samples(rows).await.unwrap();

    // All 1,000 hashes the rerun wants (more than one IN-list chunk).
    let wanted: Vec<String> = (0..1_000).map(hash_of).collect();
    let scope = ResumeScope {
        model: "phi-2".into(),
        dataset: "quick_facts".into(),
    };
    let done = store.done_hashes(&scope, &wanted).await.unwrap();
    assert_eq!(done.len(), 700);
    assert!(done.contains(&hash_of(0)) && done.contains(&hash_of(699)));
    assert!(!done.contains(&hash_of(700)), "failed samples are redone");

    let run2 = store.create_run(new_run(2)).await.unwrap();
    let job2 = store.create_job(new_job(run2, "phi-2")).await.unwrap();
    let reuse: Vec<String> = wanted
        .iter()
        .filter(|h| done.contains(*h))
        .cloned()
        .collect();
    let copied = store
        .reuse_samples(job2, scope.clone(), reuse.clone())
        .await
        .unwrap();
    assert_eq!(copied, 700);
    let again = store
        .reuse_samples(job2, scope.clone(), reuse.clone())
        .await
        .unwrap();
    assert_eq!(again, 0, "idempotent");
    let copied = store.samples(job2, None).await.unwrap();
    assert_eq!(copied.len(), 700);
    assert_eq!(copied[5].row.output.as_deref(), Some(" Paris"));
    assert_eq!(copied[5].row.job_id, job2);
    // The original job is untouched.
    assert_eq!(store.samples(job1, None).await.unwrap().len(), 701);
    // Other models and datasets are out of scope, even with matching hashes.
    for scope in [
        ResumeScope {
            model: "tinyllama-1.1b-chat".into(),
            dataset: "quick_facts".into(),
        },
        ResumeScope {
            model: "phi-2".into(),
            dataset: "world_knowledge".into(),
        },
    ] {
        assert!(store.done_hashes(&scope, &wanted).await.unwrap().is_empty());
        let job3 = store
            .create_job(new_job(run2, "tinyllama-1.1b-chat"))
            .await
            .unwrap();
        assert_eq!(
            store
                .reuse_samples(job3, scope, reuse.clone())
                .await
                .unwrap(),
            0
        );
    }
    store.close().await;
}

#[tokio::test]
async fn newer_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.create_run(new_run(1)).await.unwrap();
    store.close().await;
    // A newer assay added a migration this build does not know.
    {
        let opts = SqliteConnectOptions::new().filename(&path);
        let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (29990101000000, 'future', TRUE, X'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let before = file_digest(&path);
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("newer assay") && msg.contains("29990101000000"),
        "{msg}"
    );
    assert_eq!(file_digest(&path), before, "the file must not change");
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(50)).unwrap();
    let before = file_digest(&path);
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert_eq!(file_digest(&path), before);
    // An empty file is a new database.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    SqliteStore::open(&empty).await.unwrap().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_write_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // Opened like two processes would: separate connections, pools and writers.
    let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    let (a, b) = (a.unwrap(), b.unwrap());
    async fn write(store: SqliteStore, model: &'static str) -> u64 {
        let run = store.create_run(new_run(1)).await.unwrap();
        let job = store.create_job(new_job(run, model)).await.unwrap();
        let mut written = 0;
        for batch in 0..20u64 {
            let rows = (0..250).map(|i| sample(job, batch * 250 + i)).collect();
            written += store.insert_samples(rows).await.unwrap();
        }
        written
    }
    let (wa, wb) = tokio::join!(
        tokio::spawn(write(a.clone(), "phi-2")),
        tokio::spawn(write(b.clone(), "tinyllama-1.1b-chat"))
    );
    assert_eq!((wa.unwrap(), wb.unwrap()), (5_000, 5_000));
    assert_eq!(count(&a, "SELECT COUNT(*) FROM samples").await, 10_000);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn readers_are_not_blocked_by_a_long_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(300),
        readers: 2,
    };
    let store = SqliteStore::open_with(&path, options.clone())
        .await
        .unwrap();
    let run_id = store.create_run(new_run(1)).await.unwrap();

    // Another process holds the write lock with uncommitted changes.
    let opts = SqliteConnectOptions::new().filename(&path);
    let mut other = SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("UPDATE runs SET status = 'failed' WHERE id = ?")
        .bind(run_id)
        .execute(&mut other)
        .await
        .unwrap();

    // Were reads blocked, they would fail with `Busy` after 300 ms, as the write below does.
    let run = store.run(run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Running, "reads see the last commit");
    assert!(store.history_rows(&HistoryQuery::default()).await.is_ok());
    assert_eq!(store.runs(10).await.unwrap().len(), 1);

    // A write meanwhile waits for the busy timeout, then fails with a clear message.
    let err = store.create_run(new_run(2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("locked by another process"), "{msg}");
    assert!(
        !msg.to_lowercase().contains("insert"),
        "no SQL in messages: {msg}"
    );

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    assert_eq!(store.run(run_id).await.unwrap().status, RunStatus::Failed);
    // Once the lock is gone, writing works again.
    store.create_run(new_run(3)).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn closed_store_reports_writer_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("c.db")).await.unwrap();
    store.close().await;
    assert!(matches!(
        store.create_run(new_run(1)).await,
        Err(StoreError::WriterClosed)
    ));
}

#[tokio::test]
async fn a_batch_that_fails_part_way_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("f.db")).await.unwrap();
    let run_id = store.create_run(new_run(1)).await.unwrap();
    let job_id = store.create_job(new_job(run_id, "phi-2")).await.unwrap();
    // The third row names a job that does not exist: the foreign key refuses it.
    let batch = vec![sample(job_id, 0), sample(job_id, 1), sample(job_id + 99, 2)];
    let err = store.insert_samples(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert!(err.to_string().contains("writing samples"), "{err}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM samples").await, 0);
    // The connection is usable afterwards (no transaction was left open).
    assert_eq!(
        store.insert_samples(vec![sample(job_id, 0)]).await.unwrap(),
        1
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_pages_reach_the_database_file_while_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let run_id = store.create_run(new_run(1)).await.unwrap();
    let job_id = store.create_job(new_job(run_id, "phi-2")).await.unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    // About 3 MB of rows, far below the writer's own checkpoint threshold (10,000 pages), so
    // only the checkpoint task can move them into the database file.
    for batch in 0..5u64 {
        let rows = (batch * 1000..(batch + 1) * 1000)
            .map(|i| crate::store::bench::synthetic_row(job_id, i))
            .collect();
        assert_eq!(store.insert_samples(rows).await.unwrap(), 1000);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size = before;
    while size < before + 2_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        size = std::fs::metadata(&path).unwrap().len();
    }
    assert!(
        size >= before + 2_000_000,
        "database file {before} -> {size} bytes"
    );
    store.close().await;
}
