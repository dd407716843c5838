//! Hugging Face checkpoints: resolving a directory or hub-cache entry, reading `config.json`,
//! `generation_config.json`, `tokenizer.json` / `tokenizer_config.json` (BOS/EOS, chat
//! template), and memory-mapped single or sharded safetensors weights.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType as CDType, Device, Tensor};
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::api::{ChatMessage, EngineError};
use crate::hub_cache;

/// Resolves `spec` to a model directory: an existing directory, or `org/name` (optionally
/// `org/name@rev`) in the Hugging Face hub cache (see [`crate::hub_cache`]).
pub fn resolve_model_dir(spec: &str) -> Result<PathBuf, EngineError> {
    resolve_model_dir_in(spec, hub_cache::root())
}

/// [`resolve_model_dir`] against an explicit hub cache directory.
pub fn resolve_model_dir_in(spec: &str, cache: Option<PathBuf>) -> Result<PathBuf, EngineError> {
    let p = Path::new(spec);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let (repo, rev) = match spec.split_once('@') {
        Some((r, v)) => (r, Some(v)),
        None => (spec, None),
    };
    let not_found = |reason: String| EngineError::Checkpoint {
        path: p.to_path_buf(),
        reason,
    };
    if !repo.contains('/') || repo.starts_with('/') || repo.starts_with('.') {
        return Err(not_found("no such directory".into()));
    }
    let Some(cache) = cache else {
        return Err(not_found(
            "no such directory, and no Hugging Face cache directory could be determined".into(),
        ));
    };
    let entry = hub_cache::repo_dir(&cache, hub_cache::RepoKind::Model, repo);
    if !entry.is_dir() {
        return Err(not_found(format!(
            "no such directory and no hub cache entry {}",
            entry.display()
        )));
    }
    hub_cache::snapshot(&entry, rev).map_err(not_found)
}

/// `config.json` with its path, for field lookups that name the file in errors.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub json: Value,
    pub architecture: String,
}

impl ModelConfig {
    pub fn read(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join("config.json");
        let json = read_json(&path)?;
        let architecture = json
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .ok_or_else(|| EngineError::Config {
                path: path.clone(),
                field: "architectures".into(),
                reason: "missing or not a list of strings".into(),
            })?
            .to_string();
        Ok(ModelConfig {
            path,
            json,
            architecture,
        })
    }

    pub fn err(&self, field: &str, reason: impl Into<String>) -> EngineError {
        EngineError::Config {
            path: self.path.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.json.get(field).filter(|v| !v.is_null())
    }

    pub fn usize(&self, field: &str) -> Result<usize, EngineError> {
        self.opt_usize(field)?
            .ok_or_else(|| self.err(field, "missing (expected a non-negative integer)"))
    }

    pub fn opt_usize(&self, field: &str) -> Result<Option<usize>, EngineError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                self.err(field, format!("expected a non-negative integer, got {v}"))
            }),
        }
    }

    pub fn opt_f64(&self, field: &str) -> Result<Option<f64>, EngineError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a number, got {v}"))),
        }
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, EngineError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected true or false, got {v}"))),
        }
    }

    pub fn opt_str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(|v| v.as_str())
    }

    pub fn opt_value(&self, field: &str) -> Option<&Value> {
        self.get(field)
    }

    /// The checkpoint's declared dtype (`torch_dtype` or `dtype`).
    pub fn declared_dtype(&self) -> Option<&str> {
        self.opt_str("torch_dtype")
            .or_else(|| self.opt_str("dtype"))
    }
}

/// Token ids from `generation_config.json` (falling back to `config.json`).
#[derive(Debug, Clone, Default)]
pub struct GenerationConfig {
    pub eos_token_ids: Vec<u32>,
    pub bos_token_id: Option<u32>,
    pub pad_token_id: Option<u32>,
}

fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|n| n as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl GenerationConfig {
    pub fn read(dir: &Path, config: &ModelConfig) -> Result<Self, EngineError> {
        let path = dir.join("generation_config.json");
        let gen_json: Option<Value> = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_json(&path, &text)?),
            Err(_) => None,
        };
        let pick = |field: &str| {
            let from_gen = ids_of(gen_json.as_ref().and_then(|g| g.get(field)));
            if from_gen.is_empty() {
                ids_of(config.json.get(field))
            } else {
                from_gen
            }
        };
        Ok(GenerationConfig {
            eos_token_ids: pick("eos_token_id"),
            bos_token_id: pick("bos_token_id").first().copied(),
            pad_token_id: pick("pad_token_id").first().copied(),
        })
    }
}

/// `tokenizer.json` plus the pieces of `tokenizer_config.json` the engine uses.
#[derive(Debug, Clone)]
pub struct TokenizerBundle {
    pub path: PathBuf,
    pub tokenizer: Tokenizer,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub bos_token_id: Option<u32>,
    /// Whether encoding with special tokens prepends BOS (from the post-processor).
    pub adds_bos: bool,
    pub chat_template: Option<String>,
    pub model_max_length: Option<usize>,
    /// Ids of all special (added, `special: true`) tokens.
    pub special_ids: BTreeSet<u32>,
}

fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("content")
            .and_then(|c| c.as_str())
            .map(str::to_string),
        _ => None,
    }
}

impl TokenizerBundle {
    pub fn read(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(EngineError::Tokenizer {
                path,
                reason: "missing file (the engine needs a fast tokenizer, tokenizer.json)".into(),
            });
        }
        let tokenizer = Tokenizer::from_file(&path).map_err(|e| EngineError::Tokenizer {
            path: path.clone(),
            reason: format!("cannot parse: {e}"),
        })?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Value = match std::fs::read_to_string(&cfg_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| EngineError::Tokenizer {
                path: cfg_path.clone(),
                reason: format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            })?,
            Err(_) => Value::Null,
        };
        let bos_token = token_text(cfg.get("bos_token"));
        let eos_token = token_text(cfg.get("eos_token"));
        let bos_token_id = bos_token.as_deref().and_then(|t| tokenizer.token_to_id(t));
        let adds_bos = match (bos_token_id, tokenizer.encode("a", true)) {
            (Some(bos), Ok(enc)) => enc.get_ids().first() == Some(&bos),
            _ => false,
        };
        let chat_template = match cfg.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(str::to_string),
            _ => std::fs::read_to_string(dir.join("chat_template.jinja")).ok(),
        };
        let model_max_length = cfg
            .get("model_max_length")
            .and_then(|v| v.as_u64())
            .filter(|&n| n < 1 << 40)
            .map(|n| n as usize);
        let special_ids = tokenizer
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        Ok(TokenizerBundle {
            path,
            tokenizer,
            bos_token,
            eos_token,
            bos_token_id,
            adds_bos,
            chat_template,
            model_max_length,
            special_ids,
        })
    }

    /// Replaces the pre-tokenizer with `Split(regex, isolated)` + byte-level mapping, as
    /// transformers' family-specific tokenizer classes do.
    pub fn set_split_regex(&mut self, regex: &str) -> Result<(), EngineError> {
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::pre_tokenizers::sequence::Sequence;
        use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
        use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| EngineError::Tokenizer {
            path: self.path.clone(),
            reason: format!("pre-tokenizer regex: {e}"),
        })?;
        let seq = Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false)),
        ]);
        self.tokenizer
            .with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(seq)));
        Ok(())
    }

    /// Encodes with the tokenizer's post-processor (BOS where the checkpoint adds it).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode(text, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.tokenizer.decode(ids, true).map_err(|e| e.to_string())
    }

    /// Renders the chat template with minijinja (Python-compatible string methods).
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let err = |reason: String| EngineError::Tokenizer {
            path: self.path.with_file_name("tokenizer_config.json"),
            reason,
        };
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| err("no `chat_template` in tokenizer_config.json".into()))?;
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", template)
            .map_err(|e| err(format!("chat_template does not parse: {e}")))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| err(format!("chat_template: {e}")))?;
        tmpl.render(minijinja::context! {
            messages => messages.iter().map(|m| minijinja::context!{ role => m.role.clone(), content => m.content.clone() }).collect::<Vec<_>>(),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone().unwrap_or_default(),
            eos_token => self.eos_token.clone().unwrap_or_default(),
        })
        .map_err(|e| err(format!("chat_template failed to render: {e}")))
    }
}

/// Parses a checkpoint's JSON file; a syntax error names the file, line and column.
fn parse_json(path: &Path, text: &str) -> Result<Value, EngineError> {
    serde_json::from_str(text).map_err(|e| EngineError::Config {
        path: path.to_path_buf(),
        field: "(document)".into(),
        reason: format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ),
    })
}

/// Reads and parses a checkpoint's JSON file that must exist.
fn read_json(path: &Path) -> Result<Value, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    parse_json(path, &text)
}

/// The safetensors files of a checkpoint: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let json = read_json(&index)?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| EngineError::Config {
                path: index.clone(),
                field: "weight_map".into(),
                reason: "missing or not an object".into(),
            })?;
        let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
            return Err(EngineError::Checkpoint {
                path: missing.clone(),
                reason: format!("shard listed in {} is missing", index.display()),
            });
        }
        return Ok(paths);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(EngineError::Checkpoint {
        path: dir.to_path_buf(),
        reason: "no model.safetensors or model.safetensors.index.json".into(),
    })
}

/// Memory-mapped weights with errors that name the checkpoint, architecture and tensor.
pub struct Weights {
    st: MmapedSafetensors,
    pub dir: PathBuf,
    pub architecture: String,
    pub device: Device,
    pub dtype: CDType,
    pub storage_bytes: u64,
    /// Bytes of the tensors handed out so far (what this loader's owner holds).
    loaded_bytes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights").field("dir", &self.dir).finish()
    }
}

