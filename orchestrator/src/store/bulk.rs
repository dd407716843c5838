//! Bulk inserts through SQLite's C API on the writer's connection: one path for every table the
//! writer fills with batches (samples, aggregates, telemetry).
//!
//! A batch runs in one `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so the
//! connection's busy timeout applies instead of a failure half way). Each table has one
//! single-row `INSERT` ([`BulkRow::SQL`]), prepared once per batch and stepped once per row.
//! Text is bound in place from the caller's rows (`SQLITE_STATIC`: no copy, no allocation);
//! JSON columns are written into one reused buffer that SQLite copies.
//!
//! Why not sqlx's multi-row `INSERT ... VALUES`: sqlx wraps every bound string in its own
//! reference-counted allocation, SQLite copies it again, and the arguments are freed on sqlx's
//! worker thread; for sample rows (17 columns, ten of them text) that handling cost more than
//! SQLite's own work (see BENCHMARKS.md, "Store"). The raw handle comes from sqlx's
//! `lock_handle`, which keeps sqlx's worker thread off the connection while it is held.

use super::error::describe_code;
use libsqlite3_sys as ffi;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A row type the writer inserts in batches.
pub(crate) trait BulkRow {
    /// A single-row `INSERT` whose `?` parameters [`BulkRow::bind`] fills in order; it may end
    /// with an `ON CONFLICT` clause (the statement's change count is what is reported).
    const SQL: &'static str;
    /// Bind this row's values, in the order of [`BulkRow::SQL`]'s parameters. `now_ms` is the
    /// batch's write time, for tables that record one.
    fn bind<'r>(&'r self, b: &mut Binder<'r>, now_ms: i64);
}

/// Why a batch failed: an SQLite result code (extended codes kept), or a value that could not
/// be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BulkError {
    Sqlite { code: c_int },
    Encode(String),
}

impl BulkError {
    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, ...), if any.
    pub(crate) fn primary_code(&self) -> Option<i32> {
        match self {
            BulkError::Sqlite { code } => Some(code & 0xff),
            BulkError::Encode(_) => None,
        }
    }

    /// A short, SQL-free description for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            BulkError::Sqlite { code } => describe_code(code & 0xff),
            BulkError::Encode(what) => format!("a value could not be encoded: {what}"),
        }
    }
}

/// Insert `rows` in one transaction on `db`. Returns the rows the statements changed (a row
/// left alone by an `ON CONFLICT ... WHERE` counts 0). On any failure the transaction is
/// rolled back and nothing of the batch remains.
///
/// # Safety
/// `db` must be an open connection that no other thread uses until this returns (hold sqlx's
/// `LockedSqliteHandle` around the call) and that is not inside a transaction.
pub(crate) unsafe fn insert<R: BulkRow>(
    db: NonNull<ffi::sqlite3>,
    rows: &[R],
    now_ms: i64,
) -> Result<u64, BulkError> {
    let db = db.as_ptr();
    // SAFETY (all calls below): `db` is open and ours alone for the call, by this function's
    // contract.
    unsafe { exec(db, c"BEGIN IMMEDIATE") }?;
    let done = unsafe { insert_rows(db, rows, now_ms) }.and_then(|n| {
        unsafe { exec(db, c"COMMIT") }?;
        Ok(n)
    });
    if done.is_err() && unsafe { ffi::sqlite3_get_autocommit(db) } == 0 {
        // A failed COMMIT or statement leaves the transaction open: drop the whole batch.
        if let Err(e) = unsafe { exec(db, c"ROLLBACK") } {
            tracing::debug!(?e, "rolling back a failed batch");
        }
    }
    done
}

