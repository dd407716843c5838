//! Memory sizing: how many bytes one rank of a model needs, with the breakdown and the arithmetic.
//!
//! Per rank (tensor-parallel degree `tp`, 1 for one device), with `b` the dtype's bytes:
//! - **weights**: exact tensor bytes from the local safetensors headers when the checkpoint is on
//!   disk, else `params × b`. Mixture-of-experts models count every expert (the catalog's `params`
//!   is the total). Under tp the input embedding and the norms are replicated on every rank; the
//!   `lm_head` is vocab-sharded (column-parallel, logits all-gathered) when `vocab % tp == 0`, else
//!   replicated (a tied `lm_head` reuses the replicated embedding); everything else is divided by tp.
//! - **kv_cache**: `2 · layers · kv_heads_per_rank · head_dim · b · tokens · batch`; sliding-window
//!   layers hold `min(window, seq)` tokens. kv heads are divided by tp, or replicated (one per rank)
//!   when tp > kv_heads.
//! - **activations**: the engine prefills in chunks of `C` tokens, so `t = min(C, seq) · batch`
//!   tokens are in flight. Buffers of one layer: hidden states `2 · t · hidden · b` (residual and
//!   normed copy), live throughout; then the largest of the attention phase (q, k, v and the
//!   attention output `t · (2·heads_r + 2·kv_r) · head_dim · b`, plus scores
//!   `batch · heads_r · min(C, seq) · kv_len · (2·b + 8)`: raw and masked scores in the dtype, an
//!   f32 copy and f32 softmax probabilities), the MLP phase (`3 · t · intermediate/tp · b ·
//!   active experts`: gate, up and their product) and the logits (`t · vocab · 4`, f32 for every
//!   position in the chunk, full vocab after the gather).
//! - **overhead**: 1 GiB per GPU process (CUDA context and kernels ~500 MiB, cuBLAS workspace,
//!   allocator slack), 512 MiB on the CPU (runtime, tokenizer, thread-pool buffers).
//! - **nccl**: 512 MiB per rank when tp > 1 (NCCL channel buffers and communicator state).

use crate::catalog::{Arch, DType, Model};
use crate::hardware::{GIB, MIB};
use crate::printer::human_bytes;

/// Default prefill chunk (tokens per sequence per forward pass).
pub const DEFAULT_PREFILL_CHUNK: u64 = 1024;
/// Default maximum sequence length when `--max-seq-len` is not given (capped at the model's).
pub const DEFAULT_MAX_SEQ_LEN: u64 = 4096;
pub const DEFAULT_BATCH: u64 = 1;
pub const GPU_OVERHEAD: u64 = GIB;
pub const CPU_OVERHEAD: u64 = 512 * MIB;
pub const NCCL_PER_RANK: u64 = 512 * MIB;

/// Job settings as the user gave them (flags); resolved per model by `Settings::resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub dtype: Option<DType>,
    pub max_seq_len: Option<u64>,
    pub batch: Option<u64>,
    pub prefill_chunk: Option<u64>,
    /// `--engine tensor-parallel --tp N`: route every model to the tensor-parallel engine with
    /// this degree (on a CPU host, N rank threads in one process), instead of choosing.
    pub force_tp: Option<u64>,
}

/// Settings with nothing left to default, for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    pub dtype: DType,
    pub max_seq_len: u64,
    pub batch: u64,
    pub prefill_chunk: u64,
}

impl Settings {
    /// dtype: flag or the model's; max_seq_len: flag or 4096, capped at the model's positions;
    /// batch: flag or 1; prefill chunk: flag or 1024. Zeros are raised to 1.
    pub fn resolve(&self, arch: &Arch, model_dtype: DType) -> Resolved {
        let positions = arch.max_positions.max(1);
        Resolved {
            dtype: self.dtype.unwrap_or(model_dtype),
            max_seq_len: self
                .max_seq_len
                .unwrap_or(DEFAULT_MAX_SEQ_LEN)
                .clamp(1, positions),
            batch: self.batch.unwrap_or(DEFAULT_BATCH).max(1),
            prefill_chunk: self.prefill_chunk.unwrap_or(DEFAULT_PREFILL_CHUNK).max(1),
        }
    }
}

/// Where the rank runs: decides the per-process overhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Gpu,
    Cpu,
}

