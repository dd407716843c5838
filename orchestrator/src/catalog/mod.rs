//! The catalog: models, categories and datasets, parsed once into checked types.
//!
//! `load` reads the catalog embedded in the binary (the repository's `categories/` and
//! `datasets/`, see `build.rs`), layers a user directory over it (`--catalog DIR` /
//! `ASSAY_CATALOG`, with the same layout), and returns checked types or a `CatalogError` that
//! names the file, line, column and field. On a name clash the user's entry wins; every entry
//! records its `Origin`. Setting `ASSAY_NO_BUILTIN_CATALOG=1` leaves the embedded catalog out
//! (only the `--catalog` directory is used).
//!
//! Layout of a catalog directory:
//! - `categories/models.yaml`: the model catalog (`models.rs`).
//! - `categories/<file>.yaml` (or `.yml`): one category each (`categories.rs`).
//! - `datasets/<name>/manifest.yaml` and its data files (`datasets.rs`).
//!
//! Data files of embedded datasets are embedded too. A `Dataset`'s `dir` and `data_files` are
//! real paths for datasets from a directory, and virtual paths `builtin:datasets/<name>/<file>`
//! for embedded ones; read data only through `read_data_file` / `read_rows`, which handle both.
//!
//! Readiness (`Catalog::readiness`, `ready.rs`): a category is READY when it is not declared
//! `not_ready`, has models and datasets, every dataset's data is present and valid with rows in
//! its test split (and enough few-shot examples), and every model's architecture is supported
//! by an engine.
pub mod categories;
pub mod datasets;
pub mod error;
pub mod lmeval;
pub mod local;
pub mod models;
pub mod raw;
pub mod ready;
pub mod source;
pub mod types;
pub mod vocab;
mod yaml;

pub use error::{CatalogError, Loc};
pub use lmeval::load_lmeval_task;
pub use local::{LocalError, inspect_local};
pub use ready::{Readiness, engine_supports};
pub use types::*;

