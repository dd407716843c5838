//! One file per command. Each takes its inputs and the printer and returns an exit code.
use crate::cli::{Cli, Command};
use crate::printer::Printer;

pub mod bench;
pub mod gpus;
pub mod plan;

/// Run the parsed command line; errors bubble up to `main`, which maps them to exit codes.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let printer = Printer::new(cli.global.json, cli.global.quiet);
    match cli.command {
        Command::Gpus(args) => gpus::run(&args, &printer),
        Command::Plan(args) => plan::run(&args, &cli.global, &printer),
        Command::Bench(args) if args.plan => bench::run_plan(&printer),
        Command::Categories(_) | Command::Models(_) | Command::Bench(_) => {
            printer.notice("not yet implemented");
            Ok(crate::error::EXIT_FAILURE)
        }
    }
}
