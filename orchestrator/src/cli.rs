//! Command-line definitions (clap) and nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "assay",
    version,
    about = "Evaluate language models across task categories on the GPUs (or CPU) you have"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Machine-readable JSON on stdout (stable field names, see README).
    #[arg(long, global = true)]
    pub json: bool,
    /// No notices or progress on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// A catalog directory (categories/, datasets/) layered over the built-in one.
    #[arg(long, global = true, env = "ASSAY_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// The results database [default: $XDG_DATA_HOME/assay/assay.db, else ~/.local/share/assay/assay.db].
    #[arg(long, global = true, env = "ASSAY_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List categories with READY / NOT READY and why.
    Categories(CategoriesArgs),
    /// List the model catalog.
    Models(ModelsArgs),
    /// Show the GPUs (NVML) or the CPU host, or a described cluster.
    Gpus(GpusArgs),
    /// Dry run: size, route and schedule a category without loading weights.
    Plan(PlanArgs),
    /// Benchmarks: a model's speed on this machine, the engine figures, the planner, history
    /// queries, sample-row ingest.
    Bench(BenchArgs),
    /// List datasets, or show one dataset's prompts exactly as a model will see them.
    Datasets(DatasetsArgs),
    /// Stored results, one row per run, model, dataset and metric, newest first.
    History(HistoryArgs),
    /// One run: settings, inventory, jobs, scores, performance, and its samples.
    Show(ShowArgs),
    /// Compare two runs cell by cell with paired significance tests.
    Compare(CompareArgs),
    /// Export a run's results (lm-evaluation-harness JSON layout, or CSV).
    Export(ExportArgs),
    /// Write a self-contained HTML report of a run, with charts.
    Report(ReportArgs),
    /// Evaluate every model of a category on its datasets and store the results.
    Run(RunArgs),
    /// Internal: serve one engine for `assay run` over stdin/stdout.
    #[command(hide = true)]
    Worker,
    /// Serve a local model over an OpenAI-compatible HTTP API.
    Serve(ServeArgs),
    /// Download checkpoints from the Hugging Face hub into its cache (HF_TOKEN, HF_ENDPOINT).
    Download(DownloadArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    /// Catalog model ids or `org/name` repository ids.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
    /// Branch, tag or commit [default: the catalog's revision, else main].
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("what").args(["category", "model", "resume"]).required(true))]
pub struct RunArgs {
    /// Category to evaluate (`assay categories` lists them; `demo` runs anywhere).
    pub category: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Evaluate one model instead of a category: a checkpoint directory, a catalog id, or the
    /// base URL of an OpenAI-compatible server (`http://host:8000/v1`, with
    /// --served-model-name).
    #[arg(
        long,
        value_name = "PATH_OR_ID_OR_URL",
        conflicts_with = "category",
        requires = "datasets"
    )]
    pub model: Option<String>,
    /// With `--model URL`: the model name the server serves (as listed by its `/v1/models`).
    #[arg(long, value_name = "NAME", requires = "model")]
    pub served_model_name: Option<String>,
    /// With `--model URL`: the environment variable holding the server's API key.
    #[arg(long, value_name = "VAR", requires = "model")]
    pub api_key_env: Option<String>,
    /// Only these models of the category (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub models: Vec<String>,
    /// Only these datasets (comma-separated names); required with --model.
    #[arg(long, value_delimiter = ',', value_name = "X,Y")]
    pub datasets: Vec<String>,
    /// Samples per dataset (default: all).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Run on a described set of GPUs instead of the detected ones (see `assay gpus --help`).
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// Override every model's dtype (f32, f16, bf16).
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<crate::catalog::DType>,
    /// Samples per batch sent to an engine [default: 8].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Maximum sequence length (prompt + generation) per sequence.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seq_len: Option<u64>,
    /// Few-shot examples per prompt (default: each dataset's num_fewshot).
    #[arg(long, value_name = "K")]
    pub num_fewshot: Option<u32>,
    /// Override generation settings: `max_gen_toks=32,temperature=0.7,do_sample=true,until=\n|Q:`.
    #[arg(long, value_name = "K=V,...")]
    pub gen_kwargs: Option<String>,
    /// Seed for sampled generation.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Compute every sample again, ignoring stored results.
    #[arg(long)]
    pub fresh: bool,
    /// Continue an earlier run (by id): compute only the samples it has no row for.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["category", "model"])]
    pub resume: Option<i64>,
    /// Download missing checkpoints from the Hugging Face hub (HF_TOKEN, pinned revision).
    #[arg(long)]
    pub download: bool,
    /// Skip malformed data rows (each is reported) instead of failing the dataset.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Run code-generation datasets (pass@k) by executing the generated code in a sandbox.
    #[arg(long)]
    pub allow_code_execution: bool,
    /// Like --allow-code-execution, and also on a host that cannot cut the sandboxed programs
    /// off the network: model-written code could then reach the network. Off by default.
    #[arg(long)]
    pub allow_code_execution_with_network_access: bool,
    /// Prompts as chat messages (on) or plain text (off); default: the dataset and the model decide.
    #[arg(long, value_enum, value_name = "on|off")]
    pub chat_template: Option<ChatTemplate>,
}

