//! Benchmarks: the per-model performance report behind `assay bench MODEL_DIR`, the figures
//! suite (matmul peak, prefill MFU, multiple-choice scoring with/without context reuse, decode
//! throughput), and a deterministic generator for a larger Llama checkpoint (no downloads).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::api::{
    Engine, EngineError, EngineInfo, GenerateRequest, LoadOptions, LoglikelihoodRequest, Sampling,
};
use crate::lightweight::LightweightEngine;
use crate::telemetry::{Percentiles, peak_rss_bytes, rate};

/// Workload sizes for [`bench_model`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchOptions {
    pub load: LoadOptions,
    /// Prompt length in tokens for the prefill and decode runs.
    pub prompt_tokens: usize,
    pub prefill_requests: usize,
    pub decode_tokens: usize,
    /// Batch sizes for the decode runs.
    pub decode_batches: Vec<usize>,
    /// Loglikelihood requests for the latency distribution.
    pub latency_requests: usize,
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            load: LoadOptions::default(),
            prompt_tokens: 256,
            prefill_requests: 8,
            decode_tokens: 32,
            decode_batches: vec![1, 8],
            latency_requests: 32,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecodeFigure {
    pub batch: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
}

/// Performance of one model on this machine (`assay bench MODEL_DIR`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub info: EngineInfo,
    pub load_s: f64,
    pub prefill_tokens: usize,
    pub prefill_s: f64,
    pub prefill_tokens_per_s: f64,
    pub ttft: Percentiles,
    pub decode: Vec<DecodeFigure>,
    /// Per-request latency of loglikelihood requests (served in engine-formed batches).
    pub latency: Percentiles,
    pub peak_rss_bytes: Option<u64>,
}

fn mib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    })
}

impl BenchReport {
    /// `(metric, value)` rows for a human-readable table.
    pub fn table_rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            (
                "model".into(),
                format!(
                    "{} ({})",
                    self.info.model_dir.display(),
                    self.info.architecture
                ),
            ),
            ("device".into(), self.info.device.clone()),
            (
                "dtype".into(),
                match &self.info.compute_note {
                    Some(n) => format!("{} ({n})", self.info.dtype),
                    None => self.info.dtype.clone(),
                },
            ),
            (
                "parameters".into(),
                format!("{:.1} M", self.info.num_parameters as f64 / 1e6),
            ),
            ("load time".into(), format!("{:.3} s", self.load_s)),
            (
                "TTFT p50 / p95".into(),
                format!("{:.1} / {:.1} ms", self.ttft.p50 * 1e3, self.ttft.p95 * 1e3),
            ),
            (
                "prefill".into(),
                format!(
                    "{:.0} tokens/s ({} tokens)",
                    self.prefill_tokens_per_s, self.prefill_tokens
                ),
            ),
        ];
        for d in &self.decode {
            rows.push((
                format!("decode, batch {}", d.batch),
                format!("{:.1} tokens/s", d.tokens_per_s),
            ));
        }
        rows.push((
            "latency p50 / p95 / p99".into(),
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                self.latency.p50 * 1e3,
                self.latency.p95 * 1e3,
                self.latency.p99 * 1e3
            ),
        ));
        rows.push(("peak memory (RSS)".into(), mib(self.peak_rss_bytes)));
        rows
    }
}

/// Deterministic English-like text of at least `tokens` tokens for `eng`'s tokenizer.
pub fn synthetic_text(
    eng: &dyn Engine,
    tokens: usize,
    rng: &mut StdRng,
) -> Result<String, EngineError> {
    const WORDS: &[&str] = &[
        "the", "river", "moved", "slowly", "under", "old", "stone", "bridge", "and", "a", "boat",
        "village", "market", "people", "morning", "quiet", "city", "capital", "north", "south",
        "water", "bread", "fish", "houses", "windows", "name", "early", "small", "drifted", "past",
    ];
    let mut text = String::new();
    loop {
        for _ in 0..16 {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        }
        if eng.token_count(&text)? >= tokens {
            return Ok(text);
        }
    }
}

fn greedy(prompt: String, max_gen_toks: usize) -> GenerateRequest {
    GenerateRequest {
        prompt,
        until: vec![],
        max_gen_toks,
        sampling: Sampling::Greedy,
    }
}

