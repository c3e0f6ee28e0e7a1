//! The embedded store: one SQLite file owned by this process.
//!
//! Layout (see [`schema`]): a kine-like log table where the row id is the
//! revision, plus an index of each live key's newest row. Writes are
//! serialized on one writer connection; each write's watch event is
//! broadcast in-process while the writer lock is still held, so watchers see
//! events in revision order with no gaps and no polling. Reads use a small
//! pool of extra connections (WAL snapshots), so they never wait for writes.
//!
//! rusqlite is blocking: every database call runs on tokio's blocking pool.

mod checkpoint;
mod read;
mod schema;
mod watch;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::anyhow;
use rusqlite::Connection;
use tokio::sync::broadcast;

use crate::{
    KeyValue, ListOptions, ListResult, Result, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// Largest value accepted, the same limit etcd applies to a request by
/// default (1.5 MiB), so both stores accept the same objects.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// Live events buffered per watcher before it counts as lagging (it then
/// catches up from the table, so nothing is lost).
const WATCH_BUFFER: usize = 4096;

/// Idle read connections kept open.
const READER_POOL_IDLE: usize = 8;

/// Rows removed per compaction step; the writer lock is released between
/// steps so writes are not held up by a long compaction.
const COMPACT_CHUNK_ROWS: i64 = 1000;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | CannotOpen) => {
                StoreError::Unavailable(format!("sqlite: {error}"))
            }
            _ => StoreError::Other(anyhow!(error).context("sqlite")),
        }
    }
}

/// A [`Store`] in one SQLite database. Cloning is cheap (shared state).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    /// The database file; `None` for an in-memory database, whose reads
    /// then share the writer connection.
    path: Option<PathBuf>,
    readers: Mutex<Vec<Connection>>,
    /// Newest revision written; changed only under the writer lock.
    revision: AtomicI64,
    compacted: AtomicI64,
    events: broadcast::Sender<Arc<WatchEvent>>,
    /// Serializes compactions (each spans several writer-lock sections).
    compacting: Mutex<()>,
    /// Background WAL checkpoints (file databases only).
    checkpointer: Option<checkpoint::Checkpointer>,
}

/// Locks a mutex, ignoring poisoning: a panic mid-transaction rolls the
/// transaction back when it unwinds, so the connection is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` and its schema.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Self::new(Some(path))
    }

    /// A private in-memory database (for tests): gone when dropped.
    pub fn open_in_memory() -> Result<SqliteStore> {
        Self::new(None)
    }

    fn new(path: Option<&Path>) -> Result<SqliteStore> {
        let writer = schema::open_writer(path)?;
        let checkpointer = match path {
            Some(path) => {
                writer.pragma_update(
                    None,
                    "wal_autocheckpoint",
                    checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
                )?;
                Some(checkpoint::Checkpointer::start(path)?)
            }
            None => None,
        };
        let revision = schema::load_revision(&writer)?;
        let compacted = schema::load_compacted(&writer)?;
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                path: path.map(Path::to_path_buf),
                readers: Mutex::new(Vec::new()),
                revision: AtomicI64::new(revision),
                compacted: AtomicI64::new(compacted),
                events,
                compacting: Mutex::new(()),
                checkpointer,
            }),
        })
    }

    /// Runs `f` on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Other(anyhow!("sqlite task failed: {e}")))?
    }

    fn check_size(value: &[u8]) -> Result<()> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::TooLarge(value.len()));
        }
        Ok(())
    }
}

