//! `assay plan CATEGORY [--limit N] [--gpus SPEC] [--max-seq-len N] [--batch-size N]
//! [--prefill-chunk N] [--dtype D]`: size, route and schedule a category without loading weights.
//!
//! Defaults: `--max-seq-len` min(4096, the model's max positions), `--batch-size` 1,
//! `--prefill-chunk` 1024, `--dtype` the catalog's. The hardware is detected (NVML, else the CPU
//! host) unless `--gpus` describes a cluster.
//!
//! `--json` prints the plan object (all sizes in bytes, times in seconds):
//! - `category`, `limit`, `hardware` (one line), `notes[]`
//! - `datasets[]`: `name`, `samples`, `missing`, `reason` (when missing)
//! - `jobs[]`: `model`, `architecture`, `runnable`, `engine` (`lightweight` | `tensor_parallel` |
//!   `remote` | `unplaceable`), `endpoint` (`remote` jobs: `base_url`, `served_model_name`,
//!   `api_key_env`, `concurrency`; else null), `tp`, `devices[]` (`gpu<N>` or `cpu`), `replicas`, `settings` (`dtype`,
//!   `max_seq_len`, `batch`, `prefill_chunk`), `memory` (`tp`, `weights`, `kv_cache`,
//!   `activations`, `overhead`, `nccl`, `per_rank`: one rank's sum, `total`: `per_rank × tp`),
//!   `usable_bytes`, `datasets[]`, `samples`, `prefill_tokens`, `decode_tokens`, `reason`,
//!   `suggestions[]`, `shortfall_bytes`, `estimate` (how the duration was estimated), `checkpoint` (`state`: `on_disk` with `dir`,
//!   `disk_bytes` | `missing` with `download_bytes`, `command`), `arithmetic[]`, `start_s`, `end_s`
//! - `totals`: `models`, `runnable`, `placed`, `unplaceable`, `samples`, `download_bytes`
//! - `schedule`: `makespan_s`, `lower_bound_s`, `waves`, `pieces[]` (`model`, `replica`,
//!   `replicas`, `devices[]`, `samples`, `start_s`, `end_s`, `wave`, `nvlink`), `how[]`
//! - `disk` (when readable): `path`, `free_bytes`
use crate::catalog;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::error::{EXIT_OK, InputError};
use crate::hardware;
use crate::plan::{self, CheckpointState, JobPlan, Plan, Request};
use crate::printer::Printer;
use crate::printer::{duration, human_bytes};
use crate::route::RouteEngine;
use crate::schedule::TableRates;
use crate::sizing::Settings;

pub fn run(args: &PlanArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let settings = settings(args)?;
    let inv = hardware::inventory(args.gpus.as_deref()).map_err(|e| InputError(e.to_string()))?;
    if let Some(notice) = &inv.notice {
        printer.notice(notice);
    }
    let catalog = catalog::load(global.catalog.as_deref())?;
    let req = Request {
        category: &args.category,
        limit: args.limit,
        settings,
    };
    let mut plan = plan::build(&catalog, &inv, &req, &catalog::find_local, &TableRates)
        .map_err(|e| InputError(e.to_string()))?;
    plan.attach_disk(plan::hf_cache_disk());
    if printer.json {
        printer.json(&plan)?;
    } else {
        print_human(&plan, printer)?;
    }
    Ok(EXIT_OK)
}

fn settings(args: &PlanArgs) -> Result<Settings, InputError> {
    let dtype = args.dtype;
    Ok(Settings {
        dtype,
        max_seq_len: args.max_seq_len,
        batch: args.batch_size,
        prefill_chunk: args.prefill_chunk,
        force_tp: super::forced_tp(&args.engine)?,
    })
}

