//! Embeds the shipped catalog (`../categories` and `../datasets`, relative to this crate) into the
//! binary, so `assay` works from any directory.
//!
//! Writes `$OUT_DIR/embedded_catalog.rs`: a sorted table of `(relative path, bytes)` pairs, each
//! `include_bytes!` of the file's absolute path. Hidden files and directories, and directories
//! starting with `_` (dataset generators), are skipped. A missing directory yields an empty
//! table (the loader accepts an empty catalog).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("..");
    let mut files = Vec::new();
    for top in ["categories", "datasets"] {
        let dir = root.join(top);
        println!("cargo:rerun-if-changed={}", dir.display());
        walk(&dir, top, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// The shipped catalog: `(path relative to the repository root, file bytes)`.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        let _ = writeln!(
            out,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out_dir.join("embedded_catalog.rs"), out) {
        panic!("cannot write the embedded catalog table: {e}");
    }
}

/// Collect regular files under `dir` as `(relative path with '/' separators, absolute path)`.
fn walk(dir: &Path, rel: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden entries, and `_`-prefixed directories (generators, not data), stay out.
        if name.starts_with('.') || (name.starts_with('_') && entry.path().is_dir()) {
            continue;
        }
        let path = entry.path();
        let child = format!("{rel}/{name}");
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(&path, &child, files);
        } else if path.is_file() {
            let abs = std::fs::canonicalize(&path).unwrap_or(path);
            files.push((child, abs));
        }
    }
}