use error::Locator;
use source::Source;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Load the embedded catalog, with `overlay` (a user's catalog directory) layered over it.
pub fn load(overlay: Option<&Path>) -> Result<Catalog, CatalogError> {
    let skip_builtin =
        std::env::var("ASSAY_NO_BUILTIN_CATALOG").is_ok_and(|v| !v.is_empty() && v != "0");
    let builtin = Source::Embedded(if skip_builtin {
        &[]
    } else {
        source::builtin_files()
    });
    let overlay = match overlay {
        None => None,
        // An absolute path, so origins and messages do not depend on the working directory.
        Some(dir) if dir.is_dir() => Some(Source::Dir(
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        )),
        Some(dir) => return Err(CatalogError::NoSuchDir(dir.display().to_string())),
    };
    load_sources(&builtin, overlay.as_ref())
}

/// A category file kept for reference checks after all layers are merged.
struct CategoryFile {
    label: String,
    text: String,
}

/// Load `builtin`, then `overlay` over it, and check every cross-reference.
pub fn load_sources(builtin: &Source, overlay: Option<&Source>) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::default();
    let mut files: BTreeMap<String, CategoryFile> = BTreeMap::new();
    for src in std::iter::once(builtin).chain(overlay) {
        let mut layer_files: BTreeMap<String, CategoryFile> = BTreeMap::new();
        let base = match src {
            Source::Dir(dir) => Some(dir.as_path()),
            Source::Embedded(_) => None,
        };
        let origin = src.origin();
        for name in src.files_in("categories")? {
            let rel = format!("categories/{name}");
            let label = src.label(&rel);
            let Some(bytes) = src.read(&rel)? else {
                continue;
            };
            if name == "models.yaml" || name == "models.yml" {
                for model in models::parse_models(&label, &bytes, &origin, base)? {
                    catalog.models.insert(model.id.clone(), model);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                let category = categories::parse_category(&label, &bytes, &origin)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if let Some(first) = layer_files.get(&category.name) {
                    return Err(CatalogError::Duplicate {
                        kind: "category",
                        name: category.name.clone(),
                        first: Locator::new(&first.label, &first.text).key("name"),
                        second: Locator::new(&label, &text).key("name"),
                    });
                }
                layer_files.insert(category.name.clone(), CategoryFile { label, text });
                catalog.categories.insert(category.name.clone(), category);
            }
        }
        files.extend(layer_files);
        for name in src.dirs_in("datasets")? {
            if let Some(dataset) = datasets::load_dataset(src, &name)? {
                catalog.datasets.insert(dataset.name.clone(), dataset);
            }
        }
    }
    check_references(&catalog, &files)?;
    Ok(catalog)
}

fn check_references(
    catalog: &Catalog,
    files: &BTreeMap<String, CategoryFile>,
) -> Result<(), CatalogError> {
    for category in catalog.categories.values() {
        let Some(file) = files.get(&category.name) else {
            continue;
        };
        let locator = Locator::new(&file.label, &file.text);
        for id in &category.models {
            if !catalog.models.contains_key(id) {
                return Err(CatalogError::UnknownRef {
                    at: locator.list_entry("models", id),
                    kind: "model",
                    name: id.clone(),
                    suggestions: crate::suggest::closest(
                        id,
                        catalog.models.keys().map(String::as_str),
                        3,
                    ),
                });
            }
        }
        for name in &category.datasets {
            if !catalog.datasets.contains_key(name) {
                return Err(CatalogError::UnknownRef {
                    at: locator.list_entry("datasets", name),
                    kind: "dataset",
                    name: name.clone(),
                    suggestions: crate::suggest::closest(
                        name,
                        catalog.datasets.keys().map(String::as_str),
                        3,
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Bytes of a dataset's data file for `split`, from the embedded table or from disk.
pub fn read_data_file(dataset: &Dataset, split: &str) -> Result<Cow<'static, [u8]>, CatalogError> {
    let Some(path) = dataset.data_files.get(split) else {
        return Err(CatalogError::Invalid {
            at: Loc::file(dataset.dir.join("manifest.yaml").display().to_string()),
            what: format!("dataset `{}`", dataset.name),
            field: "data_files".into(),
            message: format!("no split `{split}` in `data_files`"),
        });
    };
    let shown = path.display().to_string();
    if let Some(rel) = shown.strip_prefix(source::BUILTIN_PREFIX) {
        return source::builtin_file(rel)
            .map(Cow::Borrowed)
            .ok_or_else(|| CatalogError::Io {
                path: shown.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not in the built-in catalog",
                ),
            });
    }
    std::fs::read(path)
        .map(Cow::Owned)
        .map_err(|source| CatalogError::Io {
            path: shown,
            source,
        })
}

/// The rows (JSON objects) of a dataset's `split`, in any supported format (checked and
/// normalised for the dataset's `format`). The first malformed row is an error.
pub fn read_rows(
    dataset: &Dataset,
    split: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, CatalogError> {
    let bytes = read_data_file(dataset, split)?;
    let label = dataset
        .data_files
        .get(split)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if dataset.format.is_none()
        && crate::tasks::formats::FileFormat::from_name(&label)
            == Some(crate::tasks::formats::FileFormat::Jsonl)
    {
        return datasets::parse_jsonl_rows(&label, &bytes);
    }
    let parsed = crate::tasks::formats::read(&bytes, &label, dataset.format).map_err(|e| {
        CatalogError::Data {
            at: Loc::file(&label),
            message: e.message,
        }
    })?;
    if let Some(bad) = parsed.bad.first() {
        return Err(CatalogError::Data {
            at: Loc::at(&label, bad.line, 1),
            message: bad.reason.clone(),
        });
    }
    Ok(parsed.rows.into_iter().map(|r| r.fields).collect())
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
/// A checkpoint that is present but unreadable counts as absent; `inspect_local` says why.
pub fn find_local(model: &Model) -> Option<LocalCheckpoint> {
    inspect_local(model).ok().flatten()
}

/// `bytes` as UTF-8 text, or an error naming the line of the first bad byte.
pub(crate) fn utf8<'a>(label: &str, bytes: &'a [u8]) -> Result<&'a str, CatalogError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let column = good.len() - good.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1) + 1;
        CatalogError::Syntax {
            at: Loc::at(label, line, column),
            message: "not UTF-8 text".into(),
        }
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
