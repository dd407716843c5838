//! `assay download MODEL... [--revision REV]`, and the `--download` step of `assay run`: fetch
//! checkpoints from the Hugging Face hub into its cache (see `crate::hub`).
//!
//! A MODEL is a catalog id (its `hf_repo` and `revision` are used) or an `org/name` repository
//! id; `--revision` overrides the revision (default: the catalog's, else `main`). Progress is a
//! bar per file on stderr when it is a terminal (not with `--json` or `--quiet`).
//!
//! `--json` prints `{models: [{model, repo, revision, commit, dir, fetched, files: [{file,
//! status, size, fetched}]}]}`; `status` is `present` (already in the snapshot), `linked` (its
//! blob was cached), `downloaded` or `resumed`.
//!
//! Exit codes: 0 when every model is in the cache; 2 for an unknown model, a bad repository id
//! or revision, a repository or revision the hub does not have, or a refused token; 1 when a
//! transfer or a check failed.

use crate::catalog::{self, Catalog, local::read_checkpoint};
use crate::cli::{DownloadArgs, GlobalArgs};
use crate::error::{EXIT_OK, InputError};
use crate::hub::{DEFAULT_REVISION, Download, Event, FileStatus, Hub, HubConfig, HubError};
use crate::plan::{CheckpointState, Plan};
use crate::printer::{Printer, human_bytes};
use crate::route;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// One model to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As given (a catalog id or the repository id).
    pub model: String,
    pub repo: String,
    pub revision: String,
}

#[derive(Debug, Serialize)]
struct Fetched {
    model: String,
    #[serde(flatten)]
    download: Download,
}

