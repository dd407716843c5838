//! Tests of the data file readers, the known layouts, the HF cache and ad hoc datasets, on the
//! fixtures in `tests/data/formats/` (made-up rows in the HumanEval, GSM8K and MMLU layouts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::catalog::{DataLayout, DataState, Dataset};
use crate::tasks::{self, Prompt, Target, TaskError, TaskOptions};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

fn read_fixture(name: &str, layout: Option<DataLayout>) -> Result<Parsed, FileError> {
    let path = fixture(name);
    let bytes = std::fs::read(&path).unwrap();
    read(&bytes, &path.display().to_string(), layout)
}

fn adhoc(name: &str, layout: Option<DataLayout>) -> Dataset {
    tasks::adhoc_dataset(&fixture(name), layout).unwrap()
}

fn show(ds: &Dataset, n: usize) -> tasks::Prepared {
    tasks::prepare(
        ds,
        &TaskOptions {
            limit: Some(n),
            ..TaskOptions::default()
        },
        &tasks::DiskSource,
    )
    .unwrap()
}

fn plain(p: &Prompt) -> &str {
    match p {
        Prompt::Plain(t) => t,
        Prompt::Chat(_) => panic!("plain prompt expected"),
    }
}

#[test]
fn every_format_reads_the_same_rows() {
    let jsonl = read_fixture("gsm8k.jsonl", None).unwrap();
    assert_eq!(jsonl.rows.len(), 3);
    assert_eq!(
        jsonl.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for name in ["gsm8k.json", "gsm8k.csv", "gsm8k.parquet"] {
        let other = read_fixture(name, None).unwrap();
        assert!(other.bad.is_empty(), "{name}: {:?}", other.bad);
        let fields: Vec<_> = other.rows.iter().map(|r| &r.fields).collect();
        let want: Vec<_> = jsonl.rows.iter().map(|r| &r.fields).collect();
        assert_eq!(fields, want, "{name}");
    }
    // CSV rows are numbered by the line they start on (answers span two lines).
    let csv = read_fixture("gsm8k.csv", None).unwrap();
    assert_eq!(
        csv.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    assert_eq!(csv.columns, vec!["question", "answer"]);
    let pq = read_fixture("mmlu.parquet", None).unwrap();
    assert_eq!(pq.columns, vec!["question", "subject", "choices", "answer"]);
    assert_eq!(
        pq.rows[0].fields["choices"],
        serde_json::json!(["Orin", "Tamsk", "Lyre", "Pell"])
    );
    assert_eq!(pq.rows[0].fields["answer"], 2);
    assert_eq!(pq.rows[1].line, 2);
}

#[test]
fn json_array_variants() {
    let p = json::parse(br#"{"data": [{"a": 1}, 3, {"a": 2}]}"#, "x.json").unwrap();
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.bad[0].line, 2);
    assert!(p.bad[0].reason.contains("found a number"), "{:?}", p.bad);
    let e = json::parse(b"\"text\"", "x.json").unwrap_err();
    assert!(
        e.to_string().starts_with("x.json: expected a JSON array"),
        "{e}"
    );
    let e = json::parse(b"[{\"a\": 1},\n{oops}]", "x.json").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = json::parse(b"  \n", "x.json").unwrap_err();
    assert_eq!(e.to_string(), "x.json: the file is empty");
}

#[test]
fn csv_header_problems_name_file_and_line() {
    let e = csv::parse(b"question,,answer\nq,x,a\n", "f.csv", None).unwrap_err();
    assert_eq!(e.to_string(), "f.csv: line 1: header column 2 has no name");
    let e = csv::parse(b"a,b,a\n1,2,3\n", "f.csv", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "f.csv: line 1: header names column `a` twice"
    );
    let p = csv::parse(b"a,b\n1,2\n\n\xff,3\n", "f.csv", None).unwrap();
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.bad.len(), 1);
    assert_eq!(p.bad[0].line, 4);
    assert!(
        p.bad[0].reason.contains("`a` is not valid UTF-8"),
        "{:?}",
        p.bad
    );
}

#[test]
fn ragged_csv_row_is_reported_with_file_line_and_counts() {
    let parsed = read_fixture("ragged.csv", None).unwrap();
    assert_eq!(parsed.rows.len(), 2);
    assert_eq!(parsed.bad.len(), 1);
    assert_eq!(parsed.bad[0].line, 4);
    assert_eq!(
        parsed.bad[0].reason,
        "ragged row: 1 field(s) where the header has 2 (question, answer)"
    );
    // Through the task loader: the run fails naming file and line, unless asked to skip.
    let ds = adhoc("gsm8k.csv", Some(DataLayout::Gsm8k));
    let path = fixture("ragged.csv").display().to_string();
    let bytes = std::fs::read(fixture("ragged.csv")).unwrap();
    let err = tasks::load_rows(&ds, "test", &bytes, &path, false).unwrap_err();
    assert!(
        err.to_string().contains(&format!("{path}:4: ragged row")),
        "{err}"
    );
    let rows = tasks::load_rows(&ds, "test", &bytes, &path, true).unwrap();
    assert_eq!(rows.rows.len(), 2);
    // And at catalog load, as an ad hoc dataset.
    let err = tasks::adhoc_dataset(&fixture("ragged.csv"), Some(DataLayout::Gsm8k)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{path}:4:1: ragged row")),
        "{err}"
    );
}

#[test]
fn empty_files_are_errors_naming_the_file() {
    let path = fixture("empty.csv").display().to_string();
    let e = read_fixture("empty.csv", None).unwrap_err();
    assert_eq!(e.to_string(), format!("{path}: the file is empty"));
    let ds = adhoc("gsm8k.csv", Some(DataLayout::Gsm8k));
    let err = tasks::load_rows(&ds, "test", b"", &path, false).unwrap_err();
    assert!(err.to_string().contains(&path), "{err}");
    for (bytes, name) in [
        (&b""[..], "e.parquet"),
        (b"", "e.json"),
        (b"\n\n", "e.jsonl"),
    ] {
        let err = tasks::load_rows(&ds, "test", bytes, name, false).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
    // An ad hoc dataset from an empty file has no rows: `--show` says so, naming the file.
    let err = tasks::adhoc_dataset(&fixture("empty.csv"), Some(DataLayout::Gsm8k))
        .map(|d| show_err(&d))
        .unwrap();
    assert!(err.contains("empty.csv"), "{err}");
}

fn show_err(ds: &Dataset) -> String {
    tasks::prepare(ds, &TaskOptions::default(), &tasks::DiskSource)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn parquet_with_an_unexpected_schema_names_the_missing_columns() {
    let path = fixture("unexpected_schema.parquet").display().to_string();
    let e = read_fixture("unexpected_schema.parquet", Some(DataLayout::Mmlu)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{path}: unexpected columns for the mmlu layout: missing `question`, `answer`, `choices (or A, B, C, D)` (the file has: prompt_text, label)"
        )
    );
    let e = tasks::adhoc_dataset(&fixture("unexpected_schema.parquet"), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot tell which layout this file has (columns: prompt_text, label)"),
        "{e}"
    );
}

#[test]
fn parquet_codecs_outside_the_build_are_named() {
    let e = read_fixture("zstd.parquet", None).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("zstd.parquet"), "{text}");
    assert!(text.to_ascii_lowercase().contains("zstd"), "{text}");
    assert!(text.contains("Snappy and gzip"), "{text}");
}

#[test]
fn gold_index_out_of_range_names_file_row_and_field() {
    let p = read_fixture("mmlu_out_of_range.csv", Some(DataLayout::Mmlu)).unwrap();
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.bad.len(), 1);
    assert_eq!(p.bad[0].line, 2);
    assert_eq!(
        p.bad[0].reason,
        "field `answer`: gold index 5 is out of range for 4 choices (valid: 0..=3)"
    );
    let path = fixture("mmlu_out_of_range.parquet").display().to_string();
    let e = tasks::adhoc_dataset(&fixture("mmlu_out_of_range.parquet"), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{path}:2:1: field `answer`: gold index 7 is out of range for 4 choices (valid: 0..=3)"
        )
    );
}

