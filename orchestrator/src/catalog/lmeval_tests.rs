//! Tests of the lm-evaluation-harness task importer on `tests/data/formats/lmeval/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::catalog::{ChoiceSpec, OutputType};
use crate::tasks::{self, Prompt, Target, TaskOptions};

fn yaml(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats/lmeval")
        .join(name)
}

fn first_prompt(ds: &Dataset) -> (String, Target) {
    let p = tasks::prepare(
        ds,
        &TaskOptions {
            limit: Some(1),
            ..TaskOptions::default()
        },
        &tasks::DiskSource,
    )
    .unwrap();
    let Prompt::Plain(text) = &p.items[0].prompt else {
        panic!("plain prompt expected")
    };
    (text.clone(), p.items[0].target.clone())
}

#[test]
fn gsm8k_task_with_include_maps_every_key() {
    let ds = load_lmeval_task(&yaml("gsm8k_fixture.yaml")).unwrap();
    assert_eq!(ds.name, "gsm8k_fixture");
    assert_eq!(ds.output_type, OutputType::GenerateUntil);
    assert_eq!(ds.num_fewshot, 2, "the includer's value wins");
    assert_eq!(ds.test_split, "test");
    assert_eq!(ds.fewshot_split.as_deref(), Some("train"));
    assert_eq!(ds.generation.until, vec!["Question:", "</s>", "<|im_end|>"]);
    assert!(!ds.generation.do_sample);
    assert_eq!(ds.filters.len(), 2);
    assert_eq!(ds.filters[1].steps[0].options["group_select"], -1);
    assert_eq!(ds.metrics[0].metric, "exact_match");
    assert_eq!(ds.metrics[0].options["ignore_case"], true);
    assert!(!ds.chat);
    assert_eq!(ds.test_rows(), 3);
    // Data files are resolved relative to the YAML file; the `.json` array is the train split.
    assert!(ds.data_files["train"].ends_with("formats/lmeval/../gsm8k.json"));
    let (prompt, target) = first_prompt(&ds);
    assert!(prompt.starts_with("Question: "), "{prompt}");
    // Two shots drawn from the train split; as in lm-eval, a shot equal to the test document
    // is dropped (the fixture's train split repeats the test rows).
    assert!(prompt.matches("Question:").count() >= 2, "{prompt}");
    assert!(
        prompt.ends_with(
            "Question: A baker fills 4 trays with 6 rolls each. How many rolls are there?\nAnswer:"
        ),
        "{prompt}"
    );
    let Target::Text(t) = target else { panic!() };
    assert!(t.ends_with("#### 24"), "{t}");
}

#[test]
fn mmlu_task_from_parquet_with_a_column_target() {
    let ds = load_lmeval_task(&yaml("mmlu_fixture.yaml")).unwrap();
    assert_eq!(ds.output_type, OutputType::MultipleChoice);
    assert_eq!(
        ds.doc_to_choice,
        Some(ChoiceSpec::List(vec![
            "A".into(),
            "B".into(),
            "C".into(),
            "D".into()
        ]))
    );
    let (prompt, target) = first_prompt(&ds);
    assert!(prompt.starts_with("The following are multiple choice questions (with answers) about astronomy.\n\nWhich planet"), "{prompt}");
    assert!(prompt.ends_with("D. Pell\nAnswer:"), "{prompt}");
    assert_eq!(target, Target::Choice(2));
}

#[test]
fn csv_task_with_column_text_and_remove_whitespace() {
    let ds = load_lmeval_task(&yaml("csv_task.yaml")).unwrap();
    assert_eq!(ds.test_split, "train");
    assert_eq!(ds.filters[0].steps[0].function, "remove_whitespace");
    assert_eq!(ds.generation.until, vec!["\n\n"]);
    assert_eq!(ds.generation.max_gen_toks, 64);
    let (prompt, target) = first_prompt(&ds);
    assert_eq!(
        prompt,
        "A baker fills 4 trays with 6 rolls each. How many rolls are there?"
    );
    assert_eq!(target, Target::Text("24".into()));
}

