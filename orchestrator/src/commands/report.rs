//! `assay report RUN_ID [--out DIR] [--compare RUN_B]`: write `DIR/report.html`, a
//! self-contained page with inline SVG charts (see `history::report`). With `--compare`, the
//! other run is the baseline: deltas are RUN_ID minus it.

use super::common::{lookup, open_store, runtime};
use super::export::write;
use crate::cli::{GlobalArgs, ReportArgs};
use crate::error::EXIT_OK;
use crate::history::compare::{Correction, Options, compare};
use crate::history::report::render;
use crate::history::show::summary;
use crate::printer::Printer;
use std::path::PathBuf;

#[derive(Debug, serde::Serialize)]
struct Written {
    run_id: i64,
    path: PathBuf,
    bytes: usize,
}

pub fn run(args: &ReportArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let (s, cmp) = runtime()?.block_on(async {
        let (store, path) = open_store(global).await?;
        let result = async {
            let s = summary(&store, args.run_id, &path).await.map_err(lookup)?;
            let cmp = match args.compare {
                Some(baseline) => {
                    let opts = Options {
                        model: None,
                        models: None,
                        correction: Correction::Holm,
                        alpha: 0.05,
                    };
                    Some(
                        compare(&store, baseline, args.run_id, &path, &opts)
                            .await
                            .map_err(lookup)?,
                    )
                }
                None => None,
            };
            anyhow::Ok((s, cmp))
        }
        .await;
        store.close().await;
        result
    })?;
    let html = render(&s, cmp.as_ref())?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("assay-report-{}", args.run_id)));
    let file = dir.join("report.html");
    write(&file, &html)?;
    let written = Written {
        run_id: args.run_id,
        path: file,
        bytes: html.len(),
    };
    if printer.json {
        printer.json(&written)?;
    } else {
        printer.line(format!(
            "wrote {} ({} bytes)",
            written.path.display(),
            written.bytes
        ))?;
    }
    Ok(EXIT_OK)
}
