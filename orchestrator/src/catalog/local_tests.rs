//! Local checkpoints built on the fly: config.json plus safetensors headers (with tiny data).

use super::*;
use crate::catalog::types::{DType, Origin};
use std::fs;

fn fallback() -> Arch {
    Arch {
        architecture: "LlamaForCausalLM".into(),
        params: 999,
        layers: 1,
        hidden: 8,
        heads: 2,
        kv_heads: 2,
        head_dim: 4,
        intermediate: 8,
        vocab: 8,
        tied_embeddings: false,
        max_positions: 8,
        sliding_window: None,
        experts: None,
    }
}

const CONFIG: &str = r#"{
  "architectures": ["MistralForCausalLM"],
  "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
  "head_dim": 32, "intermediate_size": 176, "vocab_size": 512, "max_position_embeddings": 4096,
  "sliding_window": 16, "tie_word_embeddings": true
}"#;

/// Write a safetensors file with the given `(name, dtype, shape)` tensors (zero data).
fn write_safetensors(path: &Path, tensors: &[(&str, &str, &[u64])]) -> std::io::Result<u64> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * if *dtype == "F32" { 4 } else { 2 };
        header.insert((*name).into(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    let json = serde_json::Value::Object(header).to_string();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend(std::iter::repeat_n(0u8, offset as usize));
    fs::write(path, out)?;
    Ok(offset)
}

fn model(path: Option<PathBuf>, repo: Option<&str>, revision: &str) -> Model {
    Model {
        id: "m".into(),
        hf_repo: repo.map(str::to_string),
        revision: revision.into(),
        path,
        dtype: DType::Bf16,
        chat: true,
        arch: fallback(),
        note: None,
        endpoint: None,
        origin: Origin::Builtin,
    }
}

#[test]
fn reads_config_and_headers() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    fs::write(tmp.path().join("config.json"), CONFIG)?;
    let bytes = write_safetensors(
        &tmp.path().join("model.safetensors"),
        &[
            ("embed", "BF16", &[512, 64]),
            ("norm", "F32", &[64]),
            ("q", "BF16", &[128, 64]),
        ],
    )?;
    let local =
        inspect_local(&model(Some(tmp.path().to_path_buf()), None, "main"))?.ok_or("not found")?;
    assert_eq!(local.weight_bytes, bytes);
    assert_eq!(local.weight_bytes, 512 * 64 * 2 + 64 * 4 + 128 * 64 * 2);
    assert_eq!(local.arch.params, 512 * 64 + 64 + 128 * 64);
    assert_eq!(local.arch.architecture, "MistralForCausalLM");
    assert_eq!(
        (
            local.arch.layers,
            local.arch.hidden,
            local.arch.heads,
            local.arch.kv_heads
        ),
        (2, 64, 4, 1)
    );
    assert_eq!(local.arch.head_dim, 32);
    assert_eq!(local.arch.sliding_window, Some((16, 2)));
    assert!(local.arch.tied_embeddings);
    assert!(local.disk_bytes > local.weight_bytes);
    Ok(())
}

#[test]
fn sharded_checkpoints_sum_all_shards() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    fs::write(tmp.path().join("config.json"), CONFIG)?;
    let a = write_safetensors(
        &tmp.path().join("model-00001-of-00002.safetensors"),
        &[("a", "F32", &[10, 10])],
    )?;
    let b = write_safetensors(
        &tmp.path().join("model-00002-of-00002.safetensors"),
        &[("b", "BF16", &[3, 5]), ("c", "BF16", &[7])],
    )?;
    // A stray file not named by the index is not counted.
    write_safetensors(
        &tmp.path().join("consolidated.safetensors"),
        &[("z", "F32", &[1000])],
    )?;
    fs::write(
        tmp.path().join("model.safetensors.index.json"),
        r#"{"metadata": {"total_size": 0}, "weight_map": {"a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}"#,
    )?;
    let totals = weight_totals(tmp.path())?;
    assert_eq!(
        totals,
        TensorTotals {
            tensors: 3,
            bytes: a + b,
            params: 100 + 15 + 7
        }
    );
    fs::remove_file(tmp.path().join("model-00002-of-00002.safetensors"))?;
    assert!(weight_totals(tmp.path()).is_err());
    Ok(())
}

