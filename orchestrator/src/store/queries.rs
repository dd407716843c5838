//! The read side of `history`, `show`, `compare`, `export` and `report` ([`Queries`]), and the
//! per-job performance summary ([`JobStats`]) the executor records when a job ends.
//!
//! Every query here is served by an index (see `migrations/`); the test suite checks their
//! plans with `EXPLAIN QUERY PLAN`, so none of them scans `samples` or `aggregates`.

use super::error::StoreError;
use super::sqlite::{SqliteStore, json_as, json_column, sample_record, status};
use super::types::{FailureGroup, JobStatus, RunStatus, SampleRecord};
use assay_engines::FailureKind;
use serde::Serialize;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row};
use std::collections::BTreeMap;
use std::future::Future;

/// What a job measured about itself: written once when it ends (a later write replaces it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobStats {
    pub job_id: i64,
    /// Sequences per batch the engine ran with.
    pub batch_size: Option<i64>,
    /// Time to load the weights and build the engine.
    pub load_ms: Option<f64>,
    /// Time spent evaluating (requests served), excluding the load.
    pub eval_ms: Option<f64>,
    pub requests: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Tokens per second of compute: prompt tokens prefilled plus tokens generated, over the
    /// engine's forward-pass time.
    pub tokens_per_second: Option<f64>,
    pub prefill_tokens_per_second: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Peak resident memory of the process on the host.
    pub peak_rss_bytes: Option<i64>,
    /// Whether the GPUs did the work, in words (from the telemetry sampler).
    pub gpu_verdict: Option<String>,
    /// The engine's full telemetry, as JSON (`null` when absent).
    pub detail: serde_json::Value,
}

/// Which aggregates to list; `None` fields match everything. Newest run first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    pub run_id: Option<i64>,
    pub category: Option<String>,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub metric: Option<String>,
    /// The filter pipeline (`none`, `strict-match`, ...), when the metric was given as `metric,filter`.
    pub filter: Option<String>,
    pub since_ms: Option<i64>,
    /// The job's status.
    pub status: Option<JobStatus>,
    pub limit: Option<i64>,
}

/// One history row: a metric of one model on one dataset in one run, with how it was run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub run_id: i64,
    pub run_started_at_ms: i64,
    pub run_status: RunStatus,
    pub category: Option<String>,
    pub tool_version: String,
    pub job_id: i64,
    pub model: String,
    pub revision: String,
    pub engine: String,
    pub dtype: String,
    pub tp: i64,
    pub job_status: JobStatus,
    pub dataset: String,
    pub metric: String,
    pub filter: String,
    pub value: f64,
    pub stderr: Option<f64>,
    pub n: i64,
    pub n_scored: i64,
    pub n_failed: i64,
    pub partial: bool,
    pub higher_is_better: bool,
    pub tokens_per_second: Option<f64>,
    pub batch_size: Option<i64>,
    /// The dataset's failed samples by kind (empty when none failed). A dataset none of whose
    /// samples succeeded has no metric: its row has metric `-` and no value (`NaN`, `null` in
    /// JSON), and only [`Queries::history_with_failures`] lists it.
    pub failures: Vec<FailureGroup>,
}

impl HistoryRow {
    /// A completed result of `model` on `dataset` in run `run` (job `run`), for tests.
    #[cfg(test)]
    pub(crate) fn example(run: i64, model: &str, dataset: &str, metric: &str, value: f64) -> Self {
        HistoryRow {
            run_id: run,
            run_started_at_ms: run,
            run_status: RunStatus::Completed,
            category: None,
            tool_version: "0".into(),
            job_id: run,
            model: model.into(),
            revision: "main".into(),
            engine: "lightweight".into(),
            dtype: "bf16".into(),
            tp: 1,
            job_status: JobStatus::Completed,
            dataset: dataset.into(),
            metric: metric.into(),
            filter: "none".into(),
            value,
            stderr: None,
            n: 10,
            n_scored: 10,
            n_failed: 0,
            partial: false,
            higher_is_better: true,
            tokens_per_second: None,
            batch_size: None,
            failures: Vec::new(),
        }
    }

    /// Whether the row carries a score (a dataset with no successful sample has none).
    pub fn scored(&self) -> bool {
        !self.value.is_nan()
    }
}

