//! The model catalog (`categories/models.yaml`): raw entries → checked `Model`s.
//!
//! `check_arch` holds every range check on architecture numbers; the same checks apply to the
//! numbers read from a local `config.json` (see `local.rs`).

use super::error::{CatalogError, Locator};
use super::raw::{RawModel, RawModelsFile};
use super::types::{Arch, DType, Model, Origin};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Largest parameter count accepted (10 trillion).
pub const MAX_PARAMS: u64 = 10_000_000_000_000;

/// Architecture numbers before checking (catalog entry or `config.json`), all optional ones
/// still optional.
#[derive(Debug, Clone, Default)]
pub struct ArchInput {
    pub architecture: String,
    pub params: u64,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: Option<u64>,
    pub head_dim: Option<u64>,
    pub intermediate: u64,
    pub vocab: u64,
    pub tied_embeddings: Option<bool>,
    pub max_positions: u64,
    pub sliding_window: Option<u64>,
    pub sliding_layers: Option<u64>,
    pub experts: Option<u64>,
    pub experts_per_token: Option<u64>,
}

impl From<&RawModel> for ArchInput {
    fn from(m: &RawModel) -> Self {
        ArchInput {
            architecture: m.architecture.clone(),
            params: m.params,
            layers: m.layers,
            hidden: m.hidden,
            heads: m.heads,
            kv_heads: m.kv_heads,
            head_dim: m.head_dim,
            intermediate: m.intermediate,
            vocab: m.vocab,
            tied_embeddings: m.tied_embeddings,
            max_positions: m.max_positions,
            sliding_window: m.sliding_window,
            sliding_layers: m.sliding_layers,
            experts: m.experts,
            experts_per_token: m.experts_per_token,
        }
    }
}

/// A rejected architecture number: the catalog field name and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn range(field: &'static str, value: u64, lo: u64, hi: u64) -> Result<u64, FieldError> {
    if (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError {
            field,
            message: format!("`{field}` must be between {lo} and {hi}. Given: {value}"),
        })
    }
}

fn fail(field: &'static str, message: String) -> FieldError {
    FieldError { field, message }
}

/// Range-check architecture numbers and resolve the optional ones.
pub fn check_arch(a: &ArchInput) -> Result<Arch, FieldError> {
    let architecture = a.architecture.trim();
    if architecture.is_empty() || architecture.contains(char::is_whitespace) {
        return Err(fail(
            "architecture",
            format!(
                "`architecture` must be a class name like `LlamaForCausalLM`. Given: {:?}",
                a.architecture
            ),
        ));
    }
    let params = range("params", a.params, 1, MAX_PARAMS)?;
    let layers = range("layers", a.layers, 1, 1000)?;
    let hidden = range("hidden", a.hidden, 1, 1_000_000)?;
    let heads = range("heads", a.heads, 1, 10_000)?;
    let kv_heads = range("kv_heads", a.kv_heads.unwrap_or(heads), 1, 10_000)?;
    if kv_heads > heads {
        return Err(fail(
            "kv_heads",
            format!("`kv_heads` must be <= `heads` ({heads}). Given: {kv_heads}"),
        ));
    }
    if heads % kv_heads != 0 {
        return Err(fail(
            "kv_heads",
            format!("`heads` ({heads}) must be a multiple of `kv_heads`. Given: {kv_heads}"),
        ));
    }
    let head_dim = match a.head_dim {
        Some(d) => range("head_dim", d, 1, 65_536)?,
        None if hidden % heads == 0 => hidden / heads,
        None => {
            return Err(fail(
                "heads",
                format!(
                    "`heads` must divide `hidden` ({hidden}) when `head_dim` is absent. Given: {heads}"
                ),
            ));
        }
    };
    let intermediate = range("intermediate", a.intermediate, 1, 10_000_000)?;
    let vocab = range("vocab", a.vocab, 1, 10_000_000)?;
    let max_positions = range("max_positions", a.max_positions, 1, 100_000_000)?;
    let sliding_window = match (a.sliding_window, a.sliding_layers) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail(
                "sliding_layers",
                "`sliding_layers` needs `sliding_window`".into(),
            ));
        }
        (Some(w), n) => {
            let w = range("sliding_window", w, 1, 100_000_000)?;
            let n = range("sliding_layers", n.unwrap_or(layers), 1, layers)?;
            Some((w, n))
        }
    };
    let experts = match (a.experts, a.experts_per_token) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(fail(
                "experts_per_token",
                "`experts` needs `experts_per_token`".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                "experts",
                "`experts_per_token` needs `experts`".into(),
            ));
        }
        (Some(e), Some(k)) => {
            let e = range("experts", e, 1, 10_000)?;
            Some((e, range("experts_per_token", k, 1, e)?))
        }
    };
    Ok(Arch {
        architecture: architecture.to_string(),
        params,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab,
        tied_embeddings: a.tied_embeddings.unwrap_or(false),
        max_positions,
        sliding_window,
        experts,
    })
}