/// # Safety
/// As [`insert`], inside its transaction.
unsafe fn insert_rows<R: BulkRow>(
    db: *mut ffi::sqlite3,
    rows: &[R],
    now_ms: i64,
) -> Result<u64, BulkError> {
    let stmt = unsafe { Statement::prepare(db, R::SQL) }?;
    let mut binder = Binder {
        stmt: stmt.0,
        next: 1,
        failed: None,
        json: Vec::with_capacity(256),
        _rows: PhantomData,
    };
    // SAFETY: the statement is valid.
    let parameters = unsafe { ffi::sqlite3_bind_parameter_count(stmt.0) };
    let mut changed = 0u64;
    for row in rows {
        binder.next = 1;
        row.bind(&mut binder, now_ms);
        if let Some(e) = binder.failed.take() {
            return Err(e);
        }
        // A parameter left unbound would keep the previous row's value.
        if binder.next - 1 != parameters {
            return Err(BulkError::Encode(format!(
                "{} values bound for {parameters} parameters",
                binder.next - 1
            )));
        }
        // SAFETY: every parameter of the statement is bound to a value that outlives this step
        // (the rows are borrowed for the whole call; copied values belong to SQLite).
        let rc = unsafe { ffi::sqlite3_step(stmt.0) };
        if rc != ffi::SQLITE_DONE {
            return Err(unsafe { failure(db, rc) });
        }
        changed += unsafe { ffi::sqlite3_changes64(db) }.max(0) as u64;
        // SAFETY: the statement is valid; after a successful step reset cannot fail.
        unsafe { ffi::sqlite3_reset(stmt.0) };
    }
    Ok(changed)
}

/// Binds one row's values to the statement, in parameter order. Text borrowed for `'r` (the
/// batch's rows) is bound without a copy.
pub(crate) struct Binder<'r> {
    stmt: *mut ffi::sqlite3_stmt,
    next: c_int,
    failed: Option<BulkError>,
    json: Vec<u8>,
    _rows: PhantomData<&'r ()>,
}

impl<'r> Binder<'r> {
    fn check(&mut self, rc: c_int) -> &mut Self {
        if rc != ffi::SQLITE_OK && self.failed.is_none() {
            self.failed = Some(BulkError::Sqlite { code: rc });
        }
        self.next += 1;
        self
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        // SAFETY: `stmt` is a live prepared statement; an out-of-range index returns an error.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt, self.next, v) };
        self.check(rc)
    }

    pub(crate) fn real(&mut self, v: f64) -> &mut Self {
        // SAFETY: as in `int`.
        let rc = unsafe { ffi::sqlite3_bind_double(self.stmt, self.next, v) };
        self.check(rc)
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        // SAFETY: as in `int`.
        let rc = unsafe { ffi::sqlite3_bind_null(self.stmt, self.next) };
        self.check(rc)
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.int(i64::from(v))
    }

