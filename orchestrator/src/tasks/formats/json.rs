//! `.json` data files: one JSON array of objects, or an object holding that array under
//! `data` or `rows`. Rows are numbered from 1 in array order.

use super::{FileError, Parsed, json_kind};
use crate::tasks::rows::{BadRow, Row};
use serde_json::Value;

pub fn parse(bytes: &[u8], label: &str) -> Result<Parsed, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::new(label, "the file is empty"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        FileError::new(
            label,
            format!(
                "not valid JSON at line {} column {}: {}",
                e.line(),
                e.column(),
                super::strip_json_position(&e)
            ),
        )
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match ["data", "rows"].iter().find_map(|k| match map.remove(*k) {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        }) {
            Some(items) => items,
            None => {
                return Err(FileError::new(
                    label,
                    "expected a JSON array of objects (or an object with a `data` or `rows` array)",
                ));
            }
        },
        other => {
            return Err(FileError::new(
                label,
                format!(
                    "expected a JSON array of objects, found {}",
                    json_kind(&other)
                ),
            ));
        }
    };
    let mut out = Parsed::default();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(fields) => out.rows.push(Row {
                line: i + 1,
                fields,
            }),
            other => out.bad.push(BadRow::new(
                i + 1,
                format!("row must be a JSON object, found {}", json_kind(&other)),
            )),
        }
    }
    Ok(out)
}
