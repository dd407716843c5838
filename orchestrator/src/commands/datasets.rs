//! `assay datasets [NAME] [--show N]`: list the datasets, describe one, or render its first N
//! prompts exactly as a model will see them (a dry run of the prompts, no model loaded).
//! `--file PATH [--format F]` does the same for a data file without a manifest (a known
//! layout, see `tasks::formats::mapping`), `--lm-eval-yaml PATH` for an lm-evaluation-harness
//! task file (see `catalog::lmeval`).
//!
//! JSON (`--json`) field names:
//! - list: an array of `{name, output_type, test_rows, fewshot_rows, num_fewshot, metrics,
//!   chat, data, hash, missing_reason, origin}`; `data` is `ready` or `missing`, `test_rows`,
//!   `fewshot_rows` and `hash` are null when unknown, `metrics` is a list of metric names.
//! - `datasets NAME`: `{summary, description, test_split, fewshot_split, data_files,
//!   doc_to_text, doc_to_target, doc_to_choice, target_delimiter, fewshot_delimiter,
//!   generation, repeats, filters}` (`summary` is the list entry above, `filters` the pipeline
//!   names, `generation` is null unless the output type is `generate_until`).
//! - with `--show N`: the same plus `shown: {num_fewshot, chat, items, requests, skipped}` where
//!   each item is `{index, line, prompt, choices, target, gold_text, fields}` with `prompt`
//!   `{kind: plain, value: TEXT}` or `{kind: chat, value: [{role, content}]}` and `target`
//!   `{kind: choice, value: INDEX}` or `{kind: text, value: TEXT}`; each request is
//!   `{dataset, item, repeat, context, body, prompt_hash, settings_hash}` with `body`
//!   `{type: loglikelihood, continuation, choice}` or `{type: generate_until, settings}`.

use crate::catalog::{Catalog, ChoiceSpec, DataState, Dataset, OutputType};
use crate::cli::{ChatTemplate, DatasetsArgs};
use crate::error::InputError;
use crate::printer::Printer;
use crate::tasks::{
    self, ChatMode, Item, Prepared, Prompt, RequestBody, SplitSource, Target, TaskOptions,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One line of the dataset list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetSummary {
    pub name: String,
    pub output_type: &'static str,
    pub test_rows: Option<u64>,
    pub fewshot_rows: Option<u64>,
    pub num_fewshot: u32,
    pub metrics: Vec<String>,
    pub chat: bool,
    pub data: &'static str,
    pub hash: Option<String>,
    pub missing_reason: Option<String>,
    pub origin: crate::catalog::Origin,
}

/// Everything about one dataset's manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetDetail {
    pub summary: DatasetSummary,
    pub description: Option<String>,
    pub test_split: String,
    pub fewshot_split: Option<String>,
    pub data_files: BTreeMap<String, PathBuf>,
    pub doc_to_text: String,
    pub doc_to_target: String,
    pub doc_to_choice: Option<ChoiceSpec>,
    pub target_delimiter: String,
    pub fewshot_delimiter: String,
    pub generation: Option<crate::catalog::GenerationKwargs>,
    pub repeats: u32,
    pub filters: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<Prepared>,
}

pub fn output_type_name(t: OutputType) -> &'static str {
    match t {
        OutputType::MultipleChoice => "multiple_choice",
        OutputType::GenerateUntil => "generate_until",
        OutputType::Loglikelihood => "loglikelihood",
    }
}

