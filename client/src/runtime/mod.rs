//! Controller machinery, in layers that each work alone:
//!
//! - [`watcher`]: list, then watch, for ever: re-watches where it left off,
//!   re-lists on 410 Gone, retries transport errors with backoff.
//! - [`cache`]: a shared, read-only cache of `Arc<T>` that a [`reflector`]
//!   keeps in step with a watcher; "synced" after the first full list;
//!   secondary indexes (by owner uid, by node, ...).
//! - [`workqueue`]: keys to reconcile: de-duplicated, one worker per key at a
//!   time, delayed adds, per-key exponential backoff plus an overall rate limit.
//! - [`controller`]: workers that take keys from a queue and reconcile them,
//!   and helpers that turn watch events into keys.
//! - [`leader`]: leader election on a `coordination.k8s.io/v1` Lease.
//!
//! A controller is usually: [`informer`] per kind -> [`enqueue_from`] ->
//! [`Controller::run`], started once the caches report synced.

pub mod cache;
pub mod controller;
pub mod key;
pub mod leader;
pub mod watcher;
pub mod workqueue;

pub use cache::{
    BY_CONTROLLER_UID, BY_NODE, BY_OWNER_UID, Cache, CacheWriter, InformerEvents, MatchLabels,
    controller_uid, informer, owner_uids, pod_node_name, reflector,
};
pub use controller::{Action, Controller, enqueue_from};
pub use key::{ObjectExt, ObjectKey};
pub use leader::{LeaderElectionConfig, LeaderElector};
pub use watcher::{Event, WatchSource, watcher};
pub use workqueue::{RateLimits, WorkQueue};
