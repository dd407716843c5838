//! `assay bench plan`: the planner's own speed and schedule quality (figures for BENCHMARKS.md);
//! `assay bench store ROWS`: sample-row ingest into a fresh database (`store::bench::ingest`).
//!
//! 1. Planning time: `plan::build` for one category of 1,000 synthetic models × 100 datasets on
//!    64 described H100-80GB GPUs (8 NVLink groups of 8), catalog generated with a fixed seed;
//!    one warm-up, then `REPS` timed runs; p50, min and max in milliseconds.
//! 2. Schedule quality: 20 random workloads (seeds 0–19) of 200 jobs with mixed tp on 64 GPUs;
//!    makespan / lower bound per seed, mean and worst.
//!
//! `--json` prints `plan_build_ms` (`p50`, `min`, `max`, `reps`, `models`, `datasets`, `gpus`,
//! `jobs_placed`) and `schedule_quality` (`seeds`, `jobs`, `gpus`, `mean_ratio`, `worst_ratio`,
//! `ratios[]`, `schedule_ms_p50`).
use crate::error::EXIT_OK;
use crate::hardware::{cpu, spec};
use crate::plan::{self, Request};
use crate::printer::Printer;
use crate::schedule::{self, TableRates};
use crate::sizing::Settings;
use crate::synthetic::{bench_catalog, random_jobs};
use std::time::Instant;

const REPS: usize = 11;
const SEEDS: u64 = 20;

#[derive(Debug, serde::Serialize)]
struct PlanTiming {
    p50: f64,
    min: f64,
    max: f64,
    reps: usize,
    models: usize,
    datasets: usize,
    gpus: usize,
    jobs_placed: usize,
}

#[derive(Debug, serde::Serialize)]
struct Quality {
    seeds: u64,
    jobs: usize,
    gpus: usize,
    mean_ratio: f64,
    worst_ratio: f64,
    ratios: Vec<f64>,
    schedule_ms_p50: f64,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    plan_build_ms: PlanTiming,
    schedule_quality: Quality,
}

pub fn run_plan(printer: &Printer) -> anyhow::Result<u8> {
    printer.notice("timing the planner: 1,000 models x 100 datasets on 64 GPUs");
    let report = Report {
        plan_build_ms: time_plan()?,
        schedule_quality: quality(),
    };
    if printer.json {
        printer.json(&report)?;
        return Ok(EXIT_OK);
    }
    let t = &report.plan_build_ms;
    let q = &report.schedule_quality;
    printer.table(
        &["benchmark", "result"],
        &[
            vec![
                format!(
                    "plan {} models x {} datasets on {} GPUs",
                    t.models, t.datasets, t.gpus
                ),
                format!(
                    "p50 {:.1} ms (min {:.1}, max {:.1}, {} runs)",
                    t.p50, t.min, t.max, t.reps
                ),
            ],
            vec![
                format!(
                    "schedule {} jobs on {} GPUs, {} seeds",
                    q.jobs, q.gpus, q.seeds
                ),
                format!(
                    "makespan / lower bound: mean {:.3}, worst {:.3} (p50 {:.1} ms per schedule)",
                    q.mean_ratio, q.worst_ratio, q.schedule_ms_p50
                ),
            ],
        ],
    )?;
    Ok(EXIT_OK)
}

fn time_plan() -> anyhow::Result<PlanTiming> {
    let catalog = bench_catalog(42, 1000, 100);
    let inv = spec::parse(&["8xH100-80GB"; 8].join(","))?.into_inventory(cpu::detect());
    let req = Request {
        category: "bench",
        limit: None,
        settings: Settings::default(),
    };
    let nothing_local = |_: &crate::catalog::Model| None;
    let warm = plan::build(&catalog, &inv, &req, &nothing_local, &TableRates)?;
    let mut ms = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let start = Instant::now();
        let plan = plan::build(&catalog, &inv, &req, &nothing_local, &TableRates)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(plan);
    }
    ms.sort_by(f64::total_cmp);
    Ok(PlanTiming {
        p50: ms[ms.len() / 2],
        min: ms[0],
        max: ms[ms.len() - 1],
        reps: REPS,
        models: catalog.models.len(),
        datasets: catalog.datasets.len(),
        gpus: inv.gpus.len(),
        jobs_placed: warm.totals.placed,
    })
}

fn quality() -> Quality {
    let (jobs, gpus) = (200, 64);
    let mut ratios = Vec::new();
    let mut ms = Vec::new();
    for seed in 0..SEEDS {
        let (work, slots) = random_jobs(seed, jobs, gpus);
        let start = Instant::now();
        let s = schedule::build(&work, &slots);
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        ratios.push(s.makespan / s.lower_bound);
    }
    ms.sort_by(f64::total_cmp);
    Quality {
        seeds: SEEDS,
        jobs,
        gpus,
        mean_ratio: ratios.iter().sum::<f64>() / ratios.len() as f64,
        worst_ratio: ratios.iter().copied().fold(0.0, f64::max),
        ratios,
        schedule_ms_p50: ms[ms.len() / 2],
    }
}

/// `assay bench store ROWS`: ingest rate into a new database in a temporary directory.
pub fn run_store(rows: u64, batch: usize, printer: &Printer) -> anyhow::Result<u8> {
    let dir = std::env::temp_dir().join(format!("assay-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    printer.notice(format!(
        "writing {rows} synthetic sample rows in batches of {batch} into {}",
        dir.display()
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(crate::store::bench::ingest(
        &dir.join("ingest.db"),
        rows,
        batch,
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let report = report?;
    if printer.json {
        printer.json(&report)?;
        return Ok(EXIT_OK);
    }
    printer.table(
        &[
            "rows",
            "batch",
            "wall",
            "rows/s",
            "CPU s",
            "rows per CPU-s",
            "database",
        ],
        &[vec![
            report.rows.to_string(),
            report.batch.to_string(),
            format!("{:.2} s", report.seconds),
            format!("{:.0}", report.rows_per_second),
            format!("{:.2}", report.cpu_seconds),
            format!("{:.0}", report.rows_per_cpu_second),
            crate::printer::human_bytes(report.db_bytes),
        ]],
    )?;
    Ok(EXIT_OK)
}
