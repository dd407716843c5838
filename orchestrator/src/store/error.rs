//! Store errors. Messages say what happened to which file and what to do; raw SQL error text
//! never reaches the user (it is logged at debug level instead).

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no place for the results database: neither ASSAY_DB, XDG_DATA_HOME nor HOME is set; pass --db PATH"
    )]
    NoDataDir,
    #[error("cannot create the directory for the results database {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an SQLite database, so it cannot hold assay results; pass another path with --db or ASSAY_DB"
    )]
    NotSqlite { path: PathBuf },
    #[error(
        "{path} was written by a newer assay (schema versions {} are unknown to assay {tool_version}); upgrade assay or pass another --db. The file was left unchanged",
        versions.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    )]
    NewerSchema {
        path: PathBuf,
        versions: Vec<i64>,
        tool_version: &'static str,
    },
    #[error(
        "{path}: schema version {version} differs from the one this assay build expects; the file was left unchanged"
    )]
    SchemaMismatch { path: PathBuf, version: i64 },
    #[error(
        "{path}: an earlier schema upgrade (version {version}) did not finish; the file was left unchanged"
    )]
    SchemaDirty { path: PathBuf, version: i64 },
    #[error("cannot apply the database schema to {path}: {reason}")]
    Migrate { path: PathBuf, reason: String },
    #[error(
        "the results database {path} stayed locked by another process for {}s; try again when it finishes",
        waited.as_secs_f64()
    )]
    Busy { path: PathBuf, waited: Duration },
    #[error("cannot open the results database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("no {what} in the results database")]
    NotFound { what: String },
    #[error("the results database {what} is damaged: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("the results database writer has stopped")]
    WriterClosed,
    #[error("the results database {path} was opened read-only; nothing can be written to it")]
    ReadOnly { path: PathBuf },
    #[error(
        "the results database path {path} is a directory; pass a file path with --db or ASSAY_DB"
    )]
    IsDirectory { path: PathBuf },
    #[error("results database {}error while {context} ({kind})", at(.path))]
    Database {
        /// The database file (empty where the error came without it).
        path: PathBuf,
        context: String,
        kind: String,
    },
}

/// `"{path}: "`, or nothing for an unknown path.
fn at(path: &std::path::Path) -> String {
    if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!("{}: ", path.display())
    }
}

impl StoreError {
    /// Whether the error is about the path the user gave (a file that is not an assay
    /// database, a directory, a newer schema) rather than a failure while using it.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            StoreError::NotSqlite { .. }
                | StoreError::NewerSchema { .. }
                | StoreError::SchemaMismatch { .. }
                | StoreError::NoDataDir
                | StoreError::IsDirectory { .. }
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        tracing::debug!(error = %e, "sqlite error");
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound {
                what: "such record".to_string(),
            },
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => StoreError::WriterClosed,
            sqlx::Error::ColumnDecode { index, .. } => StoreError::Corrupt {
                what: "row".to_string(),
                detail: format!("column {index} holds an unexpected value"),
            },
            other => StoreError::Database {
                path: PathBuf::new(),
                context: "accessing it".to_string(),
                kind: describe(&other),
            },
        }
    }
}

/// The primary SQLite result code of an error, when it has one.
pub(crate) fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff)
}

pub(crate) const SQLITE_BUSY: i32 = 5;
pub(crate) const SQLITE_LOCKED: i32 = 6;
pub(crate) const SQLITE_NOTADB: i32 = 26;

pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    matches!(sqlite_code(e), Some(SQLITE_BUSY | SQLITE_LOCKED))
}

/// A short, SQL-free description of an error, for messages.
pub(crate) fn describe(e: &sqlx::Error) -> String {
    match sqlite_code(e) {
        Some(code) => describe_code(code),
        None => match e {
            sqlx::Error::Io(io) => format!("I/O error: {io}"),
            sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
            _ => "internal error".into(),
        },
    }
}

/// A short description of a primary SQLite result code.
pub(crate) fn describe_code(code: i32) -> String {
    match code {
        SQLITE_BUSY | SQLITE_LOCKED => "database is locked".into(),
        8 => "the database is read-only".into(),
        10 => "disk I/O error".into(),
        11 => "the database file is malformed".into(),
        13 => "the disk is full".into(),
        14 => "the file cannot be opened".into(),
        19 => "a constraint was violated".into(),
        SQLITE_NOTADB => "not a database".into(),
        code => format!("SQLite code {code}"),
    }
}
