//! The garbage collector: deletes objects whose owners are gone, and
//! carries out the two deletions that wait on it:
//!
//! - **Background** (the default): the owner goes at once; each dependent
//!   whose owners (by uid in `ownerReferences`) are all gone, as the
//!   caches say and a GET confirms, is deleted in turn.
//! - **Orphan**: the owner waits with the `orphan` finalizer while its
//!   dependents lose their reference to it; then the finalizer goes, and
//!   the API server deletes the owner.
//! - **Foreground**: the owner waits with the `foregroundDeletion`
//!   finalizer while its dependents are deleted (foreground themselves
//!   when they have blocking dependents of their own); once no dependent
//!   with `blockOwnerDeletion: true` is left the finalizer goes.
//!
//! The kinds it sees are those of the shared informers: Deployments,
//! ReplicaSets, Pods, Jobs, CronJobs, Services and Endpoints.

mod collect;
mod graph;
mod writes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use skiff_api::Object;
use skiff_api::apps::{DEPLOYMENTS, REPLICASETS};
use skiff_api::batch::{CRONJOBS, JOBS};
use skiff_api::core::{ENDPOINTS, PODS, SERVICES};
use skiff_client::runtime::WorkQueue;
use tokio::task::JoinSet;

pub use graph::{Graph, Item, Kind};

use crate::context::Context;
use crate::informers::Informer;
use crate::run::{requeue_on_conflict, spawn_workers};

/// Set by the API server on an `Orphan` deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Set by the API server on a `Foreground` deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// The kinds whose objects the collector sees (and may delete).
pub const WATCHED: [&skiff_api::ResourceType; 7] = [
    &DEPLOYMENTS,
    &REPLICASETS,
    &PODS,
    &JOBS,
    &CRONJOBS,
    &SERVICES,
    &ENDPOINTS,
];

/// While an owner waits for its dependents, look again this often even if
/// no event comes (a dependent of a kind nobody watches, a lost event).
const WAITING_RECHECK: Duration = Duration::from_secs(5);
/// Uids confirmed absent are remembered (uids never come back) up to this many.
const MAX_REMEMBERED_ABSENT: usize = 100_000;

/// The collector's state, shared by the event handlers and the workers.
pub(crate) struct Collector {
    graph: Mutex<Graph>,
    /// Owner uids a GET found absent.
    absent: Mutex<HashSet<String>>,
    queue: WorkQueue<String>,
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_known_absent(&self, uid: &str) -> bool {
        self.absent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }

    fn remember_absent(&self, uid: &str) {
        let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
        if absent.len() >= MAX_REMEMBERED_ABSENT {
            absent.clear();
        }
        absent.insert(uid.to_string());
    }
}

/// Starts the collector (nothing when `config.garbage_collector` is off).
/// Its queue holds object uids.
pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    if !ctx.config.garbage_collector {
        tracing::info!("garbage collector disabled");
        return;
    }
    let queue: WorkQueue<String> = WorkQueue::new();
    let collector = Arc::new(Collector {
        graph: Mutex::default(),
        absent: Mutex::default(),
        queue: queue.clone(),
    });
    // Every kind of `WATCHED`.
    let i = &ctx.informers;
    watch(&i.deployments, Kind(&DEPLOYMENTS), &collector);
    watch(&i.replicasets, Kind(&REPLICASETS), &collector);
    watch(&i.pods, Kind(&PODS), &collector);
    watch(&i.jobs, Kind(&JOBS), &collector);
    watch(&i.cronjobs, Kind(&CRONJOBS), &collector);
    watch(&i.services, Kind(&SERVICES), &collector);
    watch(&i.endpoints, Kind(&ENDPOINTS), &collector);
    let worker_ctx = ctx.clone();
    let reconcile = move |uid: String| {
        let (ctx, collector) = (worker_ctx.clone(), collector.clone());
        async move { requeue_on_conflict(collect::reconcile(&ctx, &collector, &uid).await) }
    };
    spawn_workers(ctx, tasks, "garbage-collector", queue, reconcile);
}

/// Keeps the graph in step with one kind's informer, queueing what each
/// event concerns.
fn watch<T: Object>(informer: &Informer<T>, kind: Kind, collector: &Arc<Collector>) {
    let collector = collector.clone();
    informer.on_event(move |event| {
        let touched = collector.graph().apply(kind, event);
        for uid in touched.into_iter().filter(|u| !u.is_empty()) {
            collector.queue.add(uid);
        }
    });
}
