//! lm-evaluation-harness task YAML files, accepted as they are for the declarative subset.
//!
//! `assay datasets --lm-eval-yaml PATH` (and a run) reads a task file, follows `include`
//! (relative to the including file, included keys overridden by the includer), and maps it
//! onto a manifest:
//! - data: `dataset_path: json | csv | parquet` with `dataset_kwargs: {data_files: ...}` (a
//!   path, a list of one path, or split → path; relative to the YAML file, else to the working
//!   directory); or a Hugging Face id in `dataset_path` (+ `dataset_name` as the config, and
//!   `dataset_kwargs.revision`), read from the local hub cache as Parquet;
//! - splits: `test_split` (else `validation_split`) is the test split, `fewshot_split` (else
//!   `training_split`, else `validation_split`) the few-shot split;
//! - `output_type`, `description`, `doc_to_text`, `doc_to_target`, `doc_to_choice`,
//!   `target_delimiter`, `fewshot_delimiter`, `num_fewshot`, `generation_kwargs`,
//!   `filter_list` (functions `regex`, `take_first`, `lowercase`, `strip`, `remove_whitespace`),
//!   `metric_list`, `repeats`, `metadata.version`. As in lm-eval, a `doc_to_*` value that is a
//!   bare column name means that column, an integer is a literal, and a list is literal choices.
//! - ignored (no effect on scoring): `tag`, `group` of a task, `should_decontaminate`,
//!   `doc_to_decontamination_query`, `unsafe_code`, other `metadata` keys, `fewshot_config`
//!   with `sampler: first_n` or `default`.
//!
//! Anything that needs Python is refused with the file, line and key: `!function` tags
//! (`process_docs`, `process_results`, `doc_to_text: !function utils.x`), `class:`, and every
//! key outside the subset; a group file (`task:` a list) too.

use super::error::{CatalogError, Loc};
use super::raw::RawDatasetManifest;
use super::types::Dataset;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Deepest `include` chain followed.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Keys read (mapped onto the manifest).
const MAPPED: &[&str] = &[
    "task",
    "include",
    "dataset_path",
    "dataset_name",
    "dataset_kwargs",
    "test_split",
    "validation_split",
    "training_split",
    "fewshot_split",
    "output_type",
    "description",
    "doc_to_text",
    "doc_to_target",
    "doc_to_choice",
    "target_delimiter",
    "fewshot_delimiter",
    "num_fewshot",
    "generation_kwargs",
    "filter_list",
    "metric_list",
    "repeats",
    "metadata",
];
/// Keys accepted and ignored.
const IGNORED: &[&str] = &[
    "tag",
    "group",
    "should_decontaminate",
    "doc_to_decontamination_query",
    "unsafe_code",
    "fewshot_config",
];

/// One YAML file of the include chain.
struct Source {
    label: String,
    text: String,
}