#[test]
fn python_only_parts_are_refused_with_file_line_and_key() {
    let path = yaml("with_function.yaml").display().to_string();
    let e = load_lmeval_task(&yaml("with_function.yaml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{path}:3:15: lm-eval task: `process_docs` is `!function utils.process_docs`, a Python function that assay cannot run; write it as a Jinja template (or preprocess the data into a file)"
        )
    );
    let path = yaml("with_class.yaml").display().to_string();
    let e = load_lmeval_task(&yaml("with_class.yaml")).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with(&format!("{path}:2:")), "{text}");
    assert!(
        text.contains("`class:` names a Python task class"),
        "{text}"
    );
}

#[test]
fn hf_dataset_absent_from_the_cache_is_an_error_naming_the_key() {
    let path = yaml("hf_missing.yaml").display().to_string();
    let e = load_lmeval_task(&yaml("hf_missing.yaml")).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with(&format!("{path}:3:")), "{text}");
    assert!(
        text.contains("`cais/mmlu` is not in the local cache")
            || text.contains("no Hugging Face cache directory"),
        "{text}"
    );
}

#[test]
fn unsupported_keys_cycles_and_bad_values() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    write("d.jsonl", "{\"q\": \"x\", \"a\": \"y\"}\n");
    let base = "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: generate_until\ndoc_to_text: q\ndoc_to_target: a\n";
    let ok = write("ok.yaml", base);
    let ds = load_lmeval_task(&ok).unwrap();
    assert_eq!(
        ds.metrics[0].metric, "exact_match",
        "lm-eval's default metric"
    );
    let p = write("p.yaml", &format!("{base}use_prompt: promptsource:x\n"));
    let e = load_lmeval_task(&p).unwrap_err().to_string();
    assert!(
        e.contains(":9:") && e.contains("`use_prompt` is not supported"),
        "{e}"
    );
    let p = write("g.yaml", &format!("{base}generation_kwargs:\n  beams: 4\n"));
    let e = load_lmeval_task(&p).unwrap_err().to_string();
    assert!(
        e.contains("`generation_kwargs.beams` is not supported"),
        "{e}"
    );
    let p = write("m.yaml", &format!("{base}metric_list:\n  - metric: bleu\n"));
    let e = load_lmeval_task(&p).unwrap_err().to_string();
    assert!(e.contains("unknown metric `bleu`"), "{e}");
    let p = write("group.yaml", "group: g\ntask:\n  - a\n  - b\n");
    let e = load_lmeval_task(&p).unwrap_err().to_string();
    assert!(e.contains("group file"), "{e}");
    let a = write("a.yaml", "include: b.yaml\ntask: a\n");
    write("b.yaml", "include: a.yaml\n");
    let e = load_lmeval_task(&a).unwrap_err().to_string();
    assert!(e.contains("`include` cycle"), "{e}");
    let p = write(
        "tag.yaml",
        &format!("{base}doc_to_choice: !!python/name:x\n"),
    );
    assert!(load_lmeval_task(&p).is_err());
    let p = write("nodata.yaml", &base.replace("d.jsonl", "missing.jsonl"));
    let ds = load_lmeval_task(&p).unwrap();
    assert!(matches!(ds.data, crate::catalog::DataState::Missing { .. }));
}

/// Random and mutated task files never panic the importer.
#[test]
fn garbage_yaml_never_panics() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(yaml("../gsm8k.jsonl"), tmp.path().join("gsm8k.jsonl")).unwrap();
    let seed = std::fs::read_to_string(yaml("_gsm8k_base.yaml"))
        .unwrap()
        .replace("../gsm8k.json", "gsm8k.jsonl")
        + "task: t\n";
    let mut rng = StdRng::seed_from_u64(0x1e7a1);
    let path = tmp.path().join("t.yaml");
    for _ in 0..150 {
        let mut bytes = seed.clone().into_bytes();
        for _ in 0..rng.random_range(1..6) {
            let i = rng.random_range(0..bytes.len());
            let alphabet = b"{}[]:-!&*|>\"' \n#ab0";
            bytes[i] = alphabet[rng.random_range(0..alphabet.len())];
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = load_lmeval_task(&path);
    }
}
