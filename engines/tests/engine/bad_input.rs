//! Bad checkpoints and bad requests: each gives a clear error (naming the file, tensor or
//! field) or documented behaviour, never a panic. Also sharded and hub-cache loading.

use std::collections::HashMap;

use assay_engines::checkpoint::resolve_model_dir_in;
use assay_engines::{
    DeviceSpec, Engine, EngineError, GenerateRequest, LightweightEngine, LoadOptions,
    LoglikelihoodRequest, RequestError, Sampling,
};

use crate::util::{fixture, load, opts, reference, scratch_copy};

fn load_err(dir: &std::path::Path) -> EngineError {
    match LightweightEngine::load(dir.to_str().expect("utf-8"), LoadOptions::default()) {
        Ok(_) => panic!("expected an error loading {}", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_directory_names_the_path() {
    let e = load_err(std::path::Path::new("/nonexistent/model-dir"));
    assert!(matches!(e, EngineError::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/model-dir"), "{e}");
}

#[test]
fn missing_files_are_named() {
    for (file, needle) in [
        ("config.json", "config.json"),
        ("tokenizer.json", "tokenizer.json"),
        ("model.safetensors", "model.safetensors"),
    ] {
        let dir = scratch_copy("llama");
        std::fs::remove_file(dir.path().join(file)).expect("remove");
        let e = load_err(dir.path());
        assert!(e.to_string().contains(needle), "{file}: {e}");
    }
}

#[test]
fn invalid_config_json_names_line() {
    let dir = scratch_copy("llama");
    std::fs::write(
        dir.path().join("config.json"),
        "{\n  \"architectures\": [\n",
    )
    .expect("write");
    let e = load_err(dir.path());
    assert!(matches!(e, EngineError::Config { .. }), "{e}");
    assert!(e.to_string().contains("line"), "{e}");
}

#[test]
fn missing_config_field_is_named() {
    let dir = scratch_copy("qwen2");
    let path = dir.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    cfg.as_object_mut().expect("object").remove("hidden_size");
    std::fs::write(&path, cfg.to_string()).expect("write");
    let e = load_err(dir.path());
    assert!(e.to_string().contains("hidden_size"), "{e}");
}

#[test]
fn truncated_safetensors_is_reported() {
    let dir = scratch_copy("mistral");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let e = load_err(dir.path());
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn corrupt_safetensors_header_is_reported() {
    let dir = scratch_copy("mistral");
    let path = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&path).expect("read");
    for b in bytes.iter_mut().skip(8).take(40) {
        *b = b'#';
    }
    std::fs::write(&path, &bytes).expect("write");
    let e = load_err(dir.path());
    assert!(e.to_string().contains("corrupt"), "{e}");
}

fn rewrite_weights(
    dir: &std::path::Path,
    edit: impl Fn(&mut HashMap<String, candle_core::Tensor>),
) {
    let path = dir.join("model.safetensors");
    let mut tensors =
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu).expect("load");
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).expect("save");
}

#[test]
fn missing_tensor_names_tensor_and_architecture() {
    let dir = scratch_copy("phi");
    rewrite_weights(dir.path(), |t| {
        t.remove("model.layers.1.mlp.fc2.bias");
    });
    let e = load_err(dir.path());
    let msg = e.to_string();
    assert!(matches!(e, EngineError::Weights { .. }), "{msg}");
    assert!(
        msg.contains("model.layers.1.mlp.fc2.bias") && msg.contains("PhiForCausalLM"),
        "{msg}"
    );
}

#[test]
fn tokenizer_larger_than_vocab_is_rejected() {
    let dir = scratch_copy("llama");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("\"vocab_size\": 512", "\"vocab_size\": 300");
    std::fs::write(&path, text).expect("write");
    let e = load_err(dir.path());
    assert!(matches!(e, EngineError::Tokenizer { .. }), "{e}");
    assert!(
        e.to_string().contains("512") && e.to_string().contains("300"),
        "{e}"
    );
}

#[test]
fn unsupported_architecture_lists_supported_ones() {
    let dir = scratch_copy("llama");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("LlamaForCausalLM", "GPTNeoXForCausalLM");
    std::fs::write(&path, text).expect("write");
    let e = load_err(dir.path());
    let msg = e.to_string();
    assert!(msg.contains("GPTNeoXForCausalLM"), "{msg}");
    for arch in assay_engines::supported_architectures() {
        assert!(msg.contains(arch), "{msg}");
    }
}

#[test]
#[cfg_attr(feature = "cuda", ignore = "only meaningful in a build without CUDA")]
fn cuda_without_feature_is_actionable() {
    let opts = LoadOptions {
        device: DeviceSpec::Cuda(0),
        ..LoadOptions::default()
    };
    let r = LightweightEngine::load(fixture("llama").to_str().expect("utf-8"), opts);
    let e = r.expect_err("no CUDA in this build");
    assert!(e.to_string().contains("--features cuda"), "{e}");
}

#[test]
#[cfg_attr(feature = "cuda", ignore = "a CUDA build may pick the GPU")]
fn auto_device_falls_back_to_cpu_and_says_so() {
    let opts = LoadOptions {
        device: DeviceSpec::Auto,
        ..LoadOptions::default()
    };
    let eng =
        LightweightEngine::load(fixture("llama").to_str().expect("utf-8"), opts).expect("load");
    assert!(
        eng.info().device.contains("running on CPU"),
        "{}",
        eng.info().device
    );
}

#[test]
fn long_context_is_left_truncated_and_counted() {
    let r = reference("llama");
    let case = &r["loglikelihood"][0];
    let ctx = case["context"].as_str().expect("ctx");
    let cont = case["continuation"].as_str().expect("cont");
    let max = 10;
    let mut eng = load(
        "llama",
        LoadOptions {
            max_seq_len: Some(max),
            ..opts(4, None, true)
        },
    );
    let out = eng.loglikelihood(&[LoglikelihoodRequest {
        context: ctx.to_string(),
        continuation: cont.to_string(),
    }]);
    let got = out[0].as_ref().expect("scored");
    let ctx_ids = crate::util::ids(&case["context_ids"]);
    let cont_ids = crate::util::ids(&case["continuation_ids"]);
    let whole: Vec<u32> = ctx_ids.iter().chain(&cont_ids).copied().collect();
    let dropped = whole.len() - (max + 1);
    assert_eq!(got.context_tokens_truncated, dropped);
    // Same number as scoring the kept window directly.
    let kept = &whole[dropped..];
    let unbounded = load("llama", LoadOptions::default());
    let (next, _) = unbounded.token_logprobs(kept).expect("forward");
    let want: f64 = next[next.len() - cont_ids.len()..].iter().sum();
    assert!(
        (got.logprob - want).abs() < 1e-4,
        "{} vs {want}",
        got.logprob
    );
    let tel = eng.telemetry();
    assert_eq!((tel.truncated_requests, tel.truncated_tokens), (1, dropped));

    // Generation keeps the last max_len - max_gen_toks prompt tokens.
    let out = eng.generate(&[GenerateRequest {
        prompt: ctx.to_string(),
        until: vec![],
        max_gen_toks: 4,
        sampling: Sampling::Greedy,
    }]);
    let g = out[0].as_ref().expect("generate");
    assert_eq!(g.prompt_tokens, max - 4);
    assert!(g.prompt_tokens_truncated > 0);
    // A request that cannot fit at all is an error for that request only.
    let out = eng.generate(&[GenerateRequest {
        prompt: "x".into(),
        until: vec![],
        max_gen_toks: max,
        sampling: Sampling::Greedy,
    }]);
    assert!(matches!(out[0], Err(RequestError::TooLong { .. })));
}

#[test]
fn empty_continuation_fails_only_that_request() {
    let mut eng = load("qwen2", opts(4, None, true));
    let out = eng.loglikelihood(&[
        LoglikelihoodRequest {
            context: "The sun rises in the".into(),
            continuation: "".into(),
        },
        LoglikelihoodRequest {
            context: "The sun rises in the".into(),
            continuation: " east".into(),
        },
        LoglikelihoodRequest {
            context: "".into(),
            continuation: " east".into(),
        },
    ]);
    assert!(matches!(out[0], Err(RequestError::EmptyContinuation)));
    assert!(out[1].as_ref().expect("ok").logprob < 0.0);
    // Empty context conditions on BOS.
    let got = out[2].as_ref().expect("ok");
    let cont = eng.encode(" east").expect("encode");
    let mut whole = vec![1u32];
    whole.extend(cont.iter().skip(1));
    let (next, _) = eng.token_logprobs(&whole).expect("forward");
    assert!((got.logprob - next.iter().sum::<f64>()).abs() < 1e-4);
}

#[test]
fn non_utf8_input_is_replaced_not_rejected() {
    // Text arrives as Rust strings; bytes that are not UTF-8 are converted lossily (U+FFFD) by
    // the caller, and the engine scores and generates from such text normally.
    let raw: &[u8] = b"caf\xe9 \xff\xfe and more";
    let text = String::from_utf8_lossy(raw).into_owned();
    let mut eng = load("phi", opts(4, None, true));
    let out = eng.loglikelihood(&[LoglikelihoodRequest {
        context: text.clone(),
        continuation: " \u{fffd}x".into(),
    }]);
    assert!(out[0].as_ref().expect("scored").logprob.is_finite());
    let out = eng.generate(&[GenerateRequest {
        prompt: text,
        until: vec!["\u{fffd}".into()],
        max_gen_toks: 8,
        sampling: Sampling::Greedy,
    }]);
    let g = out[0].as_ref().expect("generated");
    assert!(!g.text.contains('\u{fffd}'));
}

#[test]
fn sharded_checkpoint_loads_like_the_single_file() {
    let dir = scratch_copy("llama");
    let single = dir.path().join("model.safetensors");
    let tensors = candle_core::safetensors::load(&single, &candle_core::Device::Cpu).expect("load");
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut shards: [HashMap<String, candle_core::Tensor>; 2] = Default::default();
    let mut weight_map = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        let s = i % 2;
        shards[s].insert((*n).clone(), tensors[*n].clone());
        weight_map.insert(
            (*n).clone(),
            format!("model-0000{}-of-00002.safetensors", s + 1).into(),
        );
    }
    for (s, shard) in shards.iter().enumerate() {
        candle_core::safetensors::save(
            shard,
            dir.path()
                .join(format!("model-0000{}-of-00002.safetensors", s + 1)),
        )
        .expect("save");
    }
    std::fs::remove_file(&single).expect("remove");
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .expect("index");
    let sharded =
        LightweightEngine::load(dir.path().to_str().expect("utf-8"), LoadOptions::default())
            .expect("sharded");
    let whole = load("llama", LoadOptions::default());
    let ids = whole.encode("The sun rises in the east").expect("encode");
    assert_eq!(
        sharded.token_logprobs(&ids).expect("a").0,
        whole.token_logprobs(&ids).expect("b").0
    );

    // A shard listed in the index but absent is named.
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).expect("rm");
    let e = load_err(dir.path());
    assert!(
        e.to_string().contains("model-00002-of-00002.safetensors"),
        "{e}"
    );
}

#[test]
fn hub_cache_entries_resolve_through_refs() {
    let cache = tempfile::tempdir().expect("tmp");
    let entry = cache.path().join("models--acme--micro");
    let snap = entry.join("snapshots").join("abc123");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::create_dir_all(entry.join("refs")).expect("mkdir");
    std::fs::write(entry.join("refs/main"), "abc123\n").expect("ref");
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(fixture("qwen2").join(f), snap.join(f)).expect("copy");
    }
    let dir =
        resolve_model_dir_in("acme/micro", Some(cache.path().to_path_buf())).expect("resolve");
    assert_eq!(dir, snap);
    assert!(resolve_model_dir_in("acme/missing", Some(cache.path().to_path_buf())).is_err());
    let eng = LightweightEngine::load(dir.to_str().expect("utf-8"), LoadOptions::default())
        .expect("load");
    assert_eq!(eng.info().architecture, "Qwen2ForCausalLM");
}