/// Loads `model_dir` and measures load time, TTFT, prefill and decode throughput, request
/// latency percentiles and peak memory.
pub fn bench_model(model_dir: &str, opts: &BenchOptions) -> Result<BenchReport, EngineError> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let t0 = Instant::now();
    let mut eng = LightweightEngine::load(model_dir, opts.load.clone())?;
    let load_s = t0.elapsed().as_secs_f64();
    let prompt_tokens = opts.prompt_tokens.min(eng.info().max_seq_len / 2).max(1);

    let prompts = (0..opts.prefill_requests)
        .map(|_| synthetic_text(&eng, prompt_tokens, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    // Warm-up (allocator, thread pool), not measured.
    let _ = eng.generate(&[greedy(prompts[0].clone(), 1)]);
    let before = eng.telemetry();
    let out = eng.generate(
        &prompts
            .iter()
            .map(|p| greedy(p.clone(), 1))
            .collect::<Vec<_>>(),
    );
    let after = eng.telemetry();
    let ttfts: Vec<f64> = out
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.timing.ttft_s)
        .collect();
    let prefill_tokens = after.prefill_tokens - before.prefill_tokens;
    let prefill_s = after.prefill_s - before.prefill_s;

    let mut decode = Vec::new();
    for &b in &opts.decode_batches {
        let reqs: Vec<GenerateRequest> = (0..b)
            .map(|i| greedy(prompts[i % prompts.len()].clone(), opts.decode_tokens))
            .collect();
        let before = eng.telemetry();
        let _ = eng.generate(&reqs);
        let after = eng.telemetry();
        let tokens = after.decode_tokens - before.decode_tokens;
        let seconds = after.decode_s - before.decode_s;
        decode.push(DecodeFigure {
            batch: b,
            tokens,
            seconds,
            tokens_per_s: rate(tokens, seconds),
        });
    }

    let reqs = (0..opts.latency_requests)
        .map(|_| {
            Ok(LoglikelihoodRequest {
                context: synthetic_text(&eng, prompt_tokens / 2, &mut rng)?,
                continuation: format!(" {}", synthetic_text(&eng, 4, &mut rng)?),
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let lat: Vec<f64> = eng
        .loglikelihood(&reqs)
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.timing.latency_s)
        .collect();
    Ok(BenchReport {
        info: eng.info().clone(),
        load_s,
        prefill_tokens,
        prefill_s,
        prefill_tokens_per_s: rate(prefill_tokens, prefill_s),
        ttft: Percentiles::of(&ttfts),
        decode,
        latency: Percentiles::of(&lat),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// Best f32 matmul throughput (GFLOP/s) on this machine with candle, over square and
/// model-shaped products.
pub fn measure_matmul_peak_gflops(device: &Device) -> Result<f64, EngineError> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut best: f64 = 0.0;
    for (m, k, n) in [(1024, 1024, 1024), (1024, 768, 2048), (2048, 2048, 768)] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let a = Tensor::from_vec(a, (m, k), device)?;
        let b = Tensor::from_vec(b, (k, n), device)?;
        let _ = a.matmul(&b)?;
        for _ in 0..5 {
            let t = Instant::now();
            let c = a.matmul(&b)?;
            c.device().synchronize()?;
            let s = t.elapsed().as_secs_f64();
            best = best.max(2.0 * (m * k * n) as f64 / s / 1e9);
        }
    }
    Ok(best)
}

/// Shape of a generated Llama checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthLlama {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub max_position_embeddings: usize,
    pub seed: u64,
}

impl SynthLlama {
    /// ~85M parameters: hidden 768, 12 layers, 12 heads, MLP 2048.
    pub fn llama_80m() -> Self {
        SynthLlama {
            hidden_size: 768,
            intermediate_size: 2048,
            num_layers: 12,
            num_heads: 12,
            num_kv_heads: 12,
            max_position_embeddings: 2048,
            seed: 80,
        }
    }
}

const TOKENIZER_JSON: &str = include_str!("../tests/fixtures/llama-micro/tokenizer.json");
const TOKENIZER_CONFIG_JSON: &str =
    include_str!("../tests/fixtures/llama-micro/tokenizer_config.json");
const GENERATION_CONFIG_JSON: &str =
    include_str!("../tests/fixtures/llama-micro/generation_config.json");
const VOCAB: usize = 512;

fn io_err(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes a Llama checkpoint with seeded random f32 weights (std 0.02 uniform noise, unit
/// norms) and the byte-level BPE tokenizer of the test fixtures to `dir`.
pub fn write_synthetic_llama(dir: &Path, s: &SynthLlama) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let head_dim = s.hidden_size / s.num_heads;
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": s.hidden_size,
        "intermediate_size": s.intermediate_size,
        "num_hidden_layers": s.num_layers,
        "num_attention_heads": s.num_heads,
        "num_key_value_heads": s.num_kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": s.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": false,
        "vocab_size": VOCAB,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 3,
        "torch_dtype": "float32",
    });
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| io_err(&p, e))
    };
    write("config.json", &config.to_string())?;
    write("tokenizer.json", TOKENIZER_JSON)?;
    write("tokenizer_config.json", TOKENIZER_CONFIG_JSON)?;
    write("generation_config.json", GENERATION_CONFIG_JSON)?;

    let mut rng = StdRng::seed_from_u64(s.seed);
    let dev = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let rand_t = |shape: &[usize], rng: &mut StdRng| -> Result<Tensor, EngineError> {
        let n: usize = shape.iter().product();
        // Uniform on [-a, a] has std a/sqrt(3); a = 0.02*sqrt(3).
        let a = 0.02f32 * 3f32.sqrt();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-a..a)).collect();
        Ok(Tensor::from_vec(v, shape, &dev)?)
    };
    let (h, i, d) = (s.hidden_size, s.intermediate_size, head_dim);
    tensors.insert(
        "model.embed_tokens.weight".into(),
        rand_t(&[VOCAB, h], &mut rng)?,
    );
    tensors.insert("lm_head.weight".into(), rand_t(&[VOCAB, h], &mut rng)?);
    tensors.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, candle_core::DType::F32, &dev)?,
    );
    for l in 0..s.num_layers {
        let p = format!("model.layers.{l}");
        for (name, shape) in [
            ("self_attn.q_proj", [s.num_heads * d, h]),
            ("self_attn.k_proj", [s.num_kv_heads * d, h]),
            ("self_attn.v_proj", [s.num_kv_heads * d, h]),
            ("self_attn.o_proj", [h, s.num_heads * d]),
            ("mlp.gate_proj", [i, h]),
            ("mlp.up_proj", [i, h]),
            ("mlp.down_proj", [h, i]),
        ] {
            tensors.insert(format!("{p}.{name}.weight"), rand_t(&shape, &mut rng)?);
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            tensors.insert(
                format!("{p}.{norm}.weight"),
                Tensor::ones(h, candle_core::DType::F32, &dev)?,
            );
        }
    }
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).map_err(|e| io_err(&path, e))
}