/// The part of a sample that pairing two runs needs: where it sits, what it was asked, its scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub item_index: i64,
    pub repeat_index: i64,
    pub prompt_hash: String,
    pub dataset_hash: String,
    pub scores: BTreeMap<String, f64>,
    pub failed: bool,
}

/// The SQL of [`Queries::history_rows`]; public so tests can check its plan.
///
/// The join order is fixed (`CROSS JOIN` in SQLite keeps the left table outer): runs newest
/// first through `runs_started_at` (or `runs_category`, or a `--since` range), then each run's
/// jobs (through `jobs_model` when a model is given) and their aggregates through the unique
/// key (with the dataset as its second column). Rows come out in the order listed, so a
/// `LIMIT` stops the walk early; without the fixed order SQLite's planner, having no
/// statistics, started from `aggregates` and sorted every matching row (measured 20-400 ms on
/// 10,000 runs against under 2 ms this way). The outer index is named with `INDEXED BY`.
pub fn history_sql(q: &HistoryQuery) -> QueryBuilder<Sqlite> {
    let mut qb = history_walk(
        q,
        "a.dataset, a.metric, a.filter, a.value, a.stderr, a.n, a.n_scored, a.n_failed, \
         a.partial, a.higher_is_better",
        "aggregates a",
    );
    push_run_job_filters(&mut qb, q, "a.dataset");
    if let Some(metric) = &q.metric {
        qb.push(" AND a.metric = ").push_bind(metric.clone());
    }
    if let Some(filter) = &q.filter {
        qb.push(" AND a.filter = ").push_bind(filter.clone());
    }
    qb.push(" ORDER BY r.started_at_ms DESC, r.id DESC, j.model, a.dataset, a.metric, a.filter");
    if let Some(limit) = q.limit {
        qb.push(" LIMIT ").push_bind(limit);
    }
    qb
}

/// The walk [`history_sql`] describes, over `joined` (a per-job table, aliased) instead of
/// `aggregates`, selecting its `columns` besides the run's, the job's and its throughput.
fn history_walk(q: &HistoryQuery, columns: &str, joined: &str) -> QueryBuilder<Sqlite> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT r.id AS run_id, r.started_at_ms AS run_started_at_ms, r.status AS run_status,
                r.category, r.tool_version, j.id AS job_id, j.model, j.revision, j.engine,
                j.dtype, j.tp, j.status AS job_status, {columns},
                s.tokens_per_second, s.batch_size
         FROM runs r "
    ));
    // Pin the outer index: which one SQLite picks without statistics varies between versions.
    qb.push(match (q.run_id, &q.category) {
        (Some(_), _) => "",
        (None, Some(_)) => "INDEXED BY runs_category",
        (None, None) => "INDEXED BY runs_started_at",
    });
    let alias = joined.rsplit(' ').next().unwrap_or(joined);
    qb.push(format!(
        "
         CROSS JOIN jobs j ON j.run_id = r.id
         CROSS JOIN {joined} ON {alias}.job_id = j.id
         LEFT JOIN job_stats s ON s.job_id = j.id
         WHERE 1 = 1"
    ));
    qb
}

/// The conditions of a [`HistoryQuery`] on runs and jobs (and the dataset, in `dataset_col`),
/// shared by the aggregate and the failure listings.
fn push_run_job_filters(qb: &mut QueryBuilder<Sqlite>, q: &HistoryQuery, dataset_col: &str) {
    if let Some(run_id) = q.run_id {
        qb.push(" AND r.id = ").push_bind(run_id);
    }
    if let Some(category) = &q.category {
        qb.push(" AND r.category = ").push_bind(category.clone());
    }
    if let Some(model) = &q.model {
        qb.push(" AND j.model = ").push_bind(model.clone());
    }
    if let Some(dataset) = &q.dataset {
        qb.push(format!(" AND {dataset_col} = "))
            .push_bind(dataset.clone());
    }
    if let Some(since) = q.since_ms {
        qb.push(" AND r.started_at_ms >= ").push_bind(since);
    }
    if let Some(status) = q.status {
        qb.push(" AND j.status = ").push_bind(status.as_str());
    }
}