    pub(crate) fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    pub(crate) fn opt_real(&mut self, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => self.real(v),
            None => self.null(),
        }
    }

    /// Text that lives as long as the batch: bound in place.
    pub(crate) fn text(&mut self, v: &'r str) -> &mut Self {
        // SAFETY: `SQLITE_STATIC` tells SQLite the bytes stay valid while bound; they are
        // borrowed for `'r`, which outlasts every step of the batch, and each row rebinds every
        // parameter before the next step.
        unsafe { self.bind_text(v.as_bytes(), ffi::SQLITE_STATIC()) }
    }

    /// Bind UTF-8 `bytes` to the next parameter.
    ///
    /// # Safety
    /// With `SQLITE_STATIC`, `bytes` must stay valid until the parameter is bound again;
    /// `SQLITE_TRANSIENT` makes SQLite copy them first.
    unsafe fn bind_text(
        &mut self,
        bytes: &[u8],
        destructor: ffi::sqlite3_destructor_type,
    ) -> &mut Self {
        // SAFETY: `stmt` is a live prepared statement; the lifetime of `bytes` is the caller's
        // contract above.
        let rc = unsafe {
            ffi::sqlite3_bind_text64(
                self.stmt,
                self.next,
                bytes.as_ptr().cast(),
                bytes.len() as u64,
                destructor,
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }

    pub(crate) fn opt_text(&mut self, v: Option<&'r str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// Text made for this row only (not borrowed from the batch), copied by SQLite.
    pub(crate) fn opt_string(&mut self, v: Option<String>) -> &mut Self {
        let Some(v) = v else {
            return self.null();
        };
        // SAFETY: `SQLITE_TRANSIENT` makes SQLite copy the bytes before returning.
        unsafe { self.bind_text(v.as_bytes(), ffi::SQLITE_TRANSIENT()) }
    }

    /// A value serialised as JSON (non-finite floats become `null`), copied by SQLite.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> &mut Self {
        self.json.clear();
        if let Err(e) = serde_json::to_writer(&mut self.json, v) {
            if self.failed.is_none() {
                self.failed = Some(BulkError::Encode(e.to_string()));
            }
            self.next += 1;
            return self;
        }
        // SAFETY: `SQLITE_TRANSIENT` makes SQLite copy the bytes before returning, so the
        // buffer may be reused for the next value.
        let rc = unsafe {
            ffi::sqlite3_bind_text64(
                self.stmt,
                self.next,
                self.json.as_ptr().cast(),
                self.json.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(rc)
    }

    pub(crate) fn opt_json<T: serde::Serialize + ?Sized>(&mut self, v: Option<&T>) -> &mut Self {
        match v {
            Some(v) => self.json(v),
            None => self.null(),
        }
    }
}

/// A prepared statement, finalized on drop.
struct Statement(*mut ffi::sqlite3_stmt);

impl Statement {
    /// # Safety
    /// `db` is an open connection used by this thread alone.
    unsafe fn prepare(db: *mut ffi::sqlite3, sql: &str) -> Result<Self, BulkError> {
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `sql` is valid for its length; `stmt` receives the statement or null.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                c_int::try_from(sql.len()).unwrap_or(c_int::MAX),
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            // SAFETY: `db` is open.
            return Err(unsafe {
                failure(
                    db,
                    if rc == ffi::SQLITE_OK {
                        ffi::SQLITE_MISUSE
                    } else {
                        rc
                    },
                )
            });
        }
        Ok(Statement(stmt))
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement came from `sqlite3_prepare_v3` and is finalized once, here;
        // finalizing also releases the bindings (nothing points into the rows afterwards).
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// # Safety
/// `db` is an open connection used by this thread alone.
unsafe fn exec(db: *mut ffi::sqlite3, sql: &CStr) -> Result<(), BulkError> {
    // SAFETY: `sql` is NUL-terminated; no callback, no error-message out-pointer.
    let rc = unsafe {
        ffi::sqlite3_exec(
            db,
            sql.as_ptr(),
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(unsafe { failure(db, rc) })
    }
}

/// The error for result code `rc`, with SQLite's message logged (never shown: it may hold SQL).
///
/// # Safety
/// `db` is an open connection used by this thread alone.
unsafe fn failure(db: *mut ffi::sqlite3, rc: c_int) -> BulkError {
    // SAFETY: `db` is open; the message is a NUL-terminated string owned by SQLite, read
    // before any other call on the connection.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let message = CStr::from_ptr(ffi::sqlite3_errmsg(db))
            .to_string_lossy()
            .into_owned();
        (if code & 0xff == rc & 0xff { code } else { rc }, message)
    };
    tracing::debug!(code, %message, "sqlite bulk insert failed");
    BulkError::Sqlite { code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Executor};

    struct Pair(i64, &'static str);

    impl BulkRow for Pair {
        const SQL: &'static str = "INSERT INTO t (n, s) VALUES (?, ?) ON CONFLICT (n) DO NOTHING";
        fn bind<'r>(&'r self, b: &mut Binder<'r>, _now_ms: i64) {
            b.int(self.0).text(self.1);
        }
    }

    /// Binds one value fewer than its statement has parameters.
    struct Short(i64);

    impl BulkRow for Short {
        const SQL: &'static str = "INSERT INTO t (n, s) VALUES (?, ?)";
        fn bind<'r>(&'r self, b: &mut Binder<'r>, _now_ms: i64) {
            b.int(self.0);
        }
    }

    #[tokio::test]
    async fn counts_changes_and_refuses_a_row_that_binds_too_few_values() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT NOT NULL)")
            .await
            .unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        let db = handle.as_raw_handle();
        let rows = [Pair(1, "a"), Pair(2, "b"), Pair(1, "again")];
        // SAFETY: the locked handle keeps sqlx's worker off the connection.
        assert_eq!(unsafe { insert(db, &rows, 0) }, Ok(2));
        let err = unsafe { insert(db, &[Short(3)], 0) }.unwrap_err();
        assert_eq!(
            err,
            BulkError::Encode("1 values bound for 2 parameters".into())
        );
        // Nothing of the failed batch remains and no transaction is left open.
        assert_eq!(unsafe { ffi::sqlite3_get_autocommit(db.as_ptr()) }, 1);
        drop(handle);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 2);
    }
}
