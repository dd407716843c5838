//! The tensor-parallel engine against the single-device engine: equal log-likelihoods
//! (within 1e-4) and identical greedy tokens at tp 2 and 4, per-rank memory accounting, and
//! tp validation before any weight is read.

use assay_engines::bench::{SynthLlama, write_synthetic_llama};
use assay_engines::{
    DeviceSpec, Engine, EngineError, GenerateRequest, LoadOptions, LoglikelihoodRequest, Sampling,
    TensorParallelEngine,
};

use crate::util::{fixture, opts, scratch_copy};

fn ll_requests() -> Vec<LoglikelihoodRequest> {
    let pairs = [
        ("The quick brown fox", " jumps over the lazy dog"),
        ("The quick brown fox", " sleeps"),
        ("Question: what is two plus two?\nAnswer:", " four"),
        (
            "Question: what is two plus two?\nAnswer:",
            " five, or so it seems",
        ),
        ("", "An empty context is conditioned on the start token."),
        ("Once upon a time there was a small model that", " could."),
    ];
    pairs
        .iter()
        .map(|(c, x)| LoglikelihoodRequest {
            context: c.to_string(),
            continuation: x.to_string(),
        })
        .collect()
}

fn gen_requests() -> Vec<GenerateRequest> {
    [
        "Once upon a time",
        "def add(a, b):",
        "The capital of France is",
        "1, 2, 3,",
    ]
    .iter()
    .map(|p| GenerateRequest {
        prompt: p.to_string(),
        until: vec![],
        max_gen_toks: 12,
        sampling: Sampling::Greedy,
    })
    .collect()
}

/// Scores and generates with both engines and compares.
fn assert_matches_single_device(model: &str, tp: usize, o: LoadOptions) {
    let mut single = assay_engines::LightweightEngine::load(model, o.clone())
        .unwrap_or_else(|e| panic!("load {model}: {e}"));
    let mut sharded = TensorParallelEngine::load_cpu(model, tp, o)
        .unwrap_or_else(|e| panic!("load {model} at tp {tp}: {e}"));
    let reqs = ll_requests();
    let a = single.loglikelihood(&reqs);
    let b = sharded.loglikelihood(&reqs);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let (x, y) = (x.as_ref().expect("single"), y.as_ref().expect("tp"));
        assert!(
            (x.logprob - y.logprob).abs() < 1e-4,
            "{model} tp {tp} request {i}: {} vs {}",
            x.logprob,
            y.logprob
        );
        assert_eq!(x.is_greedy, y.is_greedy, "{model} tp {tp} request {i}");
        assert_eq!(x.continuation_tokens, y.continuation_tokens);
    }
    let gens = gen_requests();
    let a = single.generate(&gens);
    let b = sharded.generate(&gens);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let (x, y) = (x.as_ref().expect("single"), y.as_ref().expect("tp"));
        assert!(!x.token_ids.is_empty());
        assert_eq!(x.token_ids, y.token_ids, "{model} tp {tp} prompt {i}");
    }
    let t = sharded.telemetry();
    assert_eq!(t.ranks.len(), tp);
    for r in &t.ranks {
        assert!(r.forward_passes > 0 && r.collective_calls > 0, "{r:?}");
        assert!(
            r.peak_kv_cache_bytes > 0 && r.peak_activation_bytes > 0,
            "{r:?}"
        );
        assert!(
            r.peak_bytes >= r.weight_bytes + r.peak_kv_cache_bytes,
            "{r:?}"
        );
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn micro_llama_and_qwen2_match_the_single_device_engine_at_tp_2_and_4() {
    for family in ["llama", "qwen2"] {
        for tp in [2, 4] {
            // tp 4 > 2 kv heads: kv heads are replicated.
            for o in [opts(8, Some(512), true), opts(3, Some(4), false)] {
                assert_matches_single_device(path(&fixture(family)), tp, o);
            }
        }
    }
}

#[test]
fn mistral_and_phi_match_at_tp_2() {
    // mistral-micro has one kv head (replicated on both ranks); phi has biases everywhere.
    for family in ["mistral", "phi"] {
        assert_matches_single_device(path(&fixture(family)), 2, opts(8, Some(512), true));
    }
}

/// A generated Llama larger than the fixtures (8 heads, 4 kv heads, 4 layers).
fn larger_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SynthLlama {
        hidden_size: 256,
        intermediate_size: 688,
        num_layers: 4,
        num_heads: 8,
        num_kv_heads: 4,
        max_position_embeddings: 512,
        seed: 7,
    };
    write_synthetic_llama(dir.path(), &s).expect("write synthetic llama");
    dir
}

