//! `assay bench model MODEL_DIR` (or `assay bench MODEL_DIR`) and `assay bench engine
//! [MODEL_DIR]`: the lightweight engine's speed on this machine.
//!
//! `assay bench MODEL_DIR` loads a Hugging Face checkpoint directory (or hub-cache entry) on the
//! CPU (or the GPU in a CUDA build) and reports load time, time to first token, prefill and decode
//! tokens/s (batch 1 and 8), loglikelihood latency p50/p95/p99 and peak memory. `--json` prints
//! the report object of `assay_engines::bench::BenchReport` (`info`, `load_s`, `prefill_tokens`,
//! `prefill_s`, `prefill_tokens_per_s`, `ttft` {`p50`,`p95`,`p99`,...}, `decode[]` {`batch`,
//! `tokens`, `seconds`, `tokens_per_s`}, `latency`, `peak_rss_bytes`).
//!
//! `assay bench engine` measures the figures of BENCHMARKS.md in one run (`assay_engines::bench::
//! Figures`): the f32 matmul peak, prefill throughput and its model-FLOP utilisation against that
//! peak, multiple-choice items/s with and without context reuse and their ratio, decode tokens/s.
//! Without MODEL_DIR it first writes a deterministic ~80M-parameter Llama to
//! `$XDG_CACHE_HOME/assay/models/bench-llama-80m` (or `~/.cache/...`).
use crate::cli::{BenchEngineArgs, BenchModelArgs};
use crate::error::{EXIT_OK, InputError};
use crate::printer::Printer;
use anyhow::Context;
use assay_engines::LoadOptions;
use assay_engines::bench::{self, BenchOptions, FiguresOptions, SynthLlama};
use std::path::{Path, PathBuf};

pub fn run(args: &BenchModelArgs, printer: &Printer) -> anyhow::Result<u8> {
    let load = load_options(args.dtype);
    let dir = &args.model_dir;
    // A directory, or `org/name[@revision]` in the Hugging Face cache.
    if !dir.exists()
        && assay_engines::checkpoint::resolve_model_dir(&dir.to_string_lossy()).is_err()
    {
        return Err(InputError(format!(
            "model directory {} does not exist (nor is it an `org/name` in the Hugging Face cache)",
            dir.display()
        ))
        .into());
    }
    let opts = BenchOptions {
        load,
        ..BenchOptions::default()
    };
    printer.notice(format!("benchmarking {} ...", dir.display()));
    let report = bench::bench_model(path_str(dir)?, &opts)
        .with_context(|| format!("benchmarking {}", dir.display()))?;
    if printer.json {
        printer.json(&report)?;
    } else {
        let rows: Vec<Vec<String>> = report
            .table_rows()
            .into_iter()
            .map(|(k, v)| vec![k, v])
            .collect();
        printer.table(&["metric", "value"], &rows)?;
    }
    Ok(EXIT_OK)
}

pub fn figures(args: &BenchEngineArgs, printer: &Printer) -> anyhow::Result<u8> {
    let load = load_options(args.dtype);
    let dir = match &args.model_dir {
        Some(dir) => dir.clone(),
        None => synthetic_80m(printer)?,
    };
    let opts = FiguresOptions {
        load,
        mc_items: args.mc_items.max(1),
        ..FiguresOptions::default()
    };
    let quiet = printer.quiet || printer.json;
    let f = bench::figures(path_str(&dir)?, &opts, &mut |name, value| {
        if !quiet {
            eprintln!("  {name}: {value:.3}");
        }
    })
    .with_context(|| format!("engine figures on {}", dir.display()))?;
    if printer.json {
        printer.json(&f)?;
        return Ok(EXIT_OK);
    }
    let mut rows = vec![
        vec!["machine".into(), f.machine.clone()],
        vec![
            "model".into(),
            format!(
                "{} ({:.1} M params, {})",
                dir.display(),
                f.info.num_parameters as f64 / 1e6,
                f.info.compute_dtype
            ),
        ],
        vec![
            "f32 matmul peak".into(),
            format!("{:.1} GFLOP/s", f.matmul_peak_gflops),
        ],
        vec![
            format!(
                "prefill, batch {} x {} tokens",
                f.prefill_batch, f.prefill_prompt_tokens
            ),
            format!(
                "{:.1} tokens/s, {:.2} GFLOP/s, MFU {:.1}%",
                f.prefill_tokens_per_s,
                f.prefill_gflops,
                f.prefill_mfu * 100.0
            ),
        ],
        vec![
            format!(
                "multiple choice, {} items x {} choices",
                f.mc_items, f.mc_choices
            ),
            format!(
                "{:.3} items/s with reuse, {:.3} without: {:.2}x",
                f.mc_items_per_s_reuse, f.mc_items_per_s_no_reuse, f.mc_reuse_speedup
            ),
        ],
    ];
    for d in &f.decode {
        rows.push(vec![
            format!("greedy decode, batch {}", d.batch),
            format!("{:.1} tokens/s", d.tokens_per_s),
        ]);
    }
    if let Some(rss) = f.peak_rss_bytes {
        rows.push(vec![
            "peak memory (RSS)".into(),
            format!("{:.2} GiB", rss as f64 / (1u64 << 30) as f64),
        ]);
    }
    printer.table(&["figure", "value"], &rows)?;
    Ok(EXIT_OK)
}

fn load_options(dtype: Option<crate::catalog::DType>) -> LoadOptions {
    LoadOptions {
        dtype,
        ..LoadOptions::default()
    }
}

/// The deterministic ~80M Llama used for the engine figures, written once into the cache.
fn synthetic_80m(printer: &Printer) -> anyhow::Result<PathBuf> {
    let dir = cache_dir().join("models").join("bench-llama-80m");
    if !dir.join("model.safetensors").is_file() {
        printer.notice(format!(
            "writing the ~80M-parameter test model to {}",
            dir.display()
        ));
        bench::write_synthetic_llama(&dir, &SynthLlama::llama_80m())
            .with_context(|| format!("writing {}", dir.display()))?;
    }
    Ok(dir)
}

/// `$XDG_CACHE_HOME/assay`, else `~/.cache/assay`, else the temp dir.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("assay");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("assay");
    }
    std::env::temp_dir().join("assay")
}

fn path_str(p: &Path) -> Result<&str, InputError> {
    p.to_str()
        .ok_or_else(|| InputError(format!("model path is not valid UTF-8: {}", p.display())))
}
