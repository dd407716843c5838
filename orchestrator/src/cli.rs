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
    /// Benchmarks: a model's inference speed on this machine, or the planner.
    Bench(BenchArgs),
    /// List datasets, or show one dataset's prompts exactly as a model will see them.
    Datasets(DatasetsArgs),
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
    #[arg(long)]
    pub dtype: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A model directory (Hugging Face layout) to benchmark on this machine.
    pub model_dir: Option<PathBuf>,
    /// Benchmark the planner instead (1,000 models x 100 datasets over 64 GPUs) and schedule quality.
    #[arg(long, conflicts_with = "model_dir")]
    pub plan: bool,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChatTemplate {
    On,
    Off,
}
