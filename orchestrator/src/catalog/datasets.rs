//! Dataset manifests (`datasets/<name>/manifest.yaml`) and their data files: raw → checked
//! `Dataset`, with the data validated row by row and hashed.
//!
//! Defaults (lm-evaluation-harness): `test_split` `test`, `target_delimiter` `" "`,
//! `fewshot_delimiter` `"\n\n"`, `num_fewshot` 0, `until` `[]`, `max_gen_toks` 256,
//! `temperature` 0, `top_p` 1, `repeats` 1, `chat` true, `aggregation` `mean`,
//! `higher_is_better` true.
//!
//! Content hash: sha256 over the manifest bytes, then for each split in name order its data
//! file's length (u64 little-endian) and bytes; lowercase hex.

use super::error::{CatalogError, Loc, Locator};
use super::raw::{RawChoices, RawDatasetManifest, RawFilterPipeline, RawMetric};
use super::source::Source;
use super::types::*;
use super::vocab;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Data file extensions that can be read.
const DATA_EXTENSIONS: &[&str] = crate::tasks::formats::EXTENSIONS;

/// Parse and check the manifest of dataset `name` from `source`, and validate its data.
pub fn load_dataset(source: &Source, name: &str) -> Result<Option<Dataset>, CatalogError> {
    let rel = format!("datasets/{name}/manifest.yaml");
    let Some(bytes) = source.read(&rel)? else {
        return Ok(None);
    };
    let label = source.label(&rel);
    let mut dataset = parse_manifest(&label, &bytes, name, source)?;
    // A Hugging Face dataset absent from the cache has no files; its `data` says why.
    if !dataset.data_files.is_empty() {
        dataset.data = check_data(source, &dataset.data_files, &bytes, dataset.format)?;
    }
    Ok(Some(dataset))
}

/// Parse and check a manifest (without reading data: `data` is `Missing` until checked).
pub fn parse_manifest(
    label: &str,
    bytes: &[u8],
    dir_name: &str,
    source: &Source,
) -> Result<Dataset, CatalogError> {
    let text = super::utf8(label, bytes)?;
    let raw: RawDatasetManifest = super::yaml::parse(label, text)?;
    let at = ManifestPlace {
        label,
        text,
        dir_name: Some(dir_name),
        dir: source.path(&format!("datasets/{dir_name}")),
        origin: source.origin(),
        absolute_paths: false,
    };
    check_manifest(raw, &at)
}

/// A manifest outside the catalog layout (a converted lm-eval task, a file given on the
/// command line): checked like a catalog manifest, with data files relative to `dir` (or
/// absolute), then its data read, counted and hashed. `label`/`text` locate errors.
pub fn load_manifest_at(
    label: &str,
    text: &str,
    raw: RawDatasetManifest,
    dir: &std::path::Path,
) -> Result<Dataset, CatalogError> {
    let at = ManifestPlace {
        label,
        text,
        dir_name: None,
        dir: dir.to_path_buf(),
        origin: Origin::User(dir.to_path_buf()),
        absolute_paths: true,
    };
    let mut dataset = check_manifest(raw, &at)?;
    if !dataset.data_files.is_empty() {
        let source = Source::Dir(dir.to_path_buf());
        dataset.data = check_data(
            &source,
            &dataset.data_files,
            text.as_bytes(),
            dataset.format,
        )?;
    }
    Ok(dataset)
}

/// Where a manifest is, for messages and for resolving its data files.
struct ManifestPlace<'a> {
    label: &'a str,
    text: &'a str,
    /// The catalog directory name the `task` must equal (`None` outside the catalog).
    dir_name: Option<&'a str>,
    dir: std::path::PathBuf,
    origin: Origin,
    /// Whether data files may be absolute paths or reach outside `dir`.
    absolute_paths: bool,
}

