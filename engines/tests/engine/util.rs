//! Fixture paths, reference loading and engine construction for the tests.

use std::path::PathBuf;

use assay_engines::{LightweightEngine, LoadOptions};
use serde_json::Value;

pub const FAMILIES: [&str; 4] = ["llama", "qwen2", "mistral", "phi"];

pub fn fixture(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{family}-micro"))
}

pub fn reference(family: &str) -> Value {
    let text =
        std::fs::read_to_string(fixture(family).join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json parses")
}

pub fn load(family: &str, opts: LoadOptions) -> LightweightEngine {
    LightweightEngine::load(fixture(family).to_str().expect("utf-8 path"), opts)
        .unwrap_or_else(|e| panic!("load {family}: {e}"))
}

pub fn opts(batch: usize, chunk: Option<usize>, reuse: bool) -> LoadOptions {
    LoadOptions {
        max_batch_size: batch,
        prefill_chunk: chunk,
        context_reuse: reuse,
        ..LoadOptions::default()
    }
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// Copies a fixture into a temporary directory so a test can damage it.
pub fn scratch_copy(family: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture(family)).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}
