//! Catalog entries built in code, for unit tests and the planner benchmark: the worked-example
//! Llama models, Llama-shaped models of any size, and small
//! datasets and categories, so sizing, routing and planning run without catalog files.
use crate::catalog::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Llama-3.1-8B's published configuration, bf16.
pub fn llama_8b() -> Model {
    model(
        "llama-3.1-8b",
        Arch {
            architecture: "LlamaForCausalLM".into(),
            params: 8_030_261_248,
            layers: 32,
            hidden: 4096,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            intermediate: 14_336,
            vocab: 128_256,
            tied_embeddings: false,
            max_positions: 131_072,
            sliding_window: None,
            experts: None,
        },
    )
}

/// Llama-3.1-70B's published configuration, bf16.
pub fn llama_70b() -> Model {
    model(
        "llama-3.1-70b",
        Arch {
            architecture: "LlamaForCausalLM".into(),
            params: 70_553_706_496,
            layers: 80,
            hidden: 8192,
            heads: 64,
            kv_heads: 8,
            head_dim: 128,
            intermediate: 28_672,
            vocab: 128_256,
            tied_embeddings: false,
            max_positions: 131_072,
            sliding_window: None,
            experts: None,
        },
    )
}

/// A Llama-shaped model of about `params` parameters (for synthetic workloads).
pub fn model(id: &str, arch: Arch) -> Model {
    Model {
        id: id.into(),
        hf_repo: Some(format!("example/{id}")),
        revision: "main".into(),
        path: None,
        dtype: DType::Bf16,
        chat: false,
        arch,
        note: None,
        endpoint: None,
        origin: Origin::Builtin,
    }
}

/// A multiple-choice dataset with `rows` test rows (`None`: data missing).
pub fn dataset(name: &str, rows: Option<u64>, output_type: OutputType) -> Dataset {
    let data = match rows {
        Some(n) => DataState::Ready {
            splits: BTreeMap::from([("test".to_string(), n)]),
            hash: "0".repeat(64),
            bad_rows: Vec::new(),
        },
        None => DataState::Missing {
            reason: format!("datasets/{name}/test.jsonl not found"),
        },
    };
    Dataset {
        name: name.into(),
        dir: PathBuf::from(format!("datasets/{name}")),
        description: None,
        data_files: BTreeMap::new(),
        test_split: "test".into(),
        fewshot_split: None,
        output_type,
        doc_to_text: "{{question}}".into(),
        doc_to_target: "{{answer}}".into(),
        doc_to_choice: None,
        target_delimiter: " ".into(),
        fewshot_delimiter: "\n\n".into(),
        num_fewshot: 0,
        generation: GenerationKwargs {
            until: vec!["\n".into()],
            max_gen_toks: 64,
            do_sample: false,
            temperature: 0.0,
            top_p: 1.0,
            top_k: None,
        },
        metrics: vec![],
        filters: vec![],
        scoring: Default::default(),
        repeats: 1,
        chat: false,
        version: None,
        format: None,
        data,
        origin: Origin::Builtin,
    }
}

/// A catalog with one category over the given models and datasets.
pub fn catalog(category: &str, models: Vec<Model>, datasets: Vec<Dataset>) -> Catalog {
    let cat = Category {
        name: category.into(),
        description: format!("{category} test category"),
        models: models.iter().map(|m| m.id.clone()).collect(),
        datasets: datasets.iter().map(|d| d.name.clone()).collect(),
        not_ready: None,
        origin: Origin::Builtin,
    };
    Catalog {
        models: models.into_iter().map(|m| (m.id.clone(), m)).collect(),
        categories: BTreeMap::from([(category.to_string(), cat)]),
        datasets: datasets.into_iter().map(|d| (d.name.clone(), d)).collect(),
    }
}

