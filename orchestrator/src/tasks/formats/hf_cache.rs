//! Hugging Face datasets found in the local hub cache (no download).
//!
//! The cache layout is `assay_engines::hub_cache`'s, as for models: a dataset `org/name` lives
//! in `datasets--org--name/snapshots/<commit>/`; a revision resolves through `refs/<revision>`
//! or names a commit, and with none `refs/main` or a single snapshot is used. Its `.parquet` files (at any depth) give the
//! splits: the file name up to its first `-` (`test-00000-of-00001.parquet`,
//! `data/test-*.parquet`), or the parent directory for purely numbered files
//! (`<config>/test/0000.parquet`, the `refs/convert/parquet` layout). With a config name
//! (`hf_config`, lm-eval's `dataset_name`) only files under a directory of that name count.
//! A split in several shards is refused with the list of shards (one file per split).

use assay_engines::hub_cache;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Split name → its Parquet file.
pub type Splits = BTreeMap<String, PathBuf>;

/// Resolve `repo` (`org/name`, an `hf://` prefix allowed) in the cache of the environment.
pub fn resolve(repo: &str, config: Option<&str>, revision: Option<&str>) -> Result<Splits, String> {
    let hub = hub_cache::root().ok_or_else(|| {
        "no Hugging Face cache directory (set HF_HUB_CACHE or HF_HOME)".to_string()
    })?;
    resolve_in(&hub, repo, config, revision)
}

/// Whether `repo` names a dataset id `org/name` (an `hf://` prefix allowed).
pub fn repo_id(repo: &str) -> Option<&str> {
    let id = repo
        .strip_prefix("hf://")
        .unwrap_or(repo)
        .trim_end_matches('/');
    let id = id.strip_prefix("datasets/").unwrap_or(id);
    let ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = id.split('/').collect();
    match parts.as_slice() {
        [name] if ok(name) => Some(id),
        [org, name] if ok(org) && ok(name) => Some(id),
        _ => None,
    }
}

/// `resolve` with an explicit cache root.
pub fn resolve_in(
    hub: &Path,
    repo: &str,
    config: Option<&str>,
    revision: Option<&str>,
) -> Result<Splits, String> {
    let id = repo_id(repo).ok_or_else(|| {
        format!("`{repo}` is not a Hugging Face dataset id (expected `org/name`)")
    })?;
    let repo_dir = hub_cache::repo_dir(hub, hub_cache::RepoKind::Dataset, id);
    if !repo_dir.is_dir() {
        return Err(format!(
            "Hugging Face dataset `{id}` is not in the local cache (looked for {}); download it first, e.g. `huggingface-cli download --repo-type dataset {id}`",
            repo_dir.display()
        ));
    }
    let snapshot = hub_cache::snapshot(&repo_dir, revision)
        .map_err(|e| format!("Hugging Face dataset `{id}`: {e}"))?;
    let mut files = Vec::new();
    collect_parquet(&snapshot, 0, &mut files);
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{}: no .parquet files in this snapshot of `{id}` (only Parquet datasets are read from the cache)",
            snapshot.display()
        ));
    }
    let chosen: Vec<&PathBuf> = match config {
        None => files.iter().collect(),
        Some(c) => files
            .iter()
            .filter(|f| {
                let rel = f.strip_prefix(&snapshot).unwrap_or(f.as_path());
                rel.parent()
                    .is_some_and(|p| p.components().any(|x| x.as_os_str() == c))
            })
            .collect(),
    };
    if chosen.is_empty() {
        let configs: std::collections::BTreeSet<String> = files
            .iter()
            .filter_map(|f| f.strip_prefix(&snapshot).ok()?.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|c| !c.ends_with(".parquet"))
            .collect();
        return Err(format!(
            "{}: no .parquet files for config `{}` (directories: {})",
            snapshot.display(),
            config.unwrap_or(""),
            configs.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut by_split: BTreeMap<String, Vec<&PathBuf>> = BTreeMap::new();
    for f in chosen {
        if let Some(split) = split_of(f) {
            by_split.entry(split).or_default().push(f);
        }
    }
    let mut out = Splits::new();
    for (split, list) in by_split {
        if list.len() > 1 {
            let shown: Vec<String> = list
                .iter()
                .map(|f| {
                    f.strip_prefix(&snapshot)
                        .unwrap_or(f.as_path())
                        .display()
                        .to_string()
                })
                .collect();
            let hint = if config.is_none() {
                " (name a config with `hf_config` if these are different configs)"
            } else {
                ""
            };
            return Err(format!(
                "{}: split `{split}` is in {} files ({}); one file per split is supported{hint}",
                snapshot.display(),
                list.len(),
                shown.join(", ")
            ));
        }
        out.insert(split, list[0].clone());
    }
    Ok(out)
}

fn collect_parquet(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 6 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_parquet(&path, depth + 1, out);
        } else if name.ends_with(".parquet") && path.is_file() {
            out.push(path);
        }
    }
}

/// `test-00000-of-00001.parquet` → `test`; `test/0000.parquet` → `test`.
pub fn split_of(file: &Path) -> Option<String> {
    let stem = file.file_stem()?.to_string_lossy().into_owned();
    let head = stem.split('-').next().unwrap_or(&stem).to_string();
    if !head.is_empty() && !head.chars().all(|c| c.is_ascii_digit()) {
        return Some(head);
    }
    let parent = file.parent()?.file_name()?.to_string_lossy().into_owned();
    (!parent.is_empty()).then_some(parent)
}
