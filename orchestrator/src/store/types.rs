//! Plain records written to and read from the store. JSON-valued fields are kept as
//! `serde_json::Value` here and stored as TEXT columns; times are Unix milliseconds (UTC).

use assay_engines::{Failure, FailureKind};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($ty::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(RunStatus {
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Interrupted => "interrupted",
});

text_enum!(JobStatus {
    Pending => "pending",
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Skipped => "skipped",
});

/// A run as it starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewRun {
    pub started_at_ms: i64,
    /// The assay version that ran it.
    pub tool_version: String,
    /// sha256 over the catalog files in use.
    pub catalog_hash: String,
    /// The resolved settings of the run (flags, selection, limits).
    pub config: serde_json::Value,
    /// Host inventory: CPU, memory, OS.
    pub host: serde_json::Value,
    /// GPU inventory (an empty list on a CPU host).
    pub gpus: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub status: RunStatus,
    pub tool_version: String,
    pub catalog_hash: String,
    pub config: serde_json::Value,
    pub host: serde_json::Value,
    pub gpus: serde_json::Value,
    pub error: Option<String>,
}

/// One model on one set of devices within a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewJob {
    pub run_id: i64,
    pub model: String,
    pub revision: String,
    /// sha256 over the weight files, when known.
    pub weights_hash: Option<String>,
    /// The engine's name (`assay_engines::EngineKind::as_str`: `lightweight`,
    /// `tensor_parallel`, `remote`), or `none` for a job that could not run.
    pub engine: String,
    pub dtype: String,
    pub tp: i64,
    /// Device indices (empty for CPU).
    pub devices: Vec<i64>,
    pub memory_estimate_bytes: Option<i64>,
    pub status: JobStatus,
}

/// How a job ended (or changed state).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobUpdate {
    pub status: JobStatus,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub memory_measured_bytes: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub run_id: i64,
    pub model: String,
    pub revision: String,
    pub weights_hash: Option<String>,
    pub engine: String,
    pub dtype: String,
    pub tp: i64,
    pub devices: Vec<i64>,
    pub memory_estimate_bytes: Option<i64>,
    pub memory_measured_bytes: Option<i64>,
    pub status: JobStatus,
    pub error: Option<String>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
}

/// One scored sample: one item of a dataset, one repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRow {
    pub job_id: i64,
    /// Content hash identifying the sample (see [`super::SampleKey`]).
    pub sample_hash: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub item_index: i64,
    pub repeat_index: i64,
    /// sha256 of the rendered prompt.
    pub prompt_hash: String,
    pub target: Option<String>,
    /// Generated text (generation tasks).
    pub output: Option<String>,
    /// Output of each filter pipeline, by pipeline name.
    pub filtered: BTreeMap<String, String>,
    /// Per-choice log-likelihoods (multiple-choice tasks). Stored as JSON, where a non-finite
    /// value (`-inf`) becomes `null`.
    pub loglikelihoods: Option<Vec<f64>>,
    /// Scores keyed `metric,filter` (see `metrics::score_key`).
    pub scores: BTreeMap<String, f64>,
    /// Why the sample failed; a failed sample has no scores and is recomputed on resume.
    pub error: Option<String>,
    /// The kind of that failure (`http_400`, `timeout`, ...); `None` for a success, and for
    /// failures stored before kinds were recorded.
    pub error_kind: Option<FailureKind>,
    pub latency_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}

impl SampleRow {
    /// Item `item_index` of `dataset` in job `job_id`, first repeat, with nothing computed yet
    /// (no hashes, output, scores or error); callers fill in the rest.
    pub fn blank(job_id: i64, dataset: &str, item_index: i64) -> SampleRow {
        SampleRow {
            job_id,
            sample_hash: String::new(),
            dataset: dataset.to_string(),
            dataset_hash: String::new(),
            item_index,
            repeat_index: 0,
            prompt_hash: String::new(),
            target: None,
            output: None,
            filtered: BTreeMap::new(),
            loglikelihoods: None,
            scores: BTreeMap::new(),
            error: None,
            error_kind: None,
            latency_ms: None,
            prompt_tokens: None,
            output_tokens: None,
        }
    }

    /// Mark the sample failed (its scores are dropped: a failed sample scores nothing).
    pub fn fail(&mut self, failure: Failure) {
        self.error = Some(failure.message);
        self.error_kind = Some(failure.kind);
        self.scores.clear();
    }

    /// The failure of a failed sample; an unclassified one (stored before kinds were
    /// recorded) counts as an engine failure.
    pub fn failure(&self) -> Option<Failure> {
        self.error.as_ref().map(|m| Failure {
            kind: self.error_kind.unwrap_or(FailureKind::Engine),
            message: m.clone(),
        })
    }
}

/// The failed samples of one (job, dataset) of one kind: how many, and the first one's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureGroup {
    pub kind: FailureKind,
    pub count: i64,
    pub example: String,
}

/// Where a rerun may find earlier results for a dataset: successful rows of earlier jobs of the
/// same model. The sample hash then decides which of them are valid for the new job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeScope {
    pub model: String,
    pub dataset: String,
}

/// A stored sample, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    pub id: i64,
    pub created_at_ms: i64,
    #[serde(flatten)]
    pub row: SampleRow,
}

/// A dataset-level metric of one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateRow {
    pub job_id: i64,
    pub dataset: String,
    pub metric: String,
    /// Filter pipeline name (`none` when the dataset has none).
    pub filter: String,
    pub value: f64,
    pub stderr: Option<f64>,
    pub n: i64,
    pub n_scored: i64,
    pub n_failed: i64,
    pub partial: bool,
    pub higher_is_better: bool,
}

/// One reading of one device's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetrySample {
    pub run_id: i64,
    pub job_id: Option<i64>,
    pub t_ms: i64,
    /// `gpu0`, `gpu1`, ... or `cpu`.
    pub device: String,
    pub util_pct: Option<f64>,
    pub mem_used_bytes: Option<i64>,
    pub mem_total_bytes: Option<i64>,
    pub power_w: Option<f64>,
    pub temp_c: Option<f64>,
}
