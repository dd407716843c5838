//! `assay categories`: every category with READY / NOT READY and the reasons.
//!
//! Human output: a table `NAME STATUS MODELS DATASETS ORIGIN REASONS` (reasons joined by `; `).
//!
//! `--json` output (stable field names):
//! ```text
//! { "categories": [ {
//!     "name": string, "description": string,
//!     "ready": bool, "reasons": [string],          // empty when ready
//!     "models": [model id], "datasets": [dataset name],
//!     "origin": {"kind": "builtin"} | {"kind": "user", "path": string}
//! } ] }
//! ```
//! Categories are sorted by name. Exit code 0 whether or not categories are ready; 2 when the
//! catalog itself is invalid.

use crate::catalog::{self, Origin};
use crate::printer::Printer;
use std::path::Path;

#[derive(Debug, serde::Serialize)]
struct Output<'a> {
    categories: Vec<Entry<'a>>,
}

#[derive(Debug, serde::Serialize)]
struct Entry<'a> {
    name: &'a str,
    description: &'a str,
    ready: bool,
    reasons: Vec<String>,
    models: &'a [String],
    datasets: &'a [String],
    origin: &'a Origin,
}

pub fn run(catalog_dir: Option<&Path>, printer: &Printer) -> anyhow::Result<u8> {
    let catalog = catalog::load(catalog_dir)?;
    let entries: Vec<Entry<'_>> = catalog
        .categories
        .values()
        .map(|c| {
            let readiness = catalog.readiness(c);
            Entry {
                name: &c.name,
                description: &c.description,
                ready: readiness.ready,
                reasons: readiness.reasons,
                models: &c.models,
                datasets: &c.datasets,
                origin: &c.origin,
            }
        })
        .collect();
    if printer.json {
        printer.json(&Output {
            categories: entries,
        })?;
        return Ok(crate::error::EXIT_OK);
    }
    if entries.is_empty() {
        printer.line("No categories in the catalog.")?;
        return Ok(crate::error::EXIT_OK);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.name.to_string(),
                if e.ready { "READY" } else { "NOT READY" }.to_string(),
                e.models.len().to_string(),
                e.datasets.len().to_string(),
                super::origin_label(e.origin),
                e.reasons.join("; "),
            ]
        })
        .collect();
    printer.table(
        &["NAME", "STATUS", "MODELS", "DATASETS", "ORIGIN", "REASONS"],
        &rows,
    )?;
    Ok(crate::error::EXIT_OK)
}
