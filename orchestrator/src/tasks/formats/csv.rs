//! `.csv` data files: a header line naming the columns, then one record per line.
//!
//! RFC 4180 quoting (a quoted field may hold commas, quotes doubled, and newlines); a leading
//! byte-order mark is dropped; blank lines are skipped. Every value is a string. A record
//! with a different number of fields than the header (a ragged row) is a bad row naming its
//! line and both counts. A header with an empty or repeated column name is a file error.
//! Without a header, the caller names the columns (`columns`), as for the original MMLU files.

use super::{FileError, Parsed};
use crate::tasks::rows::{BadRow, Row};
use serde_json::{Map, Value};

pub fn parse(
    bytes: &[u8],
    label: &str,
    columns: Option<&'static [&'static str]>,
) -> Result<Parsed, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::new(label, "the file is empty"));
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header: Vec<String> = match columns {
        Some(names) => names.iter().map(|s| s.to_string()).collect(),
        None => {
            let first = loop {
                match records.next() {
                    None => return Err(FileError::new(label, "the file is empty")),
                    Some(Err(e)) => return Err(FileError::new(label, csv_error(&e))),
                    Some(Ok(r)) if is_blank(&r) => continue,
                    Some(Ok(r)) => break r,
                }
            };
            let line = first.position().map_or(1, |p| p.line());
            let mut names = Vec::new();
            for (i, field) in first.iter().enumerate() {
                let name = std::str::from_utf8(field)
                    .map_err(|_| {
                        FileError::new(
                            label,
                            format!("line {line}: header column {} is not UTF-8", i + 1),
                        )
                    })?
                    .trim()
                    .to_string();
                if name.is_empty() {
                    return Err(FileError::new(
                        label,
                        format!("line {line}: header column {} has no name", i + 1),
                    ));
                }
                if names.contains(&name) {
                    return Err(FileError::new(
                        label,
                        format!("line {line}: header names column `{name}` twice"),
                    ));
                }
                names.push(name);
            }
            names
        }
    };
    let line_of = LineIndex::new(bytes);
    let mut out = Parsed {
        columns: header.clone(),
        ..Parsed::default()
    };
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of.line(p.byte()));
                out.bad.push(BadRow::new(line, csv_error(&e)));
                // The reader cannot resynchronise after an I/O-level error; stop here.
                if !matches!(e.kind(), ::csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
                continue;
            }
        };
        if is_blank(&record) {
            continue;
        }
        let line = record.position().map_or(0, |p| line_of.line(p.byte()));
        if record.len() != header.len() {
            out.bad.push(BadRow::new(
                line,
                format!(
                    "ragged row: {} field(s) where the header has {} ({})",
                    record.len(),
                    header.len(),
                    header.join(", ")
                ),
            ));
            continue;
        }
        let mut fields = Map::new();
        let mut bad = None;
        for (name, value) in header.iter().zip(record.iter()) {
            match std::str::from_utf8(value) {
                Ok(s) => {
                    fields.insert(name.clone(), Value::String(s.to_string()));
                }
                Err(_) => {
                    bad = Some(format!("field `{name}` is not valid UTF-8"));
                    break;
                }
            }
        }
        match bad {
            Some(reason) => out.bad.push(BadRow::new(line, reason)),
            None => out.rows.push(Row { line, fields }),
        }
    }
    Ok(out)
}

/// 1-based line of a record's byte offset. The reader's offset is where it started looking,
/// before the blank lines it skipped, so those are stepped over first.
struct LineIndex<'a>(Vec<u64>, &'a [u8]);

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> LineIndex<'a> {
        let starts = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i as u64 + 1);
        LineIndex(std::iter::once(0).chain(starts).collect(), bytes)
    }
    fn line(&self, byte: u64) -> usize {
        let mut byte = byte;
        while matches!(self.1.get(byte as usize), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        self.0.partition_point(|start| *start <= byte)
    }
}

fn is_blank(r: &::csv::ByteRecord) -> bool {
    r.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) && r.len() <= 1
}

fn csv_error(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("ragged row: {len} field(s) where {expected_len} were expected"),
        _ => format!("malformed CSV: {e}"),
    }
}
