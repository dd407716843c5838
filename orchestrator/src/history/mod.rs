//! The read side of the results database: what `history`, `show`, `compare`, `export` and
//! `report` compute from stored runs. Queries live in `store::queries`; this module turns
//! their rows into summaries, paired comparisons, lm-eval-shaped exports and an HTML report.
//! Nothing here prints; commands hand the results to the printer.

pub mod bench;
pub mod compare;
pub mod export;
pub mod leaderboard;
pub mod report;
pub mod show;
pub mod stats;
pub mod time;

use crate::store::{Queries, RunRecord, Store, StoreError};

/// Why a run could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{}", unknown_run_message(*.id, .nearby))]
    UnknownRun { id: i64, nearby: Vec<i64> },
    #[error("the results database {path} holds no runs yet; `assay run CATEGORY` records one")]
    Empty { path: String },
    #[error("run {run} has no job for model `{model}`; its models: {}", .models.join(", "))]
    NoSuchModel {
        run: i64,
        model: String,
        models: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unknown_run_message(id: i64, nearby: &[i64]) -> String {
    let list: Vec<String> = nearby.iter().map(|i| i.to_string()).collect();
    format!(
        "no run {id} in the results database; closest run ids: {} (`assay history` lists runs)",
        list.join(", ")
    )
}

/// Read a run, or say which ids exist near it (and whether there are any runs at all).
pub async fn find_run<S: Store + Queries>(
    store: &S,
    id: i64,
    path: &str,
) -> Result<RunRecord, LookupError> {
    match store.run(id).await {
        Ok(run) => Ok(run),
        Err(StoreError::NotFound { .. }) => {
            let nearby = store.nearby_run_ids(id).await?;
            if nearby.is_empty() {
                Err(LookupError::Empty {
                    path: path.to_string(),
                })
            } else {
                Err(LookupError::UnknownRun { id, nearby })
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub use crate::printer::human_bytes;

/// `0.6250 ± 0.0121`, or the value alone when there is no standard error.
pub fn value_pm(value: f64, stderr: Option<f64>) -> String {
    if value.is_nan() {
        return "not scored".into();
    }
    match stderr {
        Some(s) => format!("{value:.4} ± {s:.4}"),
        None => format!("{value:.4}"),
    }
}

/// `metric,filter` as lm-eval writes it (`-` for a row with no metric).
pub fn metric_key(metric: &str, filter: &str) -> String {
    if metric == "-" {
        return "-".into();
    }
    format!("{metric},{filter}")
}

/// What a history row says about failures: empty when none failed, else the summary line.
pub fn failure_note(r: &crate::store::HistoryRow) -> String {
    if r.failures.is_empty() {
        return String::new();
    }
    let samples = (r.n > 0).then_some(r.n);
    crate::run::failures::describe(&r.failures, samples.filter(|_| r.scored()))
}
