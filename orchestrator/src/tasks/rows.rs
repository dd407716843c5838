//! Reading a dataset split into rows: one module for every data format.
//!
//! The file format follows the extension (`.jsonl`, `.json`, `.csv`, `.parquet`, see
//! [`super::formats`]); a dataset with a known layout (`format:`) has its rows checked and
//! normalised on the way. Every malformed row (not UTF-8, not JSON, not an object, a ragged
//! CSV record, a field the layout needs missing) is reported with its file and line (the
//! 1-based row number for Parquet and `.json` arrays).
//! The split fails with the full list unless the caller asked to skip bad rows, in which case
//! the bad rows come back in `Rows::skipped` for the caller to report.

use super::TaskError;
use crate::catalog::Dataset;
use serde_json::{Map, Value};

/// One row of a split: its fields and the 1-based line it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// A malformed row: where it is (line, and column where known, else 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl BadRow {
    /// A malformed row at `line` (column unknown).
    pub fn new(line: usize, reason: impl Into<String>) -> BadRow {
        BadRow {
            line,
            column: 1,
            reason: reason.into(),
        }
    }
}

/// The rows of one split, in file order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rows {
    /// The file the rows came from, as shown in messages.
    pub source: String,
    pub rows: Vec<Row>,
    /// Malformed rows that were skipped (only ever non-empty with `skip_bad_rows`).
    pub skipped: Vec<BadRow>,
}

/// Parse the bytes of `dataset`'s `split` data file (named `source_name` in messages).
pub fn load_rows(
    dataset: &Dataset,
    split: &str,
    bytes: &[u8],
    source_name: &str,
    skip_bad_rows: bool,
) -> Result<Rows, TaskError> {
    if super::formats::FileFormat::from_name(source_name).is_none() {
        return Err(TaskError::Format {
            dataset: dataset.name.clone(),
            split: split.to_string(),
            file: source_name.to_string(),
        });
    }
    let parsed = super::formats::read(bytes, source_name, dataset.format).map_err(|e| {
        TaskError::Unavailable {
            dataset: dataset.name.clone(),
            split: split.to_string(),
            message: e.to_string(),
        }
    })?;
    let (rows, bad) = (parsed.rows, parsed.bad);
    if !bad.is_empty() && !skip_bad_rows {
        return Err(TaskError::BadRows {
            dataset: dataset.name.clone(),
            file: source_name.to_string(),
            rows: bad,
        });
    }
    if rows.is_empty() {
        return Err(TaskError::Empty {
            dataset: dataset.name.clone(),
            file: source_name.to_string(),
            skipped: bad.len(),
        });
    }
    Ok(Rows {
        source: source_name.to_string(),
        rows,
        skipped: bad,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tasks::testing::dataset_from_yaml;

    fn ds() -> Dataset {
        dataset_from_yaml(
            "t",
            "task: t\ndata_files: {test: test.jsonl}\noutput_type: generate_until\ndoc_to_text: '{{ q }}'\ndoc_to_target: '{{ a }}'\nmetric_list: [{metric: exact_match}]\n",
        )
    }

    #[test]
    fn parses_objects_and_ignores_blank_lines() {
        let bytes = b"\xEF\xBB\xBF{\"q\": \"a\"}\r\n\n  \n{\"q\": \"b\"}\n";
        let rows = load_rows(&ds(), "test", bytes, "t/test.jsonl", false).unwrap();
        assert_eq!(rows.rows.len(), 2);
        assert_eq!(rows.rows[0].line, 1);
        assert_eq!(rows.rows[1].line, 4);
        assert_eq!(rows.rows[1].fields["q"], "b");
        assert!(rows.skipped.is_empty());
    }

    #[test]
    fn malformed_rows_fail_with_every_file_and_line() {
        let bytes = b"{\"q\": 1}\n{\"q\": \n[1, 2]\n{\"q\": 2}\n";
        let err = load_rows(&ds(), "test", bytes, "t/test.jsonl", false).unwrap_err();
        match &err {
            TaskError::BadRows { rows, file, .. } => {
                assert_eq!(file, "t/test.jsonl");
                assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3]);
                assert!(
                    rows[1]
                        .reason
                        .contains("row must be a JSON object, found an array"),
                    "{}",
                    rows[1].reason
                );
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("t/test.jsonl:2:") && text.contains("t/test.jsonl:3:"),
            "{text}"
        );
        assert!(text.contains("--skip-bad-rows"), "{text}");
    }

    #[test]
    fn malformed_rows_are_skipped_only_when_asked() {
        let bytes = b"{\"q\": 1}\nnot json\n{\"q\": 2}\n";
        let rows = load_rows(&ds(), "test", bytes, "t/test.jsonl", true).unwrap();
        assert_eq!(
            rows.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(rows.skipped.len(), 1);
        assert_eq!(rows.skipped[0].line, 2);
    }

    #[test]
    fn non_utf8_names_file_and_line() {
        let bytes = b"{\"q\": \"ok\"}\n{\"q\": \"\xff\xfe\"}\n";
        let err = load_rows(&ds(), "test", bytes, "t/test.jsonl", false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("t/test.jsonl:2: row is not valid UTF-8"),
            "{text}"
        );
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        let err = load_rows(&ds(), "test", b"q\nx\n", "t/test.xlsx", false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("t/test.xlsx")
                && text.contains("split `test`")
                && text.contains(".jsonl"),
            "{text}"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        for bytes in [&b""[..], b"\n\n  \n"] {
            let err = load_rows(&ds(), "test", bytes, "t/test.jsonl", false).unwrap_err();
            assert!(matches!(err, TaskError::Empty { .. }), "{err:?}");
            assert!(err.to_string().contains("t/test.jsonl"), "{err}");
        }
        // Every row bad and skipped leaves nothing: still an error, not an empty run.
        let err = load_rows(&ds(), "test", b"nope\n", "t/test.jsonl", true).unwrap_err();
        assert!(err.to_string().contains("1 malformed row skipped"), "{err}");
    }
}
