//! What is refused before a run is recorded: everything about the request that can be known
//! without loading a model. Each refusal is bad input (exit 2) naming the model or dataset, the
//! setting, its bound and the value given; nothing is stored for a refused run.
//!
//! - `--tp N` that cannot split a model's heads, kv heads or FFN width (the rule lives in
//!   `route::invalid_tp`);
//! - few-shot counts larger than the few-shot split can give (the rule lives in
//!   `tasks::fewshot_need` / `tasks::check_fewshot_pool`);
//! - `max_gen_toks` that leaves no room for a prompt in the model's window (its
//!   `max_position_embeddings`, or `--max-seq-len`).
//!
//! Generation settings out of their bounds (temperature, top_p, ...) are refused earlier, where
//! `--gen-kwargs` is parsed (`catalog::GenerationKwargs::check`).

use super::*;
use crate::catalog::{DataState, OutputType};

/// Refuse the run if any job asks for something its model or data cannot give.
pub(super) fn preflight(
    jobs: &[JobSpec],
    config: &RunConfig,
    settings: &RunSettings,
) -> Result<(), InputError> {
    let mut problems: Vec<String> = Vec::new();
    let mut seen_datasets = std::collections::BTreeSet::new();
    for job in jobs {
        let remote = job.placement.is_remote();
        if let (Some(tp), false) = (config.force_tp, remote)
            && let Some((reason, suggestions)) = route::invalid_tp(&job.model, tp)
        {
            let try_instead = if suggestions.is_empty() {
                "this model cannot be split; drop --tp".to_string()
            } else {
                format!("try {}", suggestions.join(" or "))
            };
            problems.push(format!("{reason}; {try_instead}"));
        }
        for d in &job.datasets {
            if seen_datasets.insert(d.name.clone())
                && let Err(e) = fewshot(d, settings)
            {
                problems.push(e);
            }
            if !remote && let Err(e) = generation_fits(job, d, settings) {
                problems.push(e);
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(InputError(problems.join("\n")))
}

/// The few-shot split must hold the examples a prompt needs.
fn fewshot(d: &catalog::Dataset, settings: &RunSettings) -> Result<(), String> {
    let num_fewshot = settings.num_fewshot.unwrap_or(d.num_fewshot);
    let from = if settings.num_fewshot.is_some() {
        "--num-fewshot"
    } else {
        "the manifest's num_fewshot"
    };
    let need = crate::tasks::fewshot_need(d, num_fewshot).map_err(|e| format!("{e} ({from})"))?;
    let (Some((split, needed)), DataState::Ready { splits, .. }) = (need, &d.data) else {
        return Ok(());
    };
    let available = splits.get(split).copied().unwrap_or(0) as usize;
    crate::tasks::check_fewshot_pool(d, split, needed, available).map_err(|e| {
        format!(
            "{e}: {from} is {num_fewshot}, at most {} here",
            available.saturating_sub(needed - num_fewshot as usize)
        )
    })
}

/// A generation dataset's `max_gen_toks` must leave room for a prompt in the model's window.
fn generation_fits(
    job: &JobSpec,
    d: &catalog::Dataset,
    settings: &RunSettings,
) -> Result<(), String> {
    if d.output_type != OutputType::GenerateUntil {
        return Ok(());
    }
    let model_window = job.model.arch.max_positions;
    let (window, what) = match settings.max_seq_len {
        Some(n) if model_window == 0 || n < model_window => (n, "--max-seq-len"),
        _ => (model_window, "its max_position_embeddings"),
    };
    if window == 0 {
        return Ok(());
    }
    let mut g = d.generation.clone();
    settings.gen_kwargs.apply(&mut g);
    let from = if settings.gen_kwargs.max_gen_toks.is_some() {
        "--gen-kwargs"
    } else {
        "the manifest"
    };
    if u64::from(g.max_gen_toks) >= window {
        return Err(format!(
            "dataset `{}`: max_gen_toks {} (from {from}) leaves no room for a prompt: model `{}` has a window of {window} tokens ({what}); max_gen_toks must be below {window}",
            d.name, g.max_gen_toks, job.model.id
        ));
    }
    Ok(())
}
