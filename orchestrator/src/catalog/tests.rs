//! Catalog loading end to end: layers, references, readiness, datasets and data files.

use super::*;
use std::fs;

fn good_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/good")
}

fn load_good() -> Result<Catalog, CatalogError> {
    load_sources(&Source::Embedded(&[]), Some(&Source::Dir(good_dir())))
}

/// A writable copy of the good test catalog.
fn copy_good() -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    copy_tree(&good_dir(), tmp.path())?;
    Ok(tmp)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn load_dir(dir: &Path) -> Result<Catalog, CatalogError> {
    load_sources(
        &Source::Embedded(&[]),
        Some(&Source::Dir(dir.to_path_buf())),
    )
}

fn error_of(dir: &Path) -> String {
    match load_dir(dir) {
        Ok(_) => panic!("expected the catalog in {} to fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_catalog_loads() -> Result<(), CatalogError> {
    let catalog = load_sources(&Source::Embedded(&[]), None)?;
    assert!(
        catalog.models.is_empty() && catalog.categories.is_empty() && catalog.datasets.is_empty()
    );
    Ok(())
}

#[test]
fn builtin_catalog_loads() -> Result<(), CatalogError> {
    // Whatever ships in the repository must load cleanly.
    let catalog = load_sources(&Source::Embedded(source::builtin_files()), None)?;
    for category in catalog.categories.values() {
        assert_eq!(category.origin, Origin::Builtin);
        let _ = catalog.readiness(category);
    }
    Ok(())
}

#[test]
fn good_catalog_checked_types() -> Result<(), CatalogError> {
    let c = load_good()?;
    assert_eq!(
        c.models.keys().collect::<Vec<_>>(),
        ["gemma-2-2b", "llama-3.1-8b", "qwen2.5-0.5b"]
    );
    assert_eq!(
        c.categories.keys().collect::<Vec<_>>(),
        ["mixed", "reasoning", "vision"]
    );
    let gemma = c.model("gemma-2-2b")?;
    assert_eq!(gemma.arch.sliding_window, Some((4096, 13)));
    assert_eq!(gemma.arch.head_dim, 256);
    assert_eq!(gemma.origin, Origin::User(good_dir()));

    let arith = c.dataset("arith")?;
    assert_eq!(arith.output_type, OutputType::GenerateUntil);
    assert_eq!(arith.generation.until, vec!["\n"]);
    assert_eq!(arith.generation.max_gen_toks, 16);
    assert_eq!(arith.generation.temperature, 0.0);
    assert_eq!(arith.num_fewshot, 2);
    assert_eq!(arith.filters[0].steps[0].function, "regex");
    assert_eq!(
        arith.metrics[1].options.get("tolerance"),
        Some(&serde_json::json!(0.001))
    );
    match &arith.data {
        DataState::Ready { splits, hash, .. } => {
            assert_eq!(splits.get("test"), Some(&3));
            assert_eq!(splits.get("train"), Some(&2));
            assert_eq!(hash.len(), 64);
        }
        other => panic!("arith data should be ready: {other:?}"),
    }
    let tf = c.dataset("tf")?;
    assert_eq!(
        tf.doc_to_choice,
        Some(ChoiceSpec::List(vec!["false".into(), "true".into()]))
    );
    assert_eq!(tf.target_delimiter, " ");
    assert_eq!(tf.fewshot_delimiter, "\n\n");
    assert_eq!(tf.generation.max_gen_toks, 256);
    assert_eq!(tf.repeats, 1);
    assert!(tf.chat && tf.metrics[0].higher_is_better && tf.metrics[0].aggregation == "mean");
    let nodata = c.dataset("nodata")?;
    assert!(
        matches!(&nodata.data, DataState::Missing { reason } if reason.contains("test.jsonl") && reason.contains("missing"))
    );
    assert_eq!(nodata.output_type, OutputType::Loglikelihood);
    Ok(())
}

#[test]
fn readiness_lists_reasons() -> Result<(), CatalogError> {
    let c = load_good()?;
    let ready = c.readiness(c.category("reasoning")?);
    assert_eq!(
        ready,
        Readiness {
            ready: true,
            reasons: vec![]
        }
    );
    let mixed = c.readiness(c.category("mixed")?);
    assert!(!mixed.ready);
    assert_eq!(mixed.reasons.len(), 2, "{:?}", mixed.reasons);
    assert!(
        mixed.reasons[0]
            .contains("model `gemma-2-2b`: no engine supports architecture `Gemma2ForCausalLM`")
    );
    assert!(mixed.reasons[1].starts_with("dataset `nodata`: data file"));
    let vision = c.readiness(c.category("vision")?);
    assert_eq!(
        vision.reasons,
        vec!["needs image inputs, which no engine takes yet"]
    );
    Ok(())
}

#[test]
fn too_few_fewshot_examples_is_a_reason() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    let path = tmp.path().join("datasets/arith/manifest.yaml");
    fs::write(
        &path,
        fs::read_to_string(&path)?.replace("num_fewshot: 2", "num_fewshot: 3"),
    )?;
    let c = load_dir(tmp.path())?;
    let r = c.readiness(c.category("reasoning")?);
    assert_eq!(
        r.reasons,
        vec!["dataset `arith`: `num_fewshot` is 3 but split `train` offers 2 examples"]
    );
    // Without a few-shot split, examples come from the test split minus the item itself.
    fs::write(
        &path,
        fs::read_to_string(&path)?.replace("fewshot_split: train\n", ""),
    )?;
    let c = load_dir(tmp.path())?;
    let r = c.readiness(c.category("reasoning")?);
    assert_eq!(
        r.reasons,
        vec!["dataset `arith`: `num_fewshot` is 3 but split `test` offers 2 examples"]
    );
    Ok(())
}

#[test]
fn content_hash_follows_manifest_and_data() -> Result<(), Box<dyn std::error::Error>> {
    let hash = |dir: &Path| -> Result<String, CatalogError> {
        match &load_dir(dir)?.dataset("tf")?.data {
            DataState::Ready { hash, .. } => Ok(hash.clone()),
            DataState::Missing { reason } => Ok(format!("missing: {reason}")),
        }
    };
    let a = copy_good()?;
    let b = copy_good()?;
    assert_eq!(hash(a.path())?, hash(b.path())?, "same content, same hash");
    let data = b.path().join("datasets/tf/test.jsonl");
    fs::write(&data, fs::read_to_string(&data)?.replace("100 C", "100 °C"))?;
    let changed_data = hash(b.path())?;
    assert_ne!(hash(a.path())?, changed_data);
    let manifest = b.path().join("datasets/tf/manifest.yaml");
    fs::write(
        &manifest,
        fs::read_to_string(&manifest)?.replace("True or false?", "True or false:"),
    )?;
    assert_ne!(hash(b.path())?, changed_data);
    Ok(())
}

#[test]
fn jsonl_tolerates_crlf_bom_and_blank_lines() -> Result<(), CatalogError> {
    let rows = datasets::parse_jsonl_rows(
        "x.jsonl",
        "\u{feff}{\"a\": 1}\r\n\r\n  \n{\"a\": 2}".as_bytes(),
    )?;
    assert_eq!(rows.len(), 2);
    Ok(())
}

#[test]
fn unknown_names_suggest_close_ones() -> Result<(), CatalogError> {
    let c = load_good()?;
    let e = c.category("reasonin").err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("unknown category `reasonin`; did you mean `reasoning`?")
    );
    Ok(())
}