/// The list entry of `dataset`, from its data state (no data is read).
pub fn summary(dataset: &Dataset) -> DatasetSummary {
    let (test_rows, fewshot_rows, data, hash, missing_reason) = match &dataset.data {
        DataState::Ready { splits, hash, .. } => (
            splits.get(&dataset.test_split).copied(),
            dataset
                .fewshot_split
                .as_ref()
                .and_then(|s| splits.get(s).copied()),
            "ready",
            Some(hash.clone()),
            None,
        ),
        DataState::Missing { reason } => (None, None, "missing", None, Some(reason.clone())),
    };
    DatasetSummary {
        name: dataset.name.clone(),
        output_type: output_type_name(dataset.output_type),
        test_rows,
        fewshot_rows,
        num_fewshot: dataset.num_fewshot,
        metrics: dataset.metrics.iter().map(|m| m.metric.clone()).collect(),
        chat: dataset.chat,
        data,
        hash,
        missing_reason,
        origin: dataset.origin.clone(),
    }
}

/// Every dataset of the catalog, sorted by name.
pub fn list(catalog: &Catalog) -> Vec<DatasetSummary> {
    catalog.datasets.values().map(summary).collect()
}

/// The human table of `list`.
pub fn list_table(summaries: &[DatasetSummary]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let headers = vec![
        "DATASET", "TYPE", "TEST", "FEWSHOT", "SHOTS", "METRICS", "HASH", "DATA",
    ];
    let count = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let rows = summaries
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.output_type.to_string(),
                count(s.test_rows),
                count(s.fewshot_rows),
                s.num_fewshot.to_string(),
                s.metrics.join(","),
                s.hash
                    .as_deref()
                    .map(|h| h.chars().take(12).collect())
                    .unwrap_or_else(|| "-".into()),
                match &s.missing_reason {
                    Some(reason) => format!("missing: {reason}"),
                    None => s.data.to_string(),
                },
            ]
        })
        .collect();
    (headers, rows)
}

/// The manifest of `dataset`, with its first `show` items rendered when asked.
pub fn detail(
    dataset: &Dataset,
    show: Option<usize>,
    options: &TaskOptions,
    source: &dyn SplitSource,
) -> Result<DatasetDetail, tasks::TaskError> {
    if let (Some(_), DataState::Missing { reason }) = (show, &dataset.data) {
        return Err(tasks::TaskError::Unavailable {
            dataset: dataset.name.clone(),
            split: dataset.test_split.clone(),
            message: format!("its data is missing ({reason})"),
        });
    }
    let shown = match show {
        Some(n) => Some(tasks::prepare(
            dataset,
            &TaskOptions {
                limit: Some(n),
                ..options.clone()
            },
            source,
        )?),
        None => None,
    };
    Ok(DatasetDetail {
        summary: summary(dataset),
        description: dataset.description.clone(),
        test_split: dataset.test_split.clone(),
        fewshot_split: dataset.fewshot_split.clone(),
        data_files: dataset.data_files.clone(),
        doc_to_text: dataset.doc_to_text.clone(),
        doc_to_target: dataset.doc_to_target.clone(),
        doc_to_choice: dataset.doc_to_choice.clone(),
        target_delimiter: dataset.target_delimiter.clone(),
        fewshot_delimiter: dataset.fewshot_delimiter.clone(),
        generation: (dataset.output_type == OutputType::GenerateUntil)
            .then(|| dataset.generation.clone()),
        repeats: dataset.repeats,
        filters: dataset.filters.iter().map(|f| f.name.clone()).collect(),
        shown,
    })
}