#[test]
fn gsm8k_answer_without_final_number_is_a_bad_row() {
    let p = read_fixture("gsm8k_no_final_answer.jsonl", Some(DataLayout::Gsm8k)).unwrap();
    assert_eq!(p.bad.len(), 1);
    assert_eq!(p.bad[0].line, 2);
    assert!(
        p.bad[0]
            .reason
            .contains("field `answer` does not end with `#### N`")
    );
    // A missing field is named too.
    let row = crate::tasks::testing::row(7, r#"{"question": "q"}"#);
    let bad = mapping::normalize(DataLayout::Gsm8k, row, "x.jsonl").unwrap_err();
    assert_eq!(
        (bad.line, bad.reason.as_str()),
        (7, "field `answer` is missing")
    );
    let row = crate::tasks::testing::row(3, r#"{"task_id": 1}"#);
    let bad = mapping::normalize(DataLayout::Humaneval, row, "x.jsonl").unwrap_err();
    assert_eq!(
        bad.reason,
        "field `task_id` must be a string, found a number"
    );
}

#[test]
fn layouts_are_detected_from_columns() {
    let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        mapping::detect(&cols(&[
            "task_id",
            "prompt",
            "canonical_solution",
            "test",
            "entry_point"
        ])),
        Some(DataLayout::Humaneval)
    );
    assert_eq!(
        mapping::detect(&cols(&["question", "answer"])),
        Some(DataLayout::Gsm8k)
    );
    assert_eq!(
        mapping::detect(&cols(&["question", "subject", "choices", "answer"])),
        Some(DataLayout::Mmlu)
    );
    assert_eq!(
        mapping::detect(&cols(&["question", "answer", "extra"])),
        None
    );
    assert_eq!(mapping::detect(&cols(&[])), None);
}

#[test]
fn gsm8k_mapping_renders_lm_eval_prompts_and_number_targets() {
    for name in ["gsm8k.jsonl", "gsm8k.csv", "gsm8k.parquet", "gsm8k.json"] {
        let ds = adhoc(name, None);
        assert_eq!(ds.format, Some(DataLayout::Gsm8k), "{name}");
        assert_eq!(ds.test_rows(), 3, "{name}");
        let p = show(&ds, 2);
        assert_eq!(
            plain(&p.items[0].prompt),
            "Question: A baker fills 4 trays with 6 rolls each. How many rolls are there?\nAnswer:"
        );
        assert_eq!(p.items[0].target, Target::Text("24".into()));
        assert_eq!(p.items[1].gold_text, "8");
    }
    let ds = adhoc("gsm8k.jsonl", None);
    assert_eq!(
        ds.filters
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        vec!["strict-match", "flexible-extract"]
    );
    assert_eq!(
        ds.metrics
            .iter()
            .map(|m| m.metric.as_str())
            .collect::<Vec<_>>(),
        vec!["exact_match", "numeric_match"]
    );
    assert_eq!(ds.generation.until, vec!["Question:", "</s>", "<|im_end|>"]);
    let DataState::Ready { hash, .. } = &ds.data else {
        panic!("ready expected")
    };
    assert_eq!(hash.len(), 64);
}

#[test]
fn mmlu_mapping_reads_hf_parquet_and_headerless_csv_alike() {
    let ds = adhoc("mmlu.parquet", None);
    assert_eq!(ds.output_type, crate::catalog::OutputType::MultipleChoice);
    let p = show(&ds, 1);
    assert_eq!(
        plain(&p.items[0].prompt),
        "The following are multiple choice questions (with answers) about astronomy.\n\nWhich planet in this made-up list is closest to the fictional star Vela?\nA. Orin\nB. Tamsk\nC. Lyre\nD. Pell\nAnswer:"
    );
    assert_eq!(p.items[0].target, Target::Choice(2));
    assert_eq!(p.items[0].gold_text, "C");
    assert_eq!(p.requests.len(), 4);

    // The original CSV files have no header; the subject comes from the file name.
    let ds = adhoc("astronomy_test.csv", Some(DataLayout::Mmlu));
    assert_eq!(ds.test_rows(), 3);
    let p = show(&ds, 3);
    assert!(
        plain(&p.items[1].prompt).starts_with(
            "The following are multiple choice questions (with answers) about astronomy.\n\nWhich town, in the same atlas, sits on an island?\nA. Port Iva\n"
        ),
        "{:?}",
        p.items[1].prompt
    );
    assert_eq!(
        p.items.iter().map(|i| i.target.clone()).collect::<Vec<_>>(),
        vec![Target::Choice(3), Target::Choice(0), Target::Choice(1)]
    );
    // Without --format a header-less CSV cannot be recognised: its first row is the header.
    let e = tasks::adhoc_dataset(&fixture("astronomy_test.csv"), None).unwrap_err();
    assert!(e.to_string().contains("cannot tell which layout"), "{e}");
}

#[test]
fn humaneval_mapping_keeps_the_fields_the_sandbox_needs() {
    for name in ["humaneval.jsonl", "humaneval.parquet"] {
        let ds = adhoc(name, None);
        assert_eq!(ds.format, Some(DataLayout::Humaneval));
        assert!(!ds.chat);
        assert_eq!(ds.metrics[0].metric, "pass_at_k");
        let p = show(&ds, 2);
        assert!(plain(&p.items[0].prompt).starts_with("def double(x: int) -> int:\n"));
        assert_eq!(p.items[0].gold_text, "    return 2 * x\n");
        for field in ["task_id", "test", "entry_point"] {
            assert!(p.items[1].fields[field].is_string(), "{name} {field}");
        }
    }
}

#[test]
fn a_template_naming_a_missing_field_reports_file_row_and_field() {
    let mut ds = adhoc("mmlu.parquet", None);
    ds.doc_to_text = "{{ question }} ({{ topic }})".into();
    let err = show_err(&ds);
    let path = fixture("mmlu.parquet").display().to_string();
    assert!(
        err.contains(&format!(
            "{path}:1: `doc_to_text` failed to render: the row has no field `topic`"
        )),
        "{err}"
    );
}

#[test]
fn hf_cache_splits_configs_and_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path();
    let snap = hub.join("datasets--org--quiz/snapshots/abc123");
    let copy = |rel: &str, from: &str| {
        let to = snap.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixture(from), to).unwrap();
    };
    copy("all/test-00000-of-00001.parquet", "mmlu.parquet");
    copy("all/dev-00000-of-00001.parquet", "mmlu.parquet");
    copy("astronomy/test/0000.parquet", "mmlu.parquet");
    std::fs::create_dir_all(hub.join("datasets--org--quiz/refs")).unwrap();
    std::fs::write(hub.join("datasets--org--quiz/refs/main"), "abc123").unwrap();

    let splits = hf_cache::resolve_in(hub, "org/quiz", Some("all"), None).unwrap();
    assert_eq!(splits.keys().collect::<Vec<_>>(), vec!["dev", "test"]);
    let splits =
        hf_cache::resolve_in(hub, "hf://org/quiz", Some("astronomy"), Some("abc123")).unwrap();
    assert!(splits["test"].ends_with("astronomy/test/0000.parquet"));
    let e = hf_cache::resolve_in(hub, "org/quiz", None, None).unwrap_err();
    assert!(e.contains("split `test` is in 2 files"), "{e}");
    assert!(e.contains("hf_config"), "{e}");
    let e = hf_cache::resolve_in(hub, "org/quiz", Some("nope"), None).unwrap_err();
    assert!(
        e.contains("no .parquet files for config `nope` (directories: all, astronomy)"),
        "{e}"
    );
    let e = hf_cache::resolve_in(hub, "org/absent", None, None).unwrap_err();
    assert!(e.contains("`org/absent` is not in the local cache"), "{e}");
    assert!(e.contains("datasets--org--absent"), "{e}");
    let e = hf_cache::resolve_in(hub, "../etc", None, None).unwrap_err();
    assert!(e.contains("not a Hugging Face dataset id"), "{e}");
    assert_eq!(
        hf_cache::split_of(Path::new("data/validation-00001-of-00003.parquet")).as_deref(),
        Some("validation")
    );
}

