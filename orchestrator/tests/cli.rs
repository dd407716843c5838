//! Command-line tests: the built binary run against the test catalogs in `tests/data/`.
//!
//! - categories / models: human tables and `--json`, exactly.
//! - bad input: exit code 2 and messages naming file, line, column and field.
//! - local checkpoints: numbers read from a Hugging Face cache snapshot.
//! - `history`: the read commands over a database of synthetic runs (history, show, compare,
//!   export, report).
//! - run: end-to-end evaluation runs (`run.rs`), of served models too (`remote.rs`).
//! - failures: every-request-fails runs, refusals before work, exit codes, storage faults.
//! - downloads from a fake Hugging Face hub (`hub.rs`, `fake_hub.rs`).

mod failures;
mod fake_hub;
mod history;
mod hub;
mod remote;
mod run;
mod serve;
mod util;

use serde_json::Value;
use util::{Scratch, run};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn categories_table() {
    let s = Scratch::new();
    let out = s.assay(&["categories"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = "\
NAME       STATUS     MODELS  DATASETS  ORIGIN  REASONS
mixed      NOT READY       2         2  user    model `gemma-2-2b`: no engine supports architecture `Gemma2ForCausalLM`; dataset `nodata`: data file <catalog>/datasets/nodata/test.jsonl (split `test`) is missing
reasoning  READY           2         2  user
vision     NOT READY       1         1  user    needs image inputs, which no engine takes yet
";
    assert_eq!(s.redact(&out.stdout), expected);
}

#[test]
fn categories_json() {
    let s = Scratch::new();
    let out = s.assay(&["categories", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    let cats = v["categories"].as_array().expect("categories array");
    let names: Vec<&str> = cats.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["mixed", "reasoning", "vision"]);
    let reasoning = &cats[1];
    assert_eq!(reasoning["ready"], Value::Bool(true));
    assert_eq!(reasoning["reasons"], serde_json::json!([]));
    assert_eq!(
        reasoning["models"],
        serde_json::json!(["llama-3.1-8b", "qwen2.5-0.5b"])
    );
    assert_eq!(reasoning["datasets"], serde_json::json!(["arith", "tf"]));
    assert_eq!(
        reasoning["description"],
        "Arithmetic and true/false questions"
    );
    assert_eq!(
        reasoning["origin"],
        serde_json::json!({"kind": "user", "path": s.catalog().display().to_string()})
    );
    assert_eq!(cats[0]["ready"], Value::Bool(false));
    assert_eq!(cats[0]["reasons"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        cats[2]["reasons"],
        serde_json::json!(["needs image inputs, which no engine takes yet"])
    );
}

#[test]
fn models_table() {
    let s = Scratch::new();
    let out = s.assay(&["models"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = "\
ID            ARCHITECTURE       PARAMS  DTYPE  LAYERS  HIDDEN  HEADS/KV  MAX_POS  LOCAL  RUNNABLE  ORIGIN
gemma-2-2b    Gemma2ForCausalLM   2.61B  bf16       26    2304       8/4     8192  no     no        user
llama-3.1-8b  LlamaForCausalLM    8.03B  bf16       32    4096      32/8   131072  no     yes       user
qwen2.5-0.5b  Qwen2ForCausalLM     494M  bf16       24     896      14/2    32768  no     yes       user
";
    assert_eq!(s.redact(&out.stdout), expected);
}

#[test]
fn models_of_a_category_json() {
    let s = Scratch::new();
    let out = s.assay(&["models", "--category", "mixed", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    let models = v["models"].as_array().expect("models array");
    let ids: Vec<&str> = models.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["qwen2.5-0.5b", "gemma-2-2b"], "category order");
    let gemma = &models[1];
    assert_eq!(gemma["runnable"], Value::Bool(false));
    assert_eq!(gemma["hf_repo"], "google/gemma-2-2b-it");
    assert_eq!(gemma["revision"], "main");
    assert_eq!(gemma["dtype"], "bf16");
    assert_eq!(gemma["chat"], Value::Bool(true));
    assert_eq!(gemma["arch_source"], "catalog");
    assert_eq!(gemma["local"], Value::Null);
    assert_eq!(gemma["local_error"], Value::Null);
    let arch = &gemma["arch"];
    assert_eq!(arch["params"], 2_614_341_888u64);
    assert_eq!(arch["head_dim"], 256);
    assert_eq!(arch["sliding_window"], serde_json::json!([4096, 13]));
    assert_eq!(arch["experts"], Value::Null);
    assert_eq!(arch["tied_embeddings"], Value::Bool(true));
    assert_eq!(models[0]["arch"]["kv_heads"], 2);
}

#[test]
fn unknown_category_is_a_usage_error() {
    let s = Scratch::new();
    let out = s.assay(&["models", "--category", "reason"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "error: unknown category `reason`; did you mean `reasoning`?"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_yaml_names_file_line_column() {
    let s = Scratch::new();
    let path = s.edit(
        "categories/models.yaml",
        "    layers: 32\n",
        "    layers: 32: 33\n",
    );
    let out = s.assay(&["categories"]);
    assert_eq!(out.code, 2);
    let want = format!(
        "error: {}:7:15: mapping values are not allowed in this context",
        path.display()
    );
    assert_eq!(out.stderr.trim(), want);
}

#[test]
fn wrong_type_and_unknown_key() {
    let s = Scratch::new();
    let path = s.edit("categories/reasoning.yaml", "description:", "descripton:");
    let out = s.assay(&["categories"]);
    assert_eq!(out.code, 2);
    let want = format!(
        "error: {}:2:1: unknown field `descripton`, expected one of",
        path.display()
    );
    assert!(out.stderr.starts_with(&want), "{}", out.stderr);

    let s = Scratch::new();
    let path = s.edit(
        "categories/models.yaml",
        "layers: 24",
        "layers: twenty-four",
    );
    let out = s.assay(&["models"]);
    assert_eq!(out.code, 2);
    let want = format!(
        "error: {}:20:13: models[1].layers: invalid type: string \"twenty-four\", expected u64",
        path.display()
    );
    assert_eq!(out.stderr.trim(), want);
}

#[test]
fn out_of_range_numbers_name_field_bound_and_value() {
    let s = Scratch::new();
    let path = s.edit("categories/models.yaml", "layers: 24", "layers: 0");
    let out = s.assay(&["models", "--json"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: {}:20:5: model `qwen2.5-0.5b`: `layers` must be between 1 and 1000. Given: 0",
            path.display()
        )
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_reference_suggests_names() {
    let s = Scratch::new();
    let path = s.edit("categories/mixed.yaml", "  - gemma-2-2b", "  - gemma-2b");
    let out = s.assay(&["categories"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: {}:5:5: unknown model `gemma-2b`; did you mean `gemma-2-2b`?",
            path.display()
        )
    );
}

#[test]
fn duplicate_model_ids_name_both_places() {
    let s = Scratch::new();
    let path = s.edit(
        "categories/models.yaml",
        "id: gemma-2-2b",
        "id: llama-3.1-8b",
    );
    let out = s.assay(&["models"]);
    assert_eq!(out.code, 2);
    let f = path.display();
    assert_eq!(
        out.stderr.trim(),
        format!("error: {f}:28:5: duplicate model `llama-3.1-8b` (first defined at {f}:3:5)")
    );
}

#[test]
fn bad_data_row_names_file_and_line() {
    let s = Scratch::new();
    let path = s.write(
        "datasets/tf/test.jsonl",
        "{\"statement\": \"x\", \"label\": 1}\nnot json\n",
    );
    // The catalog still loads; the category says why it is not ready, naming file and line.
    let out = s.assay(&["categories"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = format!(
        "dataset `tf`: 1 malformed row(s) (a run needs --skip-bad-rows), first: {}:2:2: row is not valid JSON: expected ident",
        path.display()
    );
    assert!(out.stdout.contains(&want), "{}", out.stdout);
}

#[test]
fn missing_catalog_directory() {
    let out = run(
        &[
            "--catalog".into(),
            "/no/such/catalog".into(),
            "categories".into(),
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "error: catalog directory `/no/such/catalog` does not exist or is not a directory"
    );
}

#[test]
fn catalog_from_environment() {
    let s = Scratch::new();
    let out = run(
        &["categories".into(), "--json".into()],
        &[("ASSAY_CATALOG", s.catalog().display().to_string())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        json(&out.stdout)["categories"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["models".into(), "--no-such-flag".into()], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
}

#[test]
fn empty_catalog_lists_nothing() {
    let out = run(&["categories".into()], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "No categories in the catalog.\n");
    let out = run(&["models".into(), "--json".into()], &[]);
    assert_eq!(json(&out.stdout), serde_json::json!({"models": []}));
}

#[test]
fn builtin_catalog_is_valid() {
    // The catalog compiled into the binary loads, whatever it holds.
    let out = run(
        &["categories".into(), "--json".into()],
        &[("ASSAY_NO_BUILTIN_CATALOG", "0".into())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    for c in v["categories"].as_array().expect("categories array") {
        assert_eq!(c["origin"]["kind"], "builtin");
    }
    let out = run(
        &["models".into(), "--json".into()],
        &[("ASSAY_NO_BUILTIN_CATALOG", "0".into())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Write a safetensors file of zero-filled BF16 tensors with the given shapes.
fn write_safetensors(path: &std::path::Path, shapes: &[(&str, &[u64])]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (name, shape) in shapes {
        let bytes = shape.iter().product::<u64>() * 2;
        header.insert((*name).into(), serde_json::json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    let text = Value::Object(header).to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.resize(out.len() + offset as usize, 0);
    std::fs::write(path, out).expect("write safetensors");
}

#[test]
fn local_checkpoint_in_hf_cache_overrides_catalog_numbers() {
    let s = Scratch::new();
    let repo = s.hf_cache().join("models--Qwen--Qwen2.5-0.5B-Instruct");
    let snap = repo.join("snapshots/abc123");
    std::fs::create_dir_all(&snap).expect("snapshot dir");
    std::fs::create_dir_all(repo.join("refs")).expect("refs dir");
    std::fs::write(repo.join("refs/main"), "abc123").expect("ref");
    std::fs::write(
        snap.join("config.json"),
        r#"{"architectures": ["Qwen2ForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
            "vocab_size": 512, "max_position_embeddings": 2048, "sliding_window": null,
            "tie_word_embeddings": true}"#,
    )
    .expect("config");
    write_safetensors(
        &snap.join("model.safetensors"),
        &[("embed", &[512, 64]), ("norm", &[64])],
    );

    let out = s.assay(&["models", "--category", "reasoning"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = "\
ID            ARCHITECTURE      PARAMS  DTYPE  LAYERS  HIDDEN  HEADS/KV  MAX_POS  LOCAL  RUNNABLE  ORIGIN
llama-3.1-8b  LlamaForCausalLM   8.03B  bf16       32    4096      32/8   131072  no     yes       user
qwen2.5-0.5b  Qwen2ForCausalLM   32.8K  bf16        2      64       4/2     2048  yes    yes       user
";
    assert_eq!(s.redact(&out.stdout), expected);

    let out = s.assay(&["models", "--json"]);
    let v = json(&out.stdout);
    let qwen = v["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == "qwen2.5-0.5b"))
        .expect("qwen");
    assert_eq!(qwen["arch_source"], "local");
    assert_eq!(qwen["arch"]["params"], 512 * 64 + 64);
    assert_eq!(qwen["local"]["weight_bytes"], (512 * 64 + 64) * 2);
    assert_eq!(qwen["local"]["dir"], snap.display().to_string());

    // A corrupt header: listed with catalog numbers, marked invalid, reason on stderr.
    std::fs::write(snap.join("model.safetensors"), [255u8; 16]).expect("corrupt");
    let out = s.assay(&["models"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(s.redact(&out.stdout).contains("qwen2.5-0.5b  Qwen2ForCausalLM     494M  bf16       24     896      14/2    32768  invalid  yes"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("note: model `qwen2.5-0.5b`: local checkpoint not usable"),
        "{}",
        out.stderr
    );
}

// --- datasets: list, describe, and render prompts as the model sees them ---

#[test]
fn datasets_list_json() {
    let s = Scratch::new();
    let out = s.assay(&["--json", "datasets"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["arith", "nodata", "tf"]);
    assert_eq!(v[0]["output_type"], "generate_until");
    assert_eq!(v[0]["test_rows"], 3);
    assert_eq!(v[0]["fewshot_rows"], 2);
    assert_eq!(v[0]["num_fewshot"], 2);
    assert_eq!(v[0]["data"], "ready");
    assert_eq!(v[0]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(v[1]["data"], "missing");
    assert!(v[1]["hash"].is_null());
}

#[test]
fn datasets_show_renders_the_exact_prompt() {
    let s = Scratch::new();
    let out = s.assay(&["datasets", "arith", "--show", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // random.Random(1234).sample(train, 2) picks line 2 then line 1.
    let prompt = "Answer with a number.\n\nQuestion: 3 * 3\nAnswer: 9\n\nQuestion: 1 + 1\nAnswer: 2\n\nQuestion: 2 + 2\nAnswer:\n---\ntarget: \"4\"\n";
    assert!(out.stdout.contains(prompt), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("generate: until [\"\\n\"], max_gen_toks 16, greedy"),
        "{}",
        out.stdout
    );

    let out = s.assay(&[
        "--json",
        "datasets",
        "tf",
        "--show",
        "2",
        "--chat-template",
        "on",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    let shown = &v["shown"];
    assert_eq!(shown["items"].as_array().unwrap().len(), 2);
    assert_eq!(shown["items"][0]["prompt"]["kind"], "chat");
    assert_eq!(
        shown["items"][0]["prompt"]["value"][0]["content"],
        "Water boils at 100 C at sea level. True or false?"
    );
    let reqs = shown["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1]["body"]["continuation"], " true");
    assert_eq!(reqs[0]["prompt_hash"], reqs[1]["prompt_hash"]);
}

#[test]
fn datasets_bad_input_exits_2() {
    let s = Scratch::new();
    let out = s.assay(&["datasets", "nodata", "--show", "1"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("dataset `nodata`: split `test` cannot be read: its data is missing"),
        "{}",
        out.stderr
    );

    let out = s.assay(&["datasets", "tf", "--show", "1", "--num-fewshot", "1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("num_fewshot is 1 but the manifest names no fewshot_split"),
        "{}",
        out.stderr
    );

    s.edit(
        "datasets/tf/manifest.yaml",
        "{{ statement }}",
        "{{ statment }}",
    );
    let out = s.assay(&["datasets", "tf", "--show", "1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "test.jsonl:1: `doc_to_text` failed to render: the row has no field `statment`"
        ),
        "{}",
        out.stderr
    );
}

// --- bench: a real model benchmark on the micro Llama checkpoint ---

#[test]
fn bench_model_reports_every_figure() {
    let s = Scratch::new();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engines/tests/fixtures/llama-micro"
    );
    let out = s.assay(&["--json", "bench", dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    assert_eq!(v["info"]["architecture"], "LlamaForCausalLM");
    assert!(v["load_s"].as_f64().unwrap() > 0.0);
    assert!(v["prefill_tokens"].as_u64().unwrap() > 0);
    assert!(v["prefill_tokens_per_s"].as_f64().unwrap() > 0.0);
    let batches: Vec<u64> = v["decode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["batch"].as_u64().unwrap())
        .collect();
    assert_eq!(batches, vec![1, 8]);
    for p in ["p50", "p95", "p99"] {
        assert!(v["latency"][p].as_f64().unwrap() > 0.0, "latency {p}");
    }
    assert!(v["ttft"]["p50"].as_f64().unwrap() > 0.0);

    let out = s.assay(&["bench", "/nonexistent/model"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let out = s.assay(&["bench"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

// --- datasets from files and lm-eval task files, without a manifest ---

fn formats_fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn datasets_file_with_a_known_format() {
    let s = Scratch::new();
    let file = formats_fixture("gsm8k.csv");
    let out = s.assay(&[
        "datasets", "--file", &file, "--format", "gsm8k", "--show", "2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "Question: A baker fills 4 trays with 6 rolls each. How many rolls are there?\nAnswer:\n---\ntarget: \"24\""
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("filters       strict-match, flexible-extract"),
        "{}",
        out.stdout
    );

    // Detected from the columns; JSON output.
    let file = formats_fixture("mmlu.parquet");
    let out = s.assay(&["--json", "datasets", "--file", &file, "--show", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out.stdout);
    assert_eq!(v["summary"]["output_type"], "multiple_choice");
    assert_eq!(v["summary"]["test_rows"], 2);
    assert_eq!(v["shown"]["items"][0]["target"]["value"], 2);

    let out = s.assay(&["datasets", "--file", &file, "--format", "fortran"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown format `fortran`"),
        "{}",
        out.stderr
    );

    let file = formats_fixture("ragged.csv");
    let out = s.assay(&["datasets", "--file", &file, "--format", "gsm8k"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "{file}:4:1: ragged row: 1 field(s) where the header has 2"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn datasets_lm_eval_yaml() {
    let s = Scratch::new();
    let file = formats_fixture("lmeval/gsm8k_fixture.yaml");
    let out = s.assay(&["datasets", "--lm-eval-yaml", &file, "--show", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("dataset       gsm8k_fixture"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("1 item(s), 2-shot, plain text"),
        "{}",
        out.stdout
    );

    let file = formats_fixture("lmeval/with_function.yaml");
    let out = s.assay(&["datasets", "--lm-eval-yaml", &file]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "{file}:3:15: lm-eval task: `process_docs` is `!function utils.process_docs`"
        )),
        "{}",
        out.stderr
    );
}

/// `assay bench` is one subcommand per benchmark; `assay bench DIR` is short for `bench model DIR`.
#[test]
fn bench_subcommands_parse_and_refuse_mixing() {
    let s = Scratch::new();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engines/tests/fixtures/llama-micro"
    );
    let out = s.assay(&["--json", "bench", "model", dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        json(&out.stdout)["info"]["architecture"],
        "LlamaForCausalLM"
    );
    let out = s.assay(&["bench", "store", "2000", "--batch", "500", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = s.assay(&["bench", "store"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = s.assay(&["bench", "plan", "--mc-items", "3"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = s.assay(&["bench", "history"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
