//! `report`: one self-contained HTML page per run, with its charts drawn as inline SVG by
//! `plotters` (SVG backend, no font files: text is written as SVG `<text>` and the browser
//! lays it out). Charts: score heatmap model × dataset, tokens/s per model, memory estimated
//! against measured per model, load time against evaluation time per model, and with a
//! comparison the delta of every cell with its 95% interval.
//!
//! The page carries a small script that counts the drawn charts into `data-charts` on `<body>`
//! and any script error into `data-errors`, so a headless browser can check the page.

use super::compare::{Comparison, Verdict};
use super::show::RunSummary;
use super::time::format_ms;
use super::{human_bytes, value_pm};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
#[error("drawing the {chart} chart failed: {reason}")]
pub struct ReportError {
    chart: &'static str,
    reason: String,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const FONT: &str = "sans-serif";
const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa5);
const BAR2: RGBColor = RGBColor(0xe0, 0x8a, 0x2c);
const RED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const GREEN: RGBColor = RGBColor(0x2e, 0x8b, 0x57);
const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// Draw one chart into an SVG string.
fn svg(
    chart: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let fail = |e: &dyn std::fmt::Display| ReportError {
            chart,
            reason: e.to_string(),
        };
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        draw(&root).map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(out)
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn label_of(names: &[String], max: usize) -> impl Fn(&SegmentValue<i32>) -> String + '_ {
    move |v| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names
            .get(*i as usize)
            .map(|n| short(n, max))
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// Bars per category; `series` holds (legend, colour, one value per category, `None` = absent).
fn bars(
    chart: &'static str,
    title: &str,
    y_desc: &str,
    names: &[String],
    series: &[(&str, RGBColor, Vec<Option<f64>>)],
) -> Result<String, ReportError> {
    let width = (160 + 110 * names.len() as u32).clamp(480, 1200);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().flatten())
        .fold(0.0_f64, |a, &b| a.max(b));
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    let n = names.len().max(1) as i32;
    let k = series.len().max(1) as f64;
    svg(chart, (width, 340), |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..ymax)?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .label_style((FONT, 12))
            .draw()?;
        for (i, name) in names.iter().enumerate() {
            c.draw_series(std::iter::once(Text::new(
                short(name, 18),
                (i as f64 + 0.1, -ymax * 0.04),
                (FONT, 12),
            )))?;
        }
        let drawn = series.iter().any(|s| s.2.iter().any(Option::is_some));
        if !drawn {
            c.draw_series(std::iter::once(Text::new(
                "no measurements recorded",
                (n as f64 * 0.3, ymax * 0.5),
                (FONT, 16).into_font().color(&GREY),
            )))?;
        }
        for (si, (legend, colour, values)) in series.iter().enumerate() {
            let colour = *colour;
            let w = 0.8 / k;
            c.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                let x0 = i as f64 + 0.1 + w * si as f64;
                v.map(|v| Rectangle::new([(x0, 0.0), (x0 + w * 0.95, v)], colour.filled()))
            }))?
            .label(*legend)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        if series.len() > 1 {
            c.configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font((FONT, 12))
                .draw()?;
        }
        Ok(())
    })
}

/// Score heatmap: one row per model, one column per dataset (its first metric).
fn heatmap(
    models: &[String],
    datasets: &[(String, String)],
    value: &dyn Fn(usize, usize) -> Option<f64>,
) -> Result<String, ReportError> {
    let (nm, nd) = (models.len().max(1) as i32, datasets.len().max(1) as i32);
    let width = (200 + 190 * nd as u32).clamp(480, 1400);
    let height = 120 + 44 * nm as u32;
    svg("heatmap", (width, height), |root| {
        let mut c = ChartBuilder::on(root)
            .caption("Score by model and dataset", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d((0..nd).into_segmented(), (0..nm).into_segmented())?;
        let dnames: Vec<String> = datasets.iter().map(|(d, m)| format!("{d} ({m})")).collect();
        let fx = label_of(&dnames, 30);
        let fy = label_of(models, 22);
        c.configure_mesh()
            .disable_mesh()
            .x_labels(nd as usize)
            .y_labels(nm as usize)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .label_style((FONT, 12))
            .draw()?;
        let mut cells = Vec::new();
        for (mi, _) in models.iter().enumerate() {
            for (di, _) in datasets.iter().enumerate() {
                cells.push((mi as i32, di as i32, value(mi, di)));
            }
        }
        c.draw_series(cells.iter().map(|&(m, d, v)| {
            let colour = match v {
                Some(v) => {
                    let t = v.clamp(0.0, 1.0);
                    RGBColor(
                        (247.0 - t * 200.0) as u8,
                        (251.0 - t * 120.0) as u8,
                        (255.0 - t * 80.0) as u8,
                    )
                }
                None => RGBColor(0xee, 0xee, 0xee),
            };
            Rectangle::new(
                [
                    (SegmentValue::Exact(d), SegmentValue::Exact(m)),
                    (SegmentValue::Exact(d + 1), SegmentValue::Exact(m + 1)),
                ],
                colour.filled(),
            )
        }))?;
        c.draw_series(cells.iter().map(|&(m, d, v)| {
            let text = v.map_or("–".to_string(), |v| format!("{v:.3}"));
            Text::new(
                text,
                (SegmentValue::CenterOf(d), SegmentValue::CenterOf(m)),
                TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Center)),
            )
        }))?;
        Ok(())
    })
}