/// A random scheduling workload: `n` jobs over `gpus` equal GPUs in NVLink groups of 8.
/// tp is 1 (60%), 2 (20%), 4 (12%) or 8 (8%); one-replica durations are log-uniform between
/// 1 minute and 2 hours; loading takes 10–60 s. Deterministic for a seed.
pub fn random_jobs(
    seed: u64,
    n: usize,
    gpus: usize,
) -> (Vec<crate::schedule::Task>, Vec<crate::schedule::Slot>) {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let flops = 989e12;
    let slots: Vec<crate::schedule::Slot> = (0..gpus)
        .map(|i| crate::schedule::Slot {
            label: i.to_string(),
            group: i / 8,
            flops,
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let jobs = (0..n)
        .map(|_| {
            let gang = match rng.random_range(0..100) {
                0..60 => 1,
                60..80 => 2,
                80..92 => 4,
                _ => 8,
            }
            .min(gpus.max(1));
            let seconds = (60f64.ln() + rng.random::<f64>() * (7200f64.ln() - 60f64.ln())).exp();
            let eff = if gang > 1 {
                crate::schedule::TP_EFFICIENCY
            } else {
                1.0
            };
            crate::schedule::Task {
                gang,
                pools: vec![(0..gpus).collect()],
                work: seconds * flops * gang as f64 * eff,
                load_s: rng.random_range(10.0..60.0),
                max_replicas: if gang == 1 { 1000 } else { 1 },
            }
        })
        .collect();
    (jobs, slots)
}

/// Llama-shaped architectures from 1B to 70B: `(layers, hidden, heads, kv_heads, intermediate)`.
const SHAPES: [(u64, u64, u64, u64, u64); 6] = [
    (16, 2048, 32, 8, 8192),
    (28, 3072, 24, 8, 8192),
    (32, 4096, 32, 8, 14_336),
    (40, 5120, 40, 8, 13_824),
    (48, 8192, 64, 8, 22_016),
    (80, 8192, 64, 8, 28_672),
];

/// A Llama-shaped architecture with its parameter count computed from the shapes.
pub fn llama_shape(layers: u64, hidden: u64, heads: u64, kv_heads: u64, intermediate: u64) -> Arch {
    let vocab = 128_256;
    let head_dim = hidden / heads;
    let attention = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden;
    let per_layer = attention + 3 * hidden * intermediate + 2 * hidden;
    Arch {
        architecture: "LlamaForCausalLM".into(),
        params: 2 * vocab * hidden + layers * per_layer + hidden,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        tied_embeddings: false,
        max_positions: 131_072,
        sliding_window: None,
        experts: None,
    }
}

/// The planner benchmark's catalog: one category `bench` over `models` Llama-shaped models
/// (1B–70B; 5% with an architecture no engine runs) and `datasets` datasets (mixed output types,
/// 100–5,000 rows, 2% with missing data). Deterministic for a seed.
pub fn bench_catalog(seed: u64, models: usize, datasets: usize) -> Catalog {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(seed);
    let models: Vec<Model> = (0..models)
        .map(|i| {
            let (l, h, n, kv, inter) = SHAPES[rng.random_range(0..SHAPES.len())];
            let mut arch = llama_shape(l, h, n, kv, inter);
            if rng.random_range(0..100) < 5 {
                arch.architecture = "UnsupportedForCausalLM".into();
            }
            model(&format!("model-{i:04}"), arch)
        })
        .collect();
    let datasets: Vec<Dataset> = (0..datasets)
        .map(|i| {
            let rows = (rng.random_range(0..100) >= 2).then(|| rng.random_range(100..5000));
            let kind = match rng.random_range(0..3) {
                0 => OutputType::MultipleChoice,
                1 => OutputType::GenerateUntil,
                _ => OutputType::Loglikelihood,
            };
            let mut d = dataset(&format!("dataset-{i:03}"), rows, kind);
            d.num_fewshot = rng.random_range(0..6);
            d
        })
        .collect();
    catalog("bench", models, datasets)
}