fn check_manifest(
    mut raw: RawDatasetManifest,
    at: &ManifestPlace<'_>,
) -> Result<Dataset, CatalogError> {
    let (label, text) = (at.label, at.text);
    let locator = Locator::new(label, text);
    let what = format!("dataset `{}`", raw.task);
    let invalid = |field: &str, message: String| CatalogError::Invalid {
        at: locator.key(field),
        what: what.clone(),
        field: field.to_string(),
        message,
    };
    if let Some(dir_name) = at.dir_name
        && raw.task != dir_name
    {
        return Err(invalid(
            "task",
            format!(
                "`task` must equal its directory name `{dir_name}`. Given: {}",
                raw.task
            ),
        ));
    }
    let format = match &raw.format {
        None => None,
        Some(f) => Some(DataLayout::parse(f).ok_or_else(|| {
            invalid(
                "format",
                format!(
                    "`format` must be one of: {}. Given: {f}",
                    DataLayout::ALL.map(DataLayout::as_str).join(", ")
                ),
            )
        })?),
    };
    if let Some(layout) = format {
        crate::tasks::formats::mapping::apply_defaults(&mut raw, layout)
            .map_err(|m| invalid("format", m))?;
    }
    for (field, value) in [
        ("output_type", &raw.output_type),
        ("doc_to_text", &raw.doc_to_text),
        ("doc_to_target", &raw.doc_to_target),
    ] {
        if value.is_empty() {
            return Err(invalid(
                field,
                format!("`{field}` is required (or name a `format` that supplies it)"),
            ));
        }
    }
    let hf = match &raw.hf {
        Some(_) if !raw.data_files.is_empty() => {
            return Err(invalid(
                "hf",
                "give either `hf` (files from the Hugging Face cache) or `data_files`, not both"
                    .into(),
            ));
        }
        Some(repo) => {
            if crate::tasks::formats::hf_cache::repo_id(repo).is_none() {
                return Err(invalid(
                    "hf",
                    format!("`hf` must be a dataset id `org/name`. Given: {repo}"),
                ));
            }
            Some(crate::tasks::formats::hf_cache::resolve(
                repo,
                raw.hf_config.as_deref(),
                raw.hf_revision.as_deref(),
            ))
        }
        None if raw.data_files.is_empty() => {
            return Err(invalid(
                "data_files",
                "`data_files` must name at least one split (or give `hf`)".into(),
            ));
        }
        None => None,
    };
    let mut data_files = BTreeMap::new();
    for (split, file) in &raw.data_files {
        let bad_path = if at.absolute_paths {
            file.is_empty()
        } else {
            file.is_empty()
                || file.starts_with('/')
                || file.contains('\\')
                || file.split('/').any(|p| p == ".." || p.is_empty())
        };
        if bad_path {
            return Err(invalid(
                split,
                format!(
                    "data file of split `{split}` must be a relative path inside the dataset directory. Given: {file:?}"
                ),
            ));
        }
        let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if !DATA_EXTENSIONS.contains(&ext) {
            return Err(invalid(
                split,
                format!(
                    "data file of split `{split}` must be one of: {}. Given: {file}",
                    DATA_EXTENSIONS.join(", ")
                ),
            ));
        }
        data_files.insert(split.clone(), at.dir.join(file));
    }
    let test_split = raw.test_split.clone().unwrap_or_else(|| "test".into());
    // Splits of a cached Hugging Face dataset depend on the cache: a missing one is missing
    // data, not a manifest error.
    let mut hf_missing = None;
    match hf {
        Some(Ok(splits)) => {
            let wanted = std::iter::once(&test_split).chain(raw.fewshot_split.as_ref());
            for split in wanted {
                if !splits.contains_key(split) {
                    hf_missing = Some(format!(
                        "split `{split}` is not among the cached splits of `{}` ({})",
                        raw.hf.as_deref().unwrap_or(""),
                        keys(&splits)
                    ));
                }
            }
            if hf_missing.is_none() {
                data_files = splits;
            }
        }
        Some(Err(reason)) => hf_missing = Some(reason),
        None => {}
    }
    if hf_missing.is_none() && !data_files.contains_key(&test_split) {
        let field = if raw.test_split.is_some() {
            "test_split"
        } else {
            "data_files"
        };
        return Err(invalid(
            field,
            format!(
                "`test_split` `{test_split}` has no entry in `data_files` (splits: {})",
                keys(&data_files)
            ),
        ));
    }
    if let Some(split) = &raw.fewshot_split
        && hf_missing.is_none()
        && !data_files.contains_key(split)
    {
        return Err(invalid(
            "fewshot_split",
            format!(
                "`fewshot_split` `{split}` has no entry in `data_files` (splits: {})",
                keys(&data_files)
            ),
        ));
    }
    let output_type = match raw.output_type.as_str() {
        "multiple_choice" => OutputType::MultipleChoice,
        "generate_until" => OutputType::GenerateUntil,
        "loglikelihood" => OutputType::Loglikelihood,
        other => {
            return Err(invalid(
                "output_type",
                format!(
                    "`output_type` must be one of {}. Given: {other}",
                    vocab::OUTPUT_TYPES.join(", ")
                ),
            ));
        }
    };
    compile(&locator, &what, "doc_to_text", &raw.doc_to_text)?;
    compile(&locator, &what, "doc_to_target", &raw.doc_to_target)?;
    let doc_to_choice = match &raw.doc_to_choice {
        None if output_type == OutputType::MultipleChoice => {
            return Err(invalid(
                "output_type",
                "`output_type` multiple_choice needs `doc_to_choice`".into(),
            ));
        }
        None => None,
        Some(RawChoices::Template(t)) => {
            compile(&locator, &what, "doc_to_choice", t)?;
            Some(ChoiceSpec::Template(t.clone()))
        }
        Some(RawChoices::List(list)) if list.is_empty() => {
            return Err(invalid(
                "doc_to_choice",
                "`doc_to_choice` must list at least one choice".into(),
            ));
        }
        Some(RawChoices::List(list)) => Some(ChoiceSpec::List(list.clone())),
    };
    let num_fewshot = raw.num_fewshot.unwrap_or(0);
    if num_fewshot > 1000 {
        return Err(invalid(
            "num_fewshot",
            format!("`num_fewshot` must be between 0 and 1000. Given: {num_fewshot}"),
        ));
    }
    let repeats = raw.repeats.unwrap_or(1);
    if !(1..=10_000).contains(&repeats) {
        return Err(invalid(
            "repeats",
            format!("`repeats` must be between 1 and 10000. Given: {repeats}"),
        ));
    }
    let generation = check_generation(&raw, &invalid)?;
    if raw.metric_list.is_empty() {
        return Err(invalid(
            "metric_list",
            "`metric_list` must name at least one metric".into(),
        ));
    }
    let (metrics, metric_defs): (Vec<_>, Vec<_>) = raw
        .metric_list
        .iter()
        .map(|m| check_metric(&locator, &what, m, repeats))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let (filters, pipelines): (Vec<_>, Vec<_>) = match &raw.filter_list {
        None => (Vec::new(), Vec::new()),
        Some(list) => check_filters(&locator, &what, list)?.into_iter().unzip(),
    };
    let scoring = crate::metrics::Scoring {
        metrics: metric_defs,
        pipelines,
    };
    Ok(Dataset {
        name: raw.task.clone(),
        dir: at.dir.clone(),
        description: raw.description.clone(),
        data_files,
        test_split,
        fewshot_split: raw.fewshot_split.clone(),
        output_type,
        doc_to_text: raw.doc_to_text.clone(),
        doc_to_target: raw.doc_to_target.clone(),
        doc_to_choice,
        target_delimiter: raw.target_delimiter.clone().unwrap_or_else(|| " ".into()),
        fewshot_delimiter: raw
            .fewshot_delimiter
            .clone()
            .unwrap_or_else(|| "\n\n".into()),
        num_fewshot,
        generation,
        metrics,
        filters,
        scoring,
        repeats,
        chat: raw.chat.unwrap_or(true),
        version: raw.version.clone(),
        format,
        data: DataState::Missing {
            reason: hf_missing.unwrap_or_else(|| "data not checked yet".into()),
        },
        origin: at.origin.clone(),
    })
}

