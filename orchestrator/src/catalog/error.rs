//! `CatalogError`: every way a catalog file can be wrong, each naming the file, line, column
//! and field, plus the small helpers that find those positions in YAML text.

use std::fmt;

/// A position in a catalog file: `file:line:column` (line and column 1-based, when known).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loc {
    /// The file as shown to the user: a path, or `builtin:<relative path>` for embedded files.
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl Loc {
    pub fn file(file: impl Into<String>) -> Loc {
        Loc {
            file: file.into(),
            line: None,
            column: None,
        }
    }
    pub fn at(file: impl Into<String>, line: usize, column: usize) -> Loc {
        Loc {
            file: file.into(),
            line: Some(saturate(line)),
            column: Some(saturate(column)),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        Ok(())
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Any problem with catalog files. Displayed messages start with `file:line:column`.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The `--catalog` directory does not exist.
    #[error("catalog directory `{0}` does not exist or is not a directory")]
    NoSuchDir(String),
    /// Malformed YAML or JSON, an unknown key, or a value of the wrong type.
    #[error("{at}: {message}")]
    Syntax { at: Loc, message: String },
    /// A field whose value is out of range or not allowed, in `what` (e.g. "model `llama-8b`").
    #[error("{at}: {what}: {message}")]
    Invalid {
        at: Loc,
        what: String,
        field: String,
        message: String,
    },
    /// A reference to a model or dataset that does not exist.
    #[error("{at}: unknown {kind} `{name}`{}", suggest_suffix(.suggestions))]
    UnknownRef {
        at: Loc,
        kind: &'static str,
        name: String,
        suggestions: Vec<String>,
    },
    /// A name given on the command line that the catalog does not have.
    #[error("unknown {kind} `{name}`{}", suggest_suffix(.suggestions))]
    UnknownName {
        kind: &'static str,
        name: String,
        suggestions: Vec<String>,
    },
    /// The same id defined twice.
    #[error("{second}: duplicate {kind} `{name}` (first defined at {first})")]
    Duplicate {
        kind: &'static str,
        name: String,
        first: Loc,
        second: Loc,
    },
    /// A row of a data file that is not a JSON object.
    #[error("{at}: {message}")]
    Data { at: Loc, message: String },
}

fn suggest_suffix(suggestions: &[String]) -> String {
    match crate::suggest::did_you_mean(suggestions) {
        hint if hint.is_empty() => hint,
        hint => format!("; {hint}"),
    }
}

impl CatalogError {
    /// Wrap a serde_norway error, moving its position into the `Loc`.
    pub(crate) fn yaml(file: &str, err: &serde_norway::Error) -> CatalogError {
        let (line, column) = match err.location() {
            Some(l) => (Some(saturate(l.line())), Some(saturate(l.column()))),
            None => (None, None),
        };
        CatalogError::Syntax {
            at: Loc {
                file: file.to_string(),
                line,
                column,
            },
            message: strip_position(&err.to_string()),
        }
    }
}

/// Drop a trailing " at line N column M" that the parsers (YAML, JSON) append, where the caller
/// reports the position itself.
pub(crate) fn strip_position(message: &str) -> String {
    let trimmed = match message.rfind(" at line ") {
        Some(i)
            if message[i + 9..]
                .chars()
                .all(|c| c.is_ascii_digit() || " column".contains(c)) =>
        {
            &message[..i]
        }
        _ => message,
    };
    trimmed.to_string()
}

/// Finds lines of keys in YAML text, for errors about values that parsed but are not allowed.
///
/// Serde does not keep positions of parsed values, so this looks for the key in the text: the
/// list item whose `anchor_key: anchor_value` line matches, then `key:` inside that item.
/// It falls back to the item's line, then to the file alone.
pub(crate) struct Locator<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Locator<'a> {
        Locator {
            file,
            lines: text.lines().collect(),
        }
    }

    /// `key:` at any depth in the whole file (first occurrence).
    pub fn key(&self, key: &str) -> Loc {
        self.key_in(0, self.lines.len(), key)
            .unwrap_or_else(|| Loc::file(self.file))
    }

    /// `key:` inside the list item that has `anchor_key: anchor_value`.
    pub fn key_in_item(&self, anchor_key: &str, anchor_value: &str, key: &str) -> Loc {
        let Some((start, end)) = self.item(anchor_key, anchor_value) else {
            return self.key(key);
        };
        self.key_in(start, end, key)
            .unwrap_or_else(|| self.line_loc(start))
    }

    /// The line of `anchor_key: anchor_value`.
    pub fn item_loc(&self, anchor_key: &str, anchor_value: &str) -> Loc {
        match self.item(anchor_key, anchor_value) {
            Some((start, _)) => self.line_loc(start),
            None => Loc::file(self.file),
        }
    }

    /// A scalar item of a list, e.g. `- llama-8b` under `models:`.
    pub fn list_entry(&self, list_key: &str, value: &str) -> Loc {
        let start = self
            .key_in(0, self.lines.len(), list_key)
            .and_then(|l| l.line)
            .map_or(0, |l| l as usize - 1);
        for (i, line) in self.lines.iter().enumerate().skip(start) {
            let t = line.trim_start();
            for piece in inline_items(t) {
                if unquote(piece) == value {
                    let col = line.find(piece).map_or(1, |c| c + 1);
                    return Loc::at(self.file, i + 1, col);
                }
            }
        }
        self.key(list_key)
    }

    fn line_loc(&self, index: usize) -> Loc {
        let line = self.lines.get(index).copied().unwrap_or("");
        let col = line.len() - line.trim_start_matches([' ', '-']).len() + 1;
        Loc::at(self.file, index + 1, col)
    }

    /// Lines `[start, end)` of the list item containing `anchor_key: anchor_value`.
    fn item(&self, anchor_key: &str, anchor_value: &str) -> Option<(usize, usize)> {
        let start = self.lines.iter().position(|line| {
            let t = line.trim_start().trim_start_matches("- ").trim_start();
            key_value(t, anchor_key).is_some_and(|v| unquote(v) == anchor_value)
        })?;
        let indent = |l: &str| l.len() - l.trim_start().len();
        let first = self.lines[start];
        let dash = first.trim_start().starts_with('-');
        let item_indent = indent(first);
        let end = self.lines[start + 1..]
            .iter()
            .position(|l| {
                let t = l.trim_start();
                !t.is_empty() && !t.starts_with('#') && {
                    let i = indent(l);
                    if dash {
                        i < item_indent || (i == item_indent && t.starts_with('-'))
                    } else {
                        i < item_indent
                    }
                }
            })
            .map_or(self.lines.len(), |p| start + 1 + p);
        Some((start, end))
    }

    fn key_in(&self, start: usize, end: usize, key: &str) -> Option<Loc> {
        for i in start..end.min(self.lines.len()) {
            let line = self.lines[i];
            let t = line.trim_start().trim_start_matches("- ").trim_start();
            if key_value(t, key).is_some() {
                let col = line.len() - t.len() + 1;
                return Some(Loc::at(self.file, i + 1, col));
            }
        }
        None
    }
}