/// Bytes per rank, by part, with the arithmetic as human-readable lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemoryNeed {
    pub tp: u64,
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
    pub overhead: u64,
    pub nccl: u64,
    /// Sum of the parts: what each rank's device must hold.
    pub per_rank: u64,
    /// `per_rank × tp`.
    pub total: u64,
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// The weights as known before sizing: exact bytes from disk, or the catalog's parameter count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightSource {
    Headers { bytes: u64 },
    Params,
}

/// Size one rank of `model` at tensor-parallel degree `tp`.
pub fn estimate(
    model: &Model,
    weights: WeightSource,
    s: &Resolved,
    tp: u64,
    target: Target,
) -> MemoryNeed {
    let tp = tp.max(1);
    let arch = &model.arch;
    // Exact header bytes describe the checkpoint's dtype; a different --dtype converts on load.
    let exact = match weights {
        WeightSource::Headers { bytes } if s.dtype == model.dtype => Some(bytes),
        _ => None,
    };
    let (weights, w_line) = weight_bytes(arch, s.dtype, exact, tp);
    let (kv_cache, kv_line) = kv_bytes(arch, s, tp);
    let (activations, act_lines) = activation_bytes(arch, s, tp);
    let overhead = match target {
        Target::Gpu => GPU_OVERHEAD,
        Target::Cpu => CPU_OVERHEAD,
    };
    let nccl = if tp > 1 { NCCL_PER_RANK } else { 0 };
    let per_rank = weights + kv_cache + activations + overhead + nccl;
    let mut lines = vec![w_line, kv_line];
    lines.extend(act_lines);
    lines.push(format!(
        "total/rank = {} weights + {} kv + {} act + {} overhead + {} nccl = {}",
        human_bytes(weights),
        human_bytes(kv_cache),
        human_bytes(activations),
        human_bytes(overhead),
        human_bytes(nccl),
        human_bytes(per_rank)
    ));
    MemoryNeed {
        tp,
        weights,
        kv_cache,
        activations,
        overhead,
        nccl,
        per_rank,
        total: per_rank * tp,
        lines,
    }
}

/// Parameter split under tp: `(replicated, sharded)` counts, lm_head included in one of them.
fn tp_split(arch: &Arch, tp: u64) -> (u64, u64, bool) {
    let embed = arch.vocab * arch.hidden;
    let norms = (2 * arch.layers + 1) * arch.hidden;
    let lm_head = if arch.tied_embeddings {
        0
    } else {
        arch.vocab * arch.hidden
    };
    let head_sharded = arch.vocab.is_multiple_of(tp);
    let body = arch.params.saturating_sub(embed + norms + lm_head);
    if head_sharded {
        (embed + norms, body + lm_head, true)
    } else {
        (embed + norms + lm_head, body, false)
    }
}

fn weight_bytes(arch: &Arch, dtype: DType, exact: Option<u64>, tp: u64) -> (u64, String) {
    let b = dtype.bytes();
    let moe = arch
        .experts
        .map(|(e, _)| format!(", all {e} experts"))
        .unwrap_or_default();
    if tp == 1 {
        return match exact {
            Some(bytes) => (
                bytes,
                format!(
                    "weights = {} (safetensors headers{moe})",
                    human_bytes(bytes)
                ),
            ),
            None => {
                let bytes = arch.params * b;
                (
                    bytes,
                    format!(
                        "weights = {} params × {b} B = {}{moe}",
                        int(arch.params),
                        human_bytes(bytes)
                    ),
                )
            }
        };
    }
    let (replicated, sharded, head_sharded) = tp_split(arch, tp);
    let per_rank_params = replicated + sharded.div_ceil(tp);
    // With exact bytes, scale the split by the checkpoint's real bytes per parameter.
    let bytes = match exact {
        Some(total) => (total as f64 * per_rank_params as f64 / arch.params.max(1) as f64) as u64,
        None => per_rank_params * b,
    };
    let head = if head_sharded {
        "lm_head vocab-sharded"
    } else {
        "lm_head replicated"
    };
    let line = format!(
        "weights/rank = ({} replicated [embed, norms] + {} sharded / tp {tp}) params × {b} B = {} ({head}{moe})",
        int(replicated),
        int(sharded),
        human_bytes(bytes)
    );
    (bytes, line)
}

/// kv heads each rank holds (see [`Arch::kv_heads_per_rank`]).
pub fn kv_heads_per_rank(arch: &Arch, tp: u64) -> u64 {
    arch.kv_heads_per_rank(tp)
}

