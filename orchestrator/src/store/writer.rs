//! The single writer: one task owns the write connection and applies commands in order.
//!
//! [`WriterHandle`] is a cheap `Clone` around a bounded channel; each command carries a oneshot
//! reply. [`Writer`] holds the connection and does the work, so it can be tested without tasks.
//! Batches of rows (samples, aggregates, telemetry) go through one generic path,
//! [`Writer::insert_batch`], which hands them to `bulk.rs`: one transaction per batch, one
//! prepared single-row `INSERT` per table ([`BulkRow`]). After each command the writer tells the
//! checkpoint task (`wal.rs`) that the WAL grew, so it never copies pages back itself
//! unless that task falls far behind.

use super::bulk::{self, Binder, BulkError, BulkRow};
use super::error::{SQLITE_BUSY, SQLITE_LOCKED, StoreError, describe, is_busy};
use super::now_ms;
use super::types::{
    AggregateRow, FailureGroup, JobUpdate, NewJob, NewRun, ResumeScope, RunStatus, SampleRow,
    TelemetrySample,
};
use super::wal::WalCheckpoints;
use sqlx::sqlite::{Sqlite, SqliteConnection};
use sqlx::{Connection, QueryBuilder};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Hashes per `IN (...)` list.
pub(crate) const CHUNK_HASHES: usize = 500;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Command {
    CreateRun(NewRun, Reply<i64>),
    FinishRun {
        run_id: i64,
        status: RunStatus,
        finished_at_ms: i64,
        error: Option<String>,
        reply: Reply<()>,
    },
    CreateJob(NewJob, Reply<i64>),
    UpdateJob(i64, JobUpdate, Reply<()>),
    InsertSamples(Vec<SampleRow>, Reply<u64>),
    ReuseSamples(i64, ResumeScope, Vec<String>, Reply<u64>),
    UpsertAggregates(Vec<AggregateRow>, Reply<()>),
    ReplaceFailures(i64, String, Vec<FailureGroup>, Reply<()>),
    InsertTelemetry(Vec<TelemetrySample>, Reply<()>),
    RecordJobStats(super::JobStats, Reply<()>),
    SetJobMeasurements(i64, serde_json::Value, Reply<()>),
    /// Close the write connection (checkpointing the WAL) and stop.
    Shutdown(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Command>,
}

impl WriterHandle {
    pub(crate) async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        rx.await.map_err(|_| StoreError::WriterClosed)?
    }

    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Start the writer task.
pub(crate) fn spawn(mut writer: Writer) -> WriterHandle {
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            if let Command::Shutdown(done) = cmd {
                if let Some(checkpoints) = writer.checkpoints.take() {
                    checkpoints.stop().await;
                }
                if let Err(e) = writer.conn.close().await {
                    tracing::debug!(error = %e, "closing the write connection");
                }
                let _ = done.send(());
                return;
            }
            writer.handle(cmd).await;
            if let Some(checkpoints) = &writer.checkpoints {
                checkpoints.kick();
            }
        }
    });
    WriterHandle { tx }
}

pub(crate) struct Writer {
    conn: SqliteConnection,
    path: PathBuf,
    busy_timeout: Duration,
    checkpoints: Option<WalCheckpoints>,
}

impl Writer {
    pub(crate) fn new(conn: SqliteConnection, path: PathBuf, busy_timeout: Duration) -> Self {
        Writer {
            conn,
            path,
            busy_timeout,
            checkpoints: None,
        }
    }