#[test]
fn data_files_read_through_the_accessor() -> Result<(), CatalogError> {
    let c = load_good()?;
    let arith = c.dataset("arith")?;
    let rows = read_rows(arith, "test")?;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].get("answer"), Some(&serde_json::json!("-3")));
    assert!(read_data_file(arith, "validation").is_err());
    Ok(())
}

static EMBEDDED: &[(&str, &[u8])] = &[
    ("categories/models.yaml", b"models:\n  - id: m\n    hf_repo: o/m\n    architecture: LlamaForCausalLM\n    params: 10\n    layers: 1\n    hidden: 8\n    heads: 2\n    intermediate: 8\n    vocab: 8\n    max_positions: 8\n"),
    ("categories/c.yaml", b"name: c\ndescription: built in\nmodels: [m]\ndatasets: [d]\n"),
    ("datasets/d/manifest.yaml", b"task: d\ndata_files: {test: t.jsonl}\noutput_type: loglikelihood\ndoc_to_text: '{{a}}'\ndoc_to_target: '{{b}}'\nmetric_list: [{metric: acc}]\n"),
    ("datasets/d/t.jsonl", b"{\"a\": 1, \"b\": 2}\n"),
];

#[test]
fn embedded_layer_uses_virtual_paths_and_overlay_wins() -> Result<(), Box<dyn std::error::Error>> {
    let c = load_sources(&Source::Embedded(EMBEDDED), None)?;
    let d = c.dataset("d")?;
    assert_eq!(d.dir, PathBuf::from("builtin:datasets/d"));
    assert_eq!(
        d.data_files.get("test"),
        Some(&PathBuf::from("builtin:datasets/d/t.jsonl"))
    );
    assert_eq!(d.test_rows(), 1);
    assert!(c.readiness(c.category("c")?).ready);

    // A user catalog redefining model `m` and category `c` wins; `d` stays built in.
    let tmp = tempfile::tempdir()?;
    fs::create_dir_all(tmp.path().join("categories"))?;
    let models = String::from_utf8(EMBEDDED[0].1.to_vec())?.replace("layers: 1", "layers: 3");
    fs::write(tmp.path().join("categories/models.yaml"), models)?;
    fs::write(
        tmp.path().join("categories/c.yaml"),
        "name: c\ndescription: mine\nmodels: [m]\ndatasets: [d]\n",
    )?;
    let c = load_sources(
        &Source::Embedded(EMBEDDED),
        Some(&Source::Dir(tmp.path().to_path_buf())),
    )?;
    assert_eq!(c.model("m")?.arch.layers, 3);
    assert_eq!(c.model("m")?.origin, Origin::User(tmp.path().to_path_buf()));
    assert_eq!(c.category("c")?.description, "mine");
    assert_eq!(c.dataset("d")?.origin, Origin::Builtin);
    Ok(())
}

