//! WAL checkpoints off the writer's path.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into the
//! database file and syncs it. SQLite's default runs that checkpoint inside the commit that
//! crosses 1,000 WAL pages, so the writer stalls on the copy and the `fsync` (measured: the
//! largest single cost of sample ingest, see BENCHMARKS.md "Store"). Here a task with its own
//! connection runs `PASSIVE` checkpoints (which never take the write lock and never block
//! readers) after the writer reports a commit, at most every [`MIN_INTERVAL`]; the writer keeps
//! SQLite's automatic checkpoint only as a backstop ([`WRITER_BACKSTOP`]: 10,000 pages, against
//! SQLite's default of 1,000), for when this task falls behind. Durability is unchanged: a committed batch is in the WAL either way.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Least time between two checkpoints: at ingest rates each one copies a few thousand pages.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Run on the writer's connection: the WAL size (in pages) after which a commit checkpoints.
pub(crate) const WRITER_BACKSTOP: &str = "PRAGMA wal_autocheckpoint = 10000";

/// The writer's side: report commits, and stop the task.
pub(crate) struct WalCheckpoints {
    kick: mpsc::Sender<()>,
    done: oneshot::Receiver<()>,
}

impl WalCheckpoints {
    /// Start the task on `conn`, a read-write connection to the writer's database.
    pub(crate) fn spawn(mut conn: SqliteConnection) -> Self {
        let (kick, mut kicks) = mpsc::channel::<()>(1);
        let (done_tx, done) = oneshot::channel();
        tokio::spawn(async move {
            let mut last: Option<tokio::time::Instant> = None;
            'run: while kicks.recv().await.is_some() {
                if let Some(last) = last {
                    // Wait out the interval; further kicks fold into this checkpoint, and a
                    // writer that goes away ends the task at once.
                    let due = tokio::time::sleep_until(last + MIN_INTERVAL);
                    tokio::pin!(due);
                    loop {
                        tokio::select! {
                            _ = &mut due => break,
                            kick = kicks.recv() => if kick.is_none() { break 'run },
                        }
                    }
                }
                // PASSIVE copies what no reader still needs and never waits; a busy result
                // (another process checkpointing) is fine, the next kick retries.
                if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                    tracing::debug!(error = %e, "wal checkpoint");
                }
                last = Some(tokio::time::Instant::now());
            }
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the checkpoint connection");
            }
            let _ = done_tx.send(());
        });
        WalCheckpoints { kick, done }
    }

    /// Note a commit: a checkpoint follows unless one is already due.
    pub(crate) fn kick(&self) {
        let _ = self.kick.try_send(());
    }

    /// Stop the task and wait for its connection to close.
    pub(crate) async fn stop(self) {
        drop(self.kick);
        let _ = self.done.await;
    }
}
