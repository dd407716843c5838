//! Where catalog files come from: the table embedded in the binary, or a directory on disk.
//!
//! Both look the same to the loader: relative paths like `categories/models.yaml` and
//! `datasets/<name>/manifest.yaml`. Embedded files are shown and addressed as
//! `builtin:<relative path>`.

use super::error::CatalogError;
use super::types::Origin;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_catalog.rs"));
}

/// Prefix of the virtual paths of embedded files (`builtin:datasets/x/test.jsonl`).
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The catalog built into the binary.
pub fn builtin_files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// Bytes of an embedded file by its relative path.
pub fn builtin_file(rel: &str) -> Option<&'static [u8]> {
    embedded::FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, b)| *b)
}

#[derive(Debug, Clone)]
pub enum Source {
    /// `(relative path, bytes)` pairs, sorted by path.
    Embedded(&'static [(&'static str, &'static [u8])]),
    /// A catalog directory holding `categories/` and `datasets/`.
    Dir(PathBuf),
}

impl Source {
    pub fn origin(&self) -> Origin {
        match self {
            Source::Embedded(_) => Origin::Builtin,
            Source::Dir(dir) => Origin::User(dir.clone()),
        }
    }

    /// The path of `rel` as addressed later (virtual `builtin:` path or real path).
    pub fn path(&self, rel: &str) -> PathBuf {
        match self {
            Source::Embedded(_) => PathBuf::from(format!("{BUILTIN_PREFIX}{rel}")),
            Source::Dir(dir) => dir.join(rel),
        }
    }

    /// The file as shown in messages.
    pub fn label(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// Bytes of `rel`, or `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<Cow<'static, [u8]>>, CatalogError> {
        match self {
            Source::Embedded(files) => Ok(files
                .iter()
                .find(|(p, _)| *p == rel)
                .map(|(_, b)| Cow::Borrowed(*b))),
            Source::Dir(dir) => read_optional(&dir.join(rel)).map(|o| o.map(Cow::Owned)),
        }
    }

    /// Names of the regular files directly inside `sub` (e.g. `categories`), sorted.
    pub fn files_in(&self, sub: &str) -> Result<Vec<String>, CatalogError> {
        self.entries(sub, false)
    }

    /// Names of the directories directly inside `sub` (e.g. `datasets`), sorted.
    pub fn dirs_in(&self, sub: &str) -> Result<Vec<String>, CatalogError> {
        self.entries(sub, true)
    }

    fn entries(&self, sub: &str, dirs: bool) -> Result<Vec<String>, CatalogError> {
        let mut names = Vec::new();
        match self {
            Source::Embedded(files) => {
                let prefix = format!("{sub}/");
                for (path, _) in files.iter() {
                    let Some(rest) = path.strip_prefix(&prefix) else {
                        continue;
                    };
                    match (rest.split_once('/'), dirs) {
                        (Some((dir, _)), true) if !dir.starts_with('_') => {
                            names.push(dir.to_string())
                        }
                        (None, false) => names.push(rest.to_string()),
                        _ => {}
                    }
                }
            }
            Source::Dir(root) => {
                let dir = root.join(sub);
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(source) => {
                        return Err(CatalogError::Io {
                            path: dir.display().to_string(),
                            source,
                        });
                    }
                };
                for entry in entries {
                    let entry = entry.map_err(|source| CatalogError::Io {
                        path: dir.display().to_string(),
                        source,
                    })?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') || (dirs && name.starts_with('_')) {
                        continue;
                    }
                    let path = entry.path();
                    if (dirs && path.is_dir()) || (!dirs && path.is_file()) {
                        names.push(name);
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// Read a file; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, CatalogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CatalogError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: &[(&str, &[u8])] = &[
        ("categories/a.yaml", b"x"),
        ("categories/models.yaml", b"y"),
        ("datasets/d1/manifest.yaml", b"m"),
        ("datasets/d1/test.jsonl", b"{}"),
        ("datasets/d2/manifest.yaml", b"m"),
    ];

    #[test]
    fn embedded_listing_and_reading() -> Result<(), CatalogError> {
        let src = Source::Embedded(FILES);
        assert_eq!(src.files_in("categories")?, vec!["a.yaml", "models.yaml"]);
        assert_eq!(src.dirs_in("datasets")?, vec!["d1", "d2"]);
        assert!(src.dirs_in("categories")?.is_empty());
        assert_eq!(
            src.read("datasets/d1/test.jsonl")?.as_deref(),
            Some(&b"{}"[..])
        );
        assert_eq!(src.read("datasets/nope")?, None);
        assert_eq!(src.label("categories/a.yaml"), "builtin:categories/a.yaml");
        Ok(())
    }

    #[test]
    fn directory_listing_and_reading() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir_all(tmp.path().join("datasets/x"))?;
        std::fs::create_dir_all(tmp.path().join("categories"))?;
        std::fs::write(tmp.path().join("categories/b.yaml"), "z")?;
        std::fs::write(tmp.path().join("categories/.hidden.yaml"), "z")?;
        let src = Source::Dir(tmp.path().to_path_buf());
        assert_eq!(src.files_in("categories")?, vec!["b.yaml"]);
        assert_eq!(src.dirs_in("datasets")?, vec!["x"]);
        assert_eq!(src.read("categories/b.yaml")?.as_deref(), Some(&b"z"[..]));
        assert_eq!(src.read("categories/none.yaml")?, None);
        // A catalog without a datasets/ directory is fine.
        let empty = tempfile::tempdir()?;
        assert!(
            Source::Dir(empty.path().to_path_buf())
                .dirs_in("datasets")?
                .is_empty()
        );
        Ok(())
    }
}
