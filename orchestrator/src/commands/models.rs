//! `assay models [--category C]`: the model catalog, with numbers from a local checkpoint when
//! one is present (its `path`, or the Hugging Face cache).
//!
//! Human output: a table `ID ARCHITECTURE PARAMS DTYPE LAYERS HIDDEN HEADS/KV MAX_POS LOCAL
//! RUNNABLE ORIGIN`. `LOCAL` is `yes`, `no`, or `invalid` (the reason goes to stderr).
//!
//! `--json` output (stable field names):
//! ```text
//! { "models": [ {
//!     "id": string, "hf_repo": string|null, "revision": string, "path": string|null,
//!     "dtype": "f32"|"f16"|"bf16", "chat": bool, "note": string|null,
//!     "runnable": bool,                       // an engine supports the architecture
//!     "arch": { "architecture", "params", "layers", "hidden", "heads", "kv_heads", "head_dim",
//!               "intermediate", "vocab", "tied_embeddings", "max_positions",
//!               "sliding_window": [window, layers]|null, "experts": [total, active]|null },
//!     "arch_source": "catalog"|"local",       // where `arch` came from
//!     "local": { "dir": string, "weight_bytes": int, "disk_bytes": int } | null,
//!     "local_error": string|null,             // a checkpoint was found but is unusable
//!     "origin": {"kind": "builtin"} | {"kind": "user", "path": string}
//! } ] }
//! ```
//! Models are sorted by id, or in the category's order with `--category`.

use crate::catalog::{self, Arch, Model, Origin};
use crate::printer::{Printer, human_count};
use std::path::{Path, PathBuf};

#[derive(Debug, serde::Serialize)]
struct Output<'a> {
    models: Vec<Entry<'a>>,
}

#[derive(Debug, serde::Serialize)]
struct Local {
    dir: PathBuf,
    weight_bytes: u64,
    disk_bytes: u64,
}

#[derive(Debug, serde::Serialize)]
struct Entry<'a> {
    id: &'a str,
    hf_repo: Option<&'a str>,
    revision: &'a str,
    path: Option<&'a Path>,
    dtype: &'static str,
    chat: bool,
    note: Option<&'a str>,
    runnable: bool,
    arch: Arch,
    arch_source: &'static str,
    local: Option<Local>,
    local_error: Option<String>,
    origin: &'a Origin,
}

fn entry(model: &Model) -> Entry<'_> {
    let (arch, local, local_error) = match catalog::inspect_local(model) {
        Ok(Some(found)) => {
            let local = Local {
                dir: found.dir,
                weight_bytes: found.weight_bytes,
                disk_bytes: found.disk_bytes,
            };
            (found.arch, Some(local), None)
        }
        Ok(None) => (model.arch.clone(), None, None),
        Err(e) => (model.arch.clone(), None, Some(e.to_string())),
    };
    Entry {
        id: &model.id,
        hf_repo: model.hf_repo.as_deref(),
        revision: &model.revision,
        path: model.path.as_deref(),
        dtype: model.dtype.as_str(),
        chat: model.chat,
        note: model.note.as_deref(),
        runnable: catalog::engine_supports(&arch.architecture),
        arch_source: if local.is_some() { "local" } else { "catalog" },
        arch,
        local,
        local_error,
        origin: &model.origin,
    }
}

pub fn run(
    category: Option<&str>,
    catalog_dir: Option<&Path>,
    printer: &Printer,
) -> anyhow::Result<u8> {
    let catalog = catalog::load(catalog_dir)?;
    let models: Vec<&Model> = match category {
        Some(name) => catalog.models_of(catalog.category(name)?),
        None => catalog.models.values().collect(),
    };
    let entries: Vec<Entry<'_>> = models.into_iter().map(entry).collect();
    for e in &entries {
        if let Some(err) = &e.local_error {
            printer.notice(format!(
                "model `{}`: local checkpoint not usable, using catalog numbers: {err}",
                e.id
            ));
        }
    }
    if printer.json {
        printer.json(&Output { models: entries })?;
        return Ok(crate::error::EXIT_OK);
    }
    if entries.is_empty() {
        printer.line("No models in the catalog.")?;
        return Ok(crate::error::EXIT_OK);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let a = &e.arch;
            vec![
                e.id.to_string(),
                a.architecture.clone(),
                human_count(a.params),
                e.dtype.to_string(),
                a.layers.to_string(),
                a.hidden.to_string(),
                format!("{}/{}", a.heads, a.kv_heads),
                a.max_positions.to_string(),
                match (&e.local, &e.local_error) {
                    (Some(_), _) => "yes",
                    (None, Some(_)) => "invalid",
                    (None, None) => "no",
                }
                .to_string(),
                if e.runnable { "yes" } else { "no" }.to_string(),
                super::origin_label(e.origin),
            ]
        })
        .collect();
    let headers = [
        "ID",
        "ARCHITECTURE",
        "PARAMS",
        "DTYPE",
        "LAYERS",
        "HIDDEN",
        "HEADS/KV",
        "MAX_POS",
        "LOCAL",
        "RUNNABLE",
        "ORIGIN",
    ];
    printer.table(&headers, &rows)?;
    Ok(crate::error::EXIT_OK)
}