impl Inner {
    /// Runs one write with the next revision and broadcasts its event before
    /// releasing the writer lock, so events go out in revision order.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection, Revision) -> Result<(WatchEvent, T)>,
    ) -> Result<T> {
        let mut conn = lock(&self.writer);
        let rev = self.revision.load(Ordering::Acquire) + 1;
        let (event, out) = f(&mut conn, rev)?;
        self.revision.store(rev, Ordering::Release);
        // An error only means nobody is watching.
        let _ = self.events.send(Arc::new(event));
        drop(conn);
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wrote();
        }
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Some(path) = &self.path else {
            return f(&lock(&self.writer));
        };
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(path)?,
        };
        let out = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < READER_POOL_IDLE {
            pool.push(conn);
        }
        out
    }

    fn compact(&self, revision: Revision) -> Result<()> {
        let _compacting = lock(&self.compacting);
        let current = self.revision.load(Ordering::Acquire);
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision <= self.compacted.load(Ordering::Acquire) {
            return Ok(());
        }
        write::mark_compacted(&lock(&self.writer), revision)?;
        self.compacted.store(revision, Ordering::Release);

        let mut removed = 0;
        let mut from = match write::oldest_row(&lock(&self.writer))? {
            Some(oldest) => oldest,
            None => return Ok(()),
        };
        while from < revision {
            let conn = lock(&self.writer);
            let to = write::chunk_end(&conn, from, COMPACT_CHUNK_ROWS)?
                .unwrap_or(revision)
                .min(revision);
            removed += write::compact_range(&conn, from, to, revision)?;
            from = to;
        }
        tracing::debug!(revision, removed, "sqlite store compacted");
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        Self::check_size(&value)?;
        let key = key.to_owned();
        self.blocking(move |inner| {
            inner.write(|conn, rev| {
                let event = write::create(conn, rev, &key, value)?;
                Ok((event, rev))
            })
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.blocking(move |inner| inner.read(|conn| read::get(conn, &key)))
            .await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        Self::check_size(&value)?;
        let key = key.to_owned();
        self.blocking(move |inner| {
            inner.write(|conn, rev| {
                let event = write::update(conn, rev, &key, value, expected)?;
                Ok((event, rev))
            })
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            inner.write(|conn, rev| {
                let (event, last) = write::delete(conn, rev, &key, expected)?;
                Ok((event, (rev, last)))
            })
        })
        .await
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        let opts = opts.clone();
        self.blocking(move |inner| inner.read(|conn| read::list(conn, &prefix, &opts)))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| inner.read(|conn| read::count(conn, &prefix)))
            .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe before reading any history: every event is then either
        // in the table when history is read or arrives live afterwards.
        let live = self.inner.events.subscribe();
        let after = after.max(0);
        let compacted = self.inner.compacted.load(Ordering::Acquire);
        if after.saturating_add(1) < compacted {
            return Err(StoreError::Compacted {
                requested: after,
                compacted,
            });
        }
        Ok(watch::stream(self.clone(), prefix.to_owned(), after, live))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.revision.load(Ordering::Acquire))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.blocking(move |inner| inner.compact(revision)).await
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.inner.compacted.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::EventType;

    fn rows(store: &SqliteStore) -> i64 {
        store
            .inner
            .read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM kv", [], |row| row.get(0))?))
            .unwrap()
    }

    #[tokio::test]
    async fn compaction_keeps_only_what_the_compacted_state_needs() {
        let store = SqliteStore::open_in_memory().unwrap();
        // Enough rows to span several compaction chunks.
        let keys = 1500;
        let mut revisions = Vec::new();
        for i in 0..keys {
            revisions.push(store.create(&format!("/c/{i:04}"), vec![0]).await.unwrap());
        }
        for (i, rev) in revisions.iter().enumerate() {
            let key = format!("/c/{i:04}");
            let rev = store.update(&key, vec![1], *rev).await.unwrap();
            if i % 2 == 0 {
                store.delete(&key, Some(rev)).await.unwrap();
            }
        }
        let current = store.current_revision().await.unwrap();
        assert_eq!(rows(&store), 2 * keys + keys / 2);

        store.compact(current).await.unwrap();
        // Exactly one row per live key: superseded rows and deletions are
        // gone (the last write was an update of a live key).
        assert_eq!(rows(&store), keys / 2);
        let live = store.list("/c/", &ListOptions::default()).await.unwrap();
        assert_eq!(live.items.len() as i64, keys / 2);
        assert!(live.items.iter().all(|kv| kv.value == [1]));
        let at = ListOptions {
            revision: Some(current),
            ..Default::default()
        };
        let listed = store.list("/c/", &at).await.unwrap();
        assert_eq!(listed.items, live.items);
    }

    #[tokio::test]
    async fn a_reopened_file_keeps_its_data_and_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        let (r1, r2) = {
            let store = SqliteStore::open(&path).unwrap();
            let r1 = store.create("/a", b"1".to_vec()).await.unwrap();
            let r2 = store.update("/a", b"2".to_vec(), r1).await.unwrap();
            store.create("/b", b"b".to_vec()).await.unwrap();
            let (r4, _) = store.delete("/b", None).await.unwrap();
            store.compact(r4).await.unwrap();
            (r1, r2)
        };
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.current_revision().await.unwrap(), r2 + 2);
        assert_eq!(store.compacted_revision().await.unwrap(), r2 + 2);
        let a = store.get("/a").await.unwrap().unwrap();
        assert_eq!(
            (a.value, a.mod_revision, a.create_revision),
            (b"2".to_vec(), r2, r1)
        );
        assert_eq!(store.get("/b").await.unwrap(), None);
        // Revisions continue where they stopped, even though the newest row
        // was a deletion.
        assert_eq!(store.create("/c", vec![]).await.unwrap(), r2 + 3);
    }

    #[tokio::test]
    async fn in_memory_store_watches_and_lists() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut watch = store.watch("/", 0).await.unwrap();
        let rev = store.create("/x", b"x".to_vec()).await.unwrap();
        let event = watch.next().await.unwrap().unwrap();
        assert_eq!(
            (event.event_type, event.kv.mod_revision),
            (EventType::Added, rev)
        );
        let list = store.list("/", &ListOptions::default()).await.unwrap();
        assert_eq!(list.items.len(), 1);
        assert_eq!(store.count("/").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn oversized_values_are_refused_before_touching_the_database() {
        let store = SqliteStore::open_in_memory().unwrap();
        let err = store
            .create("/big", vec![0; MAX_VALUE_BYTES + 1])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::TooLarge(n) if n == MAX_VALUE_BYTES + 1));
        assert!(store.create("/big", vec![0; MAX_VALUE_BYTES]).await.is_ok());
        assert_eq!(store.current_revision().await.unwrap(), 1);
    }
}