#[test]
fn unknown_model_reference_names_file_and_suggests() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    let path = tmp.path().join("categories/reasoning.yaml");
    fs::write(
        &path,
        fs::read_to_string(&path)?.replace("llama-3.1-8b", "llama-3.1-8"),
    )?;
    let msg = error_of(tmp.path());
    assert_eq!(
        msg,
        format!(
            "{}:3:10: unknown model `llama-3.1-8`; did you mean `llama-3.1-8b`?",
            path.display()
        )
    );
    Ok(())
}

#[test]
fn unknown_dataset_reference() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    let path = tmp.path().join("categories/reasoning.yaml");
    fs::write(
        &path,
        fs::read_to_string(&path)?.replace("  - tf", "  - tff"),
    )?;
    let msg = error_of(tmp.path());
    assert_eq!(
        msg,
        format!(
            "{}:6:5: unknown dataset `tff`; did you mean `tf`?",
            path.display()
        )
    );
    Ok(())
}

#[test]
fn duplicate_category_names_both_files() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    fs::copy(
        tmp.path().join("categories/vision.yaml"),
        tmp.path().join("categories/vision2.yaml"),
    )?;
    let msg = error_of(tmp.path());
    let dir = tmp.path().join("categories");
    assert_eq!(
        msg,
        format!(
            "{}:1:1: duplicate category `vision` (first defined at {}:1:1)",
            dir.join("vision2.yaml").display(),
            dir.join("vision.yaml").display()
        )
    );
    Ok(())
}

#[test]
fn malformed_jsonl_row_names_file_and_line() -> Result<(), Box<dyn std::error::Error>> {
    // A malformed row no longer fails the catalog: it is recorded on the dataset (file, line,
    // column and reason), the good rows are counted, and a run decides what to do with it.
    let tmp = copy_good()?;
    let path = tmp.path().join("datasets/tf/test.jsonl");
    let bad_rows_of = |dir: &Path| -> Result<(u64, Vec<String>), CatalogError> {
        let catalog = load_dir(dir)?;
        match &catalog.datasets["tf"].data {
            DataState::Ready {
                splits, bad_rows, ..
            } => Ok((splits["test"], bad_rows.clone())),
            DataState::Missing { reason } => panic!("data missing: {reason}"),
        }
    };
    fs::write(
        &path,
        "{\"statement\": \"a\", \"label\": 1}\n{\"statement\": \"b\", \"label\": }\n[1, 2]\n{\"statement\": \"c\", \"label\": 0}\n",
    )?;
    let (rows, bad) = bad_rows_of(tmp.path())?;
    assert_eq!(rows, 2);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad[0].starts_with(&format!("{}:2:", path.display())),
        "{bad:?}"
    );
    assert!(bad[0].contains("row is not valid JSON"), "{bad:?}");
    assert!(
        bad[1].ends_with(":3:1: row must be a JSON object, found an array"),
        "{bad:?}"
    );
    Ok(())
}

