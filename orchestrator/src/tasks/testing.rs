//! Test helpers: `Dataset` values from manifest YAML (a minimal stand-in for the catalog's own
//! checking, enough for rendering), the shipped datasets, and rows from JSON text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::catalog::raw::{RawChoices, RawDatasetManifest};
use crate::catalog::{
    ChoiceSpec, DataState, Dataset, GenerationKwargs, MetricSpec, Origin, OutputType,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository's `datasets/` directory.
pub fn datasets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

/// A dataset from manifest text, with its data files looked up under `dir`.
pub fn dataset_in(dir: &Path, yaml: &str) -> Dataset {
    let raw: RawDatasetManifest = serde_norway::from_str(yaml).expect("test manifest parses");
    let output_type = match raw.output_type.as_str() {
        "multiple_choice" => OutputType::MultipleChoice,
        "generate_until" => OutputType::GenerateUntil,
        "loglikelihood" => OutputType::Loglikelihood,
        other => panic!("unknown output_type {other}"),
    };
    let data_files: BTreeMap<String, PathBuf> = raw
        .data_files
        .iter()
        .map(|(k, v)| (k.clone(), PathBuf::from(v)))
        .collect();
    let mut splits = BTreeMap::new();
    let mut missing = None;
    for (split, file) in &data_files {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(text) => {
                splits.insert(
                    split.clone(),
                    text.lines().filter(|l| !l.trim().is_empty()).count() as u64,
                );
            }
            Err(e) => missing = Some(format!("{}: {e}", file.display())),
        }
    }
    let fewshot_delimiter = raw
        .fewshot_delimiter
        .clone()
        .unwrap_or_else(|| "\n\n".into());
    let g = raw.generation_kwargs.clone();
    let mut dataset = Dataset {
        name: raw.task.clone(),
        dir: dir.to_path_buf(),
        description: raw.description.clone(),
        data_files,
        test_split: raw.test_split.clone().unwrap_or_else(|| "test".into()),
        fewshot_split: raw.fewshot_split.clone(),
        output_type,
        doc_to_text: raw.doc_to_text.clone(),
        doc_to_target: raw.doc_to_target.clone(),
        doc_to_choice: raw.doc_to_choice.clone().map(|c| match c {
            RawChoices::Template(t) => ChoiceSpec::Template(t),
            RawChoices::List(l) => ChoiceSpec::List(l),
        }),
        target_delimiter: raw.target_delimiter.clone().unwrap_or_else(|| " ".into()),
        num_fewshot: raw.num_fewshot.unwrap_or(0),
        generation: GenerationKwargs {
            until: g
                .as_ref()
                .and_then(|g| g.until.clone())
                .unwrap_or_else(|| vec![fewshot_delimiter.clone()]),
            max_gen_toks: g.as_ref().and_then(|g| g.max_gen_toks).unwrap_or(256),
            do_sample: g.as_ref().and_then(|g| g.do_sample).unwrap_or(false),
            temperature: g.as_ref().and_then(|g| g.temperature).unwrap_or(0.0),
            top_p: g.as_ref().and_then(|g| g.top_p).unwrap_or(1.0),
            top_k: g.as_ref().and_then(|g| g.top_k),
        },
        fewshot_delimiter,
        metrics: raw
            .metric_list
            .iter()
            .map(|m| MetricSpec {
                metric: m.metric.clone(),
                aggregation: m.aggregation.clone().unwrap_or_else(|| "mean".into()),
                higher_is_better: m.higher_is_better.unwrap_or(true),
                options: m.options.clone(),
            })
            .collect(),
        filters: Vec::new(),
        scoring: Default::default(),
        repeats: raw.repeats.unwrap_or(1),
        chat: raw.chat.unwrap_or(true),
        version: raw.version.clone(),
        format: raw
            .format
            .as_deref()
            .and_then(crate::catalog::DataLayout::parse),
        data: match missing {
            Some(reason) => DataState::Missing { reason },
            None => DataState::Ready {
                splits,
                hash: "0".repeat(64),
                bad_rows: Vec::new(),
            },
        },
        origin: Origin::Builtin,
    };
    dataset.scoring = crate::metrics::Scoring::parse(&dataset.metrics, &dataset.filters)
        .expect("test metrics parse");
    dataset
}

/// A dataset from manifest text whose data files do not exist (rendering tests).
pub fn dataset_from_yaml(name: &str, yaml: &str) -> Dataset {
    dataset_in(
        &std::env::temp_dir().join("assay-no-such-dir").join(name),
        yaml,
    )
}

/// A shipped dataset from `datasets/<name>/manifest.yaml`.
pub fn shipped(name: &str) -> Dataset {
    let dir = datasets_dir().join(name);
    let yaml = std::fs::read_to_string(dir.join("manifest.yaml")).expect("shipped manifest");
    dataset_in(&dir, &yaml)
}

/// Names of every shipped dataset directory.
pub fn shipped_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(datasets_dir())
        .expect("datasets dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    names.sort();
    names
}

/// A row from JSON object text.
pub fn row(line: usize, json: &str) -> super::Row {
    match serde_json::from_str(json).expect("test row parses") {
        serde_json::Value::Object(fields) => super::Row { line, fields },
        other => panic!("test row is not an object: {other}"),
    }
}