fn kv_bytes(arch: &Arch, s: &Resolved, tp: u64) -> (u64, String) {
    let b = s.dtype.bytes();
    let kvh = kv_heads_per_rank(arch, tp);
    let seq = s.max_seq_len;
    let per_token_layer = 2 * kvh * arch.head_dim * b * s.batch;
    match arch.sliding_window {
        Some((window, swa_layers)) if swa_layers > 0 => {
            let swa = swa_layers.min(arch.layers);
            let full = arch.layers - swa;
            let tokens = full * seq + swa * window.min(seq);
            let bytes = per_token_layer * tokens;
            let line = format!(
                "kv = 2 × {kvh} kv_heads × {} × {b} B × ({full} layers × {seq} + {swa} layers × min({window}, {seq})) tokens × {} = {}",
                arch.head_dim,
                s.batch,
                human_bytes(bytes)
            );
            (bytes, line)
        }
        _ => {
            let bytes = per_token_layer * arch.layers * seq;
            let line = format!(
                "kv = 2 × {} layers × {kvh} kv_heads × {} × {b} B × {seq} tokens × {} = {}",
                arch.layers,
                arch.head_dim,
                s.batch,
                human_bytes(bytes)
            );
            (bytes, line)
        }
    }
}

/// Keys one query attends to at most: the full sequence unless every layer is windowed.
fn kv_len(arch: &Arch, seq: u64) -> u64 {
    match arch.sliding_window {
        Some((window, swa)) if swa >= arch.layers => window.min(seq),
        _ => seq,
    }
}

fn activation_bytes(arch: &Arch, s: &Resolved, tp: u64) -> (u64, Vec<String>) {
    let b = s.dtype.bytes();
    let c = s.prefill_chunk.min(s.max_seq_len);
    let t = c * s.batch;
    let heads_r = arch.heads.div_ceil(tp);
    let kv_r = kv_heads_per_rank(arch, tp);
    let keys = kv_len(arch, s.max_seq_len);
    let hidden = 2 * t * arch.hidden * b;
    let qkvo = t * (2 * heads_r + 2 * kv_r) * arch.head_dim * b;
    let scores = s.batch * heads_r * c * keys * (2 * b + 8);
    let attention = qkvo + scores;
    let active = arch.experts.map(|(_, k)| k.max(1)).unwrap_or(1);
    let mlp = 3 * t * arch.intermediate.div_ceil(tp) * b * active;
    let logits = t * arch.vocab * 4;
    let peak = attention.max(mlp).max(logits);
    let total = hidden + peak;
    let lines = vec![
        format!(
            "act tokens in flight t = min(chunk {}, seq {}) × batch {} = {t}",
            s.prefill_chunk, s.max_seq_len, s.batch
        ),
        format!(
            "act: hidden 2 × t × {} × {b} B = {}; attention q,k,v,o {} + scores {} × {heads_r} heads × {c} × {keys} × {} B = {}",
            arch.hidden,
            human_bytes(hidden),
            human_bytes(qkvo),
            s.batch,
            2 * b + 8,
            human_bytes(attention)
        ),
        format!(
            "act: mlp 3 × t × {} × {b} B{} = {}; logits t × {} vocab × 4 B = {}; peak = hidden + max = {}",
            arch.intermediate.div_ceil(tp),
            if active > 1 {
                format!(" × {active} active experts")
            } else {
                String::new()
            },
            human_bytes(mlp),
            arch.vocab,
            human_bytes(logits),
            human_bytes(total)
        ),
    ];
    (total, lines)
}

