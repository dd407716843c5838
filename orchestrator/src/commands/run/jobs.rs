//! From plan to jobs: the weights check (and `--download`), one [`JobSpec`] per planned model
//! with its engine, replicas, devices and identity (weights fingerprint, snapshot commit, or
//! server), and what the run stores about itself (settings with dataset details, catalog hash,
//! host).

use super::*;

/// Every runnable model must have its weights on disk before anything starts. With
/// `--download`, missing checkpoints with a hub repository are fetched first (and the model's
/// revision pinned to the commit, see `commands::download::complete_plan`).
pub(super) async fn check_weights(
    plan: &mut Plan,
    catalog: &mut Catalog,
    download: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    if download {
        crate::commands::download::complete_plan(plan, catalog, printer).await?;
    }
    let missing: Vec<String> =
        plan.jobs
            .iter()
            .filter(|j| {
                j.runnable
                    && !matches!(
                        j.engine,
                        route::RouteEngine::Unplaceable | route::RouteEngine::Remote
                    )
            })
            .filter_map(|j| match &j.checkpoint {
                CheckpointState::Missing {
                    command,
                    download_bytes,
                } => {
                    let model = catalog.models.get(&j.model);
                    let how = command.clone().unwrap_or_else(|| {
                        match model.and_then(|m| m.path.as_ref()) {
                            Some(p) => format!("put the checkpoint at {}", p.display()),
                            None => "no source known".into(),
                        }
                    });
                    Some(format!(
                        "  {} ({}): {how}",
                        j.model,
                        crate::printer::human_bytes(*download_bytes)
                    ))
                }
                CheckpointState::OnDisk { .. } => None,
            })
            .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let download_note = if download {
        "they have no Hugging Face repository to download from; put them in place, then run again"
    } else {
        "fetch them with the commands above, or run again with --download"
    };
    Err(InputError(format!(
        "{} model(s) have no weights on disk:\n{}\n{download_note}",
        missing.len(),
        missing.join("\n")
    ))
    .into())
}

/// Jobs from the plan: engine, replicas and devices, checkpoint and datasets.
pub(super) fn job_specs(
    plan: &Plan,
    catalog: &Catalog,
    inv: &Inventory,
    existing: &BTreeMap<String, i64>,
    dtype_flag: Option<DType>,
) -> Vec<JobSpec> {
    let datasets: Vec<catalog::Dataset> = plan
        .datasets
        .iter()
        .filter_map(|d| catalog.datasets.get(&d.name).cloned())
        .collect();
    let mut out = Vec::new();
    for j in &plan.jobs {
        let Some(model) = catalog.models.get(&j.model) else {
            continue;
        };
        let checkpoint = match &j.checkpoint {
            CheckpointState::OnDisk { dir, .. } => Some(dir.clone()),
            CheckpointState::Missing { .. } => None,
        };
        let local = |engine: run::LocalEngine| match &checkpoint {
            Some(dir) => {
                let mut replicas: Vec<Vec<String>> = plan
                    .schedule
                    .pieces
                    .iter()
                    .filter(|p| p.model == j.model)
                    .map(|p| p.devices.clone())
                    .collect();
                if replicas.is_empty() {
                    replicas.push(j.devices.clone());
                }
                let gpus = inv
                    .gpus
                    .iter()
                    .filter(|g| j.devices.contains(&format!("gpu{}", g.index)))
                    .cloned()
                    .collect();
                Placement::Local {
                    engine,
                    checkpoint: dir.clone(),
                    tp: j.tp.max(1),
                    replicas,
                    gpus,
                }
            }
            None => Placement::Blocked("no checkpoint on disk".into()),
        };
        let placement = if !j.runnable {
            Placement::Blocked(format!(
                "architecture `{}` is not supported by any engine",
                j.architecture
            ))
        } else {
            match (j.engine, &model.endpoint) {
                (route::RouteEngine::Lightweight, _) => local(run::LocalEngine::Lightweight),
                (route::RouteEngine::TensorParallel, _) => local(run::LocalEngine::TensorParallel),
                // Jobs on one server take turns; jobs on other servers or local devices run
                // beside them (see `JobSpec::devices`).
                (route::RouteEngine::Remote, Some(e)) => Placement::Remote(e.remote_config()),
                (route::RouteEngine::Remote, None) => {
                    Placement::Blocked("routed remote without an endpoint".into())
                }
                (route::RouteEngine::Unplaceable, _) => {
                    Placement::Blocked(format!("cannot be placed: {}", j.reason))
                }
            }
        };
        let dtype = dtype_flag.unwrap_or(j.settings.dtype);
        let remote = placement.is_remote();
        let weights_hash = match &placement {
            Placement::Remote(r) => Some(remote_fingerprint(r)),
            _ => checkpoint.as_deref().map(weights_fingerprint),
        };
        let mut model = model.clone();
        if let Some(commit) = checkpoint.as_deref().and_then(snapshot_commit) {
            // A hub-cache snapshot is the commit it is named after, whatever branch led to it.
            model.revision = commit;
        }
        out.push(JobSpec {
            weights_hash,
            model,
            placement,
            load_dtype: Some(dtype),
            // The server decides the precision of a served model.
            dtype: if remote {
                "server".to_string()
            } else {
                dtype.as_str().to_string()
            },
            // A served model uses no local memory.
            memory_estimate: if remote { 0 } else { j.memory.total },
            estimated_s: j.start_s.zip(j.end_s).map(|(s, e)| e - s),
            datasets: datasets.clone(),
            existing_job: existing.get(&j.model).copied(),
        });
    }
    out
}

