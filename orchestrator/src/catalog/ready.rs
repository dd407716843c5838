//! Readiness of a category, and lookups other commands share.

use super::error::CatalogError;
use super::types::*;
use std::collections::BTreeMap;

/// READY, or NOT READY with the reasons.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub reasons: Vec<String>,
}

/// Whether some engine can run this `config.json` architecture.
pub fn engine_supports(architecture: &str) -> bool {
    assay_engines::supported_architectures().contains(&architecture)
}

impl Catalog {
    /// Whether `category` can run now, and if not, every reason why.
    pub fn readiness(&self, category: &Category) -> Readiness {
        let mut reasons = Vec::new();
        if let Some(reason) = &category.not_ready {
            reasons.push(reason.clone());
        }
        if category.models.is_empty() {
            reasons.push("no models".into());
        }
        if category.datasets.is_empty() {
            reasons.push("no datasets".into());
        }
        for id in &category.models {
            match self.models.get(id) {
                None => reasons.push(format!("model `{id}` is not in the catalog")),
                Some(m) if !engine_supports(&m.arch.architecture) => reasons.push(format!(
                    "model `{id}`: no engine supports architecture `{}`",
                    m.arch.architecture
                )),
                Some(_) => {}
            }
        }
        for name in &category.datasets {
            match self.datasets.get(name) {
                None => reasons.push(format!("dataset `{name}` is not in the catalog")),
                Some(d) => match &d.data {
                    DataState::Missing { reason } => {
                        reasons.push(format!("dataset `{name}`: {reason}"))
                    }
                    DataState::Ready { .. } if d.test_rows() == 0 => reasons.push(format!(
                        "dataset `{name}`: split `{}` has no rows",
                        d.test_split
                    )),
                    DataState::Ready {
                        splits, bad_rows, ..
                    } => {
                        if let Some(first) = bad_rows.first() {
                            reasons.push(format!(
                                "dataset `{name}`: {} malformed row(s) (a run needs --skip-bad-rows), first: {first}",
                                bad_rows.len()
                            ));
                        }
                        if let Some(reason) = fewshot_shortfall(d, splits) {
                            reasons.push(format!("dataset `{name}`: {reason}"));
                        }
                    }
                },
            }
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }

    /// The category called `name`, or an error suggesting close names.
    pub fn category(&self, name: &str) -> Result<&Category, CatalogError> {
        lookup(&self.categories, "category", name)
    }

    /// The model with id `id`, or an error suggesting close ids.
    pub fn model(&self, id: &str) -> Result<&Model, CatalogError> {
        lookup(&self.models, "model", id)
    }

    /// The dataset called `name`, or an error suggesting close names.
    pub fn dataset(&self, name: &str) -> Result<&Dataset, CatalogError> {
        lookup(&self.datasets, "dataset", name)
    }

    /// The models of `category`, in its order (references were checked at load).
    pub fn models_of(&self, category: &Category) -> Vec<&Model> {
        category
            .models
            .iter()
            .filter_map(|id| self.models.get(id))
            .collect()
    }
}

/// Too few rows to draw `num_fewshot` examples: from `fewshot_split`, or else from the test
/// split without the item itself.
fn fewshot_shortfall(d: &Dataset, splits: &BTreeMap<String, u64>) -> Option<String> {
    let want = u64::from(d.num_fewshot);
    if want == 0 {
        return None;
    }
    let (split, have) = match &d.fewshot_split {
        Some(s) => (s, splits.get(s).copied().unwrap_or(0)),
        None => (&d.test_split, d.test_rows().saturating_sub(1)),
    };
    (have < want)
        .then(|| format!("`num_fewshot` is {want} but split `{split}` offers {have} examples"))
}

fn lookup<'a, T>(
    map: &'a BTreeMap<String, T>,
    kind: &'static str,
    name: &str,
) -> Result<&'a T, CatalogError> {
    map.get(name).ok_or_else(|| CatalogError::UnknownName {
        kind,
        name: name.to_string(),
        suggestions: crate::suggest::closest(name, map.keys().map(String::as_str), 3),
    })
}
