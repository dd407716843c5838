//! Runs the lightweight-engine benchmarks.
//!
//! ```text
//! cargo run --release -p assay-engines --example bench -- report MODEL_DIR
//! cargo run --release -p assay-engines --example bench -- figures [DIR]   # writes an ~80M Llama to DIR first
//! ```
//! Prints JSON.

use std::path::PathBuf;

use assay_engines::bench::{
    BenchOptions, FiguresOptions, SynthLlama, bench_model, figures, write_synthetic_llama,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("report") => {
            let dir = args.get(1).ok_or("usage: bench report MODEL_DIR")?;
            let report = bench_model(dir, &BenchOptions::default())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Some("figures") => {
            let dir = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("assay-llama-80m"));
            if !dir.join("model.safetensors").is_file() {
                write_synthetic_llama(&dir, &SynthLlama::llama_80m())?;
            }
            let f = figures(
                dir.to_str().ok_or("non-UTF-8 path")?,
                &FiguresOptions::default(),
                &mut |name, value| eprintln!("{name} {value:.3}"),
            )?;
            println!("{}", serde_json::to_string_pretty(&f)?);
        }
        _ => return Err("usage: bench report MODEL_DIR | bench figures [DIR]".into()),
    }
    Ok(())
}