/// The commit of a Hugging Face cache snapshot directory (`.../snapshots/<commit>`).
fn snapshot_commit(dir: &Path) -> Option<String> {
    let parent = dir.parent()?.file_name()?;
    let name = dir.file_name()?.to_str()?;
    (parent == "snapshots" && name.len() >= 7 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| name.to_string())
}

/// What identifies a served model's weights from the outside: the server and the name it
/// serves them under. A server that swaps the weights behind the same name cannot be told
/// apart; pass `--fresh` after redeploying.
fn remote_fingerprint(r: &assay_engines::RemoteConfig) -> String {
    let mut h = Sha256::new();
    h.update(b"remote\0");
    h.update(r.base_url.as_bytes());
    h.update(b"\0");
    h.update(r.model.as_bytes());
    crate::store::sha256_hex(&h.finalize())
}

/// A cheap fingerprint of a checkpoint's weights: per file (sorted) its name, size and the
/// sha256 of its first and last MiB. Hashing whole multi-GiB files on every run would cost
/// more than the evaluation of a small model.
pub fn weights_fingerprint(dir: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "safetensors")
                        || p.file_name().is_some_and(|n| n == "config.json")
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut h = Sha256::new();
    const EDGE: u64 = 1 << 20;
    for p in names {
        let Ok(mut f) = std::fs::File::open(&p) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        h.update(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        h.update(len.to_le_bytes());
        let mut buf = Vec::new();
        let _ = (&mut f).take(EDGE).read_to_end(&mut buf);
        if len > 2 * EDGE && f.seek(SeekFrom::Start(len - EDGE)).is_ok() {
            let _ = f.take(EDGE).read_to_end(&mut buf);
        }
        h.update(&buf);
    }
    crate::store::sha256_hex(&h.finalize())
}

/// The run's settings as stored: the command's options plus, per dataset, what export and
/// comparisons need to know about it (`dataset_details`: version, effective few-shot count,
/// test rows, data hash, output type).
pub(super) fn config_json(
    config: &RunConfig,
    catalog: &Catalog,
    plan: &Plan,
) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(config)?;
    let details: serde_json::Map<String, serde_json::Value> = plan
        .datasets
        .iter()
        .filter_map(|d| catalog.datasets.get(&d.name))
        .map(|d| {
            let hash = match &d.data {
                catalog::DataState::Ready { hash, .. } => Some(hash.clone()),
                catalog::DataState::Missing { .. } => None,
            };
            (
                d.name.clone(),
                serde_json::json!({
                    "version": d.version,
                    "num_fewshot": config.num_fewshot.unwrap_or(d.num_fewshot),
                    "size": d.test_rows(),
                    "hash": hash,
                    "output_type": d.output_type,
                }),
            )
        })
        .collect();
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("dataset_details".into(), serde_json::Value::Object(details));
    }
    Ok(v)
}

pub(super) fn catalog_hash(catalog: &Catalog, plan: &Plan) -> String {
    let mut h = Sha256::new();
    for d in &plan.datasets {
        if let Some(ds) = catalog.datasets.get(&d.name)
            && let catalog::DataState::Ready { hash, .. } = &ds.data
        {
            h.update(d.name.as_bytes());
            h.update(hash.as_bytes());
        }
    }
    for j in &plan.jobs {
        if let Some(m) = catalog.models.get(&j.model) {
            h.update(serde_json::to_string(m).unwrap_or_default().as_bytes());
        }
    }
    crate::store::sha256_hex(&h.finalize())
}

pub(super) fn host_json(inv: &Inventory) -> serde_json::Value {
    serde_json::json!({
        "cpu": inv.cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "hardware": plan::describe(inv),
    })
}
