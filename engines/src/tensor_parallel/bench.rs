//! Figures for the tensor-parallel engine: what each rank holds at tp = 1, 2, 4 (weights, KV
//! cache and activations, counted from the rank's tensors) and the share of a rank's forward
//! time spent in collectives on CPU ranks, for one fixed scoring workload.

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::TensorParallelEngine;
use crate::api::{Engine, EngineError, LoadOptions, LoglikelihoodRequest};
use crate::telemetry::RankTelemetry;

/// The scoring workload: `requests` contexts of `context_tokens` tokens, one forward batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TpWorkload {
    pub requests: usize,
    pub context_tokens: usize,
    pub seed: u64,
}

/// One tensor-parallel degree on the workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TpFigure {
    pub tp: usize,
    pub load_s: f64,
    /// Wall time of the scoring call (the front thread's view).
    pub score_s: f64,
    pub ranks: Vec<RankTelemetry>,
    /// Mean over ranks of `collective_s / forward_s`.
    pub collective_share: f64,
    /// Mean over ranks of `collective_combine_s / forward_s`.
    pub combine_share: f64,
}

/// Loads `model_dir` at each `tp` (CPU ranks) and scores the workload once after a warm-up.
pub fn tp_figures(
    model_dir: &str,
    tps: &[usize],
    w: &TpWorkload,
) -> Result<Vec<TpFigure>, EngineError> {
    let mut out = Vec::new();
    for &tp in tps {
        let opts = LoadOptions {
            max_batch_size: w.requests,
            max_batch_tokens: w.requests * (w.context_tokens + 64),
            prefill_chunk: None,
            context_reuse: false,
            ..LoadOptions::default()
        };
        let t0 = Instant::now();
        let mut eng = TensorParallelEngine::load_cpu(model_dir, tp, opts)?;
        let load_s = t0.elapsed().as_secs_f64();
        let mut rng = StdRng::seed_from_u64(w.seed);
        let mut reqs = Vec::with_capacity(w.requests);
        for _ in 0..w.requests {
            reqs.push(LoglikelihoodRequest {
                context: crate::bench::synthetic_text(&eng, w.context_tokens, &mut rng)?,
                continuation: " the river".into(),
            });
        }
        // Warm-up on one request, then the measured call from zeroed counters.
        let _ = eng.loglikelihood(&reqs[..1]);
        let warm = eng.rank_telemetry();
        let t = Instant::now();
        let failed = eng
            .loglikelihood(&reqs)
            .into_iter()
            .filter(|r| r.is_err())
            .count();
        if failed > 0 {
            return Err(EngineError::Inference(format!(
                "{failed} of {} requests failed at tp {tp}",
                reqs.len()
            )));
        }
        let score_s = t.elapsed().as_secs_f64();
        let ranks: Vec<RankTelemetry> = eng
            .rank_telemetry()
            .into_iter()
            .zip(warm)
            .map(|(mut r, w)| {
                r.forward_passes -= w.forward_passes;
                r.forward_s -= w.forward_s;
                r.collective_calls -= w.collective_calls;
                r.collective_bytes -= w.collective_bytes;
                r.collective_s -= w.collective_s;
                r.collective_combine_s -= w.collective_combine_s;
                r
            })
            .collect();
        let share = |f: fn(&RankTelemetry) -> f64| {
            ranks
                .iter()
                .map(|r| {
                    if r.forward_s > 0.0 {
                        f(r) / r.forward_s
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
                / ranks.len().max(1) as f64
        };
        out.push(TpFigure {
            tp,
            load_s,
            score_s,
            collective_share: share(|r| r.collective_s),
            combine_share: share(|r| r.collective_combine_s),
            ranks,
        });
    }
    Ok(out)
}