    /// Leave WAL checkpoints to a task of their own (see `wal.rs`).
    pub(crate) fn with_checkpoints(mut self, checkpoints: WalCheckpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    async fn handle(&mut self, cmd: Command) {
        // A dropped reply receiver means the caller went away; nothing to tell it.
        match cmd {
            Command::CreateRun(run, reply) => {
                let _ = reply.send(self.create_run(run).await);
            }
            Command::FinishRun {
                run_id,
                status,
                finished_at_ms,
                error,
                reply,
            } => {
                let r = self.finish_run(run_id, status, finished_at_ms, error).await;
                let _ = reply.send(r);
            }
            Command::CreateJob(job, reply) => {
                let _ = reply.send(self.create_job(job).await);
            }
            Command::UpdateJob(id, update, reply) => {
                let _ = reply.send(self.update_job(id, update).await);
            }
            Command::InsertSamples(rows, reply) => {
                let _ = reply.send(self.insert_samples(rows).await);
            }
            Command::ReuseSamples(job_id, scope, hashes, reply) => {
                let _ = reply.send(self.reuse_samples(job_id, &scope, &hashes).await);
            }
            Command::UpsertAggregates(rows, reply) => {
                let _ = reply.send(self.upsert_aggregates(&rows).await);
            }
            Command::ReplaceFailures(job_id, dataset, groups, reply) => {
                let _ = reply.send(self.replace_failures(job_id, &dataset, &groups).await);
            }
            Command::InsertTelemetry(rows, reply) => {
                let _ = reply.send(self.insert_telemetry(&rows).await);
            }
            Command::RecordJobStats(stats, reply) => {
                let r = super::queries::upsert_job_stats(&mut self.conn, &stats)
                    .await
                    .map_err(self.err("recording a job summary"));
                let _ = reply.send(r);
            }
            Command::SetJobMeasurements(id, value, reply) => {
                let _ = reply.send(self.set_job_measurements(id, &value).await);
            }
            Command::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }

    /// Maps an SQLite error met while doing `context` to a user-facing error.
    fn err(&self, context: &str) -> impl Fn(sqlx::Error) -> StoreError + use<> {
        let context = context.to_string();
        let path = self.path.clone();
        let waited = self.busy_timeout;
        move |e| {
            tracing::debug!(error = %e, context = %context, "sqlite write failed");
            if is_busy(&e) {
                StoreError::Busy {
                    path: path.clone(),
                    waited,
                }
            } else {
                StoreError::Database {
                    path: path.clone(),
                    context: context.clone(),
                    kind: describe(&e),
                }
            }
        }
    }

    pub(crate) async fn create_run(&mut self, run: NewRun) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (started_at_ms, status, tool_version, catalog_hash, config, host, gpus)
             VALUES (?, 'running', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(run.started_at_ms)
        .bind(&run.tool_version)
        .bind(&run.catalog_hash)
        .bind(run.config.to_string())
        .bind(run.host.to_string())
        .bind(run.gpus.to_string())
        .fetch_one(&mut self.conn)
        .await
        .map_err(self.err("recording the run"))?;
        Ok(id)
    }

    pub(crate) async fn finish_run(
        &mut self,
        run_id: i64,
        status: RunStatus,
        finished_at_ms: i64,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE runs SET status = ?, finished_at_ms = ?, error = ? WHERE id = ?")
                .bind(status.as_str())
                .bind(finished_at_ms)
                .bind(error)
                .bind(run_id)
                .execute(&mut self.conn)
                .await
                .map_err(self.err("finishing the run"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("run {run_id}"),
            });
        }
        Ok(())
    }

    pub(crate) async fn create_job(&mut self, job: NewJob) -> Result<i64, StoreError> {
        let devices = serde_json::Value::from(job.devices.clone()).to_string();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (run_id, model, revision, weights_hash, engine, dtype, tp, devices,
                               memory_estimate_bytes, status)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(job.run_id)
        .bind(&job.model)
        .bind(&job.revision)
        .bind(&job.weights_hash)
        .bind(&job.engine)
        .bind(&job.dtype)
        .bind(job.tp)
        .bind(devices)
        .bind(job.memory_estimate_bytes)
        .bind(job.status.as_str())
        .fetch_one(&mut self.conn)
        .await
        .map_err(self.err("recording the job"))?;
        Ok(id)
    }

    pub(crate) async fn set_job_measurements(
        &mut self,
        id: i64,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET measurements = ? WHERE id = ?")
            .bind(value.to_string())
            .bind(id)
            .execute(&mut self.conn)
            .await
            .map_err(self.err("recording the job's measurements"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("job {id}"),
            });
        }
        Ok(())
    }

