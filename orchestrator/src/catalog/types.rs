//! Checked catalog types: what every later stage (sizing, routing, scheduling, running) takes.
//!
//! Built once from the raw files by `catalog::load`; nothing optional is left that a consumer
//! would have to default again, and every number has been range-checked.

use assay_engines::parallel::{TpError, TpShape, kv_head_range};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a catalog entry came from: the catalog embedded in the binary, or a user directory
/// layered over it with `--catalog DIR` / `ASSAY_CATALOG` (theirs win on a name clash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Origin {
    Builtin,
    User(PathBuf),
}

/// Weight dtypes: the engines' type, so catalog, planner and engines parse them one way.
pub use assay_engines::DType;

/// Architecture numbers sizing needs (from the catalog, or from a local `config.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Arch {
    /// `config.json` `architectures[0]`.
    pub architecture: String,
    pub params: u64,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub tied_embeddings: bool,
    pub max_positions: u64,
    /// `(window, layers using it)`.
    pub sliding_window: Option<(u64, u64)>,
    /// `(experts, active per token)` for mixture-of-experts models.
    pub experts: Option<(u64, u64)>,
}

impl Arch {
    /// The numbers a tensor-parallel split depends on; the rule itself is the engines'
    /// ([`TpShape::check`]), so the planner and the engines agree on every degree.
    pub fn tp_shape(&self) -> TpShape {
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        TpShape {
            heads: n(self.heads),
            kv_heads: n(self.kv_heads),
            intermediate: n(self.intermediate),
        }
    }

    /// Whether `tp` ranks can split this model, and if not why (with the numbers).
    pub fn check_tp(&self, tp: u64) -> Result<(), TpError> {
        self.tp_shape()
            .check(usize::try_from(tp).unwrap_or(usize::MAX))
    }

    /// kv heads each of `tp` ranks holds: divided by tp, or one (replicated) when tp is a
    /// multiple of them (the engines' [`kv_head_range`]).
    pub fn kv_heads_per_rank(&self, tp: u64) -> u64 {
        let tp = usize::try_from(tp.max(1)).unwrap_or(usize::MAX);
        kv_head_range(usize::try_from(self.kv_heads).unwrap_or(0), 0, tp).1 as u64
    }

