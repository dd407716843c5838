//! Local checkpoints: a model's `path`, or its snapshot in the Hugging Face cache.
//!
//! The cache root is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; a
//! model lives in `models--<org>--<name>/snapshots/<commit>`, and a branch or tag name resolves
//! through `refs/<name>`. From a checkpoint we read `config.json` (architecture numbers) and the
//! safetensors headers (exact weight bytes and parameter count; sharded checkpoints through
//! `model.safetensors.index.json`). Tensor data is never read, and header lengths are bounded.

use assay_engines::hub_cache;

use super::LocalCheckpoint;
use super::models::{ArchInput, check_arch};
use super::types::{Arch, Model};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest safetensors JSON header accepted (the format's own limit is 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Largest `config.json` / index file read.
const MAX_JSON_BYTES: u64 = 64_000_000;

/// Why a checkpoint directory that exists could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("{path}: {message}")]
    Safetensors { path: String, message: String },
    #[error("{0}: no .safetensors weights")]
    NoWeights(String),
}

/// The directory holding `model`'s files, if present: its `path`, else its cache snapshot.
pub fn checkpoint_dir(model: &Model) -> Option<PathBuf> {
    checkpoint_dir_in(model, hub_cache::root().as_deref())
}

/// `checkpoint_dir` with an explicit hub cache root.
pub fn checkpoint_dir_in(model: &Model, hub_cache: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = &model.path
        && path.join("config.json").is_file()
    {
        return Some(path.clone());
    }
    let repo = model.hf_repo.as_ref()?;
    let repo_dir = hub_cache::repo_dir(hub_cache?, hub_cache::RepoKind::Model, repo);
    snapshot_dir(&repo_dir, &model.revision)
}

/// The snapshot `revision` names (see `assay_engines::hub_cache::snapshot`), when it holds a
/// checkpoint (`config.json`).
pub fn snapshot_dir(repo_dir: &Path, revision: &str) -> Option<PathBuf> {
    hub_cache::snapshot(repo_dir, Some(revision))
        .ok()
        .filter(|dir| dir.join("config.json").is_file())
}

/// `model`'s local checkpoint: `Ok(None)` when absent, an error when present but unusable.
pub fn inspect_local(model: &Model) -> Result<Option<LocalCheckpoint>, LocalError> {
    match checkpoint_dir(model) {
        None => Ok(None),
        Some(dir) => read_checkpoint(&dir, &model.arch).map(Some),
    }
}

