//! Exit codes: 0 ok, 1 the work failed, 2 usage or input error.
//!
//! Commands return `anyhow::Error`; `exit_code` looks through the chain for error types that
//! mean "the user's input was wrong" and maps them to 2. Everything else is a failure of the work.

/// A problem with what the user gave us (flags, files, names). Maps to exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_INPUT: u8 = 2;

/// Exit code for an error returned by a command.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<InputError>() || cause.is::<crate::catalog::CatalogError>() {
            return EXIT_INPUT;
        }
    }
    EXIT_FAILURE
}
