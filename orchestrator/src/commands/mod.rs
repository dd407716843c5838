//! One file per command. Each takes its inputs and the printer and returns an exit code.
pub mod bench;
pub mod bench_model;
pub mod categories;
pub mod common;
pub mod compare;
pub mod datasets;
pub mod download;
pub mod export;
pub mod gpus;
pub mod history;
pub mod models;
pub mod plan;
pub mod report;
pub mod run;
pub mod serve;
pub mod show;

use crate::catalog::Origin;
use crate::cli::{Cli, Command};
use crate::printer::Printer;

/// Run the parsed command line; errors bubble up to `main`, which maps them to exit codes.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let printer = Printer::new(cli.global.json, cli.global.quiet);
    let catalog_dir = cli.global.catalog.as_deref();
    match cli.command {
        Command::Datasets(args) => datasets::run(&args, catalog_dir, &printer),
        Command::Categories(_) => categories::run(catalog_dir, &printer),
        Command::Models(args) => models::run(args.category.as_deref(), catalog_dir, &printer),
        Command::Gpus(args) => gpus::run(&args, &printer),
        Command::Plan(args) => plan::run(&args, &cli.global, &printer),
        Command::Run(args) => run::run(&args, &cli.global, &printer),
        Command::Worker => {
            crate::run::worker::serve()?;
            Ok(crate::error::EXIT_OK)
        }
        Command::Serve(args) => serve::run(&args, &printer),
        Command::Download(args) => download::run(&args, &cli.global, &printer),
        Command::History(args) => history::run(&args, &cli.global, &printer),
        Command::Show(args) => show::run(&args, &cli.global, &printer),
        Command::Compare(args) => compare::run(&args, &cli.global, &printer),
        Command::Export(args) => export::run(&args, &cli.global, &printer),
        Command::Report(args) => report::run(&args, &cli.global, &printer),
        Command::Bench(args) => bench(args, &printer),
    }
}

/// `assay bench WHAT`: one function per benchmark (`assay bench DIR` is `assay bench model DIR`).
fn bench(args: crate::cli::BenchArgs, printer: &Printer) -> anyhow::Result<u8> {
    use crate::cli::{BenchCommand, BenchModelArgs};
    match (args.what, args.model_dir) {
        (Some(BenchCommand::Model(a)), _) => bench_model::run(&a, printer),
        (None, Some(model_dir)) => bench_model::run(
            &BenchModelArgs {
                model_dir,
                dtype: args.dtype,
            },
            printer,
        ),
        (Some(BenchCommand::Engine(a)), _) => bench_model::figures(&a, printer),
        (Some(BenchCommand::Plan), _) => bench::run_plan(printer),
        (Some(BenchCommand::History(a)), _) => history::bench(&a, printer),
        (Some(BenchCommand::Store(a)), _) => bench::run_store(a.rows, a.batch, printer),
        (None, None) => Err(crate::error::InputError(
            "`assay bench` needs what to measure: a MODEL_DIR, or one of model, engine, plan, history, store (see `assay bench --help`)"
                .into(),
        )
        .into()),
    }
}

/// How an entry's origin is shown in tables: `builtin`, or `user` (the `--catalog` directory;
/// `--json` gives its path).
pub(crate) fn origin_label(origin: &Origin) -> String {
    match origin {
        Origin::Builtin => "builtin".to_string(),
        Origin::User(_) => "user".to_string(),
    }
}

/// `--dtype` of `run`, `plan` and `bench`: `f32`, `f16` or `bf16` (also their long names).
pub(crate) fn dtype_flag(
    text: Option<&str>,
) -> Result<Option<crate::catalog::DType>, crate::error::InputError> {
    match text {
        None => Ok(None),
        Some(t) => crate::catalog::DType::parse(t).map(Some).ok_or_else(|| {
            crate::error::InputError(format!("--dtype must be one of f32, f16, bf16. Given: {t}"))
        }),
    }
}

/// The forced tensor-parallel degree of `--engine`/`--tp`, if any; `--tp` without `--engine
/// tensor-parallel` (or the reverse) is a usage error. Shared by `plan` and `run`.
pub(crate) fn forced_tp(
    args: &crate::cli::EngineArgs,
) -> Result<Option<u64>, crate::error::InputError> {
    use crate::cli::EngineChoice;
    match (args.engine, args.tp) {
        (EngineChoice::Auto, None) => Ok(None),
        (EngineChoice::TensorParallel, Some(tp)) => Ok(Some(tp)),
        (EngineChoice::TensorParallel, None) => Err(crate::error::InputError(
            "--engine tensor-parallel needs --tp N (e.g. --tp 2)".into(),
        )),
        (EngineChoice::Auto, Some(tp)) => Err(crate::error::InputError(format!(
            "--tp {tp} needs --engine tensor-parallel"
        ))),
    }
}

/// Signals that ask a command to stop: Ctrl-C (SIGINT), SIGTERM (what docker, systemd, Slurm
/// and Kubernetes send) and SIGHUP (a closed terminal or SSH session).
pub(crate) struct StopSignals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Start listening (inside a runtime). Once listened for, these signals no longer end the
    /// process by default: the command decides.
    pub(crate) fn listen() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal's name (`SIGINT`, `SIGTERM` or `SIGHUP`).
    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_ok() { "SIGINT" } else { std::future::pending().await },
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