    /// An architecture known by name only (every number 0), until a `config.json` or a
    /// server tells more.
    pub fn unknown(architecture: impl Into<String>) -> Arch {
        Arch {
            architecture: architecture.into(),
            params: 0,
            layers: 0,
            hidden: 0,
            heads: 0,
            kv_heads: 0,
            head_dim: 0,
            intermediate: 0,
            vocab: 0,
            tied_embeddings: false,
            max_positions: 0,
            sliding_window: None,
            experts: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Model {
    pub id: String,
    pub hf_repo: Option<String>,
    pub revision: String,
    pub path: Option<PathBuf>,
    pub dtype: DType,
    pub chat: bool,
    pub arch: Arch,
    pub note: Option<String>,
    /// Served remotely at this endpoint (routes to the remote engine).
    pub endpoint: Option<Endpoint>,
    pub origin: Origin,
}

/// A checked `endpoint:`; `api_key_env` names a variable, the key is never stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub base_url: String,
    pub served_model_name: String,
    pub api_key_env: Option<String>,
    pub concurrency: u64,
}

impl Endpoint {
    /// Settings for the remote engine (the key is read from `api_key_env` when it connects).
    pub fn remote_config(&self) -> assay_engines::RemoteConfig {
        let mut cfg = assay_engines::RemoteConfig::new(&self.base_url, &self.served_model_name);
        cfg.api_key_env = self.api_key_env.clone();
        cfg.concurrency = self.concurrency as usize;
        cfg
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Category {
    pub name: String,
    pub description: String,
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    /// Declared not ready by its file (reason).
    pub not_ready: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    MultipleChoice,
    GenerateUntil,
    Loglikelihood,
}

/// A well-known benchmark file layout (`format:` in a manifest): its rows are checked and
/// normalised on load, and it supplies default templates and metrics
/// (`tasks::formats::mapping` documents the field mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataLayout {
    /// `task_id, prompt, canonical_solution, test, entry_point`.
    Humaneval,
    /// `question, answer` with `#### N` ending the answer.
    Gsm8k,
    /// `question, subject, choices, answer` (HF `cais/mmlu`) or the header-less CSV
    /// `question, A, B, C, D, answer-letter`.
    Mmlu,
}

impl DataLayout {
    pub const ALL: [DataLayout; 3] = [DataLayout::Humaneval, DataLayout::Gsm8k, DataLayout::Mmlu];
    pub fn as_str(self) -> &'static str {
        match self {
            DataLayout::Humaneval => "humaneval",
            DataLayout::Gsm8k => "gsm8k",
            DataLayout::Mmlu => "mmlu",
        }
    }
    pub fn parse(s: &str) -> Option<DataLayout> {
        DataLayout::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Decoding settings of a generation dataset (and of each of its requests).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerationKwargs {
    pub until: Vec<String>,
    pub max_gen_toks: u32,
    pub do_sample: bool,
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: Option<u32>,
}

impl GenerationKwargs {
    /// The bounds of each generation setting, wherever it comes from (a manifest, an lm-eval
    /// task, `--gen-kwargs`): the field that is out of bounds and a message with bound and value.
    pub fn check(
        max_gen_toks: Option<u32>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        top_k: Option<u32>,
    ) -> Result<(), (&'static str, String)> {
        if let Some(n) = max_gen_toks
            && !(1..=1_000_000).contains(&n)
        {
            return Err((
                "max_gen_toks",
                format!("`max_gen_toks` must be between 1 and 1000000. Given: {n}"),
            ));
        }
        if let Some(t) = temperature
            && !(t.is_finite() && (0.0..=100.0).contains(&t))
        {
            return Err((
                "temperature",
                format!("`temperature` must be between 0 and 100. Given: {t}"),
            ));
        }
        if let Some(p) = top_p
            && !(p.is_finite() && p > 0.0 && p <= 1.0)
        {
            return Err(("top_p", format!("`top_p` must be in (0, 1]. Given: {p}")));
        }
        if top_k == Some(0) {
            return Err(("top_k", "`top_k` must be at least 1. Given: 0".into()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricSpec {
    pub metric: String,
    pub aggregation: String,
    pub higher_is_better: bool,
    pub options: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilterStep {
    pub function: String,
    pub options: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilterPipeline {
    pub name: String,
    pub steps: Vec<FilterStep>,
}

/// State of a dataset's data: loaded and valid, or why not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DataState {
    /// Rows counted per split; `hash` is the sha256 of the manifest and data files.
    /// Malformed rows are not counted; each is listed in `bad_rows` as `file:line:column:
    /// message`, and a run fails the dataset with that list unless told to skip them.
    Ready {
        splits: BTreeMap<String, u64>,
        hash: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bad_rows: Vec<String>,
    },
    /// The manifest validates but its data file is absent.
    Missing { reason: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Dataset {
    pub name: String,
    pub dir: PathBuf,
    pub description: Option<String>,
    pub data_files: BTreeMap<String, PathBuf>,
    pub test_split: String,
    pub fewshot_split: Option<String>,
    pub output_type: OutputType,
    pub doc_to_text: String,
    pub doc_to_target: String,
    pub doc_to_choice: Option<ChoiceSpec>,
    pub target_delimiter: String,
    pub fewshot_delimiter: String,
    pub num_fewshot: u32,
    pub generation: GenerationKwargs,
    pub metrics: Vec<MetricSpec>,
    pub filters: Vec<FilterPipeline>,
    /// `metrics` and `filters` checked, parsed once where the dataset is loaded.
    #[serde(skip)]
    pub scoring: crate::metrics::Scoring,
    pub repeats: u32,
    pub chat: bool,
    /// The manifest's `version` (lm-eval's task version), recorded with each run.
    pub version: Option<String>,
    /// A known file layout whose rows are checked and normalised on load.
    pub format: Option<DataLayout>,
    pub data: DataState,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceSpec {
    Template(String),
    List(Vec<String>),
}

impl Dataset {
    /// Rows in the test split (0 when the data is missing).
    pub fn test_rows(&self) -> u64 {
        match &self.data {
            DataState::Ready { splits, .. } => splits.get(&self.test_split).copied().unwrap_or(0),
            DataState::Missing { .. } => 0,
        }
    }
}

/// The whole checked catalog. Maps are keyed by id/name and iterate in sorted order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Catalog {
    pub models: BTreeMap<String, Model>,
    pub categories: BTreeMap<String, Category>,
    pub datasets: BTreeMap<String, Dataset>,
}
