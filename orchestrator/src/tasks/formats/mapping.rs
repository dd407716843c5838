//! Known benchmark file layouts (`format: humaneval | gsm8k | mmlu`) mapped onto manifest
//! fields, so the real files run as they are.
//!
//! A manifest (or `--format` on the command line) names the layout; without one, a file
//! whose columns match a layout exactly enough is detected ([`detect`]). The layout does two
//! things: its rows are checked and normalised on load ([`normalize`]), and it supplies every
//! manifest field the manifest leaves out ([`defaults`]). Field mapping:
//!
//! | layout | columns read | normalised row | defaults |
//! |---|---|---|---|
//! | `humaneval` (`openai_humaneval`) | `task_id, prompt, canonical_solution, test, entry_point`, all strings | unchanged | `generate_until`; `doc_to_text: "{{ prompt }}"`, `doc_to_target: "{{ canonical_solution }}"`, `target_delimiter: ""`; `until: ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]`, `max_gen_toks: 1024`, greedy; `pass_at_k` with `k: [1]`; `chat: false` |
//! | `gsm8k` (`openai/gsm8k`, `main`) | `question`, `answer` (reasoning ending in `#### N`) | unchanged | `generate_until`; `doc_to_text: "Question: {{ question }}\nAnswer:"`, `doc_to_target`: the text after the last `####`, stripped; `until: ["Question:", "</s>", "<|im_end|>"]`, `max_gen_toks: 256`; filters `strict-match` (regex `#### (\-?[0-9\.\,]+)`, take_first) and `flexible-extract` (regex `(-?[$0-9.,]{2,})\|(-?[0-9]+)`, last match, take_first) as lm-evaluation-harness; metrics `exact_match` (ignore case, ignoring `,` `$` and a final `.`) and `numeric_match` |
//! | `mmlu` (`cais/mmlu` parquet) | `question, subject, choices` (list of strings), `answer` (index) | unchanged | `multiple_choice`; lm-evaluation-harness's prompt: description `The following are multiple choice questions (with answers) about {subject}.` (underscores as spaces), `doc_to_text: "{{ question.strip() }}\nA. {{ choices[0] }}\nB. ...\nAnswer:"`, `doc_to_choice: [A, B, C, D]`, `doc_to_target: "{{ answer }}"`; metric `acc` |
//! | `mmlu` (original CSV, no header) | `question, A, B, C, D, answer` (letter) | `choices: [A, B, C, D]`, `answer`: the letter's index, `subject` from the file name (`abstract_algebra_test.csv` → `abstract_algebra`) | as above |
//!
//! MMLU `answer` may also be a letter (`"C"`) or a numeric string in any layout; it becomes the
//! index. Every problem is a bad row naming the line (or row) and the field: a missing or
//! non-string field, a GSM8K answer without `#### N`, an MMLU answer that is not an index or a
//! letter, or one out of range of the choices. A file whose header or Parquet schema lacks a
//! column the layout needs is a file error listing the columns it has.

use super::{FileError, FileFormat, Parsed, ReadOptions};
use crate::catalog::DataLayout;
use crate::tasks::rows::{BadRow, Row};
use serde_json::{Map, Value, json};

/// Columns of the original MMLU CSV files, which have no header line.
pub const MMLU_CSV_COLUMNS: &[&str] = &["question", "A", "B", "C", "D", "answer"];

/// Columns each layout needs (after normalisation, for MMLU).
pub fn required_columns(layout: DataLayout) -> &'static [&'static str] {
    match layout {
        DataLayout::Humaneval => &[
            "task_id",
            "prompt",
            "canonical_solution",
            "test",
            "entry_point",
        ],
        DataLayout::Gsm8k => &["question", "answer"],
        DataLayout::Mmlu => &["question", "answer"],
    }
}

/// The layout whose columns `columns` has, if exactly one fits.
pub fn detect(columns: &[String]) -> Option<DataLayout> {
    let has = |c: &str| columns.iter().any(|x| x == c);
    if required_columns(DataLayout::Humaneval)
        .iter()
        .all(|c| has(c))
    {
        return Some(DataLayout::Humaneval);
    }
    if has("question")
        && has("answer")
        && (has("choices") || ["A", "B", "C", "D"].iter().all(|c| has(c)))
    {
        return Some(DataLayout::Mmlu);
    }
    if has("question") && has("answer") && columns.len() == 2 {
        return Some(DataLayout::Gsm8k);
    }
    None
}

