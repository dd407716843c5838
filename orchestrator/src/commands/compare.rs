//! `assay compare RUN_A RUN_B` (or `--model M` for that model's two newest runs; or
//! `--models A,B` for model A of RUN_A against model B of RUN_B): per (model, dataset, metric)
//! the delta, its standard error and a paired test, adjusted for the number of
//! cells; regressions flagged; settings that differ listed first. Exit code 0 either way: a
//! regression is a finding, not a failure of the command.

use super::common::{lookup, open_store, runtime};
use crate::cli::{CompareArgs, GlobalArgs};
use crate::error::{EXIT_OK, InputError};
use crate::history::compare::{Comparison, Options, compare};
use crate::printer::Printer;
use crate::store::Queries;

pub fn run(args: &CompareArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(InputError(format!(
            "--alpha must be between 0 and 1 (exclusive). Given: {}",
            args.alpha
        ))
        .into());
    }
    let opts = Options {
        model: args.model.clone(),
        models: args.models.clone(),
        correction: args.correction,
        alpha: args.alpha,
    };
    let cmp = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        let result = async {
            let (a, b) = match (args.run_a, args.run_b, &args.model) {
                (Some(a), Some(b), _) => (a, b),
                (None, None, Some(model)) => {
                    let runs = store.runs_with_model(model, 2).await?;
                    match runs.as_slice() {
                        [newest, older] => (*older, *newest),
                        _ => {
                            return Err(InputError(format!(
                                "model `{model}` appears in {} run(s); compare needs two (or give RUN_A RUN_B)",
                                runs.len()
                            ))
                            .into());
                        }
                    }
                }
                _ => {
                    return Err(InputError(
                        "compare needs two run ids (RUN_A RUN_B), or --model M to take that model's two newest runs"
                            .to_string(),
                    )
                    .into());
                }
            };
            compare(&store, a, b, &path, &opts).await.map_err(lookup)
        }
        .await;
        store.close().await;
        result
    })?;
    if printer.json {
        printer.json(&cmp)?;
        return Ok(EXIT_OK);
    }
    print(&cmp, printer)?;
    Ok(EXIT_OK)
}

fn print(cmp: &Comparison, printer: &Printer) -> anyhow::Result<()> {
    printer.line(format!(
        "run {} (A, baseline) vs run {} (B); delta = B - A",
        cmp.run_a, cmp.run_b
    ))?;
    if !cmp.mismatches.is_empty() {
        printer
            .line("\nWARNING: the runs are not like for like; these differences change scores:")?;
        let rows: Vec<Vec<String>> = cmp
            .mismatches
            .iter()
            .map(|m| {
                vec![
                    m.model.clone().unwrap_or_else(|| "(run)".into()),
                    m.dataset.clone().unwrap_or_default(),
                    m.field.to_string(),
                    m.a.clone(),
                    m.b.clone(),
                ]
            })
            .collect();
        printer.table(&["model", "dataset", "setting", "A", "B"], &rows)?;
    }
    for (models, run) in [(&cmp.only_in_a, cmp.run_a), (&cmp.only_in_b, cmp.run_b)] {
        if !models.is_empty() {
            printer.line(format!("only in run {run}: {}", models.join(", ")))?;
        }
    }
    printer.line("")?;
    if cmp.cells.is_empty() {
        printer.line("no (model, dataset, metric) cells in common")?;
        return Ok(());
    }
    let p = |v: Option<f64>| v.map_or("-".to_string(), |p| format!("{p:.4}"));
    let rows: Vec<Vec<String>> = cmp
        .cells
        .iter()
        .map(|c| {
            vec![
                c.model.clone(),
                c.dataset.clone(),
                crate::history::metric_key(&c.metric, &c.filter),
                format!("{:.4}", c.a),
                format!("{:.4}", c.b),
                format!("{:+.4}", c.delta),
                c.delta_stderr.map_or("-".into(), |s| format!("{s:.4}")),
                c.n_paired.to_string(),
                c.test.map_or("-".into(), |t| t.as_str().to_string()),
                p(c.p_value),
                p(c.p_adjusted),
                c.verdict.as_str().to_string(),
            ]
        })
        .collect();
    printer.table(
        &[
            "model", "dataset", "metric", "A", "B", "delta", "stderr", "paired", "test", "p",
            "p adj", "",
        ],
        &rows,
    )?;
    printer.line(format!(
        "\n{} cells, {} regression(s); p adjusted with {:?} at alpha {}",
        cmp.cells.len(),
        cmp.regressions(),
        cmp.correction,
        cmp.alpha
    ))?;
    Ok(())
}
