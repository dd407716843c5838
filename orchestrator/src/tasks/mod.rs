//! Datasets turned into model requests: loading rows, rendering prompts, few-shot, requests.
//!
//! Everything that reads a dataset's rows goes through this module, so every data format
//! (JSONL, JSON, CSV, Parquet) and every template rule lives in one place:
//! - [`rows`]: a split's bytes into rows, with every malformed row reported by file and line;
//!   [`formats`] reads JSONL, JSON, CSV and Parquet, known benchmark layouts, the HF cache.
//! - [`render`]: `doc_to_text` / `doc_to_target` / `doc_to_choice` over a row (minijinja with
//!   Jinja2 semantics as lm-evaluation-harness uses them: strict undefined, trailing newline
//!   kept, lists and booleans printed as Python would).
//! - [`fewshot`]: lm-evaluation-harness's few-shot context (Python's seeded `random.sample`,
//!   reproduced exactly, or the first-n sampler) as a plain string or as chat messages.
//! - [`requests`]: engine-agnostic loglikelihood and generation requests, each identified by
//!   content hashes.
//!
//! [`prepare`] runs the whole chain for one dataset. Split bytes come from a [`SplitSource`];
//! [`DiskSource`] reads the data files next to the manifest.
pub mod adhoc;
pub mod fewshot;
pub mod formats;
pub mod render;
pub mod requests;
pub mod rows;

pub use adhoc::adhoc_dataset;
pub use fewshot::{DEFAULT_FEWSHOT_SEED, PyRandom, Sampler};
pub use render::{RenderedDoc, Renderer, Target};
pub use requests::{Request, RequestBody, build_requests};
pub use rows::{BadRow, Row, Rows, load_rows};

use crate::catalog::Dataset;
use std::borrow::Cow;

/// Why a dataset cannot be turned into requests. Messages name the dataset, the file, the line
/// and the manifest field involved.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("dataset `{dataset}`: cannot read {file}: {source}")]
    Read {
        dataset: String,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("dataset `{dataset}`: split `{split}` cannot be read: {message}")]
    Unavailable {
        dataset: String,
        split: String,
        message: String,
    },
    #[error("dataset `{dataset}`: no data file for split `{split}` (data_files has: {available})")]
    MissingSplit {
        dataset: String,
        split: String,
        available: String,
    },
    #[error("dataset `{dataset}`: {file} has {} malformed row(s) (use --skip-bad-rows to skip them):{}", rows.len(), list_bad_rows(file, rows))]
    BadRows {
        dataset: String,
        file: String,
        rows: Vec<BadRow>,
    },
    #[error("dataset `{dataset}`: {file} has no rows{}", if *skipped > 0 { format!(" ({skipped} malformed row{} skipped)", if *skipped == 1 { "" } else { "s" }) } else { String::new() })]
    Empty {
        dataset: String,
        file: String,
        skipped: usize,
    },
    #[error(
        "dataset `{dataset}`: split `{split}`: {file} is not in a supported format (supported: .jsonl, .json, .csv, .parquet)"
    )]
    Format {
        dataset: String,
        split: String,
        file: String,
    },
    #[error("dataset `{dataset}`: manifest field `{field}`: {message}")]
    Template {
        dataset: String,
        field: &'static str,
        message: String,
    },
    #[error("dataset `{dataset}`: {file}:{line}: `{field}` failed to render: {message}")]
    Render {
        dataset: String,
        file: String,
        line: usize,
        field: &'static str,
        message: String,
    },
    #[error("dataset `{dataset}`: {file}:{line}: `doc_to_choice` {message}")]
    Choices {
        dataset: String,
        file: String,
        line: usize,
        message: String,
    },
    #[error("dataset `{dataset}`: {file}:{line}: `doc_to_target` {message}")]
    Gold {
        dataset: String,
        file: String,
        line: usize,
        message: String,
    },
    #[error(
        "dataset `{dataset}`: num_fewshot is {num_fewshot} but the manifest names no fewshot_split"
    )]
    NoFewshotSplit { dataset: String, num_fewshot: u32 },
    #[error(
        "dataset `{dataset}`: {needed} few-shot example(s) needed but split `{split}` has only {available} row(s)"
    )]
    FewshotTooSmall {
        dataset: String,
        split: String,
        needed: usize,
        available: usize,
    },
}

