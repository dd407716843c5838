//! `history --pivot`: a leaderboard of models × datasets from stored results.
//!
//! Each cell is a model's newest scored result on a dataset (the newest run first, as history
//! lists them) for the dataset's metric: `--metric` when given, else the first metric and
//! filter the dataset reports (alphabetically, as the report's heatmap takes it). Within a
//! dataset, models are ranked by value in the metric's direction, and each model is marked when
//! it is significantly ahead of the next rank: an unpaired two-sided z-test on the two standard
//! errors (the results may come from different runs and items), p < 0.05 after Holm's
//! correction over the dataset's neighbouring pairs.

use super::stats;
use crate::store::HistoryRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// Significance level for "ahead of the next rank".
pub const ALPHA: f64 = 0.05;

#[derive(Debug, Clone, Serialize)]
pub struct Leaderboard {
    pub datasets: Vec<Column>,
    /// Models in name order.
    pub models: Vec<String>,
    pub cells: Vec<Cell>,
}

/// A dataset and the metric its column shows.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub dataset: String,
    pub metric: String,
    pub filter: String,
    pub higher_is_better: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub model: String,
    pub dataset: String,
    pub value: f64,
    pub stderr: Option<f64>,
    pub n: i64,
    pub run_id: i64,
    /// 1 is best.
    pub rank: usize,
    /// Significantly ahead of the model ranked next (Holm-adjusted p below [`ALPHA`]).
    pub ahead_of_next: bool,
}

/// The leaderboard of `rows` (history rows, newest run first).
pub fn build(rows: &[HistoryRow], metric: Option<(&str, Option<&str>)>) -> Leaderboard {
    // The column metric per dataset.
    let mut columns: BTreeMap<String, Column> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.scored()) {
        let wanted = match metric {
            Some((m, f)) => r.metric == m && f.is_none_or(|f| r.filter == f),
            None => true,
        };
        if !wanted {
            continue;
        }
        let candidate = Column {
            dataset: r.dataset.clone(),
            metric: r.metric.clone(),
            filter: r.filter.clone(),
            higher_is_better: r.higher_is_better,
        };
        columns
            .entry(r.dataset.clone())
            .and_modify(|c| {
                if (&candidate.metric, &candidate.filter) < (&c.metric, &c.filter) {
                    *c = candidate.clone();
                }
            })
            .or_insert(candidate);
    }
    // The newest result per (model, dataset) for that metric.
    let mut newest: BTreeMap<(String, String), &HistoryRow> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.scored()) {
        let Some(c) = columns.get(&r.dataset) else {
            continue;
        };
        if r.metric == c.metric && r.filter == c.filter {
            newest
                .entry((r.model.clone(), r.dataset.clone()))
                .or_insert(r);
        }
    }
    let mut cells = Vec::new();
    for c in columns.values() {
        let mut entries: Vec<&HistoryRow> = newest
            .iter()
            .filter(|((_, d), _)| *d == c.dataset)
            .map(|(_, r)| *r)
            .collect();
        entries.sort_by(|a, b| {
            let order = b.value.total_cmp(&a.value);
            (if c.higher_is_better {
                order
            } else {
                order.reverse()
            })
            .then(a.model.cmp(&b.model))
        });
        let p: Vec<f64> = entries
            .windows(2)
            .map(|w| {
                let se = (w[0].stderr.unwrap_or(0.0).powi(2) + w[1].stderr.unwrap_or(0.0).powi(2))
                    .sqrt();
                stats::z_test(w[0].value - w[1].value, se).map_or(1.0, |t| t.p_value)
            })
            .collect();
        let adjusted = stats::holm(&p);
        for (i, r) in entries.iter().enumerate() {
            cells.push(Cell {
                model: r.model.clone(),
                dataset: c.dataset.clone(),
                value: r.value,
                stderr: r.stderr,
                n: r.n,
                run_id: r.run_id,
                rank: i + 1,
                ahead_of_next: adjusted.get(i).is_some_and(|p| *p < ALPHA),
            });
        }
    }
    let mut models: Vec<String> = cells.iter().map(|c| c.model.clone()).collect();
    models.sort();
    models.dedup();
    Leaderboard {
        datasets: columns.into_values().collect(),
        models,
        cells,
    }
}

impl Leaderboard {
    /// Rows of a table: one per model, a `value ± stderr #rank` cell per dataset (`*` when
    /// significantly ahead of the next rank).
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut headers = vec!["model".to_string()];
        headers.extend(self.datasets.iter().map(|c| {
            format!(
                "{} ({})",
                c.dataset,
                super::metric_key(&c.metric, &c.filter)
            )
        }));
        let rows = self
            .models
            .iter()
            .map(|m| {
                let mut row = vec![m.clone()];
                for c in &self.datasets {
                    let cell = self
                        .cells
                        .iter()
                        .find(|x| &x.model == m && x.dataset == c.dataset);
                    row.push(cell.map_or("-".to_string(), |x| {
                        format!(
                            "{} #{}{}",
                            super::value_pm(x.value, x.stderr),
                            x.rank,
                            if x.ahead_of_next { "*" } else { "" }
                        )
                    }));
                }
                row
            })
            .collect();
        (headers, rows)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(run: i64, model: &str, dataset: &str, metric: &str, value: f64, se: f64) -> HistoryRow {
        HistoryRow {
            stderr: Some(se),
            n: 100,
            n_scored: 100,
            ..HistoryRow::example(run, model, dataset, metric, value)
        }
    }

    #[test]
    fn ranks_the_newest_results_and_marks_clear_leads() {
        // Newest run first, as history lists them.
        let rows = vec![
            row(3, "a", "mc", "acc", 0.90, 0.01),
            row(3, "a", "mc", "acc_norm", 0.10, 0.01),
            row(2, "b", "mc", "acc", 0.60, 0.01),
            row(2, "c", "mc", "acc", 0.59, 0.01),
            row(1, "a", "mc", "acc", 0.20, 0.01),
        ];
        let lb = build(&rows, None);
        assert_eq!(lb.datasets[0].metric, "acc");
        let cell = |m: &str| lb.cells.iter().find(|c| c.model == m).unwrap();
        assert_eq!((cell("a").rank, cell("a").run_id), (1, 3));
        assert!(cell("a").ahead_of_next, "0.90 vs 0.60 is clear");
        assert_eq!(cell("b").rank, 2);
        assert!(!cell("b").ahead_of_next, "0.60 vs 0.59 is not");
        assert!(!cell("c").ahead_of_next, "the last has no next");
        let lb = build(&rows, Some(("acc_norm", None)));
        assert_eq!(lb.cells.len(), 1);
        let (headers, table) = lb.table();
        assert_eq!(headers[1], "mc (acc_norm,none)");
        assert_eq!(table[0][1], "0.1000 ± 0.0100 #1");
    }
}
