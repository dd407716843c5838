//! The catalog: models, categories and datasets, parsed once into checked types.
//!
//! `load` reads the catalog embedded in the binary, layers a user directory over it
//! (`--catalog DIR` / `ASSAY_CATALOG`), and returns checked types or a `CatalogError` that names
//! the file, line, column and field.
pub mod raw;
pub mod types;
pub use types::*;

use std::path::{Path, PathBuf};

/// Any problem with catalog files. Displayed messages name file, line/column and field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Invalid(String),
}

/// Load the embedded catalog, with `overlay` (a user's catalog directory) layered over it.
pub fn load(overlay: Option<&Path>) -> Result<Catalog, CatalogError> {
    let _ = overlay;
    Err(CatalogError::Invalid("catalog loading: not yet implemented".into()))
}

/// A model's checkpoint found on local disk (a directory or an HF cache snapshot).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocalCheckpoint {
    pub dir: PathBuf,
    /// Architecture numbers read from its `config.json` (parameter count from the headers).
    pub arch: Arch,
    /// Exact bytes of all tensors, from the safetensors headers.
    pub weight_bytes: u64,
    /// Total size of the files in the directory.
    pub disk_bytes: u64,
}

/// Find `model`'s checkpoint on disk: its `path`, or the HF cache entry for `hf_repo`/`revision`.
pub fn find_local(model: &Model) -> Option<LocalCheckpoint> {
    let _ = model;
    None
}