#[derive(Debug, Args)]
pub struct CategoriesArgs {}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only models of this category.
    #[arg(long)]
    pub category: Option<String>,
}

#[derive(Debug, Args)]
pub struct GpusArgs {
    /// Describe a cluster instead of detecting: `8xH100-80GB`, `2xA100-40GB,1xL4-24GB`, `4x48GB`.
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Category to plan.
    pub category: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Samples per dataset (default: all).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Plan for a described cluster instead of the detected hardware.
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// Maximum sequence length (prompt + generation) per sequence [default: min(4096, model's)].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seq_len: Option<u64>,
    /// Sequences per batch [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Tokens per sequence per prefill forward pass [default: 1024].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub prefill_chunk: Option<u64>,
    /// Override every model's dtype (f32, f16, bf16).
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<crate::catalog::DType>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_value_name = "WHAT")]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: Option<BenchCommand>,
    /// A model directory (Hugging Face layout): the same as `assay bench model DIR`.
    pub model_dir: Option<PathBuf>,
    /// Weight dtype (f32, f16, bf16; default: the checkpoint's).
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<crate::catalog::DType>,
}

/// What `assay bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// A checkpoint on this machine: load time, TTFT, prefill/decode tokens/s, latency.
    Model(BenchModelArgs),
    /// The engine figures of BENCHMARKS.md: prefill throughput and its share of the measured
    /// matmul peak, multiple-choice items/s with and without context reuse, decode tokens/s at
    /// batch 1 and 8. Uses MODEL_DIR, or writes a deterministic ~80M-parameter Llama (hidden
    /// 768, 12 layers) to the cache directory first.
    Engine(BenchEngineArgs),
    /// The planner (1,000 models x 100 datasets over 64 GPUs) and schedule quality.
    Plan,
    /// History queries: fill a database at PATH with synthetic runs (unless it exists already,
    /// from an earlier fill), then time `history` and `compare` against it.
    History(BenchHistoryArgs),
    /// Sample-row ingest: write ROWS synthetic sample rows into a new database in a temporary
    /// directory, in batches, through the writer a run uses.
    Store(BenchStoreArgs),
}

#[derive(Debug, Args)]
pub struct BenchModelArgs {
    /// A model directory (Hugging Face layout) or a hub-cache `org/name`.
    pub model_dir: PathBuf,
    /// Weight dtype (f32, f16, bf16; default: the checkpoint's).
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<crate::catalog::DType>,
}

