//! The benchmark functions produce complete reports (no timing assertions: speed figures come
//! from running the benchmarks, not from tests).

use assay_engines::bench::{BenchOptions, SynthLlama, bench_model, write_synthetic_llama};
use assay_engines::{Engine, LightweightEngine, LoadOptions};

use crate::util::fixture;

#[test]
fn bench_report_is_complete_on_a_micro_model() {
    let opts = BenchOptions {
        prompt_tokens: 24,
        prefill_requests: 3,
        decode_tokens: 4,
        decode_batches: vec![1, 2],
        latency_requests: 5,
        ..BenchOptions::default()
    };
    let r = bench_model(fixture("phi").to_str().expect("utf-8"), &opts).expect("bench");
    assert!(r.prefill_tokens >= 3 * 24);
    assert!(r.prefill_tokens_per_s > 0.0 && r.load_s > 0.0);
    assert_eq!(r.ttft.count, 3);
    assert_eq!(r.latency.count, 5);
    assert_eq!(
        r.decode.iter().map(|d| d.batch).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(r.decode.iter().all(|d| d.tokens > 0));
    assert!(
        r.table_rows()
            .iter()
            .any(|(k, _)| k == "latency p50 / p95 / p99")
    );
    let json = serde_json::to_value(&r).expect("serializable");
    assert!(json["info"]["architecture"] == "PhiForCausalLM");
}

#[test]
fn synthetic_llama_is_deterministic_and_loads() {
    let spec = SynthLlama {
        hidden_size: 32,
        intermediate_size: 64,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        max_position_embeddings: 128,
        seed: 3,
    };
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    write_synthetic_llama(a.path(), &spec).expect("write a");
    write_synthetic_llama(b.path(), &spec).expect("write b");
    let bytes = |d: &std::path::Path| std::fs::read(d.join("model.safetensors")).expect("read");
    assert_eq!(bytes(a.path()), bytes(b.path()));
    let eng = LightweightEngine::load(a.path().to_str().expect("utf-8"), LoadOptions::default())
        .expect("load");
    assert_eq!(eng.info().architecture, "LlamaForCausalLM");
    let ids = eng.encode("the river").expect("encode");
    let (next, _) = eng.token_logprobs(&ids).expect("forward");
    assert!(next.iter().all(|x| x.is_finite() && *x < 0.0));
}