/// Parse and check a models file. `base` resolves relative `path`s (the catalog directory).
pub fn parse_models(
    label: &str,
    bytes: &[u8],
    origin: &Origin,
    base: Option<&std::path::Path>,
) -> Result<Vec<Model>, CatalogError> {
    let text = super::utf8(label, bytes)?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: RawModelsFile = super::yaml::parse(label, text)?;
    let locator = Locator::new(label, text);
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.models.len());
    for m in &raw.models {
        if seen.insert(m.id.as_str(), ()).is_some() {
            return Err(duplicate(&locator, label, text, &m.id));
        }
        out.push(check_model(&locator, m, origin, base)?);
    }
    Ok(out)
}

fn duplicate(locator: &Locator<'_>, label: &str, text: &str, id: &str) -> CatalogError {
    let first = locator.item_loc("id", id);
    // The second definition: the next `id: <id>` line after the first.
    let after = first.line.unwrap_or(0) as usize;
    let rest: String = text.lines().skip(after).map(|l| format!("{l}\n")).collect();
    let mut second = Locator::new(label, &rest).item_loc("id", id);
    second.line = second
        .line
        .map(|l| l.saturating_add(first.line.unwrap_or(0)));
    CatalogError::Duplicate {
        kind: "model",
        name: id.to_string(),
        first,
        second,
    }
}

fn check_model(
    locator: &Locator<'_>,
    m: &RawModel,
    origin: &Origin,
    base: Option<&std::path::Path>,
) -> Result<Model, CatalogError> {
    let what = format!("model `{}`", m.id);
    let invalid = |field: &str, message: String| CatalogError::Invalid {
        at: locator.key_in_item("id", &m.id, field),
        what: what.clone(),
        field: field.to_string(),
        message,
    };
    if m.id.trim().is_empty() || m.id.contains(char::is_whitespace) {
        return Err(invalid(
            "id",
            format!(
                "`id` must be a non-empty name without spaces. Given: {:?}",
                m.id
            ),
        ));
    }
    if m.hf_repo.is_none() && m.path.is_none() && m.endpoint.is_none() {
        return Err(invalid(
            "id",
            "needs `hf_repo` or `path` (or both), or an `endpoint` that serves it".into(),
        ));
    }
    if let Some(repo) = &m.hf_repo {
        let parts: Vec<&str> = repo.split('/').collect();
        let ok = parts.len() <= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
        if !ok {
            return Err(invalid(
                "hf_repo",
                format!("`hf_repo` must look like `org/name`. Given: {repo:?}"),
            ));
        }
    }
    let revision = m.revision.clone().unwrap_or_else(|| "main".into());
    if revision.trim().is_empty()
        || revision.contains(char::is_whitespace)
        || revision.contains("..")
    {
        return Err(invalid(
            "revision",
            format!("`revision` must be a branch, tag or commit. Given: {revision:?}"),
        ));
    }
    let dtype = match &m.dtype {
        None => DType::Bf16,
        Some(s) => DType::parse(s).ok_or_else(|| {
            invalid(
                "dtype",
                format!("`dtype` must be one of f32, f16, bf16. Given: {s}"),
            )
        })?,
    };
    let arch = check_arch(&ArchInput::from(m)).map_err(|e| invalid(e.field, e.message))?;
    let path = m.path.as_deref().map(|p| resolve_path(p, base));
    let endpoint = m
        .endpoint
        .as_ref()
        .map(|e| check_endpoint(e, &m.id))
        .transpose()
        .map_err(|(field, message)| invalid(field, message))?;
    Ok(Model {
        id: m.id.clone(),
        hf_repo: m.hf_repo.clone(),
        revision,
        path,
        dtype,
        chat: m.chat.unwrap_or(true),
        arch,
        note: m.note.clone(),
        endpoint,
        origin: origin.clone(),
    })
}

/// Checks `endpoint:`; errors are `(field, message)`.
pub(crate) fn check_endpoint(
    e: &super::raw::RawEndpoint,
    id: &str,
) -> Result<super::types::Endpoint, (&'static str, String)> {
    let url = e.base_url.trim_end_matches('/');
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    if host.is_empty() {
        return Err((
            "endpoint.base_url",
            format!(
                "`endpoint.base_url` must be an http:// or https:// URL such as http://10.0.0.5:8000/v1; got `{}`",
                e.base_url
            ),
        ));
    }
    if let Some(var) = &e.api_key_env {
        let ok = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err((
                "endpoint.api_key_env",
                format!(
                    "`endpoint.api_key_env` must name an environment variable (letters, digits, `_`), not hold the key; \
                     got a value of {} characters",
                    var.chars().count()
                ),
            ));
        }
    }
    let concurrency = e.concurrency.unwrap_or(32);
    if concurrency == 0 || concurrency > 4096 {
        return Err((
            "endpoint.concurrency",
            format!("`endpoint.concurrency` must be in [1, 4096]; got {concurrency}"),
        ));
    }
    Ok(super::types::Endpoint {
        base_url: url.to_string(),
        served_model_name: e
            .served_model_name
            .clone()
            .unwrap_or_else(|| id.to_string()),
        api_key_env: e.api_key_env.clone(),
        concurrency,
    })
}

