//! Category files (`categories/<name>.yaml`): raw → checked `Category`.
//!
//! References to models and datasets are resolved against the whole (merged) catalog later, in
//! `mod.rs`, because a category may name entries from either layer.

use super::error::{CatalogError, Locator};
use super::raw::RawCategory;
use super::types::{Category, Origin};

/// Parse and check one category file.
pub fn parse_category(
    label: &str,
    bytes: &[u8],
    origin: &Origin,
) -> Result<Category, CatalogError> {
    let text = super::utf8(label, bytes)?;
    let raw: RawCategory = super::yaml::parse(label, text)?;
    let locator = Locator::new(label, text);
    let what = format!("category `{}`", raw.name);
    let invalid = |field: &str, message: String| CatalogError::Invalid {
        at: locator.key(field),
        what: what.clone(),
        field: field.to_string(),
        message,
    };
    if raw.name.trim().is_empty() || raw.name.contains(char::is_whitespace) {
        return Err(invalid(
            "name",
            format!(
                "`name` must be a non-empty name without spaces. Given: {:?}",
                raw.name
            ),
        ));
    }
    for (field, list) in [("models", &raw.models), ("datasets", &raw.datasets)] {
        let mut seen = std::collections::BTreeSet::new();
        for entry in list {
            if !seen.insert(entry.as_str()) {
                return Err(CatalogError::Invalid {
                    at: locator.list_entry(field, entry),
                    what: what.clone(),
                    field: field.to_string(),
                    message: format!("`{entry}` is listed twice in `{field}`"),
                });
            }
        }
    }
    if let Some(reason) = &raw.not_ready
        && reason.trim().is_empty()
    {
        return Err(invalid(
            "not_ready",
            "`not_ready` must give a reason".into(),
        ));
    }
    Ok(Category {
        name: raw.name,
        description: raw.description,
        models: raw.models,
        datasets: raw.datasets,
        not_ready: raw.not_ready,
        origin: origin.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Category, CatalogError> {
        parse_category("c.yaml", text.as_bytes(), &Origin::Builtin)
    }

    #[test]
    fn parses_a_category() -> Result<(), CatalogError> {
        let c = parse("name: code\ndescription: Code\nmodels: [a, b]\ndatasets:\n  - d\n")?;
        assert_eq!(c.models, vec!["a", "b"]);
        assert_eq!(c.datasets, vec!["d"]);
        assert_eq!(c.not_ready, None);
        Ok(())
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("name: code\ndescription: Code\nmodels: [a]\ndatasets: [d]\nmodel: x\n")
            .map(|_| ());
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("c.yaml:5:1: unknown field `model`"),
            "{msg}"
        );

        let e = parse("name: code\ndescription: Code\nmodels: [a, a]\ndatasets: [d]\n").map(|_| ());
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            "c.yaml:3:10: category `code`: `a` is listed twice in `models`"
        );

        let e = parse("name: code\ndescription: [\n").map(|_| ());
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("c.yaml:2:14: description: invalid type: sequence"),
            "{msg}"
        );

        let e = parse("name: code\ndescription: Code\nmodels: a\ndatasets: [d]\n").map(|_| ());
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("c.yaml:3:9:") && msg.contains("expected a sequence"),
            "{msg}"
        );
    }
}