/// Read the lm-eval task file `path` as a checked dataset (its data read and counted).
pub fn load_lmeval_task(path: &Path) -> Result<Dataset, CatalogError> {
    let mut files = Vec::new();
    let mut owner = BTreeMap::new();
    let merged = load_merged(path, 0, &mut Vec::new(), &mut files, &mut owner)?;
    let main = &files[files.len() - 1];
    let at = |key: &str| -> Loc {
        let i = owner.get(key).copied().unwrap_or(files.len() - 1);
        let f: &Source = &files[i];
        super::error::Locator::new(&f.label, &f.text).key(key)
    };
    let err = |key: &str, message: String| CatalogError::Invalid {
        at: at(key),
        what: "lm-eval task".into(),
        field: key.to_string(),
        message,
    };
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());

    for (key, value) in &merged {
        if key == "class" {
            return Err(err(
                key,
                "`class:` names a Python task class; only declarative YAML tasks can be read"
                    .into(),
            ));
        }
        if !MAPPED.contains(&key.as_str()) && !IGNORED.contains(&key.as_str()) {
            let why = match key.as_str() {
                "process_docs" | "process_results" => " (it runs Python code)",
                "doc_to_image" | "doc_to_audio" => " (media inputs are not supported)",
                "use_prompt" => " (promptsource templates are not supported)",
                _ => "",
            };
            return Err(err(key, format!("`{key}` is not supported{why}")));
        }
        if key == "fewshot_config"
            && let Some(s) = value.get("sampler").and_then(Value::as_str)
            && s != "first_n"
            && s != "default"
        {
            return Err(err(key, format!("few-shot sampler `{s}` is not supported")));
        }
    }
    let task = match merged.get("task") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(Value::Array(_)) => {
            return Err(err(
                "task",
                "this is a group file (`task:` is a list); point at one task's YAML".into(),
            ));
        }
        _ => return Err(err("task", "`task` must name the task".into())),
    };
    let mut m = Map::new();
    m.insert("task".into(), json!(task));

    // Data.
    let kwargs = merged.get("dataset_kwargs").cloned().unwrap_or(json!({}));
    let Some(kwargs) = kwargs.as_object() else {
        return Err(err(
            "dataset_kwargs",
            "`dataset_kwargs` must be a mapping".into(),
        ));
    };
    let dataset_path = match merged.get("dataset_path") {
        Some(Value::String(p)) => p.clone(),
        _ => return Err(err("dataset_path", "`dataset_path` is required".into())),
    };
    let local_builder = ["json", "csv", "parquet"].contains(&dataset_path.as_str());
    for k in kwargs.keys() {
        let ok = if local_builder {
            k == "data_files"
        } else {
            k == "revision" || k == "trust_remote_code"
        };
        if !ok {
            return Err(err(
                "dataset_kwargs",
                format!(
                    "`dataset_kwargs.{k}` is not supported with `dataset_path: {dataset_path}`"
                ),
            ));
        }
    }
    let test_split = ["test_split", "validation_split"]
        .iter()
        .find_map(|k| merged.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    let fewshot_split = ["fewshot_split", "training_split", "validation_split"]
        .iter()
        .find_map(|k| merged.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    let Some(test_split) = test_split else {
        return Err(err(
            "test_split",
            "`test_split` (or `validation_split`) is required".into(),
        ));
    };
    if local_builder {
        let files = data_files(kwargs.get("data_files"), &test_split)
            .map_err(|m| err("dataset_kwargs", m))?;
        let mut resolved = Map::new();
        for (split, file) in files {
            resolved.insert(split, json!(resolve_path(&base_dir, &file)));
        }
        m.insert("data_files".into(), Value::Object(resolved));
    } else {
        let repo = dataset_path.as_str();
        if crate::tasks::formats::hf_cache::repo_id(repo).is_none() {
            return Err(err(
                "dataset_path",
                format!(
                    "`dataset_path` must be json, csv, parquet or a Hugging Face id. Given: {repo}"
                ),
            ));
        }
        let config = merged.get("dataset_name").and_then(Value::as_str);
        let revision = kwargs.get("revision").and_then(Value::as_str);
        // A task file asked for explicitly: a dataset absent from the cache is an error here.
        crate::tasks::formats::hf_cache::resolve(repo, config, revision).map_err(|m| {
            let key = if config.is_some() {
                "dataset_name"
            } else {
                "dataset_path"
            };
            err(key, m)
        })?;
        m.insert("hf".into(), json!(repo));
        if let Some(c) = config {
            m.insert("hf_config".into(), json!(c));
        }
        if let Some(r) = revision {
            m.insert("hf_revision".into(), json!(r));
        }
    }
    m.insert("test_split".into(), json!(test_split));
    if let Some(f) = fewshot_split {
        m.insert("fewshot_split".into(), json!(f));
    }

    // Templates and options.
    for key in ["doc_to_text", "doc_to_target", "description"] {
        match merged.get(key) {
            None => {}
            Some(Value::String(s)) if key != "description" => {
                m.insert(key.into(), json!(column_or_template(s)));
            }
            Some(Value::String(s)) => {
                m.insert(key.into(), json!(s));
            }
            Some(Value::Number(n)) => {
                m.insert(key.into(), json!(n.to_string()));
            }
            Some(_) => {
                return Err(err(
                    key,
                    format!("`{key}` must be a template, a column or a number"),
                ));
            }
        }
    }
    match merged.get("doc_to_choice") {
        None => {}
        Some(Value::String(s)) => {
            m.insert("doc_to_choice".into(), json!(choice_template(s)));
        }
        Some(Value::Array(list)) => {
            let items: Vec<String> = list
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            m.insert("doc_to_choice".into(), json!(items));
        }
        Some(_) => {
            return Err(err(
                "doc_to_choice",
                "`doc_to_choice` must be a template, a column or a list".into(),
            ));
        }
    }
    for key in [
        "output_type",
        "target_delimiter",
        "fewshot_delimiter",
        "num_fewshot",
        "repeats",
        "filter_list",
        "metric_list",
    ] {
        if let Some(v) = merged.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    if let Some(g) = merged.get("generation_kwargs") {
        m.insert(
            "generation_kwargs".into(),
            generation(g).map_err(|msg| err("generation_kwargs", msg))?,
        );
    }
    if let Some(v) = merged.get("metadata").and_then(|m| m.get("version")) {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        m.insert("version".into(), json!(v));
    }
    if let Some(Value::Array(metrics)) = m.get_mut("metric_list") {
        for metric in metrics.iter_mut().filter_map(Value::as_object_mut) {
            // lm-eval's `aggregation` may name a Python function; only `mean` style names work.
            if !matches!(metric.get("aggregation"), Some(Value::String(_)) | None) {
                metric.remove("aggregation");
            }
        }
    }
    if !m.contains_key("output_type") {
        return Err(err("output_type", "`output_type` is required".into()));
    }
    if !m.contains_key("metric_list") {
        // lm-eval's default metrics per output type.
        let default = match m.get("output_type").and_then(Value::as_str) {
            Some("multiple_choice") => json!([{"metric": "acc"}, {"metric": "acc_norm"}]),
            _ => json!([{"metric": "exact_match"}]),
        };
        m.insert("metric_list".into(), default);
    }
    // lm-eval never prompts through a chat template unless asked at run time.
    m.insert("chat".into(), json!(false));

    let raw: RawDatasetManifest = serde_json::from_value(Value::Object(m)).map_err(|e| {
        let message = e.to_string();
        let key = MAPPED
            .iter()
            .find(|k| message.contains(&format!("`{k}`")))
            .copied()
            .unwrap_or("task");
        err(key, format!("cannot be read as a task: {message}"))
    })?;
    super::datasets::load_manifest_at(&main.label, &main.text, raw, &base_dir)
}

/// Read `path` and its includes, merged (includer wins). `owner` records, per key, the index
/// in `files` of the file that set it.
fn load_merged(
    path: &Path,
    depth: usize,
    stack: &mut Vec<PathBuf>,
    files: &mut Vec<Source>,
    owner: &mut BTreeMap<String, usize>,
) -> Result<Map<String, Value>, CatalogError> {
    let label = path.display().to_string();
    let canonical = std::fs::canonicalize(path).map_err(|source| CatalogError::Io {
        path: label.clone(),
        source,
    })?;
    if stack.contains(&canonical) {
        return Err(CatalogError::Syntax {
            at: Loc::file(&label),
            message: "`include` cycle: this file includes itself".into(),
        });
    }
    if depth > MAX_INCLUDE_DEPTH {
        return Err(CatalogError::Syntax {
            at: Loc::file(&label),
            message: format!("`include` nested deeper than {MAX_INCLUDE_DEPTH} files"),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| CatalogError::Io {
        path: label.clone(),
        source,
    })?;
    let text = super::utf8(&label, &bytes)?.to_string();
    if let Some(e) = python_only(&label, &text) {
        return Err(e);
    }
    let value: serde_norway::Value = super::yaml::parse(&label, &text)?;
    let Value::Object(map) = to_json(&value).map_err(|m| CatalogError::Syntax {
        at: Loc::file(&label),
        message: m,
    })?
    else {
        return Err(CatalogError::Syntax {
            at: Loc::at(&label, 1, 1),
            message: "an lm-eval task file must be a mapping of keys".into(),
        });
    };
    stack.push(canonical);
    let mut merged = Map::new();
    if let Some(include) = map.get("include") {
        let Some(inc) = include.as_str() else {
            let at = super::error::Locator::new(&label, &text).key("include");
            return Err(CatalogError::Invalid {
                at,
                what: "lm-eval task".into(),
                field: "include".into(),
                message: "`include` must be a file name".into(),
            });
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        merged = load_merged(&dir.join(inc), depth + 1, stack, files, owner)?;
    }
    stack.pop();
    files.push(Source { label, text });
    let index = files.len() - 1;
    for (k, v) in map {
        if k == "include" {
            continue;
        }
        owner.insert(k.clone(), index);
        merged.insert(k, v);
    }
    Ok(merged)
}

/// The first line using a Python-only construct, as an error naming the key.
fn python_only(label: &str, text: &str) -> Option<CatalogError> {
    for (i, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        let tag = ["!function", "!!python/"]
            .iter()
            .find_map(|t| code.find(t).map(|c| (c, *t)));
        if let Some((col, tag)) = tag {
            let key = code[..col]
                .trim()
                .trim_start_matches("- ")
                .trim_end_matches(':')
                .trim()
                .to_string();
            let target = code[col..].trim();
            let key_text = if key.is_empty() {
                "a value".to_string()
            } else {
                format!("`{key}`")
            };
            return Some(CatalogError::Invalid {
                at: Loc::at(label, i + 1, col + 1),
                what: "lm-eval task".into(),
                field: key.clone(),
                message: format!(
                    "{key_text} is `{target}`, a Python {} that assay cannot run; write it as a Jinja template (or preprocess the data into a file)",
                    if tag == "!function" {
                        "function"
                    } else {
                        "object"
                    }
                ),
            });
        }
    }
    None
}

/// YAML value → JSON, refusing tags (`!function` and others need Python).
fn to_json(v: &serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    _ => return Err("mapping keys must be strings".into()),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            return Err(format!(
                "tag `{}` needs Python; only plain YAML is read",
                t.tag
            ));
        }
    })
}

/// `data_files` of lm-eval's `dataset_kwargs`: one path (the test split), a list of one path,
/// or split → path (or a list of one path).
fn data_files(v: Option<&Value>, test_split: &str) -> Result<Vec<(String, String)>, String> {
    let one = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Array(list) if list.len() == 1 => list[0]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "a data file must be a path".to_string()),
            Value::Array(list) => Err(format!(
                "{} files for one split; one file per split is supported",
                list.len()
            )),
            _ => Err("a data file must be a path".into()),
        }
    };
    match v {
        None => Err(
            "`dataset_kwargs.data_files` is required with a json, csv or parquet `dataset_path`"
                .into(),
        ),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| one(v).map(|p| (k.clone(), p)))
            .collect(),
        Some(other) => Ok(vec![(test_split.to_string(), one(other)?)]),
    }
}

