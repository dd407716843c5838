//! The demo model: a tiny Llama-architecture checkpoint (hidden 128, 4 layers, vocabulary 512)
//! created deterministically on first use, so `assay run demo` works anywhere without a
//! download. Its weights are random (a fixed seed through our own generator, splitmix64 with
//! Box-Muller), so its scores are near chance: it shows the pipeline, not a capability.
//!
//! It lives in `$XDG_CACHE_HOME/assay/models/demo-llama-h128-l4-v1` (else
//! `~/.cache/assay/models/...`): `config.json`, `generation_config.json`,
//! `tokenizer_config.json`, a byte-level BPE `tokenizer.json` (embedded in the binary) and
//! `model.safetensors` (f32). The catalog model `demo-llama` stands for it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The catalog id that stands for the demo checkpoint.
pub const MODEL_ID: &str = "demo-llama";
const DIR_NAME: &str = "demo-llama-h128-l4-v1";
const SEED: u64 = 0x5eed_0001;
const HIDDEN: usize = 128;
const LAYERS: usize = 4;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const INTERMEDIATE: usize = 352;
const VOCAB: usize = 512;
const TOKENIZER: &[u8] = include_bytes!("../../assets/demo/tokenizer.json");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("no cache directory: set XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error("creating the demo model in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the demo checkpoint lives.
pub fn model_dir() -> Result<PathBuf, DemoError> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .ok_or(DemoError::NoCacheDir)?;
    Ok(cache.join("assay").join("models").join(DIR_NAME))
}

/// The demo checkpoint's directory, created on first use.
pub fn ensure() -> Result<PathBuf, DemoError> {
    let dir = model_dir()?;
    if dir.join("model.safetensors").is_file() && dir.join("config.json").is_file() {
        return Ok(dir);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    // Written beside the final place, then renamed, so a half-written model is never used.
    let tmp = parent.join(format!(".{DIR_NAME}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    write_checkpoint(&tmp).map_err(io(&tmp))?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process finished first: use theirs.
        Err(_) if dir.join("model.safetensors").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(DemoError::Io {
            path: dir,
            source: e,
        }),
    }
}

/// Every file of the checkpoint into `dir`.
pub fn write_checkpoint(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("config.json"), config_json())?;
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3, "do_sample": false}"#,
    )?;
    std::fs::write(dir.join("tokenizer_config.json"), TOKENIZER_CONFIG)?;
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER)?;
    let mut f = std::fs::File::create(dir.join("model.safetensors"))?;
    f.write_all(&safetensors(&tensors()))?;
    f.sync_all()
}

const TOKENIZER_CONFIG: &str = r#"{
  "add_bos_token": true,
  "add_eos_token": false,
  "bos_token": "<s>",
  "eos_token": "</s>",
  "pad_token": "<pad>",
  "unk_token": "<unk>",
  "chat_template": "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}",
  "model_max_length": 2048,
  "tokenizer_class": "PreTrainedTokenizerFast"
}"#;

fn config_json() -> String {
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": VOCAB,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": false,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 3,
        "torch_dtype": "float32"
    })
    .to_string()
}

/// Tensor names and shapes in Hugging Face Llama layout, with their values.
fn tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = SplitMix(SEED);
    let mut out = Vec::new();
    let mut normal = |name: String, shape: Vec<usize>| {
        let n = shape.iter().product();
        let values = (0..n).map(|_| rng.normal() * 0.02).collect();
        (name, shape, values)
    };
    out.push(normal(
        "model.embed_tokens.weight".into(),
        vec![VOCAB, HIDDEN],
    ));
    let kv = KV_HEADS * HEAD_DIM;
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        for (name, shape) in [
            ("self_attn.q_proj", vec![HIDDEN, HIDDEN]),
            ("self_attn.k_proj", vec![kv, HIDDEN]),
            ("self_attn.v_proj", vec![kv, HIDDEN]),
            ("self_attn.o_proj", vec![HIDDEN, HIDDEN]),
            ("mlp.gate_proj", vec![INTERMEDIATE, HIDDEN]),
            ("mlp.up_proj", vec![INTERMEDIATE, HIDDEN]),
            ("mlp.down_proj", vec![HIDDEN, INTERMEDIATE]),
        ] {
            out.push(normal(format!("{p}.{name}.weight"), shape));
        }
    }
    out.push(normal("lm_head.weight".into(), vec![VOCAB, HIDDEN]));
    for l in 0..LAYERS {
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            out.push((
                format!("model.layers.{l}.{norm}.weight"),
                vec![HIDDEN],
                vec![1.0; HIDDEN],
            ));
        }
    }
    out.push(("model.norm.weight".into(), vec![HIDDEN], vec![1.0; HIDDEN]));
    out
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data.
fn safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::json!({"format": "pt", "created_by": "assay demo"}),
    );
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let end = offset + values.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for (_, _, values) in tensors {
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// splitmix64: a tiny, fixed generator, so the weights never change with a crate version.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkpoint_is_deterministic_and_loads() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_checkpoint(a.path()).unwrap();
        write_checkpoint(b.path()).unwrap();
        let wa = std::fs::read(a.path().join("model.safetensors")).unwrap();
        let wb = std::fs::read(b.path().join("model.safetensors")).unwrap();
        assert_eq!(crate::store::sha256_hex(&wa), crate::store::sha256_hex(&wb));
        let engine = assay_engines::load_lightweight(
            &a.path().display().to_string(),
            assay_engines::LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(engine.info().architecture, "LlamaForCausalLM");
        assert_eq!(engine.info().vocab_size, VOCAB);
    }
}
