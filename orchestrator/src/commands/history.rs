//! `assay history`: stored results, one row per (run, model, dataset, metric), newest first,
//! as a table, `--json` or `--csv`, or with `--pivot` a leaderboard (`history::leaderboard`);
//! and `assay bench history` (the timing of these queries).

use super::common::{lookup, open_store, runtime};
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::error::{EXIT_OK, InputError};
use crate::history::export::{CSV_HEADER, csv_record, to_csv};
use crate::history::time::{format_ms, parse_since};
use crate::history::{LookupError, value_pm};
use crate::printer::Printer;
use crate::store::{HistoryQuery, Queries, now_ms};

/// Parse `--metric acc` or `--metric exact_match,strict-match`.
pub(crate) fn split_metric(text: &str) -> (String, Option<String>) {
    match text.split_once(',') {
        Some((m, f)) => (m.to_string(), Some(f.to_string())),
        None => (text.to_string(), None),
    }
}

pub fn run(args: &HistoryArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let since_ms = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now_ms()))
        .transpose()
        .map_err(InputError)?;
    let status = args.status;
    let (metric, filter) = match args.metric.as_deref().map(split_metric) {
        Some((m, f)) => (Some(m), f),
        None => (None, None),
    };
    let query = HistoryQuery {
        run_id: None,
        category: args.category.clone(),
        model: args.model.clone(),
        dataset: args.dataset.clone(),
        metric,
        filter,
        since_ms,
        status,
        // A leaderboard takes every result (the newest per model and dataset is kept).
        limit: (args.limit > 0 && !args.pivot).then_some(args.limit as i64),
    };
    let rows = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        // A leaderboard ranks scores; failure summaries are for the listing.
        let rows = if args.pivot {
            store.history_rows(&query).await?
        } else {
            store.history_with_failures(&query).await?
        };
        let empty = rows.is_empty() && store.run_count().await? == 0;
        store.close().await;
        if empty {
            return Err(lookup(LookupError::Empty { path }));
        }
        anyhow::Ok(rows)
    })?;
    if args.pivot {
        let metric = args.metric.as_deref().map(split_metric);
        let board = crate::history::leaderboard::build(
            &rows,
            metric.as_ref().map(|(m, f)| (m.as_str(), f.as_deref())),
        );
        if printer.json {
            printer.json(&board)?;
        } else if board.cells.is_empty() {
            printer.line("no scored results match these filters")?;
        } else {
            let (headers, table) = board.table();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            printer.table(&headers, &table)?;
            printer.line(
                "newest result per model and dataset; #rank within the dataset; * significantly ahead of the next rank (z-test on the standard errors, Holm-adjusted p < 0.05)",
            )?;
        }
        return Ok(EXIT_OK);
    }
    if printer.json {
        printer.json(&rows)?;
        return Ok(EXIT_OK);
    }
    if args.csv {
        let records: Vec<Vec<String>> = rows.iter().map(csv_record).collect();
        printer.line(to_csv(CSV_HEADER, &records).trim_end_matches('\n'))?;
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        printer.line("no results match these filters")?;
        return Ok(EXIT_OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.run_id.to_string(),
                format_ms(r.run_started_at_ms),
                r.model.clone(),
                r.dataset.clone(),
                crate::history::metric_key(&r.metric, &r.filter),
                value_pm(r.value, r.stderr),
                r.n.to_string(),
                r.engine.clone(),
                r.tp.to_string(),
                r.dtype.clone(),
                r.tokens_per_second
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "-".into()),
                if r.partial {
                    format!("{} ({} failed)", r.job_status, r.n_failed)
                } else {
                    r.job_status.to_string()
                },
            ]
        })
        .collect();
    // Each dataset's failure summary once, under the table.
    let mut notes: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| !r.failures.is_empty()) {
        let note = format!(
            "run {} · {} · {}: {}",
            r.run_id,
            r.model,
            r.dataset,
            crate::history::failure_note(r)
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    printer.table(
        &[
            "run",
            "date (UTC)",
            "model",
            "dataset",
            "metric",
            "value ± stderr",
            "n",
            "engine",
            "tp",
            "dtype",
            "tok/s",
            "status",
        ],
        &table,
    )?;
    for note in notes {
        printer.line(note)?;
    }
    Ok(EXIT_OK)
}

/// `assay bench history PATH`: fill a new database and time `history` and `compare`.
pub fn bench(args: &crate::cli::BenchHistoryArgs, printer: &Printer) -> anyhow::Result<u8> {
    let path = args.db.as_path();
    if path.exists() {
        printer.notice(format!(
            "timing queries against the existing {}",
            path.display()
        ));
    } else {
        printer.notice(format!(
            "filling {} with {} runs and {} samples, then timing queries",
            path.display(),
            args.runs,
            args.samples
        ));
    }
    let report = runtime()?
        .block_on(crate::history::bench::run(path, args.runs, args.samples))
        .map_err(lookup)?;
    if printer.json {
        printer.json(&report)?;
        return Ok(EXIT_OK);
    }
    let t = |t: &crate::history::bench::Timing| {
        format!(
            "p50 {:.2} ms, p95 {:.2} ms (min {:.2}, max {:.2}; {} runs; {} rows)",
            t.p50_ms, t.p95_ms, t.min_ms, t.max_ms, t.reps, t.rows
        )
    };
    printer.table(
        &["benchmark", "result"],
        &[
            vec![
                match report.fill_seconds {
                    Some(_) => format!("fill {} runs, {} samples", report.runs, report.samples),
                    None => format!("existing database, {} runs", report.runs),
                },
                format!(
                    "{}{}",
                    report
                        .fill_seconds
                        .map(|s| format!("{s:.1} s, "))
                        .unwrap_or_default(),
                    crate::history::human_bytes(report.db_bytes)
                ),
            ],
            vec![report.history_query.clone(), t(&report.history)],
            vec![
                format!(
                    "compare {} {}",
                    report.compare_runs.0, report.compare_runs.1
                ),
                t(&report.compare),
            ],
        ],
    )?;
    Ok(EXIT_OK)
}
