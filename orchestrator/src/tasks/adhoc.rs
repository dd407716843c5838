//! A dataset from a data file given on the command line, without a manifest:
//! `assay datasets --file PATH [--format humaneval|gsm8k|mmlu]` (and the same for a run).
//!
//! The file is read in its format (by extension); the layout is the one named, else the one
//! its columns match ([`formats::mapping::detect`]). The layout supplies the whole manifest
//! (see [`formats::mapping`]); the file is the `test` split, and the dataset is named after
//! the file's stem. The result is checked by the catalog exactly as a manifest would be.

use super::formats::{self, mapping};
use crate::catalog::raw::RawDatasetManifest;
use crate::catalog::{CatalogError, DataLayout, Dataset, Loc};
use std::collections::BTreeMap;
use std::path::Path;

/// A checked `Dataset` for the data file `path`, read with `layout` (detected when `None`).
pub fn adhoc_dataset(path: &Path, layout: Option<DataLayout>) -> Result<Dataset, CatalogError> {
    let shown = path.display().to_string();
    let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(CatalogError::Data {
            at: Loc::file(&shown),
            message: "not a file name".into(),
        });
    };
    if formats::FileFormat::from_name(&file_name).is_none() {
        return Err(CatalogError::Data {
            at: Loc::file(&shown),
            message: format!(
                "not a supported data file (supported: .{})",
                formats::EXTENSIONS.join(", .")
            ),
        });
    }
    let layout = match layout {
        Some(l) => l,
        None => {
            let bytes = std::fs::read(path).map_err(|source| CatalogError::Io {
                path: shown.clone(),
                source,
            })?;
            let parsed = formats::read(&bytes, &shown, None).map_err(|e| CatalogError::Data {
                at: Loc::file(&shown),
                message: e.message,
            })?;
            let columns: Vec<String> = if parsed.columns.is_empty() {
                parsed
                    .rows
                    .first()
                    .map(|r| r.fields.keys().cloned().collect())
                    .unwrap_or_default()
            } else {
                parsed.columns.clone()
            };
            mapping::detect(&columns).ok_or_else(|| CatalogError::Data {
                at: Loc::file(&shown),
                message: format!(
                    "cannot tell which layout this file has (columns: {}); name one with --format {}, or write a manifest",
                    if columns.is_empty() { "none".to_string() } else { columns.join(", ") },
                    DataLayout::ALL.map(DataLayout::as_str).join("|")
                ),
            })?
        }
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name.as_str(), |(s, _)| s);
    let raw = RawDatasetManifest {
        task: stem.to_string(),
        description: None,
        data_files: BTreeMap::from([("test".to_string(), file_name.clone())]),
        hf: None,
        hf_config: None,
        hf_revision: None,
        format: Some(layout.as_str().to_string()),
        test_split: None,
        fewshot_split: None,
        output_type: String::new(),
        doc_to_text: String::new(),
        doc_to_target: String::new(),
        doc_to_choice: None,
        target_delimiter: None,
        fewshot_delimiter: None,
        num_fewshot: None,
        generation_kwargs: None,
        metric_list: Vec::new(),
        filter_list: None,
        repeats: None,
        chat: None,
        version: None,
    };
    let label = format!("{shown} (as {})", layout.as_str());
    crate::catalog::datasets::load_manifest_at(&label, "", raw, &dir)
}
