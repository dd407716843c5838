//! The one table that maps a `config.json` `architectures` entry to a model constructor.

use std::sync::Arc;

use crate::api::EngineError;
use crate::checkpoint::{ModelConfig, Weights};
use crate::models::CausalLm;
use crate::models::llama::{self, Llama, Variant};
use crate::models::phi::{self, Phi};
use crate::parallel::Comm;

type Build = fn(&ModelConfig, &Weights, &Arc<dyn Comm>) -> Result<Box<dyn CausalLm>, EngineError>;

/// A supported architecture.
pub struct Entry {
    pub architecture: &'static str,
    pub family: &'static str,
    pub build: Build,
    /// Pre-tokenizer split regex that transformers' tokenizer class for this family installs
    /// over whatever `tokenizer.json` declares (followed by byte-level mapping without regex).
    pub pretokenize_regex: Option<&'static str>,
}

/// transformers' `Qwen2Tokenizer` pre-tokenizer pattern (digits split one by one).
const QWEN2_PRETOKENIZE: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.architecture)
    }
}

fn llama_family(
    variant: Variant,
    family: &'static str,
) -> impl Fn(&ModelConfig, &Weights, &Arc<dyn Comm>) -> Result<Box<dyn CausalLm>, EngineError> {
    move |c, w, comm| {
        let cfg = llama::Config::from_model_config(c, variant)?;
        Ok(Box::new(Llama::load(w, cfg, comm, family)?) as Box<dyn CausalLm>)
    }
}

pub static REGISTRY: &[Entry] = &[
    Entry {
        architecture: "LlamaForCausalLM",
        family: "llama",
        build: |c, w, comm| llama_family(Variant::Llama, "llama")(c, w, comm),
        pretokenize_regex: None,
    },
    Entry {
        architecture: "MistralForCausalLM",
        family: "mistral",
        build: |c, w, comm| llama_family(Variant::Mistral, "mistral")(c, w, comm),
        pretokenize_regex: None,
    },
    Entry {
        architecture: "Qwen2ForCausalLM",
        family: "qwen2",
        build: |c, w, comm| llama_family(Variant::Qwen2, "qwen2")(c, w, comm),
        pretokenize_regex: Some(QWEN2_PRETOKENIZE),
    },
    Entry {
        architecture: "PhiForCausalLM",
        family: "phi",
        build: |c, w, comm| {
            let cfg = phi::Config::from_model_config(c)?;
            Ok(Box::new(Phi::load(w, cfg, comm, "phi")?) as Box<dyn CausalLm>)
        },
        pretokenize_regex: None,
    },
];

pub fn lookup(architecture: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.architecture == architecture)
}

/// Architecture names in registry order.
pub fn architectures() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| REGISTRY.iter().map(|e| e.architecture).collect())
}

/// The error for an architecture missing from the table.
pub fn unsupported(config: &ModelConfig) -> EngineError {
    EngineError::UnsupportedArchitecture {
        path: config.path.clone(),
        architecture: config.architecture.clone(),
        supported: architectures().iter().map(|s| s.to_string()).collect(),
    }
}