    pub(crate) async fn update_job(&mut self, id: i64, u: JobUpdate) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = ?,
                 started_at_ms = COALESCE(?, started_at_ms),
                 finished_at_ms = COALESCE(?, finished_at_ms),
                 memory_measured_bytes = COALESCE(?, memory_measured_bytes),
                 error = ?
             WHERE id = ?",
        )
        .bind(u.status.as_str())
        .bind(u.started_at_ms)
        .bind(u.finished_at_ms)
        .bind(u.memory_measured_bytes)
        .bind(u.error)
        .bind(id)
        .execute(&mut self.conn)
        .await
        .map_err(self.err("updating the job"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("job {id}"),
            });
        }
        Ok(())
    }

    /// Insert finished samples in one transaction (the upsert is `SampleRow`'s [`BulkRow::SQL`]).
    pub(crate) async fn insert_samples(&mut self, rows: Vec<SampleRow>) -> Result<u64, StoreError> {
        self.insert_batch(&rows, "writing samples").await
    }

    /// Insert `rows` in one transaction through [`bulk::insert`]. Returns the rows changed.
    async fn insert_batch<R: BulkRow>(
        &mut self,
        rows: &[R],
        context: &str,
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let err = self.err(context);
        let now = now_ms();
        let mut handle = self.conn.lock_handle().await.map_err(&err)?;
        let db = handle.as_raw_handle();
        // SAFETY: the locked handle keeps sqlx's worker thread off the connection until it is
        // dropped, after the call; the writer never leaves a transaction open between commands.
        let insert = || unsafe { bulk::insert(db, rows, now) };
        // The batch is CPU work of a few milliseconds: on a multi-threaded runtime, let other
        // tasks move off this worker thread meanwhile.
        let done = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(insert),
            _ => insert(),
        };
        drop(handle);
        done.map_err(|e| self.bulk_err(context, &e))
    }

    fn bulk_err(&self, context: &str, e: &BulkError) -> StoreError {
        if matches!(e.primary_code(), Some(SQLITE_BUSY | SQLITE_LOCKED)) {
            StoreError::Busy {
                path: self.path.clone(),
                waited: self.busy_timeout,
            }
        } else {
            StoreError::Database {
                path: self.path.clone(),
                context: context.to_string(),
                kind: e.describe(),
            }
        }
    }

    pub(crate) async fn reuse_samples(
        &mut self,
        job_id: i64,
        scope: &ResumeScope,
        hashes: &[String],
    ) -> Result<u64, StoreError> {
        if hashes.is_empty() {
            return Ok(0);
        }
        let context = "reusing earlier samples";
        let err = self.err(context);
        let created = now_ms();
        let mut tx = self
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&err)?;
        let mut copied = 0;
        for chunk in hashes.chunks(CHUNK_HASHES) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO samples (job_id, sample_hash, dataset, dataset_hash, item_index,
                    repeat_index, prompt_hash, target, output, filtered, loglikelihoods, scores,
                    error, latency_ms, prompt_tokens, output_tokens, created_at_ms)
                 SELECT ",
            );
            qb.push_bind(job_id);
            qb.push(
                ", sample_hash, dataset, dataset_hash, item_index, repeat_index, prompt_hash,
                    target, output, filtered, loglikelihoods, scores, error, latency_ms,
                    prompt_tokens, output_tokens, ",
            );
            qb.push_bind(created);
            qb.push(
                " FROM samples WHERE id IN (
                    SELECT MIN(id) FROM samples
                    WHERE job_id IN (SELECT id FROM jobs WHERE model = ",
            );
            qb.push_bind(scope.model.as_str());
            qb.push(" AND id <> ");
            qb.push_bind(job_id);
            qb.push(") AND dataset = ");
            qb.push_bind(scope.dataset.as_str());
            qb.push(" AND error IS NULL AND sample_hash IN (");
            let mut list = qb.separated(", ");
            for h in chunk {
                list.push_bind(h.as_str());
            }
            qb.push(
                ") GROUP BY sample_hash)
                 ON CONFLICT (job_id, dataset, item_index, repeat_index, sample_hash)
                 DO UPDATE SET
                    output = excluded.output, filtered = excluded.filtered,
                    loglikelihoods = excluded.loglikelihoods, scores = excluded.scores,
                    error = NULL, error_kind = NULL, latency_ms = excluded.latency_ms,
                    prompt_tokens = excluded.prompt_tokens, output_tokens = excluded.output_tokens,
                    created_at_ms = excluded.created_at_ms
                 WHERE samples.error IS NOT NULL",
            );
            let done = qb.build().execute(&mut *tx).await.map_err(&err)?;
            copied += done.rows_affected();
        }
        tx.commit().await.map_err(&err)?;
        Ok(copied)
    }

    pub(crate) async fn upsert_aggregates(
        &mut self,
        rows: &[AggregateRow],
    ) -> Result<(), StoreError> {
        self.insert_batch(rows, "writing aggregates")
            .await
            .map(drop)
    }

    /// Replace the failure summary of one (job, dataset) in one transaction.
    pub(crate) async fn replace_failures(
        &mut self,
        job_id: i64,
        dataset: &str,
        groups: &[FailureGroup],
    ) -> Result<(), StoreError> {
        let err = self.err("writing the failure summary");
        let mut tx = self
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(&err)?;
        sqlx::query("DELETE FROM failures WHERE job_id = ? AND dataset = ?")
            .bind(job_id)
            .bind(dataset)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        for g in groups {
            sqlx::query(
                "INSERT INTO failures (job_id, dataset, kind, count, example) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(job_id)
            .bind(dataset)
            .bind(g.kind.label())
            .bind(g.count)
            .bind(&g.example)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    pub(crate) async fn insert_telemetry(
        &mut self,
        rows: &[TelemetrySample],
    ) -> Result<(), StoreError> {
        self.insert_batch(rows, "writing telemetry").await.map(drop)
    }
}

/// A hash the job already holds is left alone, unless the stored row failed and the new one did
/// not. The unique key leads with (job, dataset, item, repeat), the order rows arrive in.
impl BulkRow for SampleRow {
    const SQL: &'static str = "INSERT INTO samples (job_id, sample_hash, dataset, dataset_hash,
            item_index, repeat_index, prompt_hash, target, output, filtered, loglikelihoods,
            scores, error, error_kind, latency_ms, prompt_tokens, output_tokens, created_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (job_id, dataset, item_index, repeat_index, sample_hash) DO UPDATE SET
            dataset_hash = excluded.dataset_hash, prompt_hash = excluded.prompt_hash,
            target = excluded.target, output = excluded.output,
            filtered = excluded.filtered, loglikelihoods = excluded.loglikelihoods,
            scores = excluded.scores, error = excluded.error, error_kind = excluded.error_kind,
            latency_ms = excluded.latency_ms, prompt_tokens = excluded.prompt_tokens,
            output_tokens = excluded.output_tokens, created_at_ms = excluded.created_at_ms
        WHERE samples.error IS NOT NULL AND excluded.error IS NULL";

    fn bind<'r>(&'r self, b: &mut Binder<'r>, now_ms: i64) {
        b.int(self.job_id)
            .text(&self.sample_hash)
            .text(&self.dataset)
            .text(&self.dataset_hash)
            .int(self.item_index)
            .int(self.repeat_index)
            .text(&self.prompt_hash)
            .opt_text(self.target.as_deref())
            .opt_text(self.output.as_deref())
            .json(&self.filtered)
            .opt_json(self.loglikelihoods.as_deref())
            .json(&self.scores)
            .opt_text(self.error.as_deref())
            .opt_string(self.error_kind.map(|k| k.label()))
            .opt_real(self.latency_ms)
            .opt_int(self.prompt_tokens)
            .opt_int(self.output_tokens)
            .int(now_ms);
    }
}

/// Aggregates are replaced: the latest computation of a (job, dataset, metric, filter) wins.
impl BulkRow for AggregateRow {
    const SQL: &'static str = "INSERT INTO aggregates (job_id, dataset, metric, filter, value,
            stderr, n, n_scored, n_failed, partial, higher_is_better, created_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (job_id, dataset, metric, filter) DO UPDATE SET
            value = excluded.value, stderr = excluded.stderr, n = excluded.n,
            n_scored = excluded.n_scored, n_failed = excluded.n_failed,
            partial = excluded.partial, higher_is_better = excluded.higher_is_better,
            created_at_ms = excluded.created_at_ms";

    fn bind<'r>(&'r self, b: &mut Binder<'r>, now_ms: i64) {
        b.int(self.job_id)
            .text(&self.dataset)
            .text(&self.metric)
            .text(&self.filter)
            .real(self.value)
            .opt_real(self.stderr)
            .int(self.n)
            .int(self.n_scored)
            .int(self.n_failed)
            .bool(self.partial)
            .bool(self.higher_is_better)
            .int(now_ms);
    }
}