fn list_bad_rows(file: &str, rows: &[BadRow]) -> String {
    rows.iter()
        .map(|r| format!("\n  {file}:{}: {}", r.line, r.reason))
        .collect()
}

/// The prompt an engine receives: a plain string, or chat messages the engine renders with the
/// model's chat template (adding the generation prompt).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Prompt {
    Plain(String),
    Chat(Vec<ChatMessage>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// Per-run choice of chat formatting: follow dataset and model, or force it on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    #[default]
    Auto,
    On,
    Off,
}

impl ChatMode {
    /// Whether prompts are chat messages: `Auto` asks both the dataset and the model.
    pub fn resolve(self, dataset_chat: bool, model_chat: bool) -> bool {
        match self {
            ChatMode::Auto => dataset_chat && model_chat,
            ChatMode::On => true,
            ChatMode::Off => false,
        }
    }
}

/// How one run renders a dataset.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskOptions {
    /// Overrides the manifest's `num_fewshot`.
    pub num_fewshot: Option<u32>,
    /// Prompts as chat messages (already resolved with [`ChatMode::resolve`]).
    pub chat: bool,
    pub sampler: Sampler,
    /// Only the first N items of the test split.
    pub limit: Option<usize>,
    /// Skip malformed rows (reported in [`Prepared::skipped`]) instead of failing.
    pub skip_bad_rows: bool,
}

/// One test item: the rendered prompt, the gold answer and the row it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Item {
    /// 0-based position in the test split (after skipped rows).
    pub index: usize,
    /// 1-based line in the data file.
    pub line: usize,
    pub prompt: Prompt,
    /// The choices (multiple_choice only).
    pub choices: Option<Vec<String>>,
    pub target: Target,
    /// The gold answer as text: the gold choice for multiple_choice.
    pub gold_text: String,
    /// The row's fields (scorers read extra fields, e.g. a code task's tests).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A dataset ready for an engine: items (for scoring) and the requests they need.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prepared {
    pub dataset: String,
    pub num_fewshot: u32,
    pub chat: bool,
    pub items: Vec<Item>,
    pub requests: Vec<Request>,
    /// Malformed rows skipped, per file (only with `skip_bad_rows`).
    pub skipped: Vec<(String, BadRow)>,
}

/// Where the bytes of a split's data file come from.
pub trait SplitSource {
    /// The bytes of `split`'s data file and the name to show in messages.
    fn split_bytes<'a>(
        &'a self,
        dataset: &Dataset,
        split: &str,
    ) -> Result<(Cow<'a, [u8]>, String), TaskError>;
}

/// Split bytes through the catalog (embedded or on disk).
#[derive(Debug, Clone, Copy)]
pub struct CatalogSource;

impl SplitSource for CatalogSource {
    fn split_bytes<'a>(
        &'a self,
        dataset: &Dataset,
        split: &str,
    ) -> Result<(Cow<'a, [u8]>, String), TaskError> {
        let bytes =
            crate::catalog::read_data_file(dataset, split).map_err(|e| TaskError::Unavailable {
                dataset: dataset.name.clone(),
                split: split.to_string(),
                message: e.to_string(),
            })?;
        let name = dataset
            .data_files
            .get(split)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok((bytes, name))
    }
}

/// Reads a split's data file from disk: `data_files[split]` as given when it is absolute or
/// already inside `dataset.dir`, otherwise relative to `dataset.dir`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskSource;

impl SplitSource for DiskSource {
    fn split_bytes<'a>(
        &'a self,
        dataset: &Dataset,
        split: &str,
    ) -> Result<(Cow<'a, [u8]>, String), TaskError> {
        let file = dataset
            .data_files
            .get(split)
            .ok_or_else(|| missing_split(dataset, split))?;
        let path = if file.is_absolute() || file.starts_with(&dataset.dir) {
            file.clone()
        } else {
            dataset.dir.join(file)
        };
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| TaskError::Read {
            dataset: dataset.name.clone(),
            file: name.clone(),
            source,
        })?;
        Ok((Cow::Owned(bytes), name))
    }
}