#[test]
fn manifest_checks() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    let path = tmp.path().join("datasets/tf/manifest.yaml");
    let original = fs::read_to_string(&path)?;
    let shown = path.display().to_string();
    let cases: &[(&str, &str, &str)] = &[
        (
            "task: tf",
            "task: tfx",
            ":1:1: dataset `tfx`: `task` must equal its directory name `tf`. Given: tfx",
        ),
        (
            "output_type: multiple_choice",
            "output_type: choice",
            ":4:1: dataset `tf`: `output_type` must be one of multiple_choice, generate_until, loglikelihood. Given: choice",
        ),
        (
            "doc_to_choice: [\"false\", \"true\"]\n",
            "",
            ":4:1: dataset `tf`: `output_type` multiple_choice needs `doc_to_choice`",
        ),
        (
            "{{ statement }}",
            "{{ statement }",
            ":5:1: dataset `tf`: `doc_to_text` is not a valid template",
        ),
        (
            "metric: acc_norm",
            "metric: acc_nrom",
            ":10:5: dataset `tf`: unknown metric `acc_nrom` (did you mean `acc_norm`?)",
        ),
        (
            "test: test.jsonl",
            "test: ../x.jsonl",
            ":3:3: dataset `tf`: data file of split `test` must be a relative path",
        ),
        (
            "test: test.jsonl",
            "test: test.xlsx",
            ":3:3: dataset `tf`: data file of split `test` must be one of: jsonl, json, csv, parquet. Given: test.xlsx",
        ),
        (
            "data_files:",
            "test_split: validation\ndata_files:",
            ":2:1: dataset `tf`: `test_split` `validation` has no entry",
        ),
        (
            "  - metric: acc\n",
            "  - metric: acc\n    aggregation: mode\n",
            ":10:5: dataset `tf`: `aggregation` must be one of: mean. Given: mode",
        ),
        (
            "metric_list:",
            "generation_kwargs:\n  top_p: 0\nmetric_list:",
            ":9:3: dataset `tf`: `top_p` must be in (0, 1]. Given: 0",
        ),
        (
            "metric_list:",
            "repeats: 0\nmetric_list:",
            ":8:1: dataset `tf`: `repeats` must be between 1 and 10000. Given: 0",
        ),
        (
            "  - metric: acc\n",
            "  - metric: pass_at_k\n    k: 5\n",
            ":10:5: dataset `tf`: `k` must be between 1 and `repeats` (1), or a list of such. Given: 5",
        ),
        (
            "metric_list:",
            "filter_list:\n  - name: f\n    filter:\n      - function: trim\nmetric_list:",
            ":11:9: dataset `tf`: unknown filter function `trim`",
        ),
        (
            "metric_list:",
            "few_shot: 3\nmetric_list:",
            ":8:1: unknown field `few_shot`, expected one of",
        ),
    ];
    for (from, to, expected) in cases {
        let edited = original.replacen(from, to, 1);
        assert_ne!(edited, original, "case {from:?} did not apply");
        fs::write(&path, &edited)?;
        let msg = error_of(tmp.path());
        assert!(
            msg.starts_with(&format!("{shown}{expected}")),
            "case {from:?} -> {to:?}\n got: {msg}\nwant: {shown}{expected}"
        );
    }
    Ok(())
}

#[test]
fn overlay_directory_must_exist() {
    let e = load(Some(Path::new("/definitely/not/here")))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("catalog directory `/definitely/not/here` does not exist or is not a directory")
    );
}

#[test]
fn non_utf8_file_names_its_line() {
    let e =
        models::parse_models("m.yaml", b"models:\n  - id: \xff\n", &Origin::Builtin, None).err();
    assert_eq!(
        e.map(|e| e.to_string()).as_deref(),
        Some("m.yaml:2:9: not UTF-8 text")
    );
}

#[path = "garbage_tests.rs"]
mod garbage;

#[test]
fn model_endpoint_is_checked_and_never_holds_the_key() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = copy_good()?;
    let models = tmp.path().join("categories/models.yaml");
    let text = fs::read_to_string(&models)?;
    let with_endpoint = text.replacen(
        "    note: instruct\n",
        "    note: instruct\n    endpoint:\n      base_url: http://10.0.0.5:8000/v1/\n      \
         served_model_name: meta-llama/Llama-3.1-8B-Instruct\n      api_key_env: VLLM_KEY\n",
        1,
    );
    fs::write(&models, &with_endpoint)?;
    let cat = load_dir(tmp.path())?;
    let ep = cat.models["llama-3.1-8b"]
        .endpoint
        .clone()
        .ok_or("no endpoint")?;
    assert_eq!(ep.base_url, "http://10.0.0.5:8000/v1");
    assert_eq!(ep.served_model_name, "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(ep.api_key_env.as_deref(), Some("VLLM_KEY"));
    assert_eq!(ep.concurrency, 32);
    assert!(cat.models["qwen2.5-0.5b"].endpoint.is_none());

    // A key pasted where the variable name goes is refused without echoing it.
    fs::write(
        &models,
        with_endpoint.replace("VLLM_KEY", "sk-abc123-secret-value"),
    )?;
    let e = error_of(tmp.path());
    assert!(e.contains("endpoint.api_key_env"), "{e}");
    assert!(!e.contains("sk-abc123"), "{e}");
    fs::write(
        &models,
        with_endpoint.replace("http://10.0.0.5:8000/v1/", "10.0.0.5:8000"),
    )?;
    let e = error_of(tmp.path());
    assert!(e.contains("endpoint.base_url"), "{e}");
    Ok(())
}