/// A data file path as lm-eval users write it: relative to the YAML file when it exists there,
/// else to the working directory.
fn resolve_path(base: &Path, file: &str) -> String {
    let p = Path::new(file);
    if p.is_absolute() {
        return file.to_string();
    }
    let beside = base.join(p);
    if beside.exists() {
        return beside.display().to_string();
    }
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// lm-eval: a `doc_to_text`/`doc_to_target` naming a column is that column; else a template.
fn column_or_template(s: &str) -> String {
    if is_identifier(s) {
        format!("{{{{ {s} if {s} is defined else '{s}' }}}}")
    } else {
        s.to_string()
    }
}

/// lm-eval: a `doc_to_choice` naming a column is that column (a list).
fn choice_template(s: &str) -> String {
    if is_identifier(s) {
        format!("{{{{ {s} }}}}")
    } else {
        s.to_string()
    }
}

/// `generation_kwargs` as lm-eval writes them (`until` a string or a list).
fn generation(g: &Value) -> Result<Value, String> {
    let Some(map) = g.as_object() else {
        return Err("`generation_kwargs` must be a mapping".into());
    };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "until" => {
                let list = match v {
                    Value::String(s) => json!([s]),
                    Value::Array(_) => v.clone(),
                    _ => return Err("`until` must be a string or a list of strings".into()),
                };
                out.insert(k.clone(), list);
            }
            "max_gen_toks" | "do_sample" | "temperature" | "top_p" | "top_k" => {
                out.insert(k.clone(), v.clone());
            }
            "max_new_tokens" => {
                out.insert("max_gen_toks".into(), v.clone());
            }
            other => {
                return Err(format!(
                    "`generation_kwargs.{other}` is not supported (supported: until, max_gen_toks, do_sample, temperature, top_p, top_k)"
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
#[path = "lmeval_tests.rs"]
mod tests;
