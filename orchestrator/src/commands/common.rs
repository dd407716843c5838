//! What the read commands (`history`, `show`, `compare`, `export`, `report`) share: a runtime
//! for their store calls, opening the results database for reading (read-only where it cannot
//! be written), and turning lookup errors into exit codes.

use crate::cli::GlobalArgs;
use crate::error::InputError;
use crate::history::LookupError;
use crate::store::{SqliteStore, StoreOptions, resolve_db_path};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;

/// How long a read command waits for another process's lock (only schema upgrades and
/// exclusive locks block readers in WAL mode).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(3);

/// A single-threaded runtime for a command's store calls.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Open the results database for reading. A missing file is not created: there is nothing to
/// read. A file that is not an assay database is the user's input error (exit 2).
pub(crate) async fn open_store(global: &GlobalArgs) -> anyhow::Result<(SqliteStore, String)> {
    let path: PathBuf = resolve_db_path(global.db.as_deref())?;
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(InputError(format!(
            "no results database at {shown}: nothing has been recorded there yet (`assay run CATEGORY` creates it; --db or ASSAY_DB chooses another)"
        ))
        .into());
    }
    // The read commands issue one query at a time: one reader connection is enough, and each
    // extra one would cost its own open and schema parse.
    let options = StoreOptions {
        busy_timeout: READ_BUSY_TIMEOUT,
        readers: 1,
    };
    // Reading needs no write access: where the file cannot be opened for writing (a read-only
    // file system, no permission), it is opened read-only.
    let store = match SqliteStore::open_with(&path, options.clone()).await {
        Ok(store) => store,
        Err(e) if e.is_input() => return Err(e.into()),
        Err(first) => SqliteStore::open_read_only(&path, options)
            .await
            .map_err(|_| first)?,
    };
    Ok((store, shown))
}

/// Lookup errors: an unknown run id or an empty database is the user's input (exit 2).
pub(crate) fn lookup(e: LookupError) -> anyhow::Error {
    match e {
        LookupError::Store(s) => s.into(),
        other => InputError(other.to_string()).into(),
    }
}