fn keys<V>(map: &BTreeMap<String, V>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn compile(
    locator: &Locator<'_>,
    what: &str,
    field: &str,
    template: &str,
) -> Result<(), CatalogError> {
    let env = minijinja::Environment::new();
    env.template_from_str(template).map(|_| ()).map_err(|e| {
        let detail = e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string());
        let line = e
            .line()
            .map(|l| format!(" (template line {l})"))
            .unwrap_or_default();
        CatalogError::Invalid {
            at: locator.key(field),
            what: what.to_string(),
            field: field.to_string(),
            message: format!("`{field}` is not a valid template: {detail}{line}"),
        }
    })
}

fn check_generation(
    raw: &RawDatasetManifest,
    invalid: &dyn Fn(&str, String) -> CatalogError,
) -> Result<GenerationKwargs, CatalogError> {
    let g = raw
        .generation_kwargs
        .clone()
        .unwrap_or(super::raw::RawGenerationKwargs {
            until: None,
            max_gen_toks: None,
            do_sample: None,
            temperature: None,
            top_p: None,
            top_k: None,
        });
    GenerationKwargs::check(g.max_gen_toks, g.temperature, g.top_p, g.top_k)
        .map_err(|(field, message)| invalid(field, message))?;
    let max_gen_toks = g.max_gen_toks.unwrap_or(256);
    let temperature = g.temperature.unwrap_or(0.0);
    let top_p = g.top_p.unwrap_or(1.0);
    Ok(GenerationKwargs {
        until: g.until.unwrap_or_default(),
        max_gen_toks,
        do_sample: g.do_sample.unwrap_or(temperature > 0.0),
        temperature,
        top_p,
        top_k: g.top_k,
    })
}