#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    /// A model directory [default: the synthetic ~80M-parameter Llama].
    pub model_dir: Option<PathBuf>,
    /// Multiple-choice items.
    #[arg(long, default_value_t = 200)]
    pub mc_items: usize,
    /// Weight dtype (f32, f16, bf16; default: the checkpoint's).
    #[arg(long, value_parser = parse_dtype)]
    pub dtype: Option<crate::catalog::DType>,
}

#[derive(Debug, Args)]
pub struct BenchHistoryArgs {
    /// The database to fill (when new) and query.
    #[arg(value_name = "PATH")]
    pub db: PathBuf,
    /// Runs to generate.
    #[arg(long, default_value_t = 10_000)]
    pub runs: u64,
    /// Sample rows to generate (spread evenly over the runs).
    #[arg(long, default_value_t = 1_000_000)]
    pub samples: u64,
}

#[derive(Debug, Args)]
pub struct BenchStoreArgs {
    /// Sample rows to write.
    #[arg(value_name = "ROWS")]
    pub rows: u64,
    /// Rows per batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only runs of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only this model (catalog id).
    #[arg(long)]
    pub model: Option<String>,
    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only this metric: `acc`, or `metric,filter` such as `exact_match,strict-match`.
    #[arg(long)]
    pub metric: Option<String>,
    /// Only runs started at or after: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC), or an age (12h, 7d, 2w).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only jobs in this state: completed, failed, running, pending, skipped.
    #[arg(long, value_parser = parse_job_status)]
    pub status: Option<crate::store::JobStatus>,
    /// At most this many rows (0 = all).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u64,
    /// CSV on stdout instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// A leaderboard instead of rows: models × datasets, each model's newest result with its
    /// rank, `*` where it is significantly ahead of the next rank.
    #[arg(long, conflicts_with = "csv")]
    pub pivot: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run id (`assay history` lists them).
    pub run_id: i64,
    /// Page through the per-sample outputs and their scores instead.
    #[arg(long)]
    pub samples: bool,
    /// With --samples: the model whose samples to show (default: the run's first job).
    #[arg(long, requires = "samples")]
    pub model: Option<String>,
    /// With --samples: only this dataset.
    #[arg(long, requires = "samples")]
    pub dataset: Option<String>,
    /// With --samples: the page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), requires = "samples")]
    pub page: u64,
    /// With --samples: samples per page.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000), requires = "samples")]
    pub page_size: u64,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run (default with --model: the model's second newest run).
    pub run_a: Option<i64>,
    /// The run compared against it (default with --model: the model's newest run).
    pub run_b: Option<i64>,
    /// Only this model; without run ids, its two newest runs.
    #[arg(long, conflicts_with = "models")]
    pub model: Option<String>,
    /// Model against model: `A,B` compares model A of the first run with model B of the second
    /// (give one run id twice to compare two models of one run).
    #[arg(long, value_name = "A,B", value_parser = parse_model_pair)]
    pub models: Option<(String, String)>,
    /// How p-values are adjusted for the number of cells compared.
    #[arg(long, value_enum, default_value = "holm")]
    pub correction: crate::history::compare::Correction,
    /// Significance level for flagging a regression or improvement.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run id.
    pub run_id: i64,
    /// json: lm-evaluation-harness results layout (one document per model); csv: one row per metric.
    #[arg(long, value_enum, default_value = "json")]
    pub format: ExportFormat,
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Write files under DIR (`DIR/<model>/results_<date>.json`, or `DIR/run_<id>.csv`) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Export a failed run too; its documents are marked (`assay.run_status`, `assay.failures`)
    /// and datasets with no successful sample are left out of `results`.
    #[arg(long)]
    pub include_failed: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id.
    pub run_id: i64,
    /// Directory to write `report.html` into [default: ./assay-report-<run id>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Add charts of the deltas against RUN_B, taken as the baseline (delta = RUN_ID - RUN_B).
    #[arg(long, value_name = "RUN_B")]
    pub compare: Option<i64>,
}

#[derive(Debug, Args)]
pub struct DatasetsArgs {
    /// A dataset to describe (default: list them all).
    pub name: Option<String>,
    /// Render the first N test items: prompt, choices or target, and requests.
    #[arg(long, value_name = "N")]
    pub show: Option<usize>,
    /// Describe a data file (.jsonl, .json, .csv, .parquet) without a manifest; its layout
    /// comes from --format or from its columns.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["name", "lm_eval_yaml"])]
    pub file: Option<std::path::PathBuf>,
    /// The layout of --file: humaneval, gsm8k or mmlu.
    #[arg(long, value_name = "FORMAT", requires = "file", value_parser = parse_layout)]
    pub format: Option<crate::catalog::DataLayout>,
    /// Describe an lm-evaluation-harness task YAML file (declarative subset).
    #[arg(long, value_name = "PATH", conflicts_with = "name")]
    pub lm_eval_yaml: Option<std::path::PathBuf>,
    /// Few-shot examples per prompt (default: the manifest's num_fewshot).
    #[arg(long, value_name = "K")]
    pub num_fewshot: Option<u32>,
    /// Prompts as chat messages (on) or plain text (off; the default without a model).
    #[arg(long, value_enum, value_name = "on|off")]
    pub chat_template: Option<ChatTemplate>,
    /// Skip malformed data rows (each is reported) instead of failing.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

/// `--dtype`: f32, f16 or bf16.
pub fn parse_dtype(s: &str) -> Result<crate::catalog::DType, String> {
    crate::catalog::DType::parse(s)
        .ok_or_else(|| format!("must be one of f32, f16, bf16. Given: {s}"))
}

/// `--status`: a job state.
pub fn parse_job_status(s: &str) -> Result<crate::store::JobStatus, String> {
    crate::store::JobStatus::parse(s).ok_or_else(|| {
        format!("`{s}` is not a job state; use completed, failed, running, pending or skipped")
    })
}

/// `--models A,B`: two model ids.
pub fn parse_model_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && !b.contains(',') => {
            Ok((a.trim().to_string(), b.trim().to_string()))
        }
        _ => Err(format!(
            "takes two model ids, `A,B` (A from the first run, B from the second). Given: {s}"
        )),
    }
}