/// The figures suite on one checkpoint, measured in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub machine: String,
    pub info: EngineInfo,
    pub matmul_peak_gflops: f64,
    pub prefill_batch: usize,
    pub prefill_prompt_tokens: usize,
    pub prefill_tokens_per_s: f64,
    /// Model FLOPs (2 x matmul parameters per token, plus attention) per second.
    pub prefill_gflops: f64,
    /// `prefill_gflops / matmul_peak_gflops`.
    pub prefill_mfu: f64,
    pub mc_items: usize,
    pub mc_choices: usize,
    pub mc_context_tokens: usize,
    pub mc_items_per_s_reuse: f64,
    pub mc_items_per_s_no_reuse: f64,
    pub mc_reuse_speedup: f64,
    pub decode: Vec<DecodeFigure>,
    pub peak_rss_bytes: Option<u64>,
}

/// Options for [`figures`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiguresOptions {
    pub load: LoadOptions,
    pub prefill_batch: usize,
    pub prefill_prompt_tokens: usize,
    pub mc_items: usize,
    pub mc_choices: usize,
    pub mc_context_tokens: usize,
    pub decode_tokens: usize,
}

impl Default for FiguresOptions {
    fn default() -> Self {
        FiguresOptions {
            load: LoadOptions::default(),
            prefill_batch: 4,
            prefill_prompt_tokens: 256,
            mc_items: 200,
            mc_choices: 4,
            mc_context_tokens: 64,
            decode_tokens: 32,
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpu}, {} threads", candle_core::utils::get_num_threads())
}

/// Measures the figures on `model_dir` (see [`Figures`]); `progress` receives each figure as
/// it is measured (name, value), so long runs report as they go.
pub fn figures(
    model_dir: &str,
    o: &FiguresOptions,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Figures, EngineError> {
    let mut peak = measure_matmul_peak_gflops(&Device::Cpu)?;
    progress("matmul_peak_gflops", peak);
    let mut rng = StdRng::seed_from_u64(7);
    let mut eng = LightweightEngine::load(model_dir, o.load.clone())?;
    let info = eng.info().clone();

    // Prefill: a batch of equal-length prompts, one generated token each.
    let prompts = (0..o.prefill_batch)
        .map(|_| synthetic_text(&eng, o.prefill_prompt_tokens, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let reqs: Vec<GenerateRequest> = prompts.iter().map(|p| greedy(p.clone(), 1)).collect();
    let _ = eng.generate(&reqs[..1]);
    let before = eng.telemetry();
    let _ = eng.generate(&reqs);
    let after = eng.telemetry();
    let tokens = after.prefill_tokens - before.prefill_tokens;
    let tps = rate(tokens, after.prefill_s - before.prefill_s);
    // The peak is measured before and after the prefill run; the higher one is used, so a
    // busy machine lowers the reported utilisation rather than raising it.
    progress("prefill_tokens_per_s", tps);
    peak = peak.max(measure_matmul_peak_gflops(&Device::Cpu)?);
    progress("matmul_peak_gflops_after", peak);
    let avg_len = tokens as f64 / o.prefill_batch.max(1) as f64;
    let cfg = eng.model_dims();
    // Matmul FLOPs per token: 2 x (non-embedding linear weights), plus QK^T and PV over an
    // average causal context of len/2.
    let flops_per_token = 2.0 * cfg.linear_params as f64
        + 4.0 * cfg.num_layers as f64 * cfg.attn_width as f64 * (avg_len / 2.0);
    let gflops = tps * flops_per_token / 1e9;

    // Multiple choice: items share one context across their choices.
    let items: Vec<(String, Vec<String>)> = (0..o.mc_items)
        .map(|_| {
            let ctx = synthetic_text(&eng, o.mc_context_tokens, &mut rng)?;
            let choices = (0..o.mc_choices)
                .map(|_| synthetic_text(&eng, 3, &mut rng).map(|c| format!(" {c}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((ctx, choices))
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let mc: Vec<LoglikelihoodRequest> = items
        .iter()
        .flat_map(|(ctx, cs)| {
            cs.iter().map(move |c| LoglikelihoodRequest {
                context: ctx.clone(),
                continuation: c.clone(),
            })
        })
        .collect();
    let time_mc = |reuse: bool| -> Result<f64, EngineError> {
        let mut opts = o.load.clone();
        opts.context_reuse = reuse;
        let mut e = LightweightEngine::load(model_dir, opts)?;
        let t = Instant::now();
        let out = e.loglikelihood(&mc);
        if let Some(Err(err)) = out.iter().find(|r| r.is_err()) {
            return Err(EngineError::Inference(err.to_string()));
        }
        Ok(o.mc_items as f64 / t.elapsed().as_secs_f64())
    };
    let with_reuse = time_mc(true)?;
    progress("mc_items_per_s_reuse", with_reuse);
    let without = time_mc(false)?;
    progress("mc_items_per_s_no_reuse", without);

    let mut decode = Vec::new();
    for b in [1usize, 8] {
        let reqs: Vec<GenerateRequest> = (0..b)
            .map(|i| {
                greedy(
                    prompts[i % prompts.len()].chars().take(200).collect(),
                    o.decode_tokens,
                )
            })
            .collect();
        let before = eng.telemetry();
        let _ = eng.generate(&reqs);
        let after = eng.telemetry();
        let tokens = after.decode_tokens - before.decode_tokens;
        let seconds = after.decode_s - before.decode_s;
        progress(
            &format!("decode_tokens_per_s_batch_{b}"),
            rate(tokens, seconds),
        );
        decode.push(DecodeFigure {
            batch: b,
            tokens,
            seconds,
            tokens_per_s: rate(tokens, seconds),
        });
    }
    Ok(Figures {
        machine: machine(),
        info,
        matmul_peak_gflops: peak,
        prefill_batch: o.prefill_batch,
        prefill_prompt_tokens: avg_len.round() as usize,
        prefill_tokens_per_s: tps,
        prefill_gflops: gflops,
        prefill_mfu: gflops / peak,
        mc_items: o.mc_items,
        mc_choices: o.mc_choices,
        mc_context_tokens: o.mc_context_tokens,
        mc_items_per_s_reuse: with_reuse,
        mc_items_per_s_no_reuse: without,
        mc_reuse_speedup: with_reuse / without,
        decode,
        peak_rss_bytes: peak_rss_bytes(),
    })
}
