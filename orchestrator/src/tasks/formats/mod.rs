//! Data file formats: the bytes of one split's file into rows of JSON fields.
//!
//! The format follows the file's extension:
//! - `.jsonl`: one JSON object per line; blank lines ignored; a leading byte-order mark and
//!   `\r\n` line endings tolerated. A row's position is its line.
//! - `.json`: one JSON array of objects (or `{"data": [...]}` / `{"rows": [...]}` as some
//!   exports write it). A row's position is its 1-based index in the array.
//! - `.csv`: a header line naming the columns, then one record per line (RFC 4180 quoting;
//!   quoted fields may span lines). Every value is a string. A row's position is the line its
//!   record starts on. A record with more or fewer fields than the header is a bad row.
//!   A file without a header can be read with fixed column names (the MMLU layout).
//! - `.parquet`: the rows of every row group, columns converted to JSON (strings, numbers,
//!   booleans, lists, structs and maps; binary columns as UTF-8 text when they are, else as
//!   lowercase hex). Compression codecs compiled in: uncompressed, Snappy and gzip (what
//!   the Hugging Face `datasets` library writes). A row's position is its 1-based row number.
//!
//! A malformed row is returned as a [`BadRow`] (position and reason) and the rest is still
//! read; a file that cannot be read at all (an empty file, a CSV without a usable header, a
//! Parquet file that is not one or whose schema cannot be converted) is a [`FileError`].
//! No input makes these readers panic: a panic inside the Parquet decoder is caught and
//! reported as a `FileError`.

pub mod csv;
pub mod hf_cache;
pub mod json;
pub mod mapping;
pub mod parquet;

use super::rows::{BadRow, Row};
use crate::catalog::DataLayout;

/// A data file format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Jsonl,
    Json,
    Csv,
    Parquet,
}

/// Extensions of the readable formats, as listed in messages.
pub const EXTENSIONS: &[&str] = &["jsonl", "json", "csv", "parquet"];

impl FileFormat {
    /// The format of a file by its name's extension (case-insensitive).
    pub fn from_name(name: &str) -> Option<FileFormat> {
        let ext = name.rsplit_once('.').map(|(_, e)| e)?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" => Some(FileFormat::Jsonl),
            "json" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

/// How to read a file beyond its extension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Column names of a CSV file without a header line. `None`: the first line is the header.
    pub csv_columns: Option<&'static [&'static str]>,
}

/// The rows of a file, and the malformed rows found on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub bad: Vec<BadRow>,
    /// Column names from the file's header or schema (empty for JSON formats).
    pub columns: Vec<String>,
}

/// A file that cannot be read as rows at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct FileError {
    pub file: String,
    pub message: String,
}

impl FileError {
    pub fn new(file: &str, message: impl Into<String>) -> FileError {
        FileError {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

/// Read `bytes` (the file named `label`) as rows in `format`.
pub fn parse(
    format: FileFormat,
    bytes: &[u8],
    label: &str,
    options: ReadOptions,
) -> Result<Parsed, FileError> {
    match format {
        FileFormat::Jsonl => Ok(parse_jsonl(bytes)),
        FileFormat::Json => json::parse(bytes, label),
        FileFormat::Csv => csv::parse(bytes, label, options.csv_columns),
        FileFormat::Parquet => parquet::parse(bytes, label),
    }
}

/// Read a data file by its name's extension, checked and normalised for `layout` when given.
/// This is what every reader of a split (the catalog's row count and the task loader) calls.
pub fn read(bytes: &[u8], label: &str, layout: Option<DataLayout>) -> Result<Parsed, FileError> {
    let format = format_of(label)?;
    let options = mapping::read_options(layout, format, bytes);
    let mut parsed = parse(format, bytes, label, options)?;
    if let Some(layout) = layout {
        mapping::check_columns(layout, &parsed, label)?;
        mapping::normalize_all(layout, &mut parsed, label);
    }
    Ok(parsed)
}

fn format_of(label: &str) -> Result<FileFormat, FileError> {
    FileFormat::from_name(label).ok_or_else(|| {
        FileError::new(
            label,
            format!(
                "not a supported data file (supported: .{})",
                EXTENSIONS.join(", .")
            ),
        )
    })
}

/// JSON Lines: every non-blank line one object. The one JSONL reader: the task loader and
/// the catalog's row counts both read through it, so a bad row reads the same everywhere
/// (`row is not valid JSON: ...` with its line and column, `row must be a JSON object, found
/// an array`).
pub fn parse_jsonl(bytes: &[u8]) -> Parsed {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Parsed::default();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                out.bad.push(BadRow {
                    line,
                    column: e.valid_up_to() + 1,
                    reason: format!("row is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
                });
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(fields)) => out.rows.push(Row { line, fields }),
            Ok(other) => out.bad.push(BadRow::new(
                line,
                format!("row must be a JSON object, found {}", json_kind(&other)),
            )),
            Err(e) => out.bad.push(BadRow {
                line,
                column: e.column().max(1),
                reason: format!("row is not valid JSON: {}", strip_json_position(&e)),
            }),
        }
    }
    out
}

/// serde_json's message without its ` at line L column C` tail (callers give the position).
pub(crate) fn strip_json_position(e: &serde_json::Error) -> String {
    crate::catalog::error::strip_position(&e.to_string())
}

pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