/// `key: value` → `value` (trimmed) when the line starts with `key:`.
fn key_value<'t>(line: &'t str, key: &str) -> Option<&'t str> {
    let rest = line.strip_prefix(key).or_else(|| {
        line.strip_prefix('"')
            .and_then(|l| l.strip_prefix(key))
            .and_then(|l| l.strip_prefix('"'))
    })?;
    let rest = rest.trim_start();
    let value = rest.strip_prefix(':')?;
    Some(value.split(" #").next().unwrap_or("").trim())
}

/// The items of `- a` or `[a, b, c]` (or `models: [a, b]`) on one line.
fn inline_items(line: &str) -> Vec<&str> {
    let body = match line.find('[') {
        Some(open) => line[open + 1..].split(']').next().unwrap_or(""),
        None => match line.strip_prefix("- ") {
            Some(item) => return vec![item.trim()],
            None => return Vec::new(),
        },
    };
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "models:\n  - id: a\n    layers: 1\n  - id: \"b\"\n    hidden: 2\n    layers: 0\n";

    #[test]
    fn finds_key_inside_the_right_item() {
        let loc = Locator::new("m.yaml", TEXT);
        assert_eq!(
            loc.key_in_item("id", "b", "layers"),
            Loc::at("m.yaml", 6, 5)
        );
        assert_eq!(
            loc.key_in_item("id", "a", "layers"),
            Loc::at("m.yaml", 3, 5)
        );
        // Absent in the item: the item's line.
        assert_eq!(
            loc.key_in_item("id", "a", "hidden"),
            Loc::at("m.yaml", 2, 5)
        );
        assert_eq!(loc.item_loc("id", "b"), Loc::at("m.yaml", 4, 5));
    }

    #[test]
    fn finds_scalar_list_entries() {
        let text = "name: x\nmodels: [a, bee]\ndatasets:\n  - one\n  - two\n";
        let loc = Locator::new("c.yaml", text);
        assert_eq!(loc.list_entry("models", "bee"), Loc::at("c.yaml", 2, 13));
        assert_eq!(loc.list_entry("datasets", "two"), Loc::at("c.yaml", 5, 5));
    }

    #[test]
    fn strips_parser_positions() {
        assert_eq!(
            strip_position("unknown field `x` at line 3 column 5"),
            "unknown field `x`"
        );
        assert_eq!(strip_position("plain"), "plain");
    }
}
