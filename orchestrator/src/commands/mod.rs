//! One file per command. Each takes its inputs and the printer and returns an exit code.
pub mod datasets;

use crate::cli::{Cli, Command};
use crate::printer::Printer;

/// Run the parsed command line; errors bubble up to `main`, which maps them to exit codes.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let printer = Printer::new(cli.global.json, cli.global.quiet);
    match cli.command {
        Command::Datasets(args) => datasets::run(&args, cli.global.catalog.as_deref(), &printer),
        Command::Categories(_)
        | Command::Models(_)
        | Command::Gpus(_)
        | Command::Plan(_)
        | Command::Bench(_) => {
            printer.notice("not yet implemented");
            Ok(crate::error::EXIT_FAILURE)
        }
    }
}
