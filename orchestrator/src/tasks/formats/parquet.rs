//! `.parquet` data files, read row by row with the `parquet` crate (no Arrow).
//!
//! Columns become JSON values: strings, integers, floats, booleans, lists (`choices`),
//! structs and maps; dates and timestamps as text; binary as UTF-8 text when it is, else as
//! lowercase hex. Codecs compiled in: uncompressed, Snappy, gzip. A file compressed otherwise
//! (zstd, brotli, lz4) fails with an error naming the codec. Any decoding failure is a file
//! error (columnar pages hold many rows, so one bad page is not one bad row).

use super::{FileError, Parsed};
use crate::tasks::rows::Row;
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::Field;
use serde_json::{Map, Number, Value};

pub fn parse(bytes: &[u8], label: &str) -> Result<Parsed, FileError> {
    if bytes.is_empty() {
        return Err(FileError::new(label, "the file is empty"));
    }
    if bytes.len() < 12 || !bytes.starts_with(b"PAR1") || !bytes.ends_with(b"PAR1") {
        return Err(FileError::new(
            label,
            "not a Parquet file (no `PAR1` magic at both ends)",
        ));
    }
    let owned = ::bytes::Bytes::copy_from_slice(bytes);
    // The decoder is third-party code fed untrusted bytes: a panic in it is an error here,
    // reported once as such (the panic hook stays quiet for it, see `quiet_decoder_panics`).
    DECODING.with(|d| d.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || read(owned)));
    DECODING.with(|d| d.set(false));
    match result {
        Ok(r) => r.map_err(|message| FileError::new(label, message)),
        Err(_) => Err(FileError::new(
            label,
            "the Parquet decoder failed on this file (it is corrupt or uses an unsupported feature)",
        )),
    }
}

thread_local! {
    /// Set while this thread runs the Parquet decoder.
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that keeps the default report for every panic except one raised
/// inside the Parquet decoder, which [`parse`] turns into a file error. Called once by the
/// binary at start.
pub fn quiet_decoder_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !DECODING.with(|d| d.get()) {
            default(info);
        }
    }));
}

fn read(bytes: ::bytes::Bytes) -> Result<Parsed, String> {
    let reader = SerializedFileReader::new(bytes)
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let columns: Vec<String> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| format!("cannot read rows: {}", explain(&e.to_string())))?;
    let mut out = Parsed {
        columns,
        ..Parsed::default()
    };
    for (i, row) in iter.enumerate() {
        let line = i + 1;
        match row {
            Ok(row) => {
                let mut fields = Map::new();
                for (name, field) in row.get_column_iter() {
                    fields.insert(name.clone(), to_json(field));
                }
                out.rows.push(Row { line, fields });
            }
            // Decoding is columnar: a failed page spoils the file, not one row.
            Err(e) => {
                return Err(format!(
                    "row {line}: cannot decode: {}",
                    explain(&e.to_string())
                ));
            }
        }
    }
    Ok(out)
}

/// Name the missing codec when the crate says it is disabled.
fn explain(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    for codec in ["zstd", "brotli", "lz4"] {
        if lower.contains(codec)
            && (lower.contains("disabled")
                || lower.contains("not supported")
                || lower.contains("feature"))
        {
            return format!(
                "{message} (this build reads uncompressed, Snappy and gzip Parquet; rewrite the file with one of those, e.g. pyarrow `compression='snappy'`)"
            );
        }
    }
    message.to_string()
}

fn to_json(field: &Field) -> Value {
    let num = |n: Number| Value::Number(n);
    let float = |f: f64| {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    };
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => num((*n).into()),
        Field::Short(n) => num((*n).into()),
        Field::Int(n) => num((*n).into()),
        Field::Long(n) => num((*n).into()),
        Field::UByte(n) => num((*n).into()),
        Field::UShort(n) => num((*n).into()),
        Field::UInt(n) => num((*n).into()),
        Field::ULong(n) => num((*n).into()),
        Field::Float16(n) => float(f64::from(*n)),
        Field::Float(n) => float(f64::from(*n)),
        Field::Double(n) => float(*n),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => Value::String(b.data().iter().map(|x| format!("{x:02x}")).collect()),
        },
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(to_json).collect()),
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        // Decimals, dates, times and timestamps: their display text.
        other => Value::String(other.to_string()),
    }
}