/// Read options a layout needs: the MMLU CSV files have no header line, recognised by a first
/// line of six fields whose first is not `question`.
pub fn read_options(layout: Option<DataLayout>, format: FileFormat, bytes: &[u8]) -> ReadOptions {
    if layout != Some(DataLayout::Mmlu) || format != FileFormat::Csv {
        return ReadOptions::default();
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let headerless = match reader.byte_records().next() {
        Some(Ok(first)) => {
            first.len() == MMLU_CSV_COLUMNS.len()
                && !first.get(0).is_some_and(|f| {
                    String::from_utf8_lossy(f)
                        .trim()
                        .eq_ignore_ascii_case("question")
                })
        }
        _ => false,
    };
    ReadOptions {
        csv_columns: headerless.then_some(MMLU_CSV_COLUMNS),
    }
}

/// Check the columns of a parsed file against `layout` (file-level: a wrong schema).
pub fn check_columns(layout: DataLayout, parsed: &Parsed, label: &str) -> Result<(), FileError> {
    if parsed.columns.is_empty() {
        return Ok(()); // JSON formats: checked row by row.
    }
    let has = |c: &str| parsed.columns.iter().any(|x| x == c);
    let mut missing: Vec<&str> = required_columns(layout)
        .iter()
        .copied()
        .filter(|c| !has(c))
        .collect();
    if layout == DataLayout::Mmlu && !has("choices") && !["A", "B", "C", "D"].iter().all(|c| has(c))
    {
        missing.push("choices (or A, B, C, D)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(FileError::new(
        label,
        format!(
            "unexpected columns for the {} layout: missing {} (the file has: {})",
            layout.as_str(),
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            parsed.columns.join(", ")
        ),
    ))
}

/// Check and normalise every row of `parsed` for `layout`; bad rows move to `parsed.bad`.
pub fn normalize_all(layout: DataLayout, parsed: &mut Parsed, label: &str) {
    let rows = std::mem::take(&mut parsed.rows);
    for row in rows {
        match normalize(layout, row, label) {
            Ok(row) => parsed.rows.push(row),
            Err(bad) => parsed.bad.push(bad),
        }
    }
    parsed.bad.sort_by_key(|b| b.line);
}

/// Check one row of `layout` (from file `label`) and bring it to the layout's canonical shape.
pub fn normalize(layout: DataLayout, mut row: Row, label: &str) -> Result<Row, BadRow> {
    let line = row.line;
    let bad = |reason: String| BadRow::new(line, reason);
    let text = |fields: &Map<String, Value>, name: &str| -> Result<(), BadRow> {
        match fields.get(name) {
            Some(Value::String(_)) => Ok(()),
            Some(other) => Err(bad(format!(
                "field `{name}` must be a string, found {}",
                super::json_kind(other)
            ))),
            None => Err(bad(format!("field `{name}` is missing"))),
        }
    };
    match layout {
        DataLayout::Humaneval => {
            for name in required_columns(layout) {
                text(&row.fields, name)?;
            }
        }
        DataLayout::Gsm8k => {
            text(&row.fields, "question")?;
            text(&row.fields, "answer")?;
            let answer = row
                .fields
                .get("answer")
                .and_then(Value::as_str)
                .unwrap_or("");
            match answer.rsplit_once("####") {
                Some((_, n)) if !n.trim().is_empty() => {}
                _ => {
                    return Err(bad(
                        "field `answer` does not end with `#### N` (the final answer)".into(),
                    ));
                }
            }
        }
        DataLayout::Mmlu => {
            text(&row.fields, "question")?;
            if !row.fields.contains_key("choices") {
                let mut choices = Vec::new();
                for letter in ["A", "B", "C", "D"] {
                    text(&row.fields, letter)?;
                    choices.push(row.fields.remove(letter).unwrap_or(Value::Null));
                }
                row.fields.insert("choices".into(), Value::Array(choices));
            }
            let n = match row.fields.get("choices") {
                Some(Value::Array(list))
                    if !list.is_empty() && list.iter().all(Value::is_string) =>
                {
                    list.len()
                }
                Some(Value::Array(list)) if list.is_empty() => {
                    return Err(bad("field `choices` is an empty list".into()));
                }
                Some(other) => {
                    return Err(bad(format!(
                        "field `choices` must be a list of strings, found {}",
                        super::json_kind(other)
                    )));
                }
                None => return Err(bad("field `choices` is missing".into())),
            };
            let index = match row.fields.get("answer") {
                None => return Err(bad("field `answer` is missing".into())),
                Some(Value::Number(x)) => x.as_u64().ok_or_else(|| {
                    bad(format!(
                        "field `answer` must be a choice index or letter, found {x}"
                    ))
                })?,
                Some(Value::String(s)) => answer_index(s).ok_or_else(|| {
                    bad(format!(
                        "field `answer` must be a choice index or letter A-Z, found {s:?}"
                    ))
                })?,
                Some(other) => {
                    return Err(bad(format!(
                        "field `answer` must be a choice index or letter, found {}",
                        super::json_kind(other)
                    )));
                }
            };
            if index >= n as u64 {
                return Err(bad(format!(
                    "field `answer`: gold index {index} is out of range for {n} choices (valid: 0..={})",
                    n - 1
                )));
            }
            row.fields.insert("answer".into(), json!(index));
            if !matches!(row.fields.get("subject"), Some(Value::String(_))) {
                row.fields
                    .insert("subject".into(), json!(subject_from_file(label)));
            }
        }
    }
    Ok(row)
}

fn answer_index(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => {
            Some(u64::from(c.to_ascii_uppercase() as u8 - b'A'))
        }
        _ => None,
    }
}

