//! skiff's key-value stores. One trait, [`Store`], two implementations:
//! [`sqlite::SqliteStore`] (embedded, the default) and [`etcd::EtcdStore`].
//!
//! The store knows nothing of Kubernetes: keys are strings, values are bytes,
//! and every write gets a new, strictly increasing revision (the object's
//! `resourceVersion`). Both implementations pass the same conformance suite
//! (`tests/conformance.rs`).

use std::pin::Pin;

use futures::Stream;

pub mod compactor;
pub mod etcd;
mod keys;
pub mod sqlite;
pub mod testing;

/// A store revision. Starts above 0; every write takes the next one.
pub type Revision = i64;

/// One stored key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that produced this value (`resourceVersion`).
    pub mod_revision: Revision,
    /// Revision at which the key was created (stays the same across updates).
    pub create_revision: Revision,
}

/// What happened to a key, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change seen by a watch. For `Deleted`, `kv.value` is the last value
/// the key held and `kv.mod_revision` is the revision of the deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub kv: KeyValue,
}

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Read as of this revision (`None` or `Some(0)`: the current one).
    /// Older than the compacted revision -> [`StoreError::Compacted`]; newer
    /// than the current one -> [`StoreError::FutureRevision`].
    pub revision: Option<Revision>,
    /// At most this many items (`None` or `Some(0)`: all).
    pub limit: Option<usize>,
    /// Resume strictly after this key (a `continue` token's position).
    pub start_after: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// More items follow the last one returned.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key already exists")]
    AlreadyExists,
    #[error("key not found")]
    NotFound,
    /// The compared revision did not match; `current` is what is stored now.
    #[error("revision mismatch")]
    Conflict { current: Option<KeyValue> },
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (compacted at {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current one.
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("value too large: {0} bytes")]
    TooLarge(usize),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Changes under a prefix, in revision order, each exactly once.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates `key` only if it does not exist. Returns the new revision.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision>;

    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Replaces `key` only if its current `mod_revision` is `expected`.
    /// Missing key -> `NotFound`; other revision -> `Conflict` with the current value.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision>;

    /// Deletes `key`, only if its `mod_revision` is `expected` when one is given.
    /// Returns the deletion revision and the last value as it was stored
    /// (its `mod_revision` is that of the last write before the deletion).
    /// Missing key -> `NotFound`; other revision -> `Conflict` with the current value.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)>;

    /// Keys starting with `prefix`, in key order.
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult>;

    /// Number of keys under `prefix` now.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Every change under `prefix` with a revision strictly greater than
    /// `after`, then live changes. When some of those changes were compacted
    /// away (`after + 1 < compacted_revision()`) -> `Compacted`, as an error
    /// before the stream or as its first item. A stream may also end with an
    /// error later (`Compacted` if it fell too far behind, `Unavailable` if
    /// the connection broke): the caller re-watches from the last revision
    /// it saw, or re-lists on `Compacted`.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    async fn current_revision(&self) -> Result<Revision>;

    /// Forgets history strictly before `revision` (current values stay; the
    /// state at `revision` stays readable). A revision at or below the last
    /// compaction is a no-op; one above the current revision ->
    /// `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The oldest revision still readable (history before it is compacted);
    /// 0 when nothing was ever compacted.
    async fn compacted_revision(&self) -> Result<Revision>;
}