/// `~/x` → home-relative; relative paths → under `base` (the catalog directory) when given.
fn resolve_path(p: &str, base: Option<&std::path::Path>) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(p);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "models:
  - id: tiny
    hf_repo: org/tiny
    architecture: LlamaForCausalLM
    params: 1000
    layers: 2
    hidden: 64
    heads: 4
    kv_heads: 2
    intermediate: 176
    vocab: 512
    max_positions: 4096
";

    fn parse(text: &str) -> Result<Vec<Model>, CatalogError> {
        parse_models("models.yaml", text.as_bytes(), &Origin::Builtin, None)
    }

    #[test]
    fn good_model_gets_defaults() -> Result<(), CatalogError> {
        let models = parse(GOOD)?;
        let m = &models[0];
        assert_eq!(m.revision, "main");
        assert_eq!(m.dtype, DType::Bf16);
        assert!(m.chat);
        assert_eq!(m.arch.head_dim, 16);
        assert_eq!(m.arch.kv_heads, 2);
        assert!(!m.arch.tied_embeddings);
        Ok(())
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn zero_layers_names_field_bound_and_value() {
        let msg = err(&GOOD.replace("layers: 2", "layers: 0"));
        assert_eq!(
            msg,
            "models.yaml:6:5: model `tiny`: `layers` must be between 1 and 1000. Given: 0"
        );
    }

    #[test]
    fn head_checks() {
        assert!(
            err(&GOOD.replace("kv_heads: 2", "kv_heads: 8"))
                .contains("`kv_heads` must be <= `heads` (4). Given: 8")
        );
        assert!(
            err(&GOOD.replace("kv_heads: 2", "kv_heads: 3"))
                .contains("must be a multiple of `kv_heads`. Given: 3")
        );
        let msg = err(&GOOD.replace("hidden: 64", "hidden: 66"));
        assert!(msg.contains("`heads` must divide `hidden` (66)"), "{msg}");
        assert!(msg.starts_with("models.yaml:8:5:"), "{msg}");
        // With head_dim given, heads need not divide hidden.
        let ok = parse(&GOOD.replace("hidden: 64", "hidden: 66\n    head_dim: 16"));
        assert!(ok.is_ok());
    }

    #[test]
    fn other_bad_values() {
        assert!(
            err(&GOOD.replace("params: 1000", "params: 0"))
                .contains("`params` must be between 1 and")
        );
        assert!(err(&GOOD.replace("layers: 2", "layers: 1001")).contains("Given: 1001"));
        assert!(
            err(&format!("{GOOD}    dtype: int3\n"))
                .contains("`dtype` must be one of f32, f16, bf16. Given: int3")
        );
        assert!(
            err(&GOOD.replace("    hf_repo: org/tiny\n", "")).contains("needs `hf_repo` or `path`")
        );
        assert!(err(&format!("{GOOD}    sliding_layers: 1\n")).contains("needs `sliding_window`"));
        assert!(err(&format!("{GOOD}    experts: 8\n")).contains("needs `experts_per_token`"));
        assert!(
            err(&format!("{GOOD}    experts: 8\n    experts_per_token: 9\n"))
                .contains("`experts_per_token` must be between 1 and 8")
        );
        assert!(err(&GOOD.replace("layers: 2", "layers: -1")).starts_with("models.yaml:6:13:"));
    }

    #[test]
    fn unknown_key_has_position() {
        let msg = err(&format!("{GOOD}    layer: 3\n"));
        assert!(msg.starts_with("models.yaml:13:5:"), "{msg}");
        assert!(msg.contains("unknown field `layer`"), "{msg}");
    }

    #[test]
    fn duplicate_ids_name_both_places() {
        let twice = format!("{GOOD}{}", GOOD.trim_start_matches("models:\n"));
        let msg = err(&twice);
        assert_eq!(
            msg,
            "models.yaml:13:5: duplicate model `tiny` (first defined at models.yaml:2:5)"
        );
    }

    #[test]
    fn empty_file_is_an_empty_catalog() -> Result<(), CatalogError> {
        assert!(parse("")?.is_empty());
        assert!(parse("models: []\n")?.is_empty());
        Ok(())
    }
}