#[test]
fn manifest_with_format_and_hf_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    let snap = hub.join("datasets--org--quiz/snapshots/abc123/main");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(
        fixture("mmlu.parquet"),
        snap.join("test-00000-of-00001.parquet"),
    )
    .unwrap();
    let splits = hf_cache::resolve_in(&hub, "org/quiz", Some("main"), None).unwrap();
    // The catalog reads the HF cache of the environment; the resolved files load like any.
    let dir = tmp.path().join("cat");
    std::fs::create_dir_all(&dir).unwrap();
    let raw: crate::catalog::raw::RawDatasetManifest = serde_norway::from_str(&format!(
        "task: quiz\nformat: mmlu\ndata_files: {{test: {:?}}}\n",
        splits["test"].display().to_string()
    ))
    .unwrap();
    let ds = crate::catalog::datasets::load_manifest_at("quiz.yaml", "", raw, &dir).unwrap();
    assert_eq!(ds.test_rows(), 2);
    assert_eq!(
        ds.doc_to_choice,
        Some(crate::catalog::ChoiceSpec::List(vec![
            "A".into(),
            "B".into(),
            "C".into(),
            "D".into()
        ]))
    );
}

#[test]
fn defaults_of_every_layout_pass_the_catalog_checks() {
    for layout in DataLayout::ALL {
        let mut raw: crate::catalog::raw::RawDatasetManifest =
            serde_norway::from_str("task: t\ndata_files: {test: t.jsonl}\n").unwrap();
        mapping::apply_defaults(&mut raw, layout).unwrap();
        assert!(!raw.doc_to_text.is_empty() && !raw.metric_list.is_empty());
        let text = format!(
            "task: t\nformat: {}\ndata_files: {{test: t.jsonl}}\n",
            layout.as_str()
        );
        let ds = crate::catalog::datasets::parse_manifest(
            "m.yaml",
            text.as_bytes(),
            "t",
            &crate::catalog::source::Source::Dir(std::env::temp_dir()),
        )
        .unwrap();
        assert_eq!(ds.format, Some(layout));
    }
}