#[test]
fn hf_cache_snapshots_resolve_branches() -> Result<(), Box<dyn std::error::Error>> {
    let cache = tempfile::tempdir()?;
    let repo = cache.path().join("models--org--tiny");
    let snap = repo.join("snapshots/0123abcd");
    fs::create_dir_all(&snap)?;
    fs::create_dir_all(repo.join("refs"))?;
    fs::write(repo.join("refs/main"), "0123abcd\n")?;
    fs::write(snap.join("config.json"), CONFIG)?;
    write_safetensors(&snap.join("model.safetensors"), &[("a", "BF16", &[4])])?;

    let by_branch = model(None, Some("org/tiny"), "main");
    assert_eq!(
        checkpoint_dir_in(&by_branch, Some(cache.path())),
        Some(snap.clone())
    );
    let by_commit = model(None, Some("org/tiny"), "0123abcd");
    assert_eq!(
        checkpoint_dir_in(&by_commit, Some(cache.path())),
        Some(snap.clone())
    );
    let other_branch = model(None, Some("org/tiny"), "dev");
    assert_eq!(checkpoint_dir_in(&other_branch, Some(cache.path())), None);
    let other_repo = model(None, Some("org/huge"), "main");
    assert_eq!(checkpoint_dir_in(&other_repo, Some(cache.path())), None);
    // A `path` without config.json falls through to the cache.
    let with_empty_path = model(Some(cache.path().join("nothing")), Some("org/tiny"), "main");
    assert_eq!(
        checkpoint_dir_in(&with_empty_path, Some(cache.path())),
        Some(snap)
    );
    Ok(())
}

#[test]
fn unusable_checkpoints_say_why() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let m = model(Some(tmp.path().to_path_buf()), None, "main");
    assert!(
        inspect_local(&m)?.is_none(),
        "no config.json: not a checkpoint"
    );

    fs::write(tmp.path().join("config.json"), CONFIG)?;
    let msg = inspect_local(&m)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.ends_with("no .safetensors weights"), "{msg}");
    assert!(find_local_is_none(&m));

    write_safetensors(
        &tmp.path().join("model.safetensors"),
        &[("a", "BF16", &[4])],
    )?;
    fs::write(
        tmp.path().join("config.json"),
        CONFIG.replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3"),
    )?;
    let msg = inspect_local(&m)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("config.json: `heads` (4) must be a multiple of `kv_heads`. Given: 3"),
        "{msg}"
    );

    fs::write(tmp.path().join("config.json"), "{\"hidden_size\": 64}")?;
    let msg = inspect_local(&m)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.ends_with("config.json: has no `num_hidden_layers`"),
        "{msg}"
    );
    Ok(())
}

fn find_local_is_none(m: &Model) -> bool {
    crate::catalog::find_local(m).is_none()
}

#[test]
fn config_variants() -> Result<(), String> {
    // Qwen2: sliding window off; phi: null kv heads; nested text_config; Mixtral experts.
    let qwen = r#"{"architectures": ["Qwen2ForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 1, "vocab_size": 9,
        "max_position_embeddings": 32, "sliding_window": 4096, "use_sliding_window": false}"#;
    let a = check_arch(&parse_config(qwen.as_bytes(), &fallback())?).map_err(|e| e.message)?;
    assert_eq!(a.sliding_window, None);
    // Without `use_sliding_window`, Qwen2 has no window (transformers' default), as the
    // engine loads it; Mistral has one.
    let qwen_default = qwen.replace(r#", "use_sliding_window": false"#, "");
    let a =
        check_arch(&parse_config(qwen_default.as_bytes(), &fallback())?).map_err(|e| e.message)?;
    assert_eq!(a.sliding_window, None);
    let mistral = qwen_default.replace("Qwen2ForCausalLM", "MistralForCausalLM");
    let a = check_arch(&parse_config(mistral.as_bytes(), &fallback())?).map_err(|e| e.message)?;
    assert_eq!(a.sliding_window.map(|w| w.0), Some(4096));
    let phi = r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
        "num_key_value_heads": null, "vocab_size": 9}"#;
    let a = check_arch(&parse_config(phi.as_bytes(), &fallback())?).map_err(|e| e.message)?;
    assert_eq!(
        (a.kv_heads, a.head_dim, a.architecture.as_str()),
        (4, 16, "LlamaForCausalLM")
    );
    let nested = r#"{"architectures": ["X"], "text_config": {"num_hidden_layers": 3, "hidden_size": 64,
        "num_attention_heads": 4, "vocab_size": 9, "num_local_experts": 8, "num_experts_per_tok": 2}}"#;
    let a = check_arch(&parse_config(nested.as_bytes(), &fallback())?).map_err(|e| e.message)?;
    assert_eq!(
        (a.layers, a.experts, a.architecture.as_str()),
        (3, Some((8, 2)), "X")
    );
    Ok(())
}
