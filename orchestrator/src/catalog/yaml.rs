//! Reading YAML text into raw types, with guards the parser lacks.
//!
//! libyaml takes time quadratic in the flow nesting depth (`{"a":{"a":...}}` 100,000 deep takes
//! minutes), so text nested deeper than `MAX_FLOW_DEPTH` or larger than `MAX_YAML_BYTES` is
//! rejected before parsing, with the position where the limit is crossed.

use super::error::{CatalogError, Loc};
use serde::de::DeserializeOwned;

/// Deepest `[`/`{` nesting accepted (the parser's own recursion limit is 128).
pub const MAX_FLOW_DEPTH: usize = 100;
/// Largest catalog YAML file accepted.
pub const MAX_YAML_BYTES: usize = 16 << 20;

/// Parse `text` (the contents of `label`) as `T`.
pub fn parse<T: DeserializeOwned>(label: &str, text: &str) -> Result<T, CatalogError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(CatalogError::Syntax {
            at: Loc::file(label),
            message: format!(
                "file is larger than {MAX_YAML_BYTES} bytes. Given: {}",
                text.len()
            ),
        });
    }
    if let Some((line, column)) = too_deep(text) {
        return Err(CatalogError::Syntax {
            at: Loc::at(label, line, column),
            message: format!("nesting deeper than {MAX_FLOW_DEPTH} levels"),
        });
    }
    serde_norway::from_str(text).map_err(|e| CatalogError::yaml(label, &e))
}

/// The 1-based position where flow nesting first exceeds the limit, skipping quoted strings and
/// comments. Approximate (block scalars are scanned too), but only ever errs towards parsing.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"') => quote = Some('"'),
                (None, '\'')
                    if prev == ' ' || prev == '[' || prev == '{' || prev == ',' || prev == ':' =>
                {
                    quote = Some('\'')
                }
                (None, '#') if prev == ' ' || col == 0 => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((i + 1, col + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_guard() {
        assert_eq!(too_deep("a: [[1], {b: [2]}]\n"), None);
        assert_eq!(too_deep("a: \"[[[[\" # {{{{\n"), None);
        let deep = format!("x: {}", "[".repeat(MAX_FLOW_DEPTH + 1));
        assert_eq!(too_deep(&deep), Some((1, MAX_FLOW_DEPTH + 4)));
        let r: Result<serde_json::Value, _> = parse("f.yaml", &deep);
        let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(msg, "f.yaml:1:104: nesting deeper than 100 levels");
    }
}