fn print_human(plan: &Plan, printer: &Printer) -> anyhow::Result<()> {
    let limit = plan.limit.map_or("all samples".to_string(), |l| {
        format!("limit {l} per dataset")
    });
    printer.line(format!(
        "Plan for `{}` on {}, {limit}\n",
        plan.category, plan.hardware
    ))?;
    let rows: Vec<Vec<String>> = plan
        .datasets
        .iter()
        .map(|d| {
            let state = if d.missing {
                format!("MISSING: {}", d.reason.as_deref().unwrap_or(""))
            } else {
                "ok".into()
            };
            vec![d.name.clone(), d.samples.to_string(), state]
        })
        .collect();
    printer.table(&["dataset", "samples", "data"], &rows)?;
    printer.line("")?;
    let rows: Vec<Vec<String>> = plan.jobs.iter().map(job_row).collect();
    printer.table(
        &[
            "model", "engine", "tp", "devices", "weights", "kv", "act", "per rank", "usable",
            "samples", "start", "end",
        ],
        &rows,
    )?;
    for job in &plan.jobs {
        print_job(job, printer)?;
    }
    print_schedule(plan, printer)
}

fn job_row(j: &JobPlan) -> Vec<String> {
    let engine = if j.runnable {
        j.engine.as_str().to_string()
    } else {
        format!("{} (unrunnable)", j.engine.as_str())
    };
    let devices = if j.devices.is_empty() {
        "-".to_string()
    } else {
        j.devices.join(",")
    };
    let time = |t: Option<f64>| t.map_or("-".to_string(), duration);
    if let Some(ep) = j
        .endpoint
        .as_ref()
        .filter(|_| j.engine == RouteEngine::Remote)
    {
        let dash = || "-".to_string();
        return vec![
            j.model.clone(),
            engine,
            dash(),
            ep.base_url.clone(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            j.samples.to_string(),
            time(j.start_s),
            time(j.end_s),
        ];
    }
    vec![
        j.model.clone(),
        engine,
        j.tp.to_string(),
        devices,
        human_bytes(j.memory.weights),
        human_bytes(j.memory.kv_cache),
        human_bytes(j.memory.activations),
        human_bytes(j.memory.per_rank),
        human_bytes(j.usable_bytes),
        j.samples.to_string(),
        time(j.start_s),
        time(j.end_s),
    ]
}

fn print_job(j: &JobPlan, printer: &Printer) -> anyhow::Result<()> {
    let s = &j.settings;
    if let Some(ep) = j
        .endpoint
        .as_ref()
        .filter(|_| j.engine == RouteEngine::Remote)
    {
        // Served elsewhere: no local memory, time or checkpoint to show.
        let key = ep
            .api_key_env
            .as_ref()
            .map_or("no API key".to_string(), |v| format!("API key from ${v}"));
        printer.line(format!("\n{} ({}, served)", j.model, j.architecture))?;
        printer.line(format!(
            "  endpoint: {} model `{}` ({key}, {} requests in flight)",
            ep.base_url, ep.served_model_name, ep.concurrency
        ))?;
        return printer.line(format!("  route: {}", j.reason));
    }
    printer.line(format!(
        "\n{} ({}, {}, seq {}, batch {}, prefill chunk {})",
        j.model,
        j.architecture,
        s.dtype.as_str(),
        s.max_seq_len,
        s.batch,
        s.prefill_chunk
    ))?;
    for line in &j.arithmetic {
        printer.line(format!("  {line}"))?;
    }
    printer.line(format!("  route: {}", j.reason))?;
    printer.line(format!("  time: {}", j.estimate))?;
    if !j.suggestions.is_empty() {
        printer.line(format!("  to fit: {}", j.suggestions.join("; ")))?;
    }
    let checkpoint = match &j.checkpoint {
        CheckpointState::OnDisk { dir, disk_bytes } => {
            format!(
                "on disk at {} ({})",
                dir.display(),
                human_bytes(*disk_bytes)
            )
        }
        CheckpointState::Missing {
            download_bytes,
            command: Some(cmd),
        } => {
            format!(
                "not on disk: {} to download with `{cmd}`",
                human_bytes(*download_bytes)
            )
        }
        CheckpointState::Missing {
            download_bytes,
            command: None,
        } => {
            format!(
                "not on disk ({}) and no hf_repo to download it from",
                human_bytes(*download_bytes)
            )
        }
    };
    printer.line(format!("  checkpoint: {checkpoint}"))
}

fn print_schedule(plan: &Plan, printer: &Printer) -> anyhow::Result<()> {
    let s = &plan.schedule;
    let ratio = if s.lower_bound_s > 0.0 {
        format!(", {:.2}× the bound", s.makespan_s / s.lower_bound_s)
    } else {
        String::new()
    };
    printer.line(format!(
        "\nSchedule: makespan {} (lower bound {}{ratio}), waves: {}",
        duration(s.makespan_s),
        duration(s.lower_bound_s),
        s.waves
    ))?;
    let rows: Vec<Vec<String>> = s
        .pieces
        .iter()
        .map(|p| {
            vec![
                p.wave.to_string(),
                duration(p.start_s),
                duration(p.end_s),
                p.model.clone(),
                format!("{}/{}", p.replica + 1, p.replicas),
                p.devices.join(","),
                p.samples.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        printer.table(
            &[
                "wave", "start", "end", "model", "replica", "devices", "samples",
            ],
            &rows,
        )?;
    }
    for how in &s.how {
        printer.line(format!("  {how}"))?;
    }
    let t = &plan.totals;
    let disk = plan
        .disk
        .as_ref()
        .map_or("free disk unknown".to_string(), |d| {
            format!("{} free at {}", human_bytes(d.free_bytes), d.path.display())
        });
    printer.line(format!(
        "\n{} models ({} runnable, {} placed, {} unplaceable), {} samples; downloads needed {}; {disk}",
        t.models,
        t.runnable,
        t.placed,
        t.unplaceable,
        t.samples,
        human_bytes(t.download_bytes)
    ))?;
    for note in &plan.notes {
        printer.line(format!("note: {note}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn human_output_renders_a_mixed_plan() {
        use crate::hardware::{cpu, spec};
        use crate::synthetic::{catalog, dataset, llama_8b, llama_70b};
        let mut odd = llama_8b();
        odd.id = "odd".into();
        odd.arch.architecture = "MambaForCausalLM".into();
        let datasets = vec![
            dataset("arc", Some(100), crate::catalog::OutputType::MultipleChoice),
            dataset("gsm", Some(50), crate::catalog::OutputType::GenerateUntil),
            dataset("gone", None, crate::catalog::OutputType::Loglikelihood),
        ];
        let cat = catalog("reasoning", vec![llama_8b(), llama_70b(), odd], datasets);
        let inv = spec::parse("2xL4-24GB")
            .unwrap()
            .into_inventory(cpu::tests::host(4, 16));
        let req = Request {
            category: "reasoning",
            limit: Some(3),
            settings: Settings::default(),
        };
        let mut plan = plan::build(&cat, &inv, &req, &|_| None, &TableRates).unwrap();
        plan.attach_disk(plan::hf_cache_disk());
        assert!(print_human(&plan, &Printer::new(false, false)).is_ok());
        assert_eq!(plan.jobs[1].engine, crate::route::RouteEngine::Unplaceable);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(725.0), "12m05s");
        assert_eq!(duration(3.0 * 3600.0 + 125.0), "3h02m");
    }

    #[test]
    fn bad_dtype_is_an_input_error() {
        let args = PlanArgs {
            category: "c".into(),
            engine: crate::cli::EngineArgs {
                engine: crate::cli::EngineChoice::Auto,
                tp: None,
            },
            limit: None,
            gpus: None,
            max_seq_len: None,
            batch_size: None,
            prefill_chunk: None,
            dtype: None,
        };
        assert!(settings(&args).is_ok());
        // A bad dtype is refused by the command line itself (exit 2, see main.rs).
        use clap::Parser;
        let err =
            crate::cli::Cli::try_parse_from(["assay", "plan", "c", "--dtype", "int3"]).unwrap_err();
        assert!(err.to_string().contains("Given: int3"), "{err}");
        assert!(err.use_stderr());
    }
}
