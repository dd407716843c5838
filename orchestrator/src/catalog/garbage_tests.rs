//! Every loader fed garbage: random bytes, truncated files, binary, huge numbers, wrong types,
//! empty input, deep nesting. Each must return an error that names the file, never panic.

use super::super::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

const MODELS: &str = include_str!("../../tests/data/good/categories/models.yaml");
const CATEGORY: &str = include_str!("../../tests/data/good/categories/reasoning.yaml");
const MANIFEST: &str = include_str!("../../tests/data/good/datasets/arith/manifest.yaml");
const JSONL: &str = include_str!("../../tests/data/good/datasets/arith/test.jsonl");
const CONFIG: &str = r#"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
  "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 176, "vocab_size": 512,
  "max_position_embeddings": 4096, "sliding_window": null}"#;
const HEADER: &str = r#"{"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}"#;

/// The loaders, each taking bytes and returning `Ok(())` or an error message.
/// `(kind, a valid input, the loader)`.
type Loader = (
    &'static str,
    &'static str,
    Box<dyn Fn(&[u8]) -> Result<(), String>>,
);

fn loaders() -> Vec<Loader> {
    let fallback = arch();
    vec![
        (
            "models",
            MODELS,
            Box::new(|b| {
                models::parse_models("m.yaml", b, &Origin::Builtin, None)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "category",
            CATEGORY,
            Box::new(|b| {
                categories::parse_category("c.yaml", b, &Origin::Builtin)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "manifest",
            MANIFEST,
            Box::new(|b| {
                datasets::parse_manifest("d.yaml", b, "arith", &source::Source::Embedded(&[]))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "jsonl",
            JSONL,
            Box::new(|b| {
                datasets::count_jsonl_rows("d.jsonl", b)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "config",
            CONFIG,
            Box::new(move |b| {
                local::parse_config(b, &fallback)
                    .and_then(|a| models::check_arch(&a).map_err(|e| e.message))
                    .map(|_| ())
            }),
        ),
        (
            "header",
            HEADER,
            Box::new(|b| local::parse_safetensors_header(b, 24).map(|_| ())),
        ),
        (
            "index",
            r#"{"weight_map": {"a": "x.safetensors"}}"#,
            Box::new(|b| local::shards_from_index(b).map(|_| ())),
        ),
    ]
}

fn arch() -> Arch {
    Arch {
        architecture: "LlamaForCausalLM".into(),
        params: 1,
        layers: 1,
        hidden: 8,
        heads: 2,
        kv_heads: 2,
        head_dim: 4,
        intermediate: 8,
        vocab: 8,
        tied_embeddings: false,
        max_positions: 8,
        sliding_window: None,
        experts: None,
    }
}

/// Messages from the catalog loaders must name their file.
fn names_file(kind: &str, msg: &str) -> bool {
    match kind {
        "models" => msg.starts_with("m.yaml"),
        "category" => msg.starts_with("c.yaml"),
        "manifest" => msg.starts_with("d.yaml"),
        "jsonl" => msg.starts_with("d.jsonl:"),
        _ => !msg.is_empty(),
    }
}

#[test]
fn valid_inputs_pass() {
    for (kind, valid, load) in loaders() {
        assert_eq!(load(valid.as_bytes()), Ok(()), "{kind}");
    }
}

#[test]
fn random_bytes_are_rejected() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for (kind, _, load) in loaders() {
        for len in [1usize, 7, 64, 512, 4096] {
            let mut bytes = vec![0u8; len];
            rng.fill(&mut bytes[..]);
            // A leading 0xff keeps the bytes from being valid UTF-8 text or JSON by chance.
            bytes[0] = 0xff;
            match load(&bytes) {
                Ok(()) => panic!("{kind}: {len} random bytes accepted"),
                Err(msg) => assert!(names_file(kind, &msg), "{kind}: {msg}"),
            }
        }
    }
}

#[test]
fn every_truncation_is_handled() {
    for (kind, valid, load) in loaders() {
        let bytes = valid.as_bytes();
        let mut rejected = 0;
        for cut in 0..bytes.len() {
            if let Err(msg) = load(&bytes[..cut]) {
                assert!(names_file(kind, &msg), "{kind} cut at {cut}: {msg}");
                rejected += 1;
            }
        }
        assert!(rejected > 0, "{kind}: no truncation was rejected");
    }
}

#[test]
fn hostile_shapes_are_rejected() {
    let deep_yaml = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_json = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let laughs = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0\0\0\0".to_vec(),
        b"models: 123456789012345678901234567890\n".to_vec(),
        b"layers: 1e400\n".to_vec(),
        b"models:\n  - id: [1, 2]\n".to_vec(),
        b"name: {a: b}\n".to_vec(),
        b"- - - -\n".to_vec(),
        b"{\"num_hidden_layers\": -5}".to_vec(),
        b"{\"num_hidden_layers\": 18446744073709551616}".to_vec(),
        b"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 24]}}".to_vec(),
        b"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [24, 0]}}".to_vec(),
        b"{\"a\": {\"dtype\": \"F32\", \"shape\": [100], \"data_offsets\": [0, 400]}}".to_vec(),
        b"\"just a string\"".to_vec(),
        deep_yaml.into_bytes(),
        deep_json.into_bytes(),
        laughs.as_bytes().to_vec(),
    ];
    for (kind, _, load) in loaders() {
        for input in &inputs {
            if (kind == "jsonl" || kind == "models") && input.is_empty() {
                continue; // an empty data file has zero rows, an empty models file no models
            }
            if kind == "jsonl"
                && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(input)
                    .is_ok()
            {
                continue; // a JSON object is a valid row
            }
            match load(input) {
                Ok(()) => panic!(
                    "{kind}: accepted {:?}",
                    String::from_utf8_lossy(&input[..input.len().min(80)])
                ),
                Err(msg) => assert!(names_file(kind, &msg), "{kind}: {msg}"),
            }
        }
    }
}

#[test]
fn safetensors_file_headers_are_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("model.safetensors");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "too short"),
        (vec![1, 2, 3], "too short"),
        (u64::MAX.to_le_bytes().to_vec(), "exceeds"),
        (
            [&200_000_000u64.to_le_bytes()[..], &[b' '; 16][..]].concat(),
            "exceeds",
        ),
        ([&8u64.to_le_bytes()[..], b"{\"a\":1}"].concat(), "exceeds"),
        (
            [&7u64.to_le_bytes()[..], b"{\"a\":1}"].concat(),
            "tensor `a`",
        ),
    ];
    for (bytes, want) in cases {
        std::fs::write(&path, &bytes)?;
        let msg = local::read_safetensors_header(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains(want) && msg.starts_with(&path.display().to_string()),
            "{bytes:?}: {msg}"
        );
    }
    Ok(())
}