/// Delta per compared cell with a 95% interval, coloured by verdict.
fn delta_chart(cmp: &Comparison) -> Result<String, ReportError> {
    let n = cmp.cells.len().max(1) as i32;
    let lim = cmp
        .cells
        .iter()
        .map(|c| c.delta.abs() + 1.96 * c.delta_stderr.unwrap_or(0.0))
        .fold(0.0_f64, f64::max)
        .max(1e-3)
        * 1.1;
    let names: Vec<String> = cmp
        .cells
        .iter()
        .map(|c| format!("{} · {} · {}", c.model, c.dataset, c.metric))
        .collect();
    svg("delta", (1000, 100 + 30 * n as u32), |root| {
        let mut c = ChartBuilder::on(root)
            .caption(
                format!("Run {} − run {} (95% interval)", cmp.run_b, cmp.run_a),
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(320)
            .build_cartesian_2d(-lim..lim, (0..n).into_segmented())?;
        let fy = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names
                .get(*i as usize)
                .map(|s| short(s, 48))
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        c.configure_mesh()
            .y_labels(n as usize)
            .y_label_formatter(&fy)
            .x_desc("delta (B − A)")
            .label_style((FONT, 12))
            .draw()?;
        c.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Exact(n))],
            BLACK,
        )))?;
        c.draw_series(cmp.cells.iter().enumerate().map(|(i, cell)| {
            let colour = match cell.verdict {
                Verdict::Regression => RED,
                Verdict::Improvement => GREEN,
                Verdict::NoChange => BAR,
            };
            let i = i as i32;
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (cell.delta, SegmentValue::Exact(i + 1)),
                ],
                colour.filled(),
            );
            r.set_margin(6, 6, 0, 0);
            r
        }))?;
        c.draw_series(cmp.cells.iter().enumerate().filter_map(|(i, cell)| {
            let se = cell.delta_stderr?;
            let y = SegmentValue::CenterOf(i as i32);
            Some(PathElement::new(
                vec![
                    (cell.delta - 1.96 * se, y.clone()),
                    (cell.delta + 1.96 * se, y),
                ],
                BLACK.stroke_width(2),
            ))
        }))?;
        Ok(())
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn figure(id: &str, caption: &str, svg: &str) -> String {
    format!(
        "<figure id=\"{id}\" class=\"chart\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
        esc(caption)
    )
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in headers {
        t.push_str(&format!("<th>{}</th>", esc(h)));
    }
    t.push_str("</tr></thead><tbody>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            t.push_str(&format!("<td>{}</td>", esc(c)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>\n");
    t
}

const CHECK_SCRIPT: &str = r#"<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  window.addEventListener('load', function () {
    var drawn = 0;
    document.querySelectorAll('figure.chart svg').forEach(function (s) {
      var box = s.getBoundingClientRect();
      if (box.width > 0 && box.height > 0 && s.querySelectorAll('rect, text').length > 0) drawn++;
    });
    document.body.setAttribute('data-charts', String(drawn));
    document.body.setAttribute('data-errors', String(errors.length));
  });
})();
</script>"#;

