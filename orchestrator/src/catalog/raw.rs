//! Raw serde shapes of the catalog files, exactly as written on disk.
//!
//! Nothing here is trusted: `catalog::check` turns these into the checked types of
//! `catalog::types`, naming the file, line and field of anything wrong. Unknown keys are
//! rejected (`deny_unknown_fields`) so typos surface instead of being silently ignored.
//!
//! Files:
//! - `categories/models.yaml`: `RawModelsFile` (the model catalog, models defined once).
//! - `categories/<name>.yaml`: `RawCategory` (every other yaml file in `categories/`).
//! - `datasets/<name>/manifest.yaml`: `RawDatasetManifest`, lm-evaluation-harness vocabulary,
//!   with its data files beside it (paths relative to the manifest's directory).

use serde::Deserialize;
use std::collections::BTreeMap;

/// `categories/models.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelsFile {
    pub models: Vec<RawModel>,
}

/// One model of the catalog. Architecture numbers are the public `config.json` values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub id: String,
    /// Hugging Face repo id, e.g. `meta-llama/Llama-3.1-8B-Instruct`.
    pub hf_repo: Option<String>,
    /// Pinned revision (commit sha or branch); default `main`.
    pub revision: Option<String>,
    /// Local checkpoint directory; wins over `hf_repo` when present on disk.
    pub path: Option<String>,
    /// `f32` | `f16` | `bf16`; default `bf16`.
    pub dtype: Option<String>,
    /// `config.json` `architectures[0]`, e.g. `LlamaForCausalLM`.
    pub architecture: String,
    /// Prompt through the chat template (instruct models) by default.
    pub chat: Option<bool>,
    /// Total parameter count (all experts for MoE).
    pub params: u64,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: Option<u64>,
    pub head_dim: Option<u64>,
    pub intermediate: u64,
    pub vocab: u64,
    pub tied_embeddings: Option<bool>,
    pub max_positions: u64,
    /// Sliding attention window in tokens; `sliding_layers` of the layers use it (default all).
    pub sliding_window: Option<u64>,
    pub sliding_layers: Option<u64>,
    /// Mixture of experts: `experts` total, `experts_per_token` active.
    pub experts: Option<u64>,
    pub experts_per_token: Option<u64>,
    /// Free-form note shown by `assay models`.
    pub note: Option<String>,
    /// An OpenAI-compatible server that serves this model (the plan routes it there).
    pub endpoint: Option<RawEndpoint>,
}

/// `endpoint:` of a model: where it is served. The API key itself is never in the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// Base URL including the API prefix, e.g. `http://10.0.0.5:8000/v1`.
    pub base_url: String,
    /// Name the server serves the model under; default: the model id.
    pub served_model_name: Option<String>,
    /// Environment variable holding the API key, read when the run connects.
    pub api_key_env: Option<String>,
    /// Most requests in flight; default 32.
    pub concurrency: Option<u64>,
}

/// `categories/<name>.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCategory {
    pub name: String,
    pub description: String,
    /// Model ids from the model catalog.
    pub models: Vec<String>,
    /// Dataset names (directories under `datasets/`).
    pub datasets: Vec<String>,
    /// Present when the category is listed but deliberately not runnable, with the reason.
    pub not_ready: Option<String>,
}

/// `datasets/<name>/manifest.yaml`, in lm-evaluation-harness field names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatasetManifest {
    /// Must equal the directory name.
    pub task: String,
    /// Prepended once to every prompt (before few-shot examples).
    pub description: Option<String>,
    /// Split name -> data file relative to the manifest (`.jsonl`, `.json`, `.csv`,
    /// `.parquet`). May be left out with `hf`, whose cached Parquet files give the splits.
    #[serde(default)]
    pub data_files: BTreeMap<String, String>,
    /// A Hugging Face dataset id (`org/name`, `hf://org/name`) read from the local hub cache.
    pub hf: Option<String>,
    /// The dataset's config (lm-eval `dataset_name`): only cached files under it are used.
    pub hf_config: Option<String>,
    /// Revision in the cache (commit, branch or tag); default `main`.
    pub hf_revision: Option<String>,
    /// A known file layout (`humaneval` | `gsm8k` | `mmlu`): rows are checked and normalised,
    /// and the layout supplies every field below that the manifest leaves out.
    pub format: Option<String>,
    /// Default `test`.
    pub test_split: Option<String>,
    pub fewshot_split: Option<String>,
    /// `multiple_choice` | `generate_until` | `loglikelihood` (required unless `format` gives it).
    #[serde(default)]
    pub output_type: String,
    /// minijinja templates over the row's fields (required unless `format` gives them).
    #[serde(default)]
    pub doc_to_text: String,
    #[serde(default)]
    pub doc_to_target: String,
    /// A template rendering to a list, or a literal list of choices.
    pub doc_to_choice: Option<RawChoices>,
    pub target_delimiter: Option<String>,
    pub fewshot_delimiter: Option<String>,
    pub num_fewshot: Option<u32>,
    pub generation_kwargs: Option<RawGenerationKwargs>,
    /// Required unless `format` gives it.
    #[serde(default)]
    pub metric_list: Vec<RawMetric>,
    pub filter_list: Option<Vec<RawFilterPipeline>>,
    /// Samples per item (pass@k needs n > 1).
    pub repeats: Option<u32>,
    /// Render through the model's chat template when the model is a chat model.
    pub chat: Option<bool>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawChoices {
    Template(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerationKwargs {
    pub until: Option<Vec<String>>,
    pub max_gen_toks: Option<u32>,
    pub do_sample: Option<bool>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
}

/// One entry of `metric_list`. Metric-specific options sit beside `metric`
/// (`ignore_case`, `ignore_punctuation`, `regexes_to_ignore`, `tolerance`, `threshold_km`, `k`).
#[derive(Debug, Clone, Deserialize)]
pub struct RawMetric {
    pub metric: String,
    pub aggregation: Option<String>,
    pub higher_is_better: Option<bool>,
    #[serde(flatten)]
    pub options: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilterPipeline {
    pub name: String,
    pub filter: Vec<RawFilterStep>,
}

/// One filter step: `function` plus its options (`regex_pattern`, `group_select`, ...).
#[derive(Debug, Clone, Deserialize)]
pub struct RawFilterStep {
    pub function: String,
    #[serde(flatten)]
    pub options: BTreeMap<String, serde_json::Value>,
}