impl Weights {
    pub fn open(
        dir: &Path,
        architecture: &str,
        device: &Device,
        dtype: CDType,
    ) -> Result<Self, EngineError> {
        let files = weight_files(dir)?;
        for f in &files {
            check_safetensors_header(f)?;
        }
        // SAFETY: the files are mapped read-only; the checkpoint must not be modified while
        // the engine runs (the same contract as every safetensors mmap loader).
        let st =
            unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| EngineError::Checkpoint {
                path: files.first().cloned().unwrap_or_else(|| dir.to_path_buf()),
                reason: format!("invalid safetensors: {e}"),
            })?;
        let storage_bytes = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        Ok(Weights {
            st,
            dir: dir.to_path_buf(),
            architecture: architecture.to_string(),
            device: device.clone(),
            dtype,
            storage_bytes,
            loaded_bytes: Default::default(),
        })
    }

    /// Bytes of the tensors returned by [`Weights::get`] and [`Weights::get_narrow`] so far
    /// (after conversion to the engine dtype).
    pub fn loaded_bytes(&self) -> u64 {
        self.loaded_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn converted(&self, name: &str, t: Tensor) -> Result<Tensor, EngineError> {
        let t = t
            .to_dtype(self.dtype)
            .and_then(|t| t.to_device(&self.device))
            .map_err(|e| self.err(name, format!("cannot convert: {e}")))?;
        let bytes = (t.elem_count() * t.dtype().size_in_bytes()) as u64;
        self.loaded_bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        Ok(t)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.st.get(name).is_ok()
    }

    fn err(&self, name: &str, reason: String) -> EngineError {
        EngineError::Weights {
            path: self.dir.clone(),
            architecture: self.architecture.clone(),
            tensor: name.to_string(),
            reason,
        }
    }

    /// The dtype and mapped bytes of tensor `name`, whose shape must be `shape` (as
    /// `config.json` implies).
    fn view(&self, name: &str, shape: &[usize]) -> Result<(CDType, &[u8]), EngineError> {
        let view = self
            .st
            .get(name)
            .map_err(|_| self.err(name, "missing from the checkpoint".into()))?;
        if view.shape() != shape {
            return Err(self.err(
                name,
                format!("shape {:?}, config.json implies {:?}", view.shape(), shape),
            ));
        }
        let dtype = CDType::try_from(view.dtype())
            .map_err(|e| self.err(name, format!("cannot load: {e}")))?;
        Ok((dtype, view.data()))
    }

    /// Loads `name`, checks its shape, converts to the engine dtype on the engine device.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, EngineError> {
        self.view(name, shape)?;
        let t = self
            .st
            .load(name, &Device::Cpu)
            .map_err(|e| self.err(name, format!("cannot load: {e}")))?;
        self.converted(name, t)
    }

    /// Loads rows/columns `[start, start+len)` of `name` along `dim` (tensor-parallel shards).
    pub fn get_narrow(
        &self,
        name: &str,
        shape: &[usize],
        dim: usize,
        start: usize,
        len: usize,
    ) -> Result<Tensor, EngineError> {
        if shape.get(dim) == Some(&len) && start == 0 {
            return self.get(name, shape);
        }
        let (dtype, data) = self.view(name, shape)?;
        if dim >= shape.len() || start + len > shape[dim] {
            return Err(self.err(
                name,
                format!(
                    "shard [{start}, {}) along dim {dim} is outside {shape:?}",
                    start + len
                ),
            ));
        }
        // Copy only the shard out of the mapped file: the rows (dim 0) or, for each outer
        // index, the slice of the inner block (any other dim).
        let elem = dtype.size_in_bytes();
        let inner: usize = shape[dim + 1..].iter().product::<usize>() * elem;
        let outer: usize = shape[..dim].iter().product();
        let block = shape[dim] * inner;
        let mut raw = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let from = o * block + start * inner;
            raw.extend_from_slice(&data[from..from + len * inner]);
        }
        let mut narrowed = shape.to_vec();
        narrowed[dim] = len;
        let t = Tensor::from_raw_buffer(&raw, dtype, &narrowed, &Device::Cpu)
            .map_err(|e| self.err(name, format!("cannot shard: {e}")))?;
        self.converted(name, t)
    }
}

/// Checks that the header of a safetensors file is readable and that the file holds every
/// byte its header promises (catches truncated downloads before mmap).
fn check_safetensors_header(path: &Path) -> Result<(), EngineError> {
    use std::io::Read;
    let bad = |reason: String| EngineError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| bad(format!("cannot stat: {e}")))?
        .len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| bad(format!("truncated safetensors: {len} bytes, no header")))?;
    let header_len = u64::from_le_bytes(n);
    if header_len > 100_000_000 || 8 + header_len > len {
        return Err(bad(format!(
            "corrupt or truncated safetensors: header claims {header_len} bytes, file has {len}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header)
        .map_err(|e| bad(format!("cannot read header: {e}")))?;
    let json: Value = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("corrupt safetensors header: {e}")))?;
    let data_end = json
        .as_object()
        .map(|o| {
            o.values()
                .filter_map(|t| t.get("data_offsets")?.as_array()?.get(1)?.as_u64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    if 8 + header_len + data_end > len {
        return Err(bad(format!(
            "truncated safetensors: tensors need {} bytes, file has {len}",
            8 + header_len + data_end
        )));
    }
    Ok(())
}
