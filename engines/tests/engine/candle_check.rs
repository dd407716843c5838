//! candle-transformers' Llama on the same checkpoint as an independent second implementation:
//! its last-position logits must agree with this engine's.

use assay_engines::LoadOptions;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::llama;

use crate::util::{fixture, load};

#[test]
fn candle_transformers_llama_agrees_on_last_position() {
    let dir = fixture("llama");
    let cfg: llama::LlamaConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse");
    let cfg = cfg.into_config(false);
    let device = Device::Cpu;
    // SAFETY: the fixture is not modified while mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &device,
        )
    }
    .expect("vb");
    let model = llama::Llama::load(vb, &cfg).expect("candle llama");
    let eng = load("llama", LoadOptions::default());
    for text in [
        "The sun rises in the",
        "Question: Which continent is Kenya in?\nAnswer:",
    ] {
        let ids = eng.encode(text).expect("encode");
        let mut cache = llama::Cache::new(false, DType::F32, &cfg, &device).expect("cache");
        let input = Tensor::new(ids.as_slice(), &device)
            .expect("t")
            .unsqueeze(0)
            .expect("b");
        let logits = model.forward(&input, 0, &mut cache).expect("forward");
        let logits: Vec<f32> = logits.flatten_all().expect("flat").to_vec1().expect("vec");
        let theirs =
            candle_nn::ops::log_softmax(&Tensor::new(logits.as_slice(), &device).expect("t"), 0)
                .expect("lsm")
                .to_vec1::<f32>()
                .expect("vec");
        let (_, ours) = eng.token_logprobs(&ids).expect("ours");
        let max_diff = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - *b as f64).abs())
            .fold(0.0, f64::max);
        assert!(max_diff < 1e-4, "{text:?}: max diff {max_diff}");
    }
}