/// `--format`: a known data layout.
pub fn parse_layout(s: &str) -> Result<crate::catalog::DataLayout, String> {
    crate::catalog::DataLayout::parse(s).ok_or_else(|| {
        format!(
            "unknown format `{s}` (known: {})",
            crate::catalog::DataLayout::ALL
                .map(|l| l.as_str())
                .join(", ")
        )
    })
}

/// `--chat-template on|off`: force chat formatting on or off for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatTemplate {
    On,
    Off,
}

/// `--engine`: let the plan choose, or force the tensor-parallel engine (with `--tp N`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum EngineChoice {
    #[default]
    Auto,
    TensorParallel,
}

/// `--engine` and `--tp`, shared by `plan` and `run`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Engine for every model: `auto` (the plan decides) or `tensor-parallel` (with --tp N; on a
    /// CPU host the ranks are threads of one process, for tests and demonstrations).
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineChoice,
    /// Tensor-parallel degree for `--engine tensor-parallel`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub tp: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A model directory (Hugging Face layout) or a hub-cache `org/name`.
    pub model: String,
    /// TCP port (0 picks a free one; the bound address is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Name clients pass as `model` [default: the directory name].
    #[arg(long)]
    pub served_name: Option<String>,
    /// Most requests waiting for the engine; more are answered 429.
    #[arg(long, default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_queue: usize,
    /// Most requests decoding together in the engine's continuous batch.
    #[arg(long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_batch: usize,
    /// Serve through the tensor-parallel engine with this many ranks (one GPU each in a CUDA
    /// and NCCL build, else in-process CPU ranks).
    #[arg(long, value_name = "TP")]
    pub tensor_parallel: Option<u64>,
}
