//! Results storage: the [`Store`] trait that commands take, and its SQLite implementation.
//!
//! SQLite through sqlx, with the schema in `migrations/` (embedded at build time and applied on
//! open), WAL journaling so readers never wait for the writer, and a single writer task that
//! owns the write connection (see `writer.rs`). Reads go straight to a pool of read-only
//! connections. Queries are runtime-checked (`sqlx::query(..).bind(..)`), so building needs no
//! database.
//!
//! Samples are identified by a content hash ([`SampleKey`]); see the first migration for how
//! rows are keyed per job and reused across runs.

pub mod bench;
mod bulk;
mod error;
mod queries;
mod sqlite;
mod types;
mod wal;
mod writer;

pub use error::StoreError;
pub use queries::{
    HistoryQuery, HistoryRow, JOB_STATS_SQL, JobStats, Queries, RUNS_WITH_MODEL_SQL,
    SCORE_ROWS_SQL, ScoreRow, history_failures_sql, history_sql,
};
pub use sqlite::{SqliteStore, StoreOptions};
pub use types::{
    AggregateRow, FailureGroup, JobRecord, JobStatus, JobUpdate, NewJob, NewRun, ResumeScope,
    RunRecord, RunStatus, SampleRecord, SampleRow, TelemetrySample,
};

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the database location.
pub const DB_ENV: &str = "ASSAY_DB";