/// Human text of `detail`: the manifest, then each shown prompt verbatim with what is scored.
pub fn detail_text(d: &DatasetDetail) -> String {
    let s = &d.summary;
    let mut out = String::new();
    let _ = writeln!(out, "dataset       {}", s.name);
    let _ = writeln!(out, "output type   {}", s.output_type);
    let rows = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "data          {} (test {}, fewshot {})",
        s.data,
        rows(s.test_rows),
        rows(s.fewshot_rows)
    );
    if let Some(reason) = &s.missing_reason {
        let _ = writeln!(out, "missing       {reason}");
    }
    if let Some(hash) = &s.hash {
        let _ = writeln!(out, "hash          {hash}");
    }
    let _ = writeln!(out, "metrics       {}", s.metrics.join(", "));
    let _ = writeln!(
        out,
        "num_fewshot   {} (from split {})",
        s.num_fewshot,
        d.fewshot_split.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "chat          {}",
        if s.chat {
            "yes (with a chat model)"
        } else {
            "no"
        }
    );
    let _ = writeln!(out, "doc_to_text   {:?}", d.doc_to_text);
    let _ = writeln!(out, "doc_to_target {:?}", d.doc_to_target);
    if let Some(choice) = &d.doc_to_choice {
        let text = match choice {
            ChoiceSpec::Template(t) => format!("{t:?}"),
            ChoiceSpec::List(l) => format!("{l:?}"),
        };
        let _ = writeln!(out, "doc_to_choice {text}");
    }
    if let Some(g) = &d.generation {
        let _ = writeln!(out, "generation    {}", generation_text(g));
    }
    if !d.filters.is_empty() {
        let _ = writeln!(out, "filters       {}", d.filters.join(", "));
    }
    if let Some(shown) = &d.shown {
        let style = if shown.chat {
            "chat messages"
        } else {
            "plain text"
        };
        let _ = writeln!(
            out,
            "\n{} item(s), {}-shot, {style}:",
            shown.items.len(),
            shown.num_fewshot
        );
        for item in &shown.items {
            out.push_str(&item_text(item, shown));
        }
    }
    out.trim_end().to_string()
}

fn generation_text(g: &crate::catalog::GenerationKwargs) -> String {
    let sampling = if g.do_sample {
        format!(
            "sampled (temperature {}, top_p {}{})",
            g.temperature,
            g.top_p,
            g.top_k.map(|k| format!(", top_k {k}")).unwrap_or_default()
        )
    } else {
        "greedy".into()
    };
    format!(
        "until {:?}, max_gen_toks {}, {sampling}",
        g.until, g.max_gen_toks
    )
}

fn item_text(item: &Item, shown: &Prepared) -> String {
    let mut out = String::new();
    let requests: Vec<_> = shown
        .requests
        .iter()
        .filter(|r| r.item == item.index)
        .collect();
    let hash = requests
        .first()
        .map(|r| &r.prompt_hash[..12])
        .unwrap_or("-");
    let _ = writeln!(
        out,
        "\n=== item {} (line {}, prompt sha256 {hash}) ===",
        item.index, item.line
    );
    match &item.prompt {
        Prompt::Plain(text) => {
            let _ = writeln!(out, "{text}");
        }
        Prompt::Chat(messages) => {
            for m in messages {
                let _ = writeln!(out, "[{}]\n{}", m.role, m.content);
            }
        }
    }
    let _ = writeln!(out, "---");
    match (&item.target, &item.choices) {
        (Target::Choice(gold), Some(choices)) => {
            let _ = writeln!(out, "continuations scored (loglikelihood):");
            for r in &requests {
                if let RequestBody::Loglikelihood {
                    continuation,
                    choice: Some(i),
                } = &r.body
                {
                    let mark = if *i == *gold { "  <- gold" } else { "" };
                    let _ = writeln!(out, "  [{i}] {continuation:?}{mark}");
                }
            }
            if requests.is_empty() {
                let _ = writeln!(out, "  {choices:?}, gold {gold}");
            }
        }
        _ => {
            let _ = writeln!(out, "target: {:?}", item.gold_text);
            for r in requests.iter().take(1) {
                match &r.body {
                    RequestBody::GenerateUntil { settings } => {
                        let n = requests.len();
                        let _ = writeln!(
                            out,
                            "generate: {}{}",
                            generation_text(settings),
                            if n > 1 {
                                format!(", {n} repeats")
                            } else {
                                String::new()
                            }
                        );
                    }
                    RequestBody::Loglikelihood { continuation, .. } => {
                        let _ =
                            writeln!(out, "continuation scored (loglikelihood): {continuation:?}");
                    }
                }
            }
        }
    }
    out
}