/// The SQL of the failure half of [`Queries::history_with_failures`]: the failure summaries of
/// the jobs a [`HistoryQuery`] selects, in the same walk order as [`history_sql`].
pub fn history_failures_sql(q: &HistoryQuery) -> QueryBuilder<Sqlite> {
    let mut qb = history_walk(q, "f.dataset, f.kind, f.count, f.example", "failures f");
    push_run_job_filters(&mut qb, q, "f.dataset");
    qb.push(" ORDER BY r.started_at_ms DESC, r.id DESC, j.model, f.dataset, f.count DESC, f.kind");
    if let Some(limit) = q.limit {
        qb.push(" LIMIT ").push_bind(limit);
    }
    qb
}

/// The SQL of [`Queries::score_rows`]; public so tests can check its plan.
pub const SCORE_ROWS_SQL: &str = "SELECT item_index, repeat_index, prompt_hash, dataset_hash, \
     scores, error IS NOT NULL AS failed FROM samples WHERE job_id = ? AND dataset = ? \
     ORDER BY item_index, repeat_index";

/// The SQL of [`Queries::runs_with_model`]: runs newest first, each checked through
/// `jobs_model`, so the walk stops at the limit.
pub const RUNS_WITH_MODEL_SQL: &str = "SELECT r.id FROM runs r INDEXED BY runs_started_at WHERE EXISTS \
     (SELECT 1 FROM jobs j WHERE j.model = ?1 AND j.run_id = r.id) \
     ORDER BY r.started_at_ms DESC, r.id DESC LIMIT ?2";

/// The SQL of [`Queries::job_stats`].
pub const JOB_STATS_SQL: &str = "SELECT s.* FROM jobs j CROSS JOIN job_stats s ON s.job_id = j.id \
     WHERE j.run_id = ? ORDER BY j.id";