/// The whole page for a run, and with `cmp` the comparison charts.
pub fn render(s: &RunSummary, cmp: Option<&Comparison>) -> Result<String, ReportError> {
    let models: Vec<String> = s.jobs.iter().map(|j| j.job.model.clone()).collect();
    // One metric per dataset: the first (alphabetically) any model reported.
    let mut first_metric: BTreeMap<String, (String, String)> = BTreeMap::new();
    for r in s.scores.iter().filter(|r| r.scored()) {
        first_metric
            .entry(r.dataset.clone())
            .or_insert_with(|| (r.metric.clone(), r.filter.clone()));
    }
    let datasets: Vec<(String, String)> = first_metric
        .iter()
        .map(|(d, (m, _))| (d.clone(), m.clone()))
        .collect();
    let value = |mi: usize, di: usize| -> Option<f64> {
        let (d, (m, f)) = first_metric.iter().nth(di)?;
        let job = &s.jobs.get(mi)?.job;
        s.scores
            .iter()
            .find(|r| r.job_id == job.id && &r.dataset == d && &r.metric == m && &r.filter == f)
            .map(|r| r.value)
            .filter(|v| !v.is_nan())
    };
    let stat = |f: fn(&crate::store::JobStats) -> Option<f64>| -> Vec<Option<f64>> {
        s.jobs
            .iter()
            .map(|j| j.stats.as_ref().and_then(f))
            .collect()
    };
    let gib = |b: Option<i64>| b.map(|b| b as f64 / (1u64 << 30) as f64);
    let mut body = String::new();
    body.push_str(&figure(
        "chart-heatmap",
        "Score per model and dataset (each dataset's first metric, alphabetically).",
        &heatmap(&models, &datasets, &value)?,
    ));
    body.push_str(&figure(
        "chart-throughput",
        "Tokens per second of compute (prompt tokens prefilled plus tokens generated), per model.",
        &bars(
            "throughput",
            "Tokens/s per model",
            "tokens/s",
            &models,
            &[("tokens/s", BAR, stat(|st| st.tokens_per_second))],
        )?,
    ));
    body.push_str(&figure(
        "chart-memory",
        "Memory the planner estimated against the peak measured while the job ran.",
        &bars(
            "memory",
            "Memory per model",
            "GiB",
            &models,
            &[
                (
                    "estimated",
                    BAR,
                    s.jobs
                        .iter()
                        .map(|j| gib(j.job.memory_estimate_bytes))
                        .collect(),
                ),
                (
                    "measured",
                    BAR2,
                    s.jobs
                        .iter()
                        .map(|j| gib(j.memory_measured_bytes))
                        .collect(),
                ),
            ],
        )?,
    ));
    body.push_str(&figure(
        "chart-time",
        "Time to load the model against time spent evaluating, per model.",
        &bars(
            "time",
            "Load time vs evaluation time",
            "seconds",
            &models,
            &[
                ("load", BAR2, stat(|st| st.load_ms.map(|v| v / 1000.0))),
                ("evaluation", BAR, stat(|st| st.eval_ms.map(|v| v / 1000.0))),
            ],
        )?,
    ));
    if let Some(cmp) = cmp {
        body.push_str(&figure(
            "chart-delta",
            &format!(
                "Per-cell change from run {} to run {}; red: significant regression, green: significant improvement ({:?}-adjusted p < {}).",
                cmp.run_a, cmp.run_b, cmp.correction, cmp.alpha
            ),
            &delta_chart(cmp)?,
        ));
        let rows: Vec<Vec<String>> = cmp
            .mismatches
            .iter()
            .map(|m| {
                vec![
                    m.model.clone().unwrap_or_default(),
                    m.dataset.clone().unwrap_or_default(),
                    m.field.to_string(),
                    m.a.clone(),
                    m.b.clone(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            body.push_str("<h2>Not like for like</h2>\n");
            body.push_str(&table(
                &["model", "dataset", "setting", "run A", "run B"],
                &rows,
            ));
        }
    }
    let score_rows: Vec<Vec<String>> = s
        .scores
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.dataset.clone(),
                super::metric_key(&r.metric, &r.filter),
                value_pm(r.value, r.stderr),
                r.n.to_string(),
                super::failure_note(r),
            ]
        })
        .collect();
    let run_error = s
        .run
        .error
        .as_deref()
        .map(|e| {
            format!(
                "<h2>Failures</h2>\n<pre id=\"run-error\">{}</pre>\n",
                esc(e)
            )
        })
        .unwrap_or_default();
    let job_rows: Vec<Vec<String>> = s
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.job.model.clone(),
                j.job.status.to_string(),
                format!("{} tp={} {}", j.job.engine, j.job.tp, j.job.dtype),
                j.job
                    .memory_estimate_bytes
                    .map(human_bytes)
                    .unwrap_or_default(),
                j.memory_measured_bytes.map(human_bytes).unwrap_or_default(),
                j.gpu_verdict.clone(),
                j.job.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let run = &s.run;
    Ok(format!(
        "<!DOCTYPE html>
<html lang=\"en\"><head><meta charset=\"utf-8\">
<title>assay run {id}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
figure.chart {{ margin: 1.5em 0; }} figure.chart svg {{ max-width: 100%; height: auto; }}
figcaption {{ color: #555; font-size: 0.9em; }}
pre {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
</style>
{CHECK_SCRIPT}
</head><body>
<h1>assay run {id}</h1>
<p>Started {started} UTC · status {status} · assay {version}</p>
{run_error}{body}
<h2>Jobs</h2>
{jobs}
<h2>Scores</h2>
{scores}
</body></html>
",
        id = run.id,
        started = format_ms(run.started_at_ms),
        status = run.status,
        version = esc(&run.tool_version),
        jobs = table(
            &["model", "status", "engine", "memory estimated", "memory measured", "GPU use", "error"],
            &job_rows
        ),
        scores = table(
            &["model", "dataset", "metric", "value", "n", "failures"],
            &score_rows
        ),
    ))
}