/// `--chat-template on|off` as a chat mode (absent: follow the dataset and the model).
pub fn chat_mode(flag: Option<ChatTemplate>) -> ChatMode {
    match flag {
        Some(ChatTemplate::On) => ChatMode::On,
        Some(ChatTemplate::Off) => ChatMode::Off,
        None => ChatMode::Auto,
    }
}

/// Task options for this command. No model is involved, so `Auto` means plain text.
pub fn options(args: &DatasetsArgs) -> TaskOptions {
    TaskOptions {
        num_fewshot: args.num_fewshot,
        chat: chat_mode(args.chat_template).resolve(false, false),
        skip_bad_rows: args.skip_bad_rows,
        ..TaskOptions::default()
    }
}

/// A dataset given by file (`--file`) or lm-eval task (`--lm-eval-yaml`), if either was.
pub fn outside_dataset(args: &DatasetsArgs) -> Result<Option<Dataset>, InputError> {
    let loaded = if let Some(path) = &args.file {
        crate::tasks::adhoc_dataset(path, args.format)
    } else if let Some(path) = &args.lm_eval_yaml {
        crate::catalog::load_lmeval_task(path)
    } else {
        return Ok(None);
    };
    loaded.map(Some).map_err(|e| InputError(format!("{e:#}")))
}

/// Print `detail` (and its skipped rows as notices).
fn print_detail(detail: &DatasetDetail, printer: &Printer) -> anyhow::Result<()> {
    if let Some(shown) = &detail.shown {
        for (file, bad) in &shown.skipped {
            printer.notice(format!(
                "skipped malformed row {file}:{}: {}",
                bad.line, bad.reason
            ));
        }
    }
    if printer.json {
        printer.json(detail)?;
    } else {
        printer.line(detail_text(detail))?;
    }
    Ok(())
}