/// Reads for the history-facing commands.
pub trait Queries: Send + Sync {
    /// Aggregates with their run, job and throughput, newest run first.
    fn history_rows(
        &self,
        q: &HistoryQuery,
    ) -> impl Future<Output = Result<Vec<HistoryRow>, StoreError>> + Send;
    /// [`Queries::history_rows`] with each dataset's failure summary, plus a row (with no
    /// metric) for every dataset whose samples all failed, which has no aggregate. A metric
    /// filter lists scored rows only.
    fn history_with_failures(
        &self,
        q: &HistoryQuery,
    ) -> impl Future<Output = Result<Vec<HistoryRow>, StoreError>> + Send;
    /// Run ids closest to `run_id` (the nearest below and above) and the newest run, for
    /// "did you mean" messages. Empty when there are no runs.
    fn nearby_run_ids(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;
    fn run_count(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// The newest runs holding a job of `model`, newest first.
    fn runs_with_model(
        &self,
        model: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;
    /// The recorded summaries of a run's jobs.
    fn job_stats(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<JobStats>, StoreError>> + Send;
    /// A job's samples of one dataset, reduced to what pairing needs, in item order.
    fn score_rows(
        &self,
        job_id: i64,
        dataset: &str,
    ) -> impl Future<Output = Result<Vec<ScoreRow>, StoreError>> + Send;
    /// One page of a job's samples in (dataset, item, repeat) order.
    fn sample_page(
        &self,
        job_id: i64,
        dataset: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<SampleRecord>, StoreError>> + Send;
    /// How many samples a job holds (of one dataset, or all).
    fn sample_count(
        &self,
        job_id: i64,
        dataset: Option<&str>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

fn history_row(row: &SqliteRow) -> Result<HistoryRow, StoreError> {
    Ok(HistoryRow {
        metric: row.try_get("metric")?,
        filter: row.try_get("filter")?,
        value: row.try_get("value")?,
        stderr: row.try_get("stderr")?,
        n: row.try_get("n")?,
        n_scored: row.try_get("n_scored")?,
        n_failed: row.try_get("n_failed")?,
        partial: row.try_get("partial")?,
        higher_is_better: row.try_get("higher_is_better")?,
        ..history_head(row)?
    })
}

/// The run, job, dataset and throughput columns of a history row, with no metric (`-`, no
/// value): what a row of [`history_failures_sql`] is until its failures are attached.
fn history_head(row: &SqliteRow) -> Result<HistoryRow, StoreError> {
    Ok(HistoryRow {
        run_id: row.try_get("run_id")?,
        run_started_at_ms: row.try_get("run_started_at_ms")?,
        run_status: status(row.try_get("run_status")?, RunStatus::parse)?,
        category: row.try_get("category")?,
        tool_version: row.try_get("tool_version")?,
        job_id: row.try_get("job_id")?,
        model: row.try_get("model")?,
        revision: row.try_get("revision")?,
        engine: row.try_get("engine")?,
        dtype: row.try_get("dtype")?,
        tp: row.try_get("tp")?,
        job_status: status(row.try_get("job_status")?, JobStatus::parse)?,
        dataset: row.try_get("dataset")?,
        metric: "-".into(),
        filter: "-".into(),
        value: f64::NAN,
        stderr: None,
        n: 0,
        n_scored: 0,
        n_failed: 0,
        partial: true,
        higher_is_better: true,
        tokens_per_second: row.try_get("tokens_per_second")?,
        batch_size: row.try_get("batch_size")?,
        failures: Vec::new(),
    })
}

/// One failure summary row of [`history_failures_sql`]: the history row it belongs to (no
/// metric) and its group.
fn history_failure_row(row: &SqliteRow) -> Result<(HistoryRow, FailureGroup), StoreError> {
    Ok((history_head(row)?, failure_group(row)?))
}

fn failure_group(row: &SqliteRow) -> Result<FailureGroup, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(FailureGroup {
        kind: FailureKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
            what: "failure summary".to_string(),
            detail: format!("unknown failure kind `{kind}`"),
        })?,
        count: row.try_get("count")?,
        example: row.try_get("example")?,
    })
}

/// Attach failure summaries to the aggregate rows of their (job, dataset), and add a row for
/// each (job, dataset) that has failures but no aggregate; ordered as [`history_sql`] orders.
fn merge_failures(
    mut rows: Vec<HistoryRow>,
    failures: Vec<(HistoryRow, FailureGroup)>,
    limit: Option<i64>,
) -> Vec<HistoryRow> {
    let mut groups: BTreeMap<(i64, String), (HistoryRow, Vec<FailureGroup>)> = BTreeMap::new();
    for (h, g) in failures {
        groups
            .entry((h.job_id, h.dataset.clone()))
            .or_insert_with(|| (h, Vec::new()))
            .1
            .push(g);
    }
    for r in &mut rows {
        if let Some((_, gs)) = groups.get(&(r.job_id, r.dataset.clone())) {
            r.failures = gs.clone();
        }
    }
    let scored: std::collections::HashSet<(i64, String)> =
        rows.iter().map(|r| (r.job_id, r.dataset.clone())).collect();
    for (key, (mut h, gs)) in groups {
        if scored.contains(&key) {
            continue;
        }
        let failed: i64 = gs.iter().map(|g| g.count).sum();
        h.n = failed;
        h.n_failed = failed;
        h.failures = gs;
        rows.push(h);
    }
    rows.sort_by(|a, b| {
        b.run_started_at_ms
            .cmp(&a.run_started_at_ms)
            .then(b.run_id.cmp(&a.run_id))
            .then_with(|| a.model.cmp(&b.model))
            .then_with(|| a.dataset.cmp(&b.dataset))
            .then_with(|| a.metric.cmp(&b.metric))
            .then_with(|| a.filter.cmp(&b.filter))
    });
    if let Some(limit) = limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    rows
}

fn job_stats_row(row: &SqliteRow) -> Result<JobStats, StoreError> {
    Ok(JobStats {
        job_id: row.try_get("job_id")?,
        batch_size: row.try_get("batch_size")?,
        load_ms: row.try_get("load_ms")?,
        eval_ms: row.try_get("eval_ms")?,
        requests: row.try_get("requests")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        tokens_per_second: row.try_get("tokens_per_second")?,
        prefill_tokens_per_second: row.try_get("prefill_tokens_per_second")?,
        ttft_p50_ms: row.try_get("ttft_p50_ms")?,
        ttft_p95_ms: row.try_get("ttft_p95_ms")?,
        latency_p50_ms: row.try_get("latency_p50_ms")?,
        latency_p95_ms: row.try_get("latency_p95_ms")?,
        latency_p99_ms: row.try_get("latency_p99_ms")?,
        peak_rss_bytes: row.try_get("peak_rss_bytes")?,
        gpu_verdict: row.try_get("gpu_verdict")?,
        detail: json_column(row, "detail")?,
    })
}

impl Queries for SqliteStore {
    async fn history_rows(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = history_sql(q)
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(self.read_err("reading history"))?;
        rows.iter().map(history_row).collect()
    }

    async fn history_with_failures(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.history_rows(q).await?;
        if q.metric.is_some() || q.filter.is_some() {
            return Ok(rows);
        }
        let failures = history_failures_sql(q)
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(self.read_err("reading failure summaries"))?;
        let failures = failures
            .iter()
            .map(history_failure_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merge_failures(rows, failures, q.limit))
    }

    async fn nearby_run_ids(&self, run_id: i64) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM (SELECT id FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT 1)
             UNION SELECT id FROM (SELECT id FROM runs WHERE id > ?1 ORDER BY id LIMIT 1)
             UNION SELECT id FROM (SELECT id FROM runs ORDER BY id DESC LIMIT 1)",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await
        .map_err(self.read_err("looking up run ids"))?;
        Ok(ids)
    }

    async fn run_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM runs")
            .fetch_one(self.pool())
            .await
            .map_err(self.read_err("counting runs"))
    }

    async fn runs_with_model(&self, model: &str, limit: i64) -> Result<Vec<i64>, StoreError> {
        sqlx::query_scalar(RUNS_WITH_MODEL_SQL)
            .bind(model)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(self.read_err("finding runs of a model"))
    }

    async fn job_stats(&self, run_id: i64) -> Result<Vec<JobStats>, StoreError> {
        let rows = sqlx::query(JOB_STATS_SQL)
            .bind(run_id)
            .fetch_all(self.pool())
            .await
            .map_err(self.read_err("reading job summaries"))?;
        rows.iter().map(job_stats_row).collect()
    }

    async fn score_rows(&self, job_id: i64, dataset: &str) -> Result<Vec<ScoreRow>, StoreError> {
        let rows = sqlx::query(SCORE_ROWS_SQL)
            .bind(job_id)
            .bind(dataset)
            .fetch_all(self.pool())
            .await
            .map_err(self.read_err("reading sample scores"))?;
        rows.iter()
            .map(|row| {
                Ok(ScoreRow {
                    item_index: row.try_get("item_index")?,
                    repeat_index: row.try_get("repeat_index")?,
                    prompt_hash: row.try_get("prompt_hash")?,
                    dataset_hash: row.try_get("dataset_hash")?,
                    scores: json_as(row, "scores")?,
                    failed: row.try_get("failed")?,
                })
            })
            .collect()
    }

    async fn sample_page(
        &self,
        job_id: i64,
        dataset: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<SampleRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM samples WHERE job_id = ? AND (? IS NULL OR dataset = ?)
             ORDER BY dataset, item_index, repeat_index LIMIT ? OFFSET ?",
        )
        .bind(job_id)
        .bind(dataset)
        .bind(dataset)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await
        .map_err(self.read_err("reading samples"))?;
        rows.iter().map(sample_record).collect()
    }

    async fn sample_count(&self, job_id: i64, dataset: Option<&str>) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM samples WHERE job_id = ? AND (? IS NULL OR dataset = ?)",
        )
        .bind(job_id)
        .bind(dataset)
        .bind(dataset)
        .fetch_one(self.pool())
        .await
        .map_err(self.read_err("counting samples"))
    }
}

/// Insert or replace a job's summary (run by the writer task).
pub(crate) async fn upsert_job_stats(
    conn: &mut SqliteConnection,
    s: &JobStats,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR REPLACE INTO job_stats (job_id, batch_size, load_ms, eval_ms, requests,
            prompt_tokens, output_tokens, tokens_per_second, prefill_tokens_per_second,
            ttft_p50_ms, ttft_p95_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms,
            peak_rss_bytes, gpu_verdict, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(s.job_id)
    .bind(s.batch_size)
    .bind(s.load_ms)
    .bind(s.eval_ms)
    .bind(s.requests)
    .bind(s.prompt_tokens)
    .bind(s.output_tokens)
    .bind(s.tokens_per_second)
    .bind(s.prefill_tokens_per_second)
    .bind(s.ttft_p50_ms)
    .bind(s.ttft_p95_ms)
    .bind(s.latency_p50_ms)
    .bind(s.latency_p95_ms)
    .bind(s.latency_p99_ms)
    .bind(s.peak_rss_bytes)
    .bind(s.gpu_verdict.as_deref())
    .bind((!s.detail.is_null()).then(|| s.detail.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}