#[test]
fn unknown_extension_and_bad_format_are_refused() {
    let ds = adhoc("gsm8k.jsonl", None);
    let err = tasks::load_rows(&ds, "test", b"a", "x.xlsx", false).unwrap_err();
    assert!(matches!(err, TaskError::Format { .. }), "{err:?}");
    let e = tasks::adhoc_dataset(Path::new("/nonexistent/x.xlsx"), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("supported: .jsonl, .json, .csv, .parquet"),
        "{e}"
    );
    let e = tasks::adhoc_dataset(Path::new("/nonexistent/x.csv"), None).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/x.csv"), "{e}");
}

/// Random bytes, and random bytes dressed as each format, never panic any reader.
#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(0xda7a);
    let real_parquet = std::fs::read(fixture("mmlu.parquet")).unwrap();
    let names = ["g.jsonl", "g.json", "g.csv", "g.parquet"];
    let layouts = [
        None,
        Some(DataLayout::Humaneval),
        Some(DataLayout::Gsm8k),
        Some(DataLayout::Mmlu),
    ];
    for round in 0..400 {
        let len = rng.random_range(0..600);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        match round % 4 {
            // Parquet magic at both ends, so the decoder itself runs.
            1 => {
                bytes.splice(0..0, *b"PAR1");
                bytes.extend_from_slice(b"PAR1");
            }
            // A real Parquet file with bytes flipped.
            2 => {
                bytes = real_parquet.clone();
                for _ in 0..rng.random_range(1..20) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
            // Text-like: structural characters of CSV and JSON.
            3 => {
                let alphabet = b"{}[]\",:\n\r ab01#-ABCD";
                bytes = (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect();
            }
            _ => {}
        }
        for name in names {
            for layout in layouts {
                let _ = read(&bytes, name, layout);
            }
        }
    }
}

#[test]
fn catalog_manifest_with_a_format_and_a_csv_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("datasets/astro");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("astronomy_test.csv"),
        dir.join("astronomy_test.csv"),
    )
    .unwrap();
    std::fs::copy(fixture("astronomy_dev.csv"), dir.join("astronomy_dev.csv")).unwrap();
    std::fs::write(
        dir.join("manifest.yaml"),
        "task: astro\nformat: mmlu\ndata_files: {test: astronomy_test.csv, dev: astronomy_dev.csv}\nfewshot_split: dev\nnum_fewshot: 1\n",
    )
    .unwrap();
    let source = crate::catalog::source::Source::Dir(tmp.path().to_path_buf());
    let catalog = crate::catalog::load_sources(
        &crate::catalog::source::Source::Embedded(&[]),
        Some(&source),
    )
    .unwrap();
    let ds = &catalog.datasets["astro"];
    let DataState::Ready { splits, .. } = &ds.data else {
        panic!("{:?}", ds.data)
    };
    assert_eq!((splits["test"], splits["dev"]), (3, 2));
    let rows = crate::catalog::read_rows(ds, "test").unwrap();
    assert_eq!(rows[0]["answer"], 3);
    let p = show(ds, 1);
    assert_eq!(plain(&p.items[0].prompt).matches("Answer:").count(), 2);

    // Without `format` and without templates, the manifest names what is missing.
    std::fs::write(
        dir.join("manifest.yaml"),
        "task: astro\ndata_files: {test: astronomy_test.csv}\n",
    )
    .unwrap();
    let e = crate::catalog::load_sources(
        &crate::catalog::source::Source::Embedded(&[]),
        Some(&source),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`output_type` is required (or name a `format` that supplies it)"),
        "{e}"
    );
    std::fs::write(
        dir.join("manifest.yaml"),
        "task: astro\nformat: squad\ndata_files: {test: astronomy_test.csv}\n",
    )
    .unwrap();
    let e = crate::catalog::load_sources(
        &crate::catalog::source::Source::Embedded(&[]),
        Some(&source),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            ":2:1: dataset `astro`: `format` must be one of: humaneval, gsm8k, mmlu. Given: squad"
        ),
        "{e}"
    );
}