fn check_metric(
    locator: &Locator<'_>,
    what: &str,
    m: &RawMetric,
    repeats: u32,
) -> Result<(MetricSpec, crate::metrics::MetricDef), CatalogError> {
    let invalid = |field: &str, message: String| CatalogError::Invalid {
        at: locator.key_in_item("metric", &m.metric, field),
        what: what.to_string(),
        field: field.to_string(),
        message,
    };
    if !vocab::METRICS.contains(&m.metric.as_str()) {
        let near = crate::suggest::closest(&m.metric, vocab::METRICS.iter().copied(), 1);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" ({})", crate::suggest::did_you_mean(&near))
        };
        return Err(invalid(
            "metric",
            format!(
                "unknown metric `{}`{hint}; known: {}",
                m.metric,
                vocab::METRICS.join(", ")
            ),
        ));
    }
    let aggregation = m.aggregation.clone().unwrap_or_else(|| "mean".into());
    if !vocab::AGGREGATIONS.contains(&aggregation.as_str()) {
        return Err(invalid(
            "aggregation",
            format!(
                "`aggregation` must be one of: {}. Given: {aggregation}",
                vocab::AGGREGATIONS.join(", ")
            ),
        ));
    }
    if m.metric == "pass_at_k" {
        // `k`: an integer or a list of integers, each at most `repeats`.
        let ks: Option<Vec<Option<u64>>> = match m.options.get("k") {
            None => return Err(invalid("metric", "`pass_at_k` needs `k`".into())),
            Some(serde_json::Value::Array(list)) if !list.is_empty() => {
                Some(list.iter().map(|v| v.as_u64()).collect())
            }
            Some(v) => v.as_u64().map(|k| vec![Some(k)]),
        };
        let in_range = |k: &Option<u64>| k.is_some_and(|k| (1..=u64::from(repeats)).contains(&k));
        if !ks.is_some_and(|ks| ks.iter().all(in_range)) {
            let given = m
                .options
                .get("k")
                .map(|v| v.to_string())
                .unwrap_or_default();
            return Err(invalid(
                "k",
                format!(
                    "`k` must be between 1 and `repeats` ({repeats}), or a list of such. Given: {given}"
                ),
            ));
        }
    }
    let spec = MetricSpec {
        metric: m.metric.clone(),
        aggregation,
        higher_is_better: m.higher_is_better.unwrap_or(true),
        options: m.options.clone(),
    };
    // The metrics module owns the meaning of each option: parsed once, here, so a typo or an
    // out-of-range value is reported at load time with the manifest's position; the dataset
    // carries the result.
    let def = crate::metrics::parse_metric(&spec).map_err(|e| invalid("metric", e.to_string()))?;
    Ok((spec, def))
}

fn check_filters(
    locator: &Locator<'_>,
    what: &str,
    list: &[RawFilterPipeline],
) -> Result<Vec<(FilterPipeline, crate::metrics::FilterChain)>, CatalogError> {
    let mut out: Vec<(FilterPipeline, crate::metrics::FilterChain)> = Vec::new();
    for p in list {
        let invalid = |field: &str, message: String| CatalogError::Invalid {
            at: locator.key_in_item("name", &p.name, field),
            what: what.to_string(),
            field: field.to_string(),
            message,
        };
        if out.iter().any(|(q, _)| q.name == p.name) {
            return Err(invalid(
                "name",
                format!("filter pipeline `{}` is defined twice", p.name),
            ));
        }
        if p.filter.is_empty() {
            return Err(invalid(
                "filter",
                format!("filter pipeline `{}` has no steps", p.name),
            ));
        }
        let mut steps = Vec::new();
        for s in &p.filter {
            if !vocab::FILTERS.contains(&s.function.as_str()) {
                return Err(invalid(
                    "function",
                    format!(
                        "unknown filter function `{}`; known: {}",
                        s.function,
                        vocab::FILTERS.join(", ")
                    ),
                ));
            }
            if s.function == "regex"
                && !s
                    .options
                    .get("regex_pattern")
                    .is_some_and(|v| v.is_string())
            {
                return Err(invalid(
                    "function",
                    "filter `regex` needs a `regex_pattern` string".into(),
                ));
            }
            steps.push(FilterStep {
                function: s.function.clone(),
                options: s.options.clone(),
            });
        }
        let pipeline = FilterPipeline {
            name: p.name.clone(),
            steps,
        };
        // Regexes compile and options parse once, here, with the manifest's position.
        let chain = crate::metrics::parse_pipeline(&pipeline)
            .map_err(|e| invalid("filter", e.to_string()))?;
        out.push((pipeline, chain));
    }
    Ok(out)
}