#[test]
fn generated_larger_model_matches_at_tp_2_and_4() {
    let dir = larger_model();
    for tp in [2, 4] {
        assert_matches_single_device(path(dir.path()), tp, opts(8, Some(512), true));
    }
}

#[test]
fn each_rank_holds_its_shard_plus_the_replicated_part() {
    let dir = larger_model();
    // hidden 256, ffn 688, 4 layers, 8 heads x 32, 4 kv heads, vocab 512, untied, f32.
    let (h, f, l, v, kv) = (256u64, 688u64, 4u64, 512u64, 128u64);
    let layer_sharded = 2 * h * h + 2 * h * kv + 3 * h * f;
    let replicated = v * h + l * 2 * h + h; // embedding, norms
    for tp in [1u64, 2, 4] {
        let mut e =
            TensorParallelEngine::load_cpu(path(dir.path()), tp as usize, opts(4, None, true))
                .expect("load");
        let _ = e.loglikelihood(&ll_requests());
        let ranks = e.rank_telemetry();
        assert_eq!(ranks.len(), tp as usize);
        // The LM head is vocabulary-sharded (512 splits evenly).
        let want = 4 * (replicated + (l * layer_sharded + v * h) / tp);
        for r in &ranks {
            assert_eq!(r.weight_bytes, want, "tp {tp} rank {}", r.rank);
        }
    }
}

#[test]
fn an_invalid_tp_is_refused_before_any_weight_is_read() {
    // The weights are unreadable: only config.json can have been consulted.
    let dir = scratch_copy("llama");
    std::fs::write(dir.path().join("model.safetensors"), b"not a checkpoint").expect("write");
    let model = path(dir.path());
    let err = |tp: usize, devices: &[DeviceSpec]| -> String {
        match TensorParallelEngine::load(model, tp, devices, LoadOptions::default()) {
            Ok(_) => panic!("tp {tp} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = err(3, &[DeviceSpec::Cpu; 3]);
    assert!(
        e.contains("tp 3 does not divide num_attention_heads 4"),
        "{e}"
    );
    assert!(e.contains("config.json"), "{e}");
    let e = err(0, &[]);
    assert!(e.contains("tp must be at least 1"), "{e}");
    let e = err(4, &[DeviceSpec::Cpu; 2]);
    assert!(e.contains("tp 4 needs 4 devices, but 2 are given"), "{e}");
    let e = err(2, &[DeviceSpec::Cpu, DeviceSpec::Cuda(0)]);
    assert!(e.contains("all CPU or all CUDA"), "{e}");
    // A valid tp gets as far as the weights and reports them.
    match TensorParallelEngine::load(model, 2, &[DeviceSpec::Cpu; 2], LoadOptions::default()) {
        Err(EngineError::Checkpoint { reason, .. }) => assert!(reason.contains("safetensors")),
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[test]
fn kv_heads_that_neither_split_nor_replicate_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SynthLlama {
        hidden_size: 96,
        intermediate_size: 96,
        num_layers: 1,
        num_heads: 6,
        num_kv_heads: 3,
        max_position_embeddings: 64,
        seed: 1,
    };
    write_synthetic_llama(dir.path(), &s).expect("write");
    // tp 2: 6 heads split, but 3 kv heads neither split over 2 nor replicate (2 % 3 != 0).
    let e = TensorParallelEngine::load_cpu(path(dir.path()), 2, LoadOptions::default())
        .expect_err("tp 2 over 3 kv heads");
    let e = e.to_string();
    assert!(
        e.contains("num_key_value_heads") && e.contains("tp 2"),
        "{e}"
    );
}

#[test]
fn tp_results_are_reproducible_run_to_run() {
    // Rank-order sums make the result independent of which rank thread arrives last.
    let dir = fixture("llama");
    let model = path(&dir);
    let run = || -> Vec<u64> {
        let mut e =
            TensorParallelEngine::load_cpu(model, 4, opts(8, Some(512), true)).expect("load");
        e.loglikelihood(&ll_requests())
            .into_iter()
            .map(|r| r.expect("scored").logprob.to_bits())
            .collect()
    };
    let first = run();
    for _ in 0..3 {
        assert_eq!(run(), first);
    }
}