/// Read a checkpoint directory. `fallback` supplies numbers `config.json` leaves out.
pub fn read_checkpoint(dir: &Path, fallback: &Arch) -> Result<LocalCheckpoint, LocalError> {
    let config_path = dir.join("config.json");
    let config = read_bounded(&config_path, MAX_JSON_BYTES)?;
    let shown = config_path.display().to_string();
    let mut input = parse_config(&config, fallback).map_err(|message| LocalError::Config {
        path: shown.clone(),
        message,
    })?;
    let totals = weight_totals(dir)?;
    input.params = totals.params;
    let arch = check_arch(&input).map_err(|e| LocalError::Config {
        path: shown,
        message: e.message,
    })?;
    Ok(LocalCheckpoint {
        dir: dir.to_path_buf(),
        arch,
        weight_bytes: totals.bytes,
        disk_bytes: disk_bytes(dir, 0),
    })
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, LocalError> {
    let io = |source| LocalError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(LocalError::Config {
            path: path.display().to_string(),
            message: format!("larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

/// Architecture numbers from `config.json` bytes (llama, mistral, qwen2, phi, gemma, mixtral
/// key names; a nested `text_config` is used when the top level has no layer count). Layers,
/// hidden size, heads and vocabulary are required; other numbers fall back to `fallback`.
pub fn parse_config(bytes: &[u8], fallback: &Arch) -> Result<ArchInput, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(top) = &value else {
        return Err("must be a JSON object".into());
    };
    let cfg = match top.get("text_config") {
        Some(Value::Object(text)) if !top.contains_key("num_hidden_layers") => text,
        _ => top,
    };
    let num = |keys: &[&str]| -> Result<Option<u64>, String> {
        for key in keys {
            match cfg.get(*key) {
                None | Some(Value::Null) => continue,
                Some(v) => {
                    return v.as_u64().map(Some).ok_or_else(|| {
                        format!("`{key}` must be a non-negative integer. Given: {v}")
                    });
                }
            }
        }
        Ok(None)
    };
    let architecture = match top
        .get("architectures")
        .or_else(|| cfg.get("architectures"))
    {
        Some(Value::Array(a)) => match a.first() {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("`architectures` must be a list of class names".into()),
        },
        None | Some(Value::Null) => fallback.architecture.clone(),
        Some(other) => {
            return Err(format!(
                "`architectures` must be a list of class names. Given: {other}"
            ));
        }
    };
    let required = |keys: &[&str]| -> Result<u64, String> {
        num(keys)?.ok_or_else(|| format!("has no `{}`", keys[0]))
    };
    let layers = required(&["num_hidden_layers", "n_layer"])?;
    let use_sliding_window = match cfg.get("use_sliding_window") {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    let sliding_window = assay_engines::models::sliding_window(
        &architecture,
        use_sliding_window,
        num(&["sliding_window"])?.map(|w| usize::try_from(w).unwrap_or(usize::MAX)),
    )
    .map(|w| w as u64);
    let experts = num(&["num_local_experts", "num_experts"])?;
    let experts_per_token = num(&["num_experts_per_tok"])?;
    let (experts, experts_per_token) = match (experts, experts_per_token) {
        (Some(e), Some(k)) => (Some(e), Some(k)),
        _ => (fallback.experts.map(|e| e.0), fallback.experts.map(|e| e.1)),
    };
    Ok(ArchInput {
        architecture,
        params: fallback.params,
        layers,
        hidden: required(&["hidden_size", "n_embd"])?,
        heads: required(&["num_attention_heads", "n_head"])?,
        kv_heads: num(&["num_key_value_heads"])?,
        head_dim: num(&["head_dim"])?,
        intermediate: num(&["intermediate_size", "n_inner"])?.unwrap_or(fallback.intermediate),
        vocab: required(&["vocab_size"])?,
        tied_embeddings: Some(
            match cfg
                .get("tie_word_embeddings")
                .or_else(|| top.get("tie_word_embeddings"))
            {
                Some(Value::Bool(b)) => *b,
                _ => fallback.tied_embeddings,
            },
        ),
        max_positions: num(&["max_position_embeddings", "n_positions"])?
            .unwrap_or(fallback.max_positions),
        sliding_layers: sliding_window.map(|_| {
            fallback
                .sliding_window
                .map_or(layers, |(_, n)| n)
                .min(layers)
        }),
        sliding_window,
        experts,
        experts_per_token,
    })
}

/// Sums over the tensors of a checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TensorTotals {
    pub tensors: u64,
    /// Exact bytes of tensor data.
    pub bytes: u64,
    /// Sum of element counts.
    pub params: u64,
}

impl TensorTotals {
    fn add(&mut self, other: TensorTotals) -> Option<()> {
        self.tensors = self.tensors.checked_add(other.tensors)?;
        self.bytes = self.bytes.checked_add(other.bytes)?;
        self.params = self.params.checked_add(other.params)?;
        Some(())
    }
}

/// Totals over the checkpoint's safetensors files (the index's shards, or every `*.safetensors`).
pub fn weight_totals(dir: &Path) -> Result<TensorTotals, LocalError> {
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<PathBuf> = if index.is_file() {
        let bytes = read_bounded(&index, MAX_JSON_BYTES)?;
        shards_from_index(&bytes)
            .map_err(|message| LocalError::Safetensors {
                path: index.display().to_string(),
                message,
            })?
            .into_iter()
            .map(|f| dir.join(f))
            .collect()
    } else {
        let entries = std::fs::read_dir(dir).map_err(|source| LocalError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors") && p.is_file())
            .collect();
        files.sort();
        files
    };
    if files.is_empty() {
        return Err(LocalError::NoWeights(dir.display().to_string()));
    }
    let mut totals = TensorTotals::default();
    for file in &files {
        let t = read_safetensors_header(file)?;
        totals.add(t).ok_or_else(|| LocalError::Safetensors {
            path: file.display().to_string(),
            message: "sizes overflow".into(),
        })?;
    }
    Ok(totals)
}

/// The shard file names of a `model.safetensors.index.json` (`weight_map` values), deduplicated.
pub fn shards_from_index(bytes: &[u8]) -> Result<BTreeSet<String>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(Value::Object(map)) = value.get("weight_map") else {
        return Err("needs a `weight_map` object".into());
    };
    let mut files = BTreeSet::new();
    for (tensor, file) in map {
        let Value::String(file) = file else {
            return Err(format!("`weight_map` entry `{tensor}` must be a file name"));
        };
        if file.is_empty() || file.contains('/') || file.contains('\\') || file == ".." {
            return Err(format!(
                "`weight_map` entry `{tensor}` must be a file name in the same directory. Given: {file:?}"
            ));
        }
        files.insert(file.clone());
    }
    if files.is_empty() {
        return Err("`weight_map` is empty".into());
    }
    Ok(files)
}

/// Read one safetensors file's header (8-byte little-endian length, then JSON), not its data.
pub fn read_safetensors_header(path: &Path) -> Result<TensorTotals, LocalError> {
    let shown = path.display().to_string();
    let io = |source| LocalError::Io {
        path: shown.clone(),
        source,
    };
    let bad = |message: String| LocalError::Safetensors {
        path: shown.clone(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut prefix = [0u8; 8];
    if len < 8 {
        return Err(bad(format!(
            "file of {len} bytes is too short for a safetensors header"
        )));
    }
    file.read_exact(&mut prefix).map_err(io)?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES || n > len - 8 {
        return Err(bad(format!(
            "header length {n} exceeds the file ({len} bytes) or the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    let mut header = Vec::new();
    file.take(n).read_to_end(&mut header).map_err(io)?;
    parse_safetensors_header(&header, len - 8 - n).map_err(bad)
}

/// Totals from a safetensors JSON header; `data_len` is the size of the data section.
pub fn parse_safetensors_header(header: &[u8], data_len: u64) -> Result<TensorTotals, String> {
    let value: Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("header must be a JSON object".into());
    };
    let mut totals = TensorTotals::default();
    for (name, info) in &map {
        if name == "__metadata__" {
            continue;
        }
        let t = tensor_totals(info).map_err(|m| format!("tensor `{name}`: {m}"))?;
        let end = info
            .get("data_offsets")
            .and_then(|o| o.get(1))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if end > data_len {
            return Err(format!(
                "tensor `{name}`: data ends at {end}, past the {data_len}-byte data section"
            ));
        }
        totals.add(t).ok_or_else(|| "sizes overflow".to_string())?;
    }
    Ok(totals)
}

fn tensor_totals(info: &Value) -> Result<TensorTotals, String> {
    let dtype = info
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("needs a `dtype` string")?;
    let Some(Value::Array(shape)) = info.get("shape") else {
        return Err("needs a `shape` list".into());
    };
    let mut elements: u64 = 1;
    for dim in shape {
        let d = dim
            .as_u64()
            .ok_or_else(|| format!("shape entry {dim} is not a non-negative integer"))?;
        elements = elements.checked_mul(d).ok_or("shape overflows")?;
    }
    let offsets = match info.get("data_offsets") {
        Some(Value::Array(o)) if o.len() == 2 => (o[0].as_u64(), o[1].as_u64()),
        _ => return Err("needs `data_offsets` [begin, end]".into()),
    };
    let (Some(begin), Some(end)) = offsets else {
        return Err("`data_offsets` must be non-negative integers".into());
    };
    if end < begin {
        return Err(format!("`data_offsets` end {end} is before begin {begin}"));
    }
    let bytes = end - begin;
    if let Some(bits) = dtype_bits(dtype) {
        let expected = elements
            .checked_mul(bits)
            .map(|b| b.div_ceil(8))
            .ok_or("shape overflows")?;
        if expected != bytes {
            return Err(format!(
                "{elements} elements of {dtype} need {expected} bytes, `data_offsets` span {bytes}"
            ));
        }
    }
    Ok(TensorTotals {
        tensors: 1,
        bytes,
        params: elements,
    })
}

/// Bits per element of safetensors dtypes (`None` for names this reader does not know).
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 8,
        "F4" => 4,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" => 64,
        _ => return None,
    })
}

/// Total size of the files under `dir` (following the cache's symlinks), a few levels deep.
fn disk_bytes(dir: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.flatten() {
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => total = total.saturating_add(m.len()),
            Ok(m) if m.is_dir() && depth < 4 => {
                total = total.saturating_add(disk_bytes(&path, depth + 1))
            }
            _ => {}
        }
    }
    total
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
