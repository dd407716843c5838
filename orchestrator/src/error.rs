//! Exit codes: 0 ok, 1 the work failed, 2 usage or input error, 130 interrupted (`run`).
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

/// Exit code for an error returned by a command: 2 when anything in its chain says the input
/// was wrong, else 1. This is the one rule every command's exit code follows.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(is_input) {
        EXIT_INPUT
    } else {
        EXIT_FAILURE
    }
}

/// Whether an error is about what the user gave: flags and names ([`InputError`]), catalog
/// files, a results database that is not one assay can use, a checkpoint that cannot be read.
fn is_input(cause: &(dyn std::error::Error + 'static)) -> bool {
    use crate::store::StoreError;
    use assay_engines::EngineError;
    if cause.is::<InputError>() || cause.is::<crate::catalog::CatalogError>() {
        return true;
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return e.is_input();
    }
    if let Some(e) = cause.downcast_ref::<EngineError>() {
        return e.is_input();
    }
    false
}
