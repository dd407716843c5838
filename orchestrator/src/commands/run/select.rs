//! Which models and datasets a run covers: a category, `--model` as a catalog id, a checkpoint
//! directory or a server URL (added to the catalog for this run), narrowed by `--models` and
//! `--datasets`.

use super::*;

/// Resolve the selection into a category of the catalog (an ad-hoc one for `--model`) and
/// return its name. The demo model's directory is created here on first use.
pub(super) fn select(catalog: &mut Catalog, c: &RunConfig) -> Result<String, InputError> {
    let (name, mut models, mut datasets) = if let Some(cat) = &c.category {
        let category =
            crate::plan::find_category(catalog, cat).map_err(|e| InputError(e.to_string()))?;
        (
            cat.clone(),
            category.models.clone(),
            category.datasets.clone(),
        )
    } else if let Some(m) = &c.model {
        let id = if m.starts_with("http://") || m.starts_with("https://") {
            served_model(catalog, m, c)?
        } else {
            adhoc_model(catalog, m)?
        };
        ("run".to_string(), vec![id], Vec::new())
    } else {
        return Err(InputError(
            "give a CATEGORY, --model PATH_OR_ID, or --resume RUN_ID".into(),
        ));
    };
    if !c.models.is_empty() {
        for m in &c.models {
            if !models.contains(m) {
                return Err(InputError(format!(
                    "--models: `{m}` is not a model of `{name}` (its models: {})",
                    models.join(", ")
                )));
            }
        }
        models.retain(|m| c.models.contains(m));
    }
    if !c.datasets.is_empty() {
        for d in &c.datasets {
            if !catalog.datasets.contains_key(d) {
                let known: Vec<&str> = catalog.datasets.keys().map(String::as_str).collect();
                return Err(InputError(format!(
                    "--datasets: unknown dataset `{d}`; known: {}",
                    known.join(", ")
                )));
            }
        }
        datasets = c.datasets.clone();
    }
    if datasets.is_empty() {
        return Err(InputError(format!("`{name}` has no datasets to run")));
    }
    for id in &models {
        if id == demo::MODEL_ID
            && let Some(model) = catalog.models.get_mut(id)
        {
            let dir = demo::ensure().map_err(|e| InputError(e.to_string()))?;
            model.path = Some(dir);
        }
    }
    let run_name = name.clone();
    catalog.categories.insert(
        run_name.clone(),
        Category {
            name: run_name.clone(),
            description: String::new(),
            models,
            datasets,
            not_ready: None,
            origin: Origin::Builtin,
        },
    );
    Ok(run_name)
}

/// A model given by `--model URL`: the server's model, added to the catalog with an endpoint
/// (the plan routes it to the remote engine).
fn served_model(catalog: &mut Catalog, url: &str, c: &RunConfig) -> Result<String, InputError> {
    let Some(name) = c.served_model_name.clone() else {
        return Err(InputError(format!(
            "--model {url} names a server: add --served-model-name NAME (a model its \
             /v1/models lists)"
        )));
    };
    let raw = catalog::raw::RawEndpoint {
        base_url: url.to_string(),
        served_model_name: Some(name.clone()),
        api_key_env: c.api_key_env.clone(),
        concurrency: None,
    };
    let endpoint = catalog::models::check_endpoint(&raw, &name).map_err(|(field, message)| {
        let flag = if field == "endpoint.api_key_env" {
            "--api-key-env"
        } else {
            "--model"
        };
        InputError(format!("{flag}: {message}"))
    })?;
    let id = if catalog.models.contains_key(&name) {
        format!("{name}@{}", endpoint.base_url)
    } else {
        name
    };
    catalog.models.insert(
        id.clone(),
        Model {
            id: id.clone(),
            hf_repo: None,
            revision: "served".into(),
            path: None,
            dtype: DType::Bf16,
            // Generation goes through the server's chat template when the dataset asks for it.
            chat: true,
            arch: catalog::Arch::unknown("served"),
            note: None,
            endpoint: Some(endpoint),
            origin: Origin::User(PathBuf::from(url)),
        },
    );
    Ok(id)
}

/// A model given by `--model`: a catalog id, or a checkpoint directory added as a model.
fn adhoc_model(catalog: &mut Catalog, given: &str) -> Result<String, InputError> {
    if catalog.models.contains_key(given) {
        return Ok(given.to_string());
    }
    // A checkpoint directory, or `org/name[@revision]` in the Hugging Face cache (as `serve`
    // takes it). A cache snapshot is named after its repository, not its commit directory.
    let dir = PathBuf::from(given);
    let dir = if dir.join("config.json").is_file() {
        std::path::absolute(&dir).unwrap_or(dir)
    } else {
        match assay_engines::checkpoint::resolve_model_dir(given) {
            Ok(snapshot) if snapshot.join("config.json").is_file() => snapshot,
            _ => {
                return Err(InputError(format!(
                    "--model `{given}` is neither a catalog model id, a directory with a config.json, nor an `org/name` in the Hugging Face cache ({})",
                    assay_engines::hub_cache::root()
                        .map_or("no cache directory".into(), |r| r.display().to_string())
                )));
            }
        }
    };
    let hf_repo = assay_engines::hub_cache::repo_of_snapshot(&dir);
    let id = hf_repo.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| given.to_string())
    });
    let probe = Model {
        endpoint: None,
        id: id.clone(),
        hf_repo,
        revision: "local".into(),
        path: Some(dir.clone()),
        dtype: DType::F32,
        chat: false,
        arch: catalog::Arch::unknown(String::new()),
        note: None,
        origin: Origin::User(dir.clone()),
    };
    let local = catalog::inspect_local(&probe)
        .map_err(|e| InputError(format!("--model {given}: {e}")))?
        .ok_or_else(|| InputError(format!("--model {given}: no checkpoint found")))?;
    let declared = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("torch_dtype")
                .or_else(|| v.get("dtype"))
                .and_then(|d| d.as_str().map(String::from))
        })
        .and_then(|d| DType::parse(&d))
        .unwrap_or(DType::F32);
    let chat = std::fs::read(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("chat_template").is_some())
        || dir.join("chat_template.jinja").is_file();
    catalog.models.insert(
        id.clone(),
        Model {
            dtype: declared,
            chat,
            arch: local.arch,
            ..probe
        },
    );
    Ok(id)
}