/// Everything a command needs from the results database.
///
/// Writes are serialised through one writer; reads may run concurrently with them.
pub trait Store: Send + Sync {
    fn create_run(&self, run: NewRun) -> impl Future<Output = Result<i64, StoreError>> + Send;
    fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        finished_at_ms: i64,
        error: Option<String>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn create_job(&self, job: NewJob) -> impl Future<Output = Result<i64, StoreError>> + Send;
    fn update_job(
        &self,
        job_id: i64,
        update: JobUpdate,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Insert finished samples in one transaction. A hash the job already holds is ignored
    /// (a failed row is replaced by a success). Returns the rows written.
    fn insert_samples(
        &self,
        rows: Vec<SampleRow>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Of `hashes`, those that already have a successful row in a job within `scope`.
    fn done_hashes(
        &self,
        scope: &ResumeScope,
        hashes: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// Copy successful rows with these hashes from other jobs within `scope` into `job_id`.
    /// Returns the rows copied.
    fn reuse_samples(
        &self,
        job_id: i64,
        scope: ResumeScope,
        hashes: Vec<String>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Insert or replace the aggregates of a job (keyed by dataset, metric and filter).
    fn upsert_aggregates(
        &self,
        rows: Vec<AggregateRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replace the failure summary of one dataset of a job (an empty list clears it).
    fn replace_failures(
        &self,
        job_id: i64,
        dataset: String,
        groups: Vec<FailureGroup>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn insert_telemetry(
        &self,
        rows: Vec<TelemetrySample>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Record a job's measurements (a JSON object: durations, memory, telemetry summary).
    fn set_job_measurements(
        &self,
        job_id: i64,
        measurements: serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn run(&self, run_id: i64) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;
    /// Runs newest first.
    fn runs(&self, limit: i64) -> impl Future<Output = Result<Vec<RunRecord>, StoreError>> + Send;
    fn jobs(&self, run_id: i64) -> impl Future<Output = Result<Vec<JobRecord>, StoreError>> + Send;
    /// A job's samples in (dataset, item, repeat) order; all datasets when `dataset` is `None`.
    fn samples(
        &self,
        job_id: i64,
        dataset: Option<&str>,
    ) -> impl Future<Output = Result<Vec<SampleRecord>, StoreError>> + Send;
    fn telemetry(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<TelemetrySample>, StoreError>> + Send;
    /// Insert or replace a job's performance summary (written when the job ends).
    fn record_job_stats(
        &self,
        stats: JobStats,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where the database lives: `--db` if given, else `$ASSAY_DB`, else
/// `$XDG_DATA_HOME/assay/assay.db`, else `~/.local/share/assay/assay.db`.
pub fn resolve_db_path(flag: Option<&Path>) -> Result<PathBuf, StoreError> {
    db_path_from(
        flag,
        std::env::var_os(DB_ENV),
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn db_path_from(
    flag: Option<&Path>,
    assay_db: Option<OsString>,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, StoreError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = assay_db.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    if let Some(dir) = xdg_data_home.map(PathBuf::from).filter(|d| d.is_absolute()) {
        return Ok(dir.join("assay").join("assay.db"));
    }
    if let Some(home) = home.filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("assay")
            .join("assay.db"));
    }
    Err(StoreError::NoDataDir)
}

/// Everything that determines a sample's result. Its [`hash`](SampleKey::hash) identifies the
/// sample, so a changed setting never reuses a stale row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleKey<'a> {
    /// The catalog model id (two models may share a revision name such as `main`).
    pub model: &'a str,
    pub model_revision: &'a str,
    pub weights_hash: &'a str,
    pub engine: &'a str,
    pub dtype: &'a str,
    pub tool_version: &'a str,
    pub dataset_hash: &'a str,
    pub item_index: u64,
    pub rendered_prompt: &'a str,
    /// The generation settings, serialised canonically (e.g. JSON with sorted keys).
    pub generation: &'a str,
    pub repeat_index: u64,
}

impl SampleKey<'_> {
    /// Hex sha256 over the fields, each length-prefixed so no two keys collide by concatenation.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"assay-sample-v1");
        let item = self.item_index.to_le_bytes();
        let repeat = self.repeat_index.to_le_bytes();
        let fields: [&[u8]; 11] = [
            self.model.as_bytes(),
            self.model_revision.as_bytes(),
            self.weights_hash.as_bytes(),
            self.engine.as_bytes(),
            self.dtype.as_bytes(),
            self.tool_version.as_bytes(),
            self.dataset_hash.as_bytes(),
            &item,
            self.rendered_prompt.as_bytes(),
            self.generation.as_bytes(),
            &repeat,
        ];
        for f in fields {
            h.update((f.len() as u64).to_le_bytes());
            h.update(f);
        }
        hex(&h.finalize())
    }
}

/// Hex sha256 of some bytes (e.g. the rendered prompt).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_path_precedence() {
        let flag = Path::new("/tmp/x.db");
        let got = db_path_from(Some(flag), Some("/e.db".into()), None, None).unwrap();
        assert_eq!(got, PathBuf::from("/tmp/x.db"));
        let got = db_path_from(None, Some("/e.db".into()), Some("/xdg".into()), None).unwrap();
        assert_eq!(got, PathBuf::from("/e.db"));
        let got = db_path_from(None, None, Some("/xdg".into()), Some("/home/u".into())).unwrap();
        assert_eq!(got, PathBuf::from("/xdg/assay/assay.db"));
        let got = db_path_from(
            None,
            Some("".into()),
            Some("rel".into()),
            Some("/home/u".into()),
        )
        .unwrap();
        assert_eq!(got, PathBuf::from("/home/u/.local/share/assay/assay.db"));
        assert!(matches!(
            db_path_from(None, None, None, None),
            Err(StoreError::NoDataDir)
        ));
    }

    fn key() -> SampleKey<'static> {
        SampleKey {
            model: "phi-2",
            model_revision: "abc",
            weights_hash: "w",
            engine: "lightweight",
            dtype: "bf16",
            tool_version: "0.1.0",
            dataset_hash: "d",
            item_index: 3,
            rendered_prompt: "Q: 1+1?\nA:",
            generation: r#"{"max_gen_toks":32}"#,
            repeat_index: 0,
        }
    }

    #[test]
    fn sample_hash_changes_with_every_field() {
        let base = key().hash();
        assert_eq!(base.len(), 64);
        assert_eq!(base, key().hash());
        let variants = [
            SampleKey {
                dtype: "f16",
                ..key()
            },
            SampleKey {
                item_index: 4,
                ..key()
            },
            SampleKey {
                repeat_index: 1,
                ..key()
            },
            SampleKey {
                generation: r#"{"max_gen_toks":33}"#,
                ..key()
            },
            SampleKey {
                tool_version: "0.1.1",
                ..key()
            },
            // Moving a byte between adjacent fields must change the hash too.
            SampleKey {
                model_revision: "ab",
                weights_hash: "cw",
                ..key()
            },
            SampleKey {
                model: "phi-2a",
                model_revision: "bc",
                ..key()
            },
        ];
        for v in variants {
            assert_ne!(v.hash(), base, "{v:?}");
        }
    }

    #[test]
    fn sha256_hex_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