/// `assay datasets [NAME] [--show N]`, `--file PATH`, `--lm-eval-yaml PATH`.
pub fn run(args: &DatasetsArgs, overlay: Option<&Path>, printer: &Printer) -> anyhow::Result<u8> {
    if let Some(dataset) = outside_dataset(args)? {
        // Data files are absolute paths on disk.
        let detail = detail(&dataset, args.show, &options(args), &tasks::DiskSource)
            .map_err(|e| InputError(e.to_string()))?;
        print_detail(&detail, printer)?;
        return Ok(crate::error::EXIT_OK);
    }
    if args.show.is_some() && args.name.is_none() {
        return Err(InputError(
            "--show needs a dataset NAME, --file PATH or --lm-eval-yaml PATH".into(),
        )
        .into());
    }
    let catalog = crate::catalog::load(overlay)?;
    let Some(name) = &args.name else {
        let summaries = list(&catalog);
        if printer.json {
            printer.json(&summaries)?;
        } else {
            let (headers, rows) = list_table(&summaries);
            printer.table(&headers, &rows)?;
        }
        return Ok(crate::error::EXIT_OK);
    };
    let dataset = catalog.datasets.get(name).ok_or_else(|| {
        let known: Vec<&str> = catalog.datasets.keys().map(String::as_str).collect();
        InputError(format!(
            "no dataset named `{name}` (known: {})",
            known.join(", ")
        ))
    })?;
    // The data files are read from the dataset's directory on disk.
    let detail = detail(dataset, args.show, &options(args), &tasks::CatalogSource)
        .map_err(|e| InputError(e.to_string()))?;
    print_detail(&detail, printer)?;
    Ok(crate::error::EXIT_OK)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tasks::DiskSource;
    use crate::tasks::testing::{shipped, shipped_names};

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        for name in shipped_names() {
            c.datasets.insert(name.clone(), shipped(&name));
        }
        c
    }

    #[test]
    fn lists_every_dataset_with_counts_and_state() {
        let summaries = list(&catalog());
        let bq = summaries
            .iter()
            .find(|s| s.name == "boolean_questions")
            .unwrap();
        assert_eq!(bq.output_type, "multiple_choice");
        assert_eq!(bq.test_rows, Some(shipped("boolean_questions").test_rows()));
        assert!(bq.fewshot_rows.unwrap() > 0);
        assert_eq!(bq.metrics, vec!["acc".to_string()]);
        assert_eq!(bq.data, "ready");
        let sat = summaries
            .iter()
            .find(|s| s.name == "satellite_scene_qa")
            .unwrap();
        assert_eq!(sat.data, "missing");
        let (headers, rows) = list_table(&summaries);
        assert_eq!(rows.len(), summaries.len());
        assert!(rows.iter().all(|r| r.len() == headers.len()));
        let sat_row = rows.iter().find(|r| r[0] == "satellite_scene_qa").unwrap();
        assert!(sat_row[7].starts_with("missing: "), "{sat_row:?}");
        let json = serde_json::to_value(&summaries).unwrap();
        assert_eq!(json[0]["name"], summaries[0].name.as_str());
        assert!(json[0].get("test_rows").is_some() && json[0].get("hash").is_some());
    }

    #[test]
    fn show_renders_prompts_as_the_model_sees_them() {
        let ds = shipped("algebra_multiple_choice");
        let opts = TaskOptions::default();
        let d = detail(&ds, Some(2), &opts, &DiskSource).unwrap();
        let shown = d.shown.as_ref().unwrap();
        assert_eq!(shown.items.len(), 2);
        let text = detail_text(&d);
        let Prompt::Plain(prompt) = &shown.items[0].prompt else {
            panic!("plain expected")
        };
        assert!(text.contains(prompt.as_str()), "{text}");
        assert!(text.contains("[2] \" 3\"  <- gold"), "{text}");
        assert!(text.contains("2 item(s), 3-shot, plain text"), "{text}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["shown"]["items"][0]["prompt"]["kind"], "plain");
        assert_eq!(json["shown"]["items"][0]["target"]["value"], 2);
        assert_eq!(
            json["shown"]["requests"][0]["body"]["type"],
            "loglikelihood"
        );

        // Generation: target and decoding settings; chat on: messages with roles.
        let ds = shipped("arithmetic_word_problems");
        let opts = TaskOptions {
            chat: true,
            ..TaskOptions::default()
        };
        let d = detail(&ds, Some(1), &opts, &DiskSource).unwrap();
        let text = detail_text(&d);
        assert!(
            text.contains("[user]\nQuestion: A jacket costs $56."),
            "{text}"
        );
        assert!(text.contains("target: \"33.6\""), "{text}");
        assert!(text.contains("max_gen_toks 320, greedy"), "{text}");
        // Without --show nothing is read or rendered.
        assert!(
            detail(&ds, None, &opts, &DiskSource)
                .unwrap()
                .shown
                .is_none()
        );
    }

    #[test]
    fn show_on_missing_data_is_an_error_not_a_panic() {
        let ds = shipped("satellite_scene_qa");
        let err = detail(&ds, Some(1), &TaskOptions::default(), &DiskSource).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "dataset `satellite_scene_qa`: split `test` cannot be read: its data is missing"
            ),
            "{text}"
        );
        assert!(text.contains("test.jsonl"), "{text}");
    }

    #[test]
    fn chat_template_flag_sets_the_prompt_style() {
        let args = |chat| DatasetsArgs {
            name: None,
            show: None,
            num_fewshot: Some(1),
            chat_template: chat,
            skip_bad_rows: true,
            file: None,
            format: None,
            lm_eval_yaml: None,
        };
        assert!(options(&args(Some(ChatTemplate::On))).chat);
        assert!(!options(&args(Some(ChatTemplate::Off))).chat);
        let o = options(&args(None));
        assert!(!o.chat && o.skip_bad_rows && o.num_fewshot == Some(1));
    }
}
