//! assay-engines: the inference side of assay (engine API, model families, engines).

/// Values of `config.json` `architectures` that an engine can run.
pub fn supported_architectures() -> &'static [&'static str] {
    &[
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM",
        "PhiForCausalLM",
    ]
}