/// `1234567` → `1,234,567`.
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::synthetic::{llama_8b, llama_70b};

    fn resolved(seq: u64, batch: u64, chunk: u64) -> Resolved {
        Resolved {
            dtype: DType::Bf16,
            max_seq_len: seq,
            batch,
            prefill_chunk: chunk,
        }
    }

    #[test]
    fn kv_cache_matches_the_formula() {
        let m = llama_8b();
        let need = estimate(
            &m,
            WeightSource::Params,
            &resolved(4096, 1, 1024),
            1,
            Target::Gpu,
        );
        assert_eq!(need.kv_cache, 2 * 32 * 8 * 128 * 2 * 4096);
        assert_eq!(need.weights, 8_030_261_248 * 2);
        assert!(need.lines[1].starts_with(
            "kv = 2 × 32 layers × 8 kv_heads × 128 × 2 B × 4096 tokens × 1 = 512.00 MiB"
        ));
        assert_eq!(
            need.per_rank,
            need.weights + need.kv_cache + need.activations + GPU_OVERHEAD
        );
    }

    #[test]
    fn chunking_bounds_activations() {
        let m = llama_8b();
        let chunked = estimate(
            &m,
            WeightSource::Params,
            &resolved(4096, 1, 1024),
            1,
            Target::Gpu,
        );
        let whole = estimate(
            &m,
            WeightSource::Params,
            &resolved(4096, 1, 4096),
            1,
            Target::Gpu,
        );
        // Scores dominate: 32 heads × 1024 × 4096 × 12 B = 1.5 GiB vs 6 GiB unchunked.
        let hidden = 2 * 1024 * 4096 * 2;
        let qkvo = 1024 * (64 + 16) * 128 * 2;
        assert_eq!(chunked.activations, hidden + qkvo + 32 * 1024 * 4096 * 12);
        assert!(whole.activations > 4 * chunked.activations - 4 * hidden);
    }

    #[test]
    fn tensor_parallel_replicates_embeddings_and_divides_the_rest() {
        let m = llama_70b();
        let s = resolved(8192, 8, 1024);
        let one = estimate(&m, WeightSource::Params, &s, 1, Target::Gpu);
        let two = estimate(&m, WeightSource::Params, &s, 2, Target::Gpu);
        let embed = 128_256 * 8192;
        let norms = 161 * 8192;
        let body = 70_553_706_496 - 2 * embed - norms;
        assert_eq!(two.weights, (embed + norms + (body + embed) / 2) * 2);
        assert!(two.weights > one.weights / 2);
        assert_eq!(two.kv_cache, one.kv_cache / 2);
        assert_eq!(two.nccl, NCCL_PER_RANK);
        assert_eq!(two.total, two.per_rank * 2);
    }

    #[test]
    fn kv_heads_replicate_past_their_count() {
        let mut m = llama_8b();
        m.arch.kv_heads = 2;
        assert_eq!(kv_heads_per_rank(&m.arch, 2), 1);
        assert_eq!(kv_heads_per_rank(&m.arch, 8), 1);
        assert_eq!(kv_heads_per_rank(&m.arch, 1), 2);
    }

    #[test]
    fn sliding_window_caps_kv_and_moe_counts_experts() {
        let mut m = llama_8b();
        m.arch.sliding_window = Some((1024, 16));
        let s = resolved(4096, 1, 1024);
        let need = estimate(&m, WeightSource::Params, &s, 1, Target::Gpu);
        assert_eq!(need.kv_cache, 2 * 8 * 128 * 2 * (16 * 4096 + 16 * 1024));
        m.arch.experts = Some((8, 2));
        let moe = estimate(&m, WeightSource::Params, &s, 1, Target::Gpu);
        assert!(moe.lines[0].contains("all 8 experts"));
    }

    #[test]
    fn header_bytes_win_unless_dtype_changes() {
        let m = llama_8b();
        let s = resolved(4096, 1, 1024);
        let exact = estimate(
            &m,
            WeightSource::Headers {
                bytes: 16_000_000_000,
            },
            &s,
            1,
            Target::Cpu,
        );
        assert_eq!(exact.weights, 16_000_000_000);
        assert_eq!(exact.overhead, CPU_OVERHEAD);
        let f32s = Resolved {
            dtype: DType::F32,
            ..s
        };
        let converted = estimate(
            &m,
            WeightSource::Headers {
                bytes: 16_000_000_000,
            },
            &f32s,
            1,
            Target::Cpu,
        );
        assert_eq!(converted.weights, 8_030_261_248 * 4);
    }

    #[test]
    fn settings_resolve_to_documented_defaults() {
        let m = llama_8b();
        let r = Settings::default().resolve(&m.arch, m.dtype);
        assert_eq!(
            r,
            Resolved {
                dtype: DType::Bf16,
                max_seq_len: 4096,
                batch: 1,
                prefill_chunk: 1024
            }
        );
        let long = Settings {
            max_seq_len: Some(1 << 30),
            ..Default::default()
        }
        .resolve(&m.arch, m.dtype);
        assert_eq!(long.max_seq_len, m.arch.max_positions);
    }

    #[test]
    fn numbers_format() {
        assert_eq!(int(8_030_261_248), "8,030,261,248");
        assert_eq!(int(12), "12");
        assert_eq!(human_bytes(GIB), "1.00 GiB");
        assert_eq!(human_bytes(512 * MIB), "512.00 MiB");
    }
}
