//! Prints the tensor-parallel figures (per-rank memory at tp 1, 2, 4; collective share of the
//! forward time) for the generated ~85M-parameter Llama as JSON.
//!
//! `cargo run --release -p assay-engines --example tp_figures [MODEL_DIR]`: without a
//! directory, the model is generated into a temporary one.

use assay_engines::bench::{SynthLlama, write_synthetic_llama};
use assay_engines::tensor_parallel::bench::{TpWorkload, tp_figures};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = std::env::temp_dir().join(format!("assay-tp-llama80m-{}", std::process::id()));
            write_synthetic_llama(&tmp, &SynthLlama::llama_80m())?;
            tmp.clone()
        }
    };
    let w = TpWorkload {
        requests: 8,
        context_tokens: 256,
        seed: 11,
    };
    let figures = tp_figures(dir.to_str().ok_or("non-UTF-8 path")?, &[1, 2, 4], &w);
    if std::env::args().nth(1).is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let figures = figures?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}