fn missing_split(dataset: &Dataset, split: &str) -> TaskError {
    let available: Vec<&str> = dataset.data_files.keys().map(String::as_str).collect();
    TaskError::MissingSplit {
        dataset: dataset.name.clone(),
        split: split.to_string(),
        available: if available.is_empty() {
            "nothing".into()
        } else {
            available.join(", ")
        },
    }
}

/// Read and parse one split through `source`.
pub fn read_split(
    dataset: &Dataset,
    split: &str,
    source: &dyn SplitSource,
    skip_bad_rows: bool,
) -> Result<Rows, TaskError> {
    let (bytes, name) = source.split_bytes(dataset, split)?;
    load_rows(dataset, split, &bytes, &name, skip_bad_rows)
}

/// The split few-shot examples come from and how many of its rows a prompt needs (one more
/// when it is the test split, since an item is never its own example); `None` for zero-shot.
pub fn fewshot_need(
    dataset: &Dataset,
    num_fewshot: u32,
) -> Result<Option<(&str, usize)>, TaskError> {
    if num_fewshot == 0 {
        return Ok(None);
    }
    let split = dataset
        .fewshot_split
        .as_deref()
        .ok_or_else(|| TaskError::NoFewshotSplit {
            dataset: dataset.name.clone(),
            num_fewshot,
        })?;
    let needed = num_fewshot as usize + usize::from(split == dataset.test_split);
    Ok(Some((split, needed)))
}

/// Whether a few-shot pool of `available` rows can give `needed` examples.
pub fn check_fewshot_pool(
    dataset: &Dataset,
    split: &str,
    needed: usize,
    available: usize,
) -> Result<(), TaskError> {
    if available < needed {
        return Err(TaskError::FewshotTooSmall {
            dataset: dataset.name.clone(),
            split: split.to_string(),
            needed,
            available,
        });
    }
    Ok(())
}

/// Render every test item of `dataset` (few-shot context included) and build its requests.
pub fn prepare(
    dataset: &Dataset,
    options: &TaskOptions,
    source: &dyn SplitSource,
) -> Result<Prepared, TaskError> {
    let renderer = Renderer::new(dataset)?;
    let num_fewshot = options.num_fewshot.unwrap_or(dataset.num_fewshot);
    let test = read_split(dataset, &dataset.test_split, source, options.skip_bad_rows)?;
    let mut skipped: Vec<(String, BadRow)> = test
        .skipped
        .iter()
        .map(|b| (test.source.clone(), b.clone()))
        .collect();

    let mut drawer = if let Some((split, needed)) = fewshot_need(dataset, num_fewshot)? {
        let pool = read_split(dataset, split, source, options.skip_bad_rows)?;
        skipped.extend(
            pool.skipped
                .iter()
                .map(|b| (pool.source.clone(), b.clone())),
        );
        let examples = fewshot::examples(&renderer, &pool)?;
        check_fewshot_pool(dataset, split, needed, examples.len())?;
        let same_split = split == dataset.test_split;
        Some(fewshot::Drawer::new(examples, same_split, options.sampler))
    } else {
        None
    };

    let take = options.limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    for (index, row) in test.rows.iter().take(take).enumerate() {
        let doc = renderer.render(row, &test.source)?;
        let description = renderer.description(row, &test.source)?;
        let shots = match drawer.as_mut() {
            Some(d) => d.draw(&row.fields, num_fewshot as usize),
            None => Vec::new(),
        };
        let prompt = fewshot::assemble(dataset, &description, &shots, &doc.text, options.chat);
        items.push(Item {
            index,
            line: row.line,
            prompt,
            gold_text: doc.gold_text(),
            choices: doc.choices,
            target: doc.target,
            fields: row.fields.clone(),
        });
    }
    let requests = build_requests(dataset, &items);
    Ok(Prepared {
        dataset: dataset.name.clone(),
        num_fewshot,
        chat: options.chat,
        items,
        requests,
        skipped,
    })
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