impl BulkRow for TelemetrySample {
    const SQL: &'static str = "INSERT INTO telemetry (run_id, job_id, t_ms, device, util_pct,
            mem_used_bytes, mem_total_bytes, power_w, temp_c)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

    fn bind<'r>(&'r self, b: &mut Binder<'r>, _now_ms: i64) {
        b.int(self.run_id)
            .opt_int(self.job_id)
            .int(self.t_ms)
            .text(&self.device)
            .opt_real(self.util_pct)
            .opt_int(self.mem_used_bytes)
            .opt_int(self.mem_total_bytes)
            .opt_real(self.power_w)
            .opt_real(self.temp_c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JobStatus;
    use crate::store::bench::synthetic_row;
    use crate::store::sqlite::MIGRATOR;
    use sqlx::sqlite::SqliteConnectOptions;

    /// The writer's state is driven directly, without its task and channel.
    #[tokio::test]
    async fn writer_state_without_a_task() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
        MIGRATOR.run(&mut conn).await.unwrap();
        let mut w = Writer::new(conn, path, Duration::from_secs(1));
        let run_id = w
            .create_run(NewRun {
                started_at_ms: 1,
                tool_version: "0.1.0".into(),
                catalog_hash: "c".into(),
                config: serde_json::json!({}),
                host: serde_json::json!({}),
                gpus: serde_json::json!([]),
            })
            .await
            .unwrap();
        let job_id = w
            .create_job(NewJob {
                run_id,
                model: "m".into(),
                revision: "r".into(),
                weights_hash: None,
                engine: "lightweight".into(),
                dtype: "f32".into(),
                tp: 1,
                devices: vec![],
                memory_estimate_bytes: None,
                status: JobStatus::Pending,
            })
            .await
            .unwrap();
        let rows: Vec<SampleRow> = (0..1_201).map(|i| synthetic_row(job_id, i)).collect();
        assert_eq!(w.insert_samples(rows.clone()).await.unwrap(), 1_201);
        assert_eq!(w.insert_samples(rows).await.unwrap(), 0);
        assert_eq!(w.insert_samples(Vec::new()).await.unwrap(), 0);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM samples")
            .fetch_one(&mut w.conn)
            .await
            .unwrap();
        assert_eq!(n, 1_201);
        // A job that does not exist is refused by the foreign key, with a message free of SQL.
        let err = w
            .insert_samples(vec![synthetic_row(999, 0)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err}");
        assert!(err.to_string().contains("constraint"), "{err}");
    }
}
