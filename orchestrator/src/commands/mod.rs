//! One file per command. Each takes its inputs and the printer and returns an exit code.
use crate::cli::{Cli, Command};
use crate::printer::Printer;

pub mod bench;
pub mod compare;
pub mod export;
pub mod gpus;
pub mod history;
pub mod plan;
pub mod report;
pub mod show;

/// Run the parsed command line; errors bubble up to `main`, which maps them to exit codes.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let printer = Printer::new(cli.global.json, cli.global.quiet);
    match cli.command {
        Command::Gpus(args) => gpus::run(&args, &printer),
        Command::Plan(args) => plan::run(&args, &cli.global, &printer),
        Command::Bench(args) if args.plan => bench::run_plan(&printer),
        Command::Bench(args) if args.history_db.is_some() => history::bench(&args, &printer),
        Command::History(args) => history::run(&args, &cli.global, &printer),
        Command::Show(args) => show::run(&args, &cli.global, &printer),
        Command::Compare(args) => compare::run(&args, &cli.global, &printer),
        Command::Export(args) => export::run(&args, &cli.global, &printer),
        Command::Report(args) => report::run(&args, &cli.global, &printer),
        Command::Categories(_) | Command::Models(_) | Command::Bench(_) => {
            printer.notice("not yet implemented");
            Ok(crate::error::EXIT_FAILURE)
        }
    }
}
