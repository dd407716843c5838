//! The Hugging Face hub cache layout, in one place: where the cache is, where a repository
//! lives in it, and which snapshot a revision names. Model loading, the catalog's local
//! checkpoints, the planner's disk-space check, downloads and the dataset loader all resolve
//! the cache through here, as `huggingface_hub` lays it out:
//!
//! - root: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
//!   `~/.cache/huggingface/hub`; a variable set to the empty string counts as unset;
//! - a repository: `<root>/models--org--name` (or `datasets--org--name`);
//! - a revision: `refs/<revision>` first (a branch or tag, holding a commit), else
//!   `snapshots/<revision>` (a commit); no revision means `refs/main`, else the only snapshot.
//!   A revision that could climb out of the repository (`..`, an absolute path) is refused.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a repository holds (the prefix of its cache directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

/// The cache root from the process environment.
pub fn root() -> Option<PathBuf> {
    root_from(|k| std::env::var_os(k))
}

/// The cache root from `var` (an environment lookup), for tests.
pub fn root_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

/// `<root>/models--org--name` (or `datasets--org--name`).
pub fn repo_dir(root: &Path, kind: RepoKind, repo: &str) -> PathBuf {
    let prefix = match kind {
        RepoKind::Model => "models",
        RepoKind::Dataset => "datasets",
    };
    root.join(format!("{prefix}--{}", repo.replace('/', "--")))
}

/// The repository id (`org/name`) a snapshot directory belongs to, when `dir` is
/// `.../models--org--name/snapshots/<commit>`.
pub fn repo_of_snapshot(dir: &Path) -> Option<String> {
    let snapshots = dir.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let entry = snapshots.parent()?.file_name()?.to_str()?;
    let rest = entry.strip_prefix("models--")?;
    let (org, name) = rest.split_once("--")?;
    (!org.is_empty() && !name.is_empty()).then(|| format!("{org}/{}", name.replace("--", "/")))
}

/// Whether `revision` can be joined under a repository directory without leaving it.
pub fn safe_revision(revision: &str) -> bool {
    !revision.is_empty()
        && !revision.starts_with('/')
        && !revision
            .split('/')
            .any(|part| part == ".." || part.is_empty())
}

/// The snapshot directory `revision` names in `repo_dir` (see the module header), or why
/// there is none.
pub fn snapshot(repo_dir: &Path, revision: Option<&str>) -> Result<PathBuf, String> {
    let snapshots = repo_dir.join("snapshots");
    let Some(revision) = revision else {
        return match read_ref(repo_dir, "main") {
            Some(commit) => existing(&snapshots, &commit),
            None => only_snapshot(&snapshots).ok_or_else(|| {
                format!(
                    "{} has no refs/main and not exactly one snapshot",
                    repo_dir.display()
                )
            }),
        };
    };
    if !safe_revision(revision) {
        return Err(format!(
            "revision `{revision}` is not a branch, tag or commit name"
        ));
    }
    match read_ref(repo_dir, revision) {
        Some(commit) => existing(&snapshots, &commit),
        None => existing(&snapshots, revision),
    }
}

/// The commit `refs/<name>` holds, when it is a plain commit name.
fn read_ref(repo_dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo_dir.join("refs").join(name)).ok()?;
    let commit = text.trim();
    (!commit.is_empty() && commit.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| commit.to_string())
}

fn existing(snapshots: &Path, commit: &str) -> Result<PathBuf, String> {
    let dir = snapshots.join(commit);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("snapshot {} does not exist", dir.display()))
    }
}

fn only_snapshot(snapshots: &Path) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(snapshots)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_root_follows_huggingface_hub() {
        let r = |pairs: &[(&str, &str)]| root_from(env(pairs));
        assert_eq!(
            r(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")]),
            Some("/c".into())
        );
        assert_eq!(
            r(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/h")]),
            Some("/h/hub".into())
        );
        assert_eq!(
            r(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/home/u")]),
            Some("/x/huggingface/hub".into())
        );
        assert_eq!(
            r(&[("HF_HOME", ""), ("HOME", "/home/u")]),
            Some("/home/u/.cache/huggingface/hub".into())
        );
        assert_eq!(r(&[]), None);
    }

    #[test]
    fn revisions_resolve_through_refs_first() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_dir(dir.path(), RepoKind::Model, "org/name");
        assert!(repo.ends_with("models--org--name"));
        for c in ["abc123", "def456"] {
            std::fs::create_dir_all(repo.join("snapshots").join(c)).unwrap();
        }
        // Two snapshots and no refs: no default.
        assert!(snapshot(&repo, None).is_err());
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        assert!(snapshot(&repo, None).unwrap().ends_with("abc123"));
        assert!(snapshot(&repo, Some("main")).unwrap().ends_with("abc123"));
        assert!(snapshot(&repo, Some("def456")).unwrap().ends_with("def456"));
        // A branch named like a commit follows its ref.
        std::fs::write(repo.join("refs/def456"), "abc123").unwrap();
        assert!(snapshot(&repo, Some("def456")).unwrap().ends_with("abc123"));
        // Nothing outside the repository.
        for bad in ["../x", "/etc", "a/../../b", ""] {
            assert!(snapshot(&repo, Some(bad)).is_err(), "{bad}");
        }
        assert!(snapshot(&repo, Some("nope")).is_err());
        // One snapshot is the default when there is no refs/main.
        let ds = repo_dir(dir.path(), RepoKind::Dataset, "org/data");
        assert!(ds.ends_with("datasets--org--data"));
        std::fs::create_dir_all(ds.join("snapshots/only")).unwrap();
        assert!(snapshot(&ds, None).unwrap().ends_with("only"));
        assert_eq!(
            repo_of_snapshot(&repo.join("snapshots/abc123")).as_deref(),
            Some("org/name")
        );
        assert_eq!(repo_of_snapshot(dir.path()), None);
    }
}