/// Validate every data file (rows readable in its format, checked against the layout when the
/// manifest names one), count rows, hash manifest + data (the raw bytes of each file).
fn check_data(
    source: &Source,
    files: &BTreeMap<String, std::path::PathBuf>,
    manifest: &[u8],
    layout: Option<DataLayout>,
) -> Result<DataState, CatalogError> {
    let mut hasher = Sha256::new();
    hasher.update(manifest);
    let mut splits = BTreeMap::new();
    let mut bad_rows = Vec::new();
    for (split, path) in files {
        let shown = path.display().to_string();
        let rel = match source {
            Source::Embedded(_) => shown
                .trim_start_matches(super::source::BUILTIN_PREFIX)
                .to_string(),
            Source::Dir(dir) => path
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        // Files from the Hugging Face cache lie outside the catalog directory.
        let outside = matches!(source, Source::Dir(dir) if !path.starts_with(dir))
            || (matches!(source, Source::Embedded(_)) && path.is_absolute());
        let bytes = if outside {
            match std::fs::read(path) {
                Ok(b) => Some(std::borrow::Cow::Owned(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(CatalogError::Io {
                        path: shown,
                        source,
                    });
                }
            }
        } else {
            source.read(&rel)?
        };
        let Some(bytes) = bytes else {
            return Ok(DataState::Missing {
                reason: format!("data file {shown} (split `{split}`) is missing"),
            });
        };
        let plain_jsonl = layout.is_none()
            && crate::tasks::formats::FileFormat::from_name(&shown)
                == Some(crate::tasks::formats::FileFormat::Jsonl);
        if plain_jsonl {
            // Malformed rows are recorded (the run decides with --skip-bad-rows).
            let (rows, bad) = scan_jsonl_rows(&shown, &bytes);
            splits.insert(split.clone(), rows);
            bad_rows.extend(bad);
        } else {
            splits.insert(split.clone(), count_rows(&shown, &bytes, layout)?);
        }
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let hash = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(DataState::Ready {
        splits,
        hash,
        bad_rows,
    })
}

/// Good rows of a `.jsonl` file, and every malformed row as its error message
/// (`file:line:column: ...`), instead of stopping at the first.
pub fn scan_jsonl_rows(label: &str, bytes: &[u8]) -> (u64, Vec<String>) {
    let parsed = crate::tasks::formats::parse_jsonl(bytes);
    let bad = parsed
        .bad
        .iter()
        .map(|b| bad_row(label, b).to_string())
        .collect();
    (parsed.rows.len() as u64, bad)
}

/// A malformed row as a catalog error naming file, line and column.
fn bad_row(label: &str, b: &crate::tasks::rows::BadRow) -> CatalogError {
    CatalogError::Data {
        at: Loc::at(label, b.line, b.column),
        message: b.reason.clone(),
    }
}

/// Rows of a data file in any supported format (by extension), checked for `layout`. The first
/// malformed row is an error naming file and line (row number for Parquet and `.json`); an
/// empty file has 0 rows.
pub fn count_rows(
    label: &str,
    bytes: &[u8],
    layout: Option<DataLayout>,
) -> Result<u64, CatalogError> {
    let jsonl = crate::tasks::formats::FileFormat::from_name(label)
        == Some(crate::tasks::formats::FileFormat::Jsonl);
    if jsonl && layout.is_none() {
        return count_jsonl_rows(label, bytes);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(0);
    }
    let parsed =
        crate::tasks::formats::read(bytes, label, layout).map_err(|e| CatalogError::Data {
            at: Loc::file(label),
            message: e.message,
        })?;
    if let Some(bad) = parsed.bad.first() {
        return Err(CatalogError::Data {
            at: Loc::at(label, bad.line, 1),
            message: bad.reason.clone(),
        });
    }
    Ok(parsed.rows.len() as u64)
}

/// Rows of a `.jsonl` file: each non-blank line must be a JSON object. Errors name file,
/// line and column.
pub fn count_jsonl_rows(label: &str, bytes: &[u8]) -> Result<u64, CatalogError> {
    parse_jsonl_rows(label, bytes).map(|rows| rows.len() as u64)
}

/// Parse every row of a `.jsonl` file; the first malformed row is an error.
pub fn parse_jsonl_rows(
    label: &str,
    bytes: &[u8],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, CatalogError> {
    let parsed = crate::tasks::formats::parse_jsonl(bytes);
    if let Some(b) = parsed.bad.first() {
        return Err(bad_row(label, b));
    }
    Ok(parsed.rows.into_iter().map(|r| r.fields).collect())
}