pub fn run(args: &DownloadArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<u8> {
    let catalog = catalog::load(global.catalog.as_deref())?;
    let targets = args
        .models
        .iter()
        .map(|m| target(&catalog, m, args.revision.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let hub = hub_from_env()?;
    let mut done = Vec::new();
    for t in &targets {
        let download = rt.block_on(fetch(&hub, t, printer))?;
        done.push(Fetched {
            model: t.model.clone(),
            download,
        });
    }
    if printer.json {
        printer.json(&serde_json::json!({ "models": done }))?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = done
        .iter()
        .map(|f| {
            let d = &f.download;
            let new = d
                .files
                .iter()
                .filter(|x| !matches!(x.status, FileStatus::Present))
                .count();
            vec![
                f.model.clone(),
                d.revision.clone(),
                d.commit.clone(),
                format!("{}/{}", new, d.files.len()),
                human_bytes(d.fetched),
                d.dir.display().to_string(),
            ]
        })
        .collect();
    printer.table(
        &["MODEL", "REVISION", "COMMIT", "NEW", "FETCHED", "DIR"],
        &rows,
    )?;
    Ok(EXIT_OK)
}

/// A catalog id (with its `hf_repo`), else an `org/name` repository id.
pub fn target(
    catalog: &Catalog,
    given: &str,
    revision: Option<&str>,
) -> Result<Target, InputError> {
    if let Some(m) = catalog.models.get(given) {
        let repo = m.hf_repo.clone().ok_or_else(|| {
            InputError(format!(
                "model `{given}` has no `hf_repo` in the catalog, so there is nothing to download"
            ))
        })?;
        return Ok(Target {
            model: given.into(),
            repo,
            revision: revision.unwrap_or(&m.revision).into(),
        });
    }
    if given.contains('/') {
        crate::hub::check_repo(given).map_err(|e| InputError(e.to_string()))?;
        return Ok(Target {
            model: given.into(),
            repo: given.into(),
            revision: revision.unwrap_or(DEFAULT_REVISION).into(),
        });
    }
    Err(InputError(format!(
        "unknown model `{given}`: not a catalog id (`assay models` lists them) nor an `org/name` repository id"
    )))
}

/// A hub client from `HF_ENDPOINT`, `HF_TOKEN` and the cache variables.
pub fn hub_from_env() -> anyhow::Result<Hub> {
    let hub = HubConfig::from_env().and_then(Hub::new).map_err(classify)?;
    Ok(hub)
}

/// Hub errors caused by what the user gave (names, revisions, tokens) are input errors.
fn classify(e: HubError) -> anyhow::Error {
    match e {
        HubError::BadRepo(_)
        | HubError::BadRevision(_)
        | HubError::BadEndpoint(_)
        | HubError::NoCache
        | HubError::Unauthorized { .. }
        | HubError::NotFound { .. } => InputError(e.to_string()).into(),
        other => other.into(),
    }
}

/// Download one target, with progress bars on a terminal.
pub async fn fetch(hub: &Hub, t: &Target, printer: &Printer) -> anyhow::Result<Download> {
    printer.notice(format!(
        "downloading {} ({} at {}) from {}",
        t.model,
        t.repo,
        t.revision,
        hub.config().endpoint
    ));
    let bars = Bars::for_terminal(printer);
    let on_event = |e: Event<'_>| bars.event(e);
    let d = hub
        .download(&t.repo, &t.revision, &on_event)
        .await
        .map_err(classify)?;
    bars.clear();
    printer.notice(format!(
        "{}: commit {} in {} ({} fetched)",
        t.model,
        d.commit,
        d.dir.display(),
        human_bytes(d.fetched)
    ));
    Ok(d)
}

/// `assay run --download`: fetch every runnable job's missing checkpoint that has a hub
/// repository, then mark it on disk in the plan and pin the model's revision to the commit
/// (so the run stores the commit). Jobs without a repository stay missing.
pub async fn complete_plan(
    plan: &mut Plan,
    catalog: &mut Catalog,
    printer: &Printer,
) -> anyhow::Result<()> {
    let mut hub = None;
    for job in plan.jobs.iter_mut() {
        if !job.runnable
            || matches!(
                job.engine,
                route::RouteEngine::Unplaceable | route::RouteEngine::Remote
            )
            || !matches!(job.checkpoint, CheckpointState::Missing { .. })
        {
            continue;
        }
        let Some(model) = catalog.models.get_mut(&job.model) else {
            continue;
        };
        let Some(repo) = model.hf_repo.clone() else {
            continue;
        };
        let hub = match &hub {
            Some(h) => h,
            None => hub.insert(hub_from_env()?),
        };
        let t = Target {
            model: job.model.clone(),
            repo,
            revision: model.revision.clone(),
        };
        let d = fetch(hub, &t, printer).await?;
        let local = read_checkpoint(&d.dir, &model.arch).map_err(|e| {
            anyhow::anyhow!(
                "model `{}`: the downloaded checkpoint cannot be used: {e}",
                job.model
            )
        })?;
        model.revision = d.commit;
        job.checkpoint = CheckpointState::OnDisk {
            dir: local.dir,
            disk_bytes: local.disk_bytes,
        };
    }
    Ok(())
}

/// Per-file byte bars on stderr (one per file in flight), or nothing.
struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    fn for_terminal(printer: &Printer) -> Bars {
        let on = !printer.json && !printer.quiet && std::io::stderr().is_terminal();
        Bars {
            multi: on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn event(&self, e: Event<'_>) {
        let Some(multi) = &self.multi else {
            return;
        };
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match e {
            Event::Start { file, size, from } => {
                let bar = multi.add(ProgressBar::new(size));
                let style = ProgressStyle::with_template(
                    "{prefix:>32} [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(file.to_string());
                bar.set_position(from);
                bars.insert(file.to_string(), bar);
            }
            Event::Bytes { file, n } => {
                if let Some(bar) = bars.get(file) {
                    bar.inc(n);
                }
            }
            Event::Done { file, .. } => {
                if let Some(bar) = bars.remove(file) {
                    bar.finish();
                }
            }
            Event::Resolved { .. } => {}
        }
    }

    fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}
