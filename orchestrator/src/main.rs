//! The `assay` binary: parse flags, run the command, print errors once, map them to exit codes.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match assay::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                assay::error::EXIT_INPUT
            } else {
                assay::error::EXIT_OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    assay::tasks::formats::parquet::quiet_decoder_panics();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ASSAY_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match assay::commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(assay::error::exit_code(&err))
        }
    }
}
