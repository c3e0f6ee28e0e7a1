//! Background WAL checkpoints.
//!
//! SQLite normally checkpoints inside the commit that crosses the WAL size
//! threshold, so that one write pays for copying pages and an fsync (a
//! latency spike every few hundred writes). Here a dedicated thread with its
//! own connection runs passive checkpoints (which never block the writer)
//! every `WRITES_PER_CHECKPOINT` writes. The writer keeps SQLite's automatic
//! checkpoint only as a safety net, at a much larger threshold.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use rusqlite::Connection;

use super::schema;

/// Writes between background checkpoints.
const WRITES_PER_CHECKPOINT: u64 = 256;

/// WAL pages after which the writer checkpoints by itself (the background
/// thread normally keeps the WAL far smaller).
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 20_000;

pub(super) struct Checkpointer {
    writes: AtomicU64,
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the checkpoint thread for the database at `path`. It ends when
    /// the `Checkpointer` (and so the store) is dropped.
    pub(super) fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = schema::open_extra(path)?;
        let (wake, woken) = sync_channel(1);
        std::thread::Builder::new()
            .name("skiff-sqlite-checkpoint".into())
            .spawn(move || run(conn, woken))
            .map_err(|e| {
                rusqlite::Error::InvalidParameterName(format!("checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer {
            writes: AtomicU64::new(0),
            wake,
        })
    }

    /// Counts one committed write, waking the thread now and then.
    pub(super) fn wrote(&self) {
        let writes = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if writes.is_multiple_of(WRITES_PER_CHECKPOINT) {
            match self.wake.try_send(()) {
                // Full: a checkpoint is already pending, which covers this one.
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {
                    tracing::warn!("sqlite checkpoint thread is gone");
                }
            }
        }
    }
}

fn run(conn: Connection, woken: Receiver<()>) {
    while woken.recv().is_ok() {
        // PASSIVE: copy what can be copied without waiting for anyone.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        });
        match result {
            Ok((_busy, wal_pages, copied)) => {
                tracing::trace!(wal_pages, copied, "sqlite checkpoint");
            }
            Err(error) => tracing::warn!(%error, "sqlite checkpoint failed"),
        }
    }
}
