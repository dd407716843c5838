//! [`SqliteStore`]: opening (with the safety checks), the read queries, and the [`Store`] impl
//! that forwards writes to the writer task.
//!
//! Opening checks, in order, before anything is written: the file is SQLite (by its header);
//! its migrations table (read through a read-only connection) lists no version this build does
//! not know, and the known ones match. Only then is a read-write connection opened, WAL
//! switched on and pending migrations applied.

use super::Store;
use super::error::{SQLITE_NOTADB, StoreError, describe, is_busy, sqlite_code};
use super::types::*;
use super::wal::{self, WalCheckpoints};
use super::writer::{self, CHUNK_HASHES, Command, Writer, WriterHandle};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for another process's lock before giving up.
    pub busy_timeout: Duration,
    /// Read connections in the pool.
    pub readers: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(30),
            readers: 4,
        }
    }
}

/// The SQLite store: a cheap `Clone` handle (reader pool + writer channel).
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    pool: SqlitePool,
    /// `None` for a store opened read-only ([`SqliteStore::open_read_only`]).
    writer: Option<WriterHandle>,
    busy_timeout: Duration,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path` with default options.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, StoreOptions::default()).await
    }

    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .disable_statement_logging();
        let open_err = |e: sqlx::Error| open_error(&path, options.busy_timeout, e);

        if existing_database(&path)? {
            check_schema(&path, base.clone().read_only(true), options.busy_timeout).await?;
        }

        let rw = base
            .clone()
            .create_if_missing(true)
            // 16 KiB pages for new databases: sample rows are ~630 bytes, and four times fewer
            // pages per batch (B-tree splits, WAL frames, checkpoint copies) made ingest about
            // 1.4x faster (BENCHMARKS.md, "Store"). An existing database keeps its page size.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let mut conn = SqliteConnection::connect_with(&rw)
            .await
            .map_err(open_err)?;
        // SQLite quietly opens a file it may not write read-only; the writer would then fail at
        // its first write, after work was done. Say so now.
        if read_only_connection(&mut conn).await.map_err(open_err)? {
            return Err(StoreError::Open {
                path,
                reason: "the file cannot be written (a read-only file system, or no write \
                         permission); pass another --db"
                    .into(),
            });
        }
        migrate(&path, &mut conn).await?;
        // WAL checkpoints run beside the writer; its own automatic checkpoint is only a backstop.
        sqlx::query(wal::WRITER_BACKSTOP)
            .execute(&mut conn)
            .await
            .map_err(open_err)?;
        let checkpoint_conn = SqliteConnection::connect_with(&rw)
            .await
            .map_err(open_err)?;

        let pool = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        let writer = writer::spawn(
            Writer::new(conn, path.clone(), options.busy_timeout)
                .with_checkpoints(WalCheckpoints::spawn(checkpoint_conn)),
        );
        let store = SqliteStore {
            path,
            pool,
            writer: Some(writer),
            busy_timeout: options.busy_timeout,
        };
        // What was just written must read back: a file system that accepted the schema but
        // cannot keep it (a full disk, a failing device) is found here, before any work.
        if let Err(e) = sqlx::query("SELECT 1 FROM runs LIMIT 1")
            .fetch_optional(&store.pool)
            .await
        {
            store.close().await;
            return Err(StoreError::Open {
                path: store.path.clone(),
                reason: format!(
                    "the schema just written cannot be read back (is the disk full? {})",
                    describe(&e)
                ),
            });
        }
        Ok(store)
    }

    /// Open an existing database for reading only: nothing is created, migrated or written, so
    /// a file on a read-only file system (or without write permission) can still be read. Its
    /// schema must be this build's, since it cannot be upgraded in place.
    pub async fn open_read_only(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        if !existing_database(&path)? {
            return Err(StoreError::NotFound {
                what: format!("database at {}", path.display()),
            });
        }
        let open_err = |e: sqlx::Error| open_error(&path, options.busy_timeout, e);
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(options.busy_timeout)
            .read_only(true)
            .disable_statement_logging();
        // A WAL database needs its shared-memory file to be read normally; where that cannot
        // be created (a read-only directory), the file is read as immutable, without locks.
        let base = match SqliteConnection::connect_with(&base).await {
            Ok(conn) => {
                let _ = conn.close().await;
                base
            }
            Err(_) => base.immutable(true),
        };
        let applied = check_schema(&path, base.clone(), options.busy_timeout).await?;
        if applied < MIGRATOR.iter().count() {
            return Err(StoreError::Open {
                path: path.clone(),
                reason: "its schema is older than this build's and the file cannot be written to upgrade it; open it once with write access".into(),
            });
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .connect_with(base)
            .await
            .map_err(open_err)?;
        Ok(SqliteStore {
            path,
            pool,
            writer: None,
            busy_timeout: options.busy_timeout,
        })
    }

    /// The writer, or why there is none.
    fn writer(&self) -> Result<&WriterHandle, StoreError> {
        self.writer.as_ref().ok_or_else(|| StoreError::ReadOnly {
            path: self.path.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Stop the writer and close every connection (the WAL is checkpointed into the main file).
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.shutdown().await;
        }
        self.pool.close().await;
    }

    pub(super) fn read_err(
        &self,
        context: &'static str,
    ) -> impl Fn(sqlx::Error) -> StoreError + use<> {
        let path = self.path.clone();
        let waited = self.busy_timeout;
        move |e| {
            tracing::debug!(error = %e, context, "sqlite read failed");
            match e {
                sqlx::Error::RowNotFound => StoreError::from(e),
                e if is_busy(&e) => StoreError::Busy {
                    path: path.clone(),
                    waited,
                },
                e => StoreError::Database {
                    path: path.clone(),
                    context: context.to_string(),
                    kind: describe(&e),
                },
            }
        }
    }
}

/// Whether SQLite opened the connection's main database read-only.
async fn read_only_connection(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the locked connection's live handle; the name is a NUL-terminated literal.
    let ro = unsafe { libsqlite3_sys::sqlite3_db_readonly(db, c"main".as_ptr()) };
    Ok(ro == 1)
}

/// True when `path` holds an SQLite database; an error when it holds something else.
/// A missing or empty file is a new database.
fn existing_database(path: &Path) -> Result<bool, StoreError> {
    if path.is_dir() {
        return Err(StoreError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut header = Vec::with_capacity(16);
    (&mut file)
        .take(16)
        .read_to_end(&mut header)
        .map_err(|source| StoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if header.is_empty() {
        return Ok(false);
    }
    if header.as_slice() != SQLITE_HEADER {
        return Err(StoreError::NotSqlite {
            path: path.to_path_buf(),
        });
    }
    Ok(true)
}

fn open_error(path: &Path, waited: Duration, e: sqlx::Error) -> StoreError {
    tracing::debug!(error = %e, path = %path.display(), "opening sqlite failed");
    if sqlite_code(&e) == Some(SQLITE_NOTADB) {
        return StoreError::NotSqlite {
            path: path.to_path_buf(),
        };
    }
    if is_busy(&e) {
        return StoreError::Busy {
            path: path.to_path_buf(),
            waited,
        };
    }
    StoreError::Open {
        path: path.to_path_buf(),
        reason: describe(&e),
    }
}

/// Refuse a database whose schema this build does not know, reading it without writing.
/// Returns how many of this build's schema versions it has.
async fn check_schema(
    path: &Path,
    read_only: SqliteConnectOptions,
    waited: Duration,
) -> Result<usize, StoreError> {
    let open_err = |e: sqlx::Error| open_error(path, waited, e);
    let mut conn = SqliteConnection::connect_with(&read_only)
        .await
        .map_err(open_err)?;
    let result = async {
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(open_err)?;
        if has_table.is_none() {
            return Ok(0);
        }
        let applied: Vec<(i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&mut conn)
                .await
                .map_err(open_err)?;
        let unknown: Vec<i64> = applied
            .iter()
            .map(|(v, _, _)| *v)
            .filter(|v| !MIGRATOR.iter().any(|m| m.version == *v))
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                versions: unknown,
                tool_version: TOOL_VERSION,
            });
        }
        for (version, checksum, success) in &applied {
            if !success {
                return Err(StoreError::SchemaDirty {
                    path: path.to_path_buf(),
                    version: *version,
                });
            }
            let known = MIGRATOR.iter().find(|m| m.version == *version);
            if known.is_some_and(|m| m.checksum.as_ref() != checksum.as_slice()) {
                return Err(StoreError::SchemaMismatch {
                    path: path.to_path_buf(),
                    version: *version,
                });
            }
        }
        Ok(applied.len())
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Apply pending migrations. Two processes creating the same new database may race; the loser
/// sees the winner's tables, so it retries a few times and then finds nothing to do.
async fn migrate(path: &Path, conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match MIGRATOR.run(&mut *conn).await {
            Ok(()) => return Ok(()),
            Err(MigrateError::ExecuteMigration(_, _) | MigrateError::Execute(_)) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "migration failed");
                let reason = match &e {
                    MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
                        describe(inner)
                    }
                    MigrateError::VersionMissing(v) => {
                        format!("schema version {v} is unknown to this build")
                    }
                    MigrateError::VersionMismatch(v) => {
                        format!("schema version {v} differs from this build's")
                    }
                    MigrateError::Dirty(v) => format!("schema version {v} did not finish"),
                    _ => "unexpected migration state".to_string(),
                };
                return Err(StoreError::Migrate {
                    path: path.to_path_buf(),
                    reason,
                });
            }
        }
    }
}

pub(super) fn json_column(
    row: &SqliteRow,
    column: &'static str,
) -> Result<serde_json::Value, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    match text {
        None => Ok(serde_json::Value::Null),
        Some(t) => serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
            what: format!("column `{column}`"),
            detail: e.to_string(),
        }),
    }
}

pub(super) fn json_as<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_value(json_column(row, column)?).map_err(|e| StoreError::Corrupt {
        what: format!("column `{column}`"),
        detail: e.to_string(),
    })
}

pub(super) fn status<T>(text: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt {
        what: "column `status`".to_string(),
        detail: format!("unknown status `{text}`"),
    })
}

fn run_record(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        started_at_ms: row.try_get("started_at_ms")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
        status: status(row.try_get("status")?, RunStatus::parse)?,
        tool_version: row.try_get("tool_version")?,
        catalog_hash: row.try_get("catalog_hash")?,
        config: json_column(row, "config")?,
        host: json_column(row, "host")?,
        gpus: json_column(row, "gpus")?,
        error: row.try_get("error")?,
    })
}

fn job_record(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        model: row.try_get("model")?,
        revision: row.try_get("revision")?,
        weights_hash: row.try_get("weights_hash")?,
        engine: row.try_get("engine")?,
        dtype: row.try_get("dtype")?,
        tp: row.try_get("tp")?,
        devices: json_as(row, "devices")?,
        memory_estimate_bytes: row.try_get("memory_estimate_bytes")?,
        memory_measured_bytes: row.try_get("memory_measured_bytes")?,
        status: status(row.try_get("status")?, JobStatus::parse)?,
        error: row.try_get("error")?,
        started_at_ms: row.try_get("started_at_ms")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
    })
}

pub(super) fn sample_record(row: &SqliteRow) -> Result<SampleRecord, StoreError> {
    let lls: Option<Vec<Option<f64>>> = json_as(row, "loglikelihoods")?;
    Ok(SampleRecord {
        id: row.try_get("id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        row: SampleRow {
            job_id: row.try_get("job_id")?,
            sample_hash: row.try_get("sample_hash")?,
            dataset: row.try_get("dataset")?,
            dataset_hash: row.try_get("dataset_hash")?,
            item_index: row.try_get("item_index")?,
            repeat_index: row.try_get("repeat_index")?,
            prompt_hash: row.try_get("prompt_hash")?,
            target: row.try_get("target")?,
            output: row.try_get("output")?,
            filtered: json_as(row, "filtered")?,
            // JSON has no -inf; it was stored as null.
            loglikelihoods: lls.map(|v| {
                v.into_iter()
                    .map(|x| x.unwrap_or(f64::NEG_INFINITY))
                    .collect()
            }),
            scores: json_as(row, "scores")?,
            error: row.try_get("error")?,
            error_kind: row
                .try_get::<Option<String>, _>("error_kind")?
                .as_deref()
                .and_then(assay_engines::FailureKind::parse),
            latency_ms: row.try_get("latency_ms")?,
            prompt_tokens: row.try_get("prompt_tokens")?,
            output_tokens: row.try_get("output_tokens")?,
        },
    })
}

impl Store for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<i64, StoreError> {
        let id = self
            .writer()?
            .request(|r| Command::CreateRun(run, r))
            .await?;
        // Before any work hangs on it, the new run must read back: a file system that takes
        // writes without keeping them (a disk filling up) is found here.
        match self.run(id).await {
            Ok(_) => Ok(id),
            Err(e) => {
                tracing::debug!(error = %e, "the new run did not read back");
                Err(StoreError::Open {
                    path: self.path.clone(),
                    reason: "a run written to it cannot be read back (is the disk full?)".into(),
                })
            }
        }
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        finished_at_ms: i64,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.writer()?
            .request(|reply| Command::FinishRun {
                run_id,
                status,
                finished_at_ms,
                error,
                reply,
            })
            .await
    }

    async fn create_job(&self, job: NewJob) -> Result<i64, StoreError> {
        self.writer()?.request(|r| Command::CreateJob(job, r)).await
    }

    async fn update_job(&self, job_id: i64, update: JobUpdate) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::UpdateJob(job_id, update, r))
            .await
    }

    async fn set_job_measurements(
        &self,
        job_id: i64,
        measurements: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::SetJobMeasurements(job_id, measurements, r))
            .await
    }

    async fn insert_samples(&self, rows: Vec<SampleRow>) -> Result<u64, StoreError> {
        self.writer()?
            .request(|r| Command::InsertSamples(rows, r))
            .await
    }

    async fn done_hashes(
        &self,
        scope: &ResumeScope,
        hashes: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut done = HashSet::new();
        for chunk in hashes.chunks(CHUNK_HASHES) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT DISTINCT sample_hash FROM samples
                 WHERE job_id IN (SELECT id FROM jobs WHERE model = ",
            );
            qb.push_bind(scope.model.as_str());
            qb.push(") AND dataset = ");
            qb.push_bind(scope.dataset.as_str());
            qb.push(" AND error IS NULL AND sample_hash IN (");
            let mut list = qb.separated(", ");
            for h in chunk {
                list.push_bind(h.as_str());
            }
            qb.push(")");
            let found: Vec<String> = qb
                .build_query_scalar()
                .fetch_all(&self.pool)
                .await
                .map_err(self.read_err("looking up finished samples"))?;
            done.extend(found);
        }
        Ok(done)
    }

    async fn reuse_samples(
        &self,
        job_id: i64,
        scope: ResumeScope,
        hashes: Vec<String>,
    ) -> Result<u64, StoreError> {
        self.writer()?
            .request(|r| Command::ReuseSamples(job_id, scope, hashes, r))
            .await
    }

    async fn upsert_aggregates(&self, rows: Vec<AggregateRow>) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::UpsertAggregates(rows, r))
            .await
    }

    async fn replace_failures(
        &self,
        job_id: i64,
        dataset: String,
        groups: Vec<FailureGroup>,
    ) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::ReplaceFailures(job_id, dataset, groups, r))
            .await
    }

    async fn insert_telemetry(&self, rows: Vec<TelemetrySample>) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::InsertTelemetry(rows, r))
            .await
    }

    async fn record_job_stats(&self, stats: super::JobStats) -> Result<(), StoreError> {
        self.writer()?
            .request(|r| Command::RecordJobStats(stats, r))
            .await
    }

    async fn run(&self, run_id: i64) -> Result<RunRecord, StoreError> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.read_err("reading a run"))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("run {run_id}"),
            })?;
        run_record(&row)
    }

    async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM runs ORDER BY started_at_ms DESC, id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(self.read_err("listing runs"))?;
        rows.iter().map(run_record).collect()
    }

    async fn jobs(&self, run_id: i64) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE run_id = ? ORDER BY id")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.read_err("listing jobs"))?;
        rows.iter().map(job_record).collect()
    }

    async fn samples(
        &self,
        job_id: i64,
        dataset: Option<&str>,
    ) -> Result<Vec<SampleRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM samples WHERE job_id = ? AND (? IS NULL OR dataset = ?)
             ORDER BY dataset, item_index, repeat_index",
        )
        .bind(job_id)
        .bind(dataset)
        .bind(dataset)
        .fetch_all(&self.pool)
        .await
        .map_err(self.read_err("reading samples"))?;
        rows.iter().map(sample_record).collect()
    }

    async fn telemetry(&self, run_id: i64) -> Result<Vec<TelemetrySample>, StoreError> {
        let rows = sqlx::query("SELECT * FROM telemetry WHERE run_id = ? ORDER BY t_ms, id")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.read_err("reading telemetry"))?;
        rows.iter()
            .map(|row| {
                Ok(TelemetrySample {
                    run_id: row.try_get("run_id")?,
                    job_id: row.try_get("job_id")?,
                    t_ms: row.try_get("t_ms")?,
                    device: row.try_get("device")?,
                    util_pct: row.try_get("util_pct")?,
                    mem_used_bytes: row.try_get("mem_used_bytes")?,
                    mem_total_bytes: row.try_get("mem_total_bytes")?,
                    power_w: row.try_get("power_w")?,
                    temp_c: row.try_get("temp_c")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
