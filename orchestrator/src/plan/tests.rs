//! Unit tests for `plan::build` on catalogs built in code.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::catalog::{Arch, OutputType};
use crate::hardware::{cpu, spec};
use crate::schedule::TableRates;
use crate::synthetic::{catalog, dataset, llama_8b, llama_70b, model};

fn cluster(text: &str) -> Inventory {
    spec::parse(text)
        .unwrap()
        .into_inventory(cpu::tests::host(16, 64))
}
fn nothing_local(_: &Model) -> Option<LocalCheckpoint> {
    None
}
fn request(category: &str, limit: Option<u64>) -> Request<'_> {
    Request {
        category,
        limit,
        settings: Settings::default(),
    }
}
fn five_datasets() -> Vec<Dataset> {
    (0..5)
        .map(|i| dataset(&format!("ds{i}"), Some(100), OutputType::MultipleChoice))
        .collect()
}
fn seven_b(id: &str) -> Model {
    let mut m = llama_8b();
    m.id = id.into();
    m.arch.params = 7_000_000_000;
    m
}

#[test]
fn limit_applies_per_dataset() {
    let cat = catalog("reasoning", vec![llama_8b()], five_datasets());
    let plan = build(
        &cat,
        &cluster("1xL4-24GB"),
        &request("reasoning", Some(3)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    assert_eq!(plan.jobs[0].samples, 15);
    assert!(plan.jobs[0].datasets.iter().all(|d| d.samples == 3));
    assert_eq!(plan.totals.samples, 15);
    let all = build(
        &cat,
        &cluster("1xL4-24GB"),
        &request("reasoning", None),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    assert_eq!(all.jobs[0].samples, 500);
}

#[test]
fn missing_data_counts_zero_and_is_flagged() {
    let mut ds = five_datasets();
    ds.push(dataset("absent", None, OutputType::GenerateUntil));
    let cat = catalog("mixed", vec![llama_8b()], ds);
    let plan = build(
        &cat,
        &cluster("1xL4-24GB"),
        &request("mixed", Some(3)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let absent = plan.jobs[0]
        .datasets
        .iter()
        .find(|d| d.name == "absent")
        .unwrap();
    assert_eq!((absent.samples, absent.missing), (0, true));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("`absent` has no data"))
    );
    assert_eq!(plan.jobs[0].samples, 15);
}

#[test]
fn unsupported_architectures_are_sized_but_not_scheduled() {
    let mut odd = llama_8b();
    odd.id = "odd".into();
    odd.arch.architecture = "MambaForCausalLM".into();
    let cat = catalog("c", vec![odd, llama_8b()], five_datasets());
    let plan = build(
        &cat,
        &cluster("2xL4-24GB"),
        &request("c", Some(3)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let odd = plan.jobs.iter().find(|j| j.model == "odd").unwrap();
    assert!(!odd.runnable);
    assert_eq!(odd.engine, RouteEngine::Lightweight);
    assert!(odd.memory.weights > 0 && odd.devices.is_empty() && odd.start_s.is_none());
    assert!(
        odd.reason
            .starts_with("no engine supports MambaForCausalLM")
    );
    assert!(plan.schedule.pieces.iter().all(|p| p.model != "odd"));
    assert_eq!(plan.totals.runnable, 1);
}

#[test]
fn unknown_category_names_close_ones() {
    let cat = catalog("reasoning", vec![llama_8b()], five_datasets());
    let err = build(
        &cat,
        &cluster("1xL4"),
        &request("reasonin", None),
        &nothing_local,
        &TableRates,
    )
    .unwrap_err();
    let PlanError::UnknownCategory { close, .. } = &err;
    assert_eq!(close, &vec!["reasoning".to_string()]);
    assert!(err.to_string().contains("did you mean `reasoning`?"));
    let err = build(
        &cat,
        &cluster("1xL4"),
        &request("zzz", None),
        &nothing_local,
        &TableRates,
    )
    .unwrap_err();
    assert!(
        err.to_string().ends_with("known categories: reasoning"),
        "{err}"
    );
}

#[test]
fn checkpoints_on_disk_or_with_a_download_command() {
    let cat = catalog("c", vec![llama_8b(), llama_70b()], five_datasets());
    let local = |m: &Model| {
        (m.id == "llama-3.1-8b").then(|| LocalCheckpoint {
            dir: "/models/llama-3.1-8b".into(),
            arch: m.arch.clone(),
            weight_bytes: 16_060_522_496,
            disk_bytes: 16_100_000_000,
        })
    };
    let plan = build(
        &cat,
        &cluster("8xH100-80GB"),
        &request("c", Some(1)),
        &local,
        &TableRates,
    )
    .unwrap();
    let small = plan
        .jobs
        .iter()
        .find(|j| j.model == "llama-3.1-8b")
        .unwrap();
    assert!(matches!(
        small.checkpoint,
        CheckpointState::OnDisk {
            disk_bytes: 16_100_000_000,
            ..
        }
    ));
    assert!(small.arithmetic[0].contains("safetensors headers"));
    let big = plan
        .jobs
        .iter()
        .find(|j| j.model == "llama-3.1-70b")
        .unwrap();
    let CheckpointState::Missing {
        download_bytes,
        command,
    } = &big.checkpoint
    else {
        panic!("on disk?")
    };
    assert_eq!(*download_bytes, 70_553_706_496 * 2);
    assert_eq!(
        command.as_deref(),
        Some("huggingface-cli download example/llama-3.1-70b --revision main")
    );
    assert_eq!(plan.totals.download_bytes, 70_553_706_496 * 2);
    let mut plan = plan;
    plan.attach_disk(Some(DiskSpace {
        path: "/cache".into(),
        free_bytes: 1 << 30,
    }));
    assert!(plan.notes.iter().any(|n| n.starts_with("downloads need 131.42 GiB but only 1.00 GiB is free at /cache")));
}

#[test]
fn four_small_models_use_all_eight_gpus() {
    let models = (0..4).map(|i| seven_b(&format!("m{i}"))).collect();
    let cat = catalog("c", models, five_datasets());
    let plan = build(
        &cat,
        &cluster("8xH100-80GB"),
        &request("c", None),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let mut used: Vec<&String> = plan
        .schedule
        .pieces
        .iter()
        .flat_map(|p| &p.devices)
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 8);
    assert!(plan.jobs.iter().all(|j| j.replicas == 2));
    let per_model: u64 = plan
        .schedule
        .pieces
        .iter()
        .filter(|p| p.model == "m0")
        .map(|p| p.samples)
        .sum();
    assert_eq!(per_model, 500);
    assert!(plan.schedule.makespan_s >= plan.schedule.lower_bound_s);
}

#[test]
fn tp_jobs_get_their_gangs_and_cpu_hosts_run_on_the_cpu() {
    let cat = catalog("c", vec![llama_70b(), llama_8b()], five_datasets());
    let req = Request {
        category: "c",
        limit: Some(10),
        settings: Settings {
            max_seq_len: Some(8192),
            batch: Some(8),
            ..Default::default()
        },
    };
    let plan = build(
        &cat,
        &cluster("8xH100-80GB"),
        &req,
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let big = plan
        .jobs
        .iter()
        .find(|j| j.model == "llama-3.1-70b")
        .unwrap();
    assert_eq!(
        (big.engine, big.tp, big.devices.len()),
        (RouteEngine::TensorParallel, 4, 4)
    );
    let host = Inventory {
        source: Source::Cpu,
        gpus: vec![],
        cpu: cpu::tests::host(2, 24),
        notice: None,
    };
    let plan = build(
        &cat,
        &host,
        &request("c", Some(2)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let small = plan
        .jobs
        .iter()
        .find(|j| j.model == "llama-3.1-8b")
        .unwrap();
    assert_eq!(
        (small.engine, small.devices.clone()),
        (RouteEngine::Lightweight, vec!["cpu".to_string()])
    );
    let big = plan
        .jobs
        .iter()
        .find(|j| j.model == "llama-3.1-70b")
        .unwrap();
    assert_eq!(big.engine, RouteEngine::Unplaceable);
    assert!(plan.schedule.how.iter().any(|h| h.contains("CPU 2 cores")));
}

#[test]
fn json_has_the_documented_fields() {
    let cat = catalog("c", vec![llama_8b()], five_datasets());
    let plan = build(
        &cat,
        &cluster("1xL4-24GB"),
        &request("c", Some(3)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let v = serde_json::to_value(&plan).unwrap();
    let job = &v["jobs"][0];
    assert_eq!(job["engine"], "lightweight");
    assert_eq!(job["tp"], 1);
    assert_eq!(job["devices"][0], "gpu0");
    for key in [
        "weights",
        "kv_cache",
        "activations",
        "overhead",
        "nccl",
        "total",
        "per_rank",
    ] {
        assert!(job["memory"][key].is_u64(), "memory.{key}");
    }
    assert_eq!(job["datasets"][0]["samples"], 3);
    assert!(job["reason"].is_string());
    for key in ["makespan_s", "lower_bound_s", "pieces", "how", "waves"] {
        assert!(!v["schedule"][key].is_null(), "schedule.{key}");
    }
    assert!(v["totals"]["samples"].is_u64());
}

#[test]
fn tokens_follow_the_output_type() {
    let mut d = dataset("g", Some(10), OutputType::GenerateUntil);
    d.num_fewshot = 2;
    assert_eq!(tokens_per_sample(&d, 4096), (3 * PROMPT_TOKENS_PER_DOC, 64));
    d.output_type = OutputType::MultipleChoice;
    d.doc_to_choice = Some(ChoiceSpec::List(vec!["a".into(), "b".into()]));
    assert_eq!(
        tokens_per_sample(&d, 4096),
        (3 * PROMPT_TOKENS_PER_DOC + 2 * TOKENS_PER_CHOICE, 0)
    );
    d.output_type = OutputType::Loglikelihood;
    d.repeats = 2;
    assert_eq!(tokens_per_sample(&d, 100), (200, 0));
}

#[test]
fn moe_compute_uses_active_experts() {
    let mut arch: Arch = llama_8b().arch;
    arch.experts = Some((8, 2));
    let moe = model("moe", arch);
    assert!(active_params(&moe) < moe.arch.params as f64 / 2.0);
}

#[test]
fn disk_space_is_read_with_statvfs() {
    assert!(free_bytes(std::path::Path::new("/")).is_some_and(|b| b > 0));
    assert!(free_bytes(std::path::Path::new("/no/such/dir")).is_none());
}

#[test]
fn models_with_an_endpoint_route_remote_even_when_unplaceable_here() {
    let endpoint = |m: &mut Model| {
        m.endpoint = Some(crate::catalog::Endpoint {
            base_url: "http://10.0.0.5:8000/v1".into(),
            served_model_name: m.id.clone(),
            api_key_env: Some("VLLM_KEY".into()),
            concurrency: 32,
        });
    };
    let mut big = llama_70b();
    endpoint(&mut big);
    let mut small = llama_8b();
    small.id = "small-remote".into();
    endpoint(&mut small);
    let local = seven_b("local-7b");
    let cat = catalog("reasoning", vec![big, small, local], five_datasets());
    let plan = build(
        &cat,
        &cluster("1xL4-24GB"),
        &request("reasoning", Some(3)),
        &nothing_local,
        &TableRates,
    )
    .unwrap();
    let job = |id: &str| plan.jobs.iter().find(|j| j.model == id).unwrap();
    for id in ["llama-3.1-70b", "small-remote"] {
        let j = job(id);
        assert_eq!(j.engine, RouteEngine::Remote, "{id}");
        assert!(j.devices.is_empty() && j.start_s.is_none(), "{id}");
        assert_eq!(
            j.endpoint.as_ref().map(|e| e.base_url.as_str()),
            Some("http://10.0.0.5:8000/v1")
        );
        assert!(
            j.reason
                .contains("served remotely at http://10.0.0.5:8000/v1")
        );
    }
    assert_eq!(job("local-7b").engine, RouteEngine::Lightweight);
    assert_eq!(plan.totals.unplaceable, 0);
}