/// `.../abstract_algebra_test.csv` → `abstract_algebra` (empty when the name says nothing).
fn subject_from_file(label: &str) -> String {
    let name = label.rsplit(['/', '\\']).next().unwrap_or(label);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    for suffix in ["_test", "_dev", "_val", "_validation", "_train"] {
        if let Some(subject) = stem.strip_suffix(suffix) {
            return subject.to_string();
        }
    }
    String::new()
}

/// Manifest fields a layout supplies, as YAML keys and values (the same vocabulary a manifest
/// uses), for every key the manifest leaves out.
pub fn defaults(layout: DataLayout) -> Map<String, Value> {
    let v = match layout {
        DataLayout::Humaneval => json!({
            "output_type": "generate_until",
            "doc_to_text": "{{ prompt }}",
            "doc_to_target": "{{ canonical_solution }}",
            "target_delimiter": "",
            "generation_kwargs": {
                "until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"],
                "max_gen_toks": 1024, "do_sample": false, "temperature": 0.0
            },
            "metric_list": [{"metric": "pass_at_k", "k": [1]}],
            "repeats": 1,
            "chat": false,
        }),
        DataLayout::Gsm8k => json!({
            "output_type": "generate_until",
            "doc_to_text": "Question: {{ question }}\nAnswer:",
            "doc_to_target": "{{ answer.split('####')[-1].strip() }}",
            "target_delimiter": " ",
            "fewshot_delimiter": "\n\n",
            "generation_kwargs": {
                "until": ["Question:", "</s>", "<|im_end|>"],
                "max_gen_toks": 256, "do_sample": false, "temperature": 0.0
            },
            "filter_list": [
                {"name": "strict-match", "filter": [
                    {"function": "regex", "regex_pattern": "#### (\\-?[0-9\\.\\,]+)"},
                    {"function": "take_first"}]},
                {"name": "flexible-extract", "filter": [
                    {"function": "regex", "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)", "group_select": -1},
                    {"function": "take_first"}]}
            ],
            "metric_list": [
                {"metric": "exact_match", "ignore_case": true, "ignore_punctuation": false,
                 "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"]},
                {"metric": "numeric_match", "tolerance": 0.0, "abs_tolerance": 0.000001}
            ],
        }),
        DataLayout::Mmlu => json!({
            "output_type": "multiple_choice",
            "description": "{% if subject %}The following are multiple choice questions (with answers) about {{ subject.replace('_', ' ') }}.\n\n{% endif %}",
            "doc_to_text": "{{ question.strip() }}\nA. {{ choices[0] }}\nB. {{ choices[1] }}\nC. {{ choices[2] }}\nD. {{ choices[3] }}\nAnswer:",
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "{{ answer }}",
            "target_delimiter": " ",
            "fewshot_delimiter": "\n\n",
            "metric_list": [{"metric": "acc"}],
        }),
    };
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Fill every field of `raw` that the manifest left out with `layout`'s default.
/// Empty strings and lists count as left out for the fields a layout makes optional.
pub fn apply_defaults(
    raw: &mut crate::catalog::raw::RawDatasetManifest,
    layout: DataLayout,
) -> Result<(), String> {
    let mut map = defaults(layout);
    map.insert("task".into(), Value::String(raw.task.clone()));
    let d: crate::catalog::raw::RawDatasetManifest = serde_json::from_value(Value::Object(map))
        .map_err(|e| format!("built-in defaults of the {} layout: {e}", layout.as_str()))?;
    if raw.output_type.is_empty() {
        raw.output_type = d.output_type;
    }
    if raw.doc_to_text.is_empty() {
        raw.doc_to_text = d.doc_to_text;
    }
    if raw.doc_to_target.is_empty() {
        raw.doc_to_target = d.doc_to_target;
    }
    if raw.metric_list.is_empty() {
        raw.metric_list = d.metric_list;
    }
    raw.description = raw.description.take().or(d.description);
    raw.doc_to_choice = raw.doc_to_choice.take().or(d.doc_to_choice);
    raw.target_delimiter = raw.target_delimiter.take().or(d.target_delimiter);
    raw.fewshot_delimiter = raw.fewshot_delimiter.take().or(d.fewshot_delimiter);
    raw.generation_kwargs = raw.generation_kwargs.take().or(d.generation_kwargs);
    raw.filter_list = raw.filter_list.take().or(d.filter_list);
    raw.repeats = raw.repeats.or(d.repeats);
    raw.chat = raw.chat.or(d.chat);
    Ok(())
}
