//! Command-line definitions (clap) and nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "assay", version, about = "Evaluate language models across task categories on the GPUs (or CPU) you have")]
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
    /// Maximum sequence length (prompt + generation) per sequence.
    #[arg(long)]
    pub max_seq_len: Option<u64>,
    /// Sequences per batch.
    #[arg(long)]
    pub batch_size: Option<u64>,
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
