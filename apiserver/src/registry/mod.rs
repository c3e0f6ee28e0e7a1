//! The generic object logic every kind shares: reading stored JSON, and the
//! metadata rules of create, update and delete (`create.rs`, `update.rs`,
//! `delete.rs`), plus paginated lists (`list.rs`).
//!
//! Objects are stored as JSON at `rt.storage_key(ns, name)` without
//! `metadata.resourceVersion`: the value is written before its revision is
//! known, so the version is filled in from `mod_revision` on every read.

mod create;
mod delete;
mod list;
mod update;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_api::{ResourceType, Status};
use skiff_store::{KeyValue, Revision, Store};

use crate::allocators::Allocators;
use crate::errors::plain_store_error;
use crate::value;
use crate::watch_cache::KindCache;

pub use delete::{DeleteOptions, DeleteOutcome};
pub use list::{ListPage, ListRequest};
pub use update::{ModifyOptions, UpdateMode};

/// How many times a write that lost a race with another writer is redone
/// when the client did not pin a `resourceVersion`.
pub const CONFLICT_RETRIES: usize = 8;

/// How long after this server finished removing a namespace creates into
/// it still read the namespace from the store: the namespace cache may not
/// have applied the removal yet.
const LIVE_LOOKUP_AFTER_FINALIZE: Duration = Duration::from_secs(10);

/// An object as read from the store, `metadata.resourceVersion` filled in.
#[derive(Debug, Clone)]
pub struct Stored {
    pub object: Value,
    pub revision: Revision,
}

/// The result of a write: the object as stored (or as it would be, for a
/// dry run) and `Warning:` headers to send.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub object: Value,
    pub warnings: Vec<String>,
}

pub struct Registry {
    pub store: Arc<dyn Store>,
    pub allocators: Allocators,
    /// Whether a garbage collector serves the `orphan` and
    /// `foregroundDeletion` finalizers (without one they would never clear).
    pub garbage_collector: bool,
    /// Namespaces whose contents a background task is deleting.
    finalizing: Mutex<HashSet<String>>,
    /// The watch cache of namespaces, so that a create need not read its
    /// namespace from the store (set once the server starts it).
    namespace_view: OnceLock<Arc<KindCache>>,
    /// When this server's cleanup of each namespace last ended.
    finalized_at: Mutex<HashMap<String, Instant>>,
    /// Itself, for background tasks started from `&self` methods.
    me: Weak<Registry>,
    /// Becomes true when the server stops; background tasks end then.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Registry {
    pub fn new(
        store: Arc<dyn Store>,
        allocators: Allocators,
        garbage_collector: bool,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Registry> {
        Arc::new_cyclic(|me| Registry {
            store,
            allocators,
            garbage_collector,
            finalizing: Mutex::new(HashSet::new()),
            namespace_view: OnceLock::new(),
            finalized_at: Mutex::new(HashMap::new()),
            me: me.clone(),
            shutdown,
        })
    }

    /// A strong reference to this registry (`None` only while it is dropped).
    pub(crate) fn self_arc(&self) -> Option<Arc<Registry>> {
        self.me.upgrade()
    }

    /// Marks a namespace as being finalized; false if a task already is.
    pub(crate) fn start_finalizing(&self, namespace: &str) -> bool {
        self.finalizing
            .lock()
            .expect("finalizing lock")
            .insert(namespace.to_string())
    }

    /// Whether a create into `namespace` must read it from the store rather
    /// than trust the namespace cache: this server is emptying it, or
    /// finished doing so too recently for the cache to be sure to know.
    pub(crate) fn needs_live_namespace_lookup(&self, namespace: &str) -> bool {
        if self
            .finalizing
            .lock()
            .expect("finalizing lock")
            .contains(namespace)
        {
            return true;
        }
        self.finalized_at
            .lock()
            .expect("finalized_at lock")
            .get(namespace)
            .is_some_and(|at| at.elapsed() < LIVE_LOOKUP_AFTER_FINALIZE)
    }

    /// Serves namespace lookups of creates from `view` from now on.
    pub(crate) fn set_namespace_view(&self, view: Arc<KindCache>) {
        // Set once at start; a second call would change nothing.
        let _ = self.namespace_view.set(view);
    }

    pub(crate) fn namespace_view(&self) -> Option<&Arc<KindCache>> {
        self.namespace_view.get()
    }

    pub(crate) fn done_finalizing(&self, namespace: &str) {
        {
            let mut finalized = self.finalized_at.lock().expect("finalized_at lock");
            finalized.retain(|_, at| at.elapsed() < LIVE_LOOKUP_AFTER_FINALIZE);
            finalized.insert(namespace.to_string(), Instant::now());
        }
        self.finalizing
            .lock()
            .expect("finalizing lock")
            .remove(namespace);
    }

    /// The object, or `None` when absent.
    pub async fn try_get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Stored>, Status> {
        let key = rt.storage_key(namespace, name);
        match self.store.get(&key).await.map_err(plain_store_error)? {
            Some(kv) => Ok(Some(Stored {
                object: decode(&kv)?,
                revision: kv.mod_revision,
            })),
            None => Ok(None),
        }
    }

    /// Stores `next` over revision `expected` as it is (no defaulting or
    /// validation: for server-side changes such as deletion marks and
    /// bindings); 409 on a lost race.
    pub async fn write(
        &self,
        rt: &ResourceType,
        key: &str,
        name: &str,
        mut next: Value,
        expected: Revision,
    ) -> Result<Value, Status> {
        let revision = self
            .store
            .update(key, encode(&next), expected)
            .await
            .map_err(|e| crate::errors::store_error(e, rt, name))?;
        value::set_resource_version(&mut next, revision);
        Ok(next)
    }

    /// The object, or 404.
    pub async fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Stored, Status> {
        self.try_get(rt, namespace, name)
            .await?
            .ok_or_else(|| Status::not_found(rt, name))
    }
}

/// A stored value as JSON with `metadata.resourceVersion` set to its revision.
pub fn decode(kv: &KeyValue) -> Result<Value, Status> {
    decode_at(&kv.value, kv.mod_revision, &kv.key)
}

/// Stored JSON bytes with `metadata.resourceVersion` set to `revision`.
pub fn decode_at(bytes: &[u8], revision: Revision, key: &str) -> Result<Value, Status> {
    let mut object: Value = serde_json::from_slice(bytes)
        .map_err(|e| Status::internal(format!("corrupt object stored at {key}: {e}")))?;
    value::set_resource_version(&mut object, revision);
    Ok(object)
}

/// The bytes to store: the object without `metadata.resourceVersion`.
pub fn encode(object: &Value) -> Vec<u8> {
    let mut copy = object.clone();
    value::remove_meta(&mut copy, "resourceVersion");
    serde_json::to_vec(&copy).unwrap_or_default()
}

/// The object with `metadata.resourceVersion` removed (for comparisons).
pub fn without_version(object: &Value) -> Value {
    let mut copy = object.clone();
    value::remove_meta(&mut copy, "resourceVersion");
    copy
}

/// The storage namespace argument of an object of `rt` in `namespace`.
pub fn scope<'a>(rt: &ResourceType, namespace: Option<&'a str>) -> Option<&'a str> {
    if rt.namespaced { namespace } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_version_is_never_stored() {
        let o = json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let bytes = encode(&o);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let back = decode_at(&bytes, 9, "k").unwrap();
        assert_eq!(value::meta_str(&back, "resourceVersion"), Some("9"));
        assert_eq!(decode_at(b"{", 1, "k").unwrap_err().code, 500);
    }
}
