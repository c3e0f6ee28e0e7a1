//! The ReplicaSet controller: keeps `spec.replicas` active pods that match
//! a ReplicaSet's selector. It adopts orphan pods its selector matches,
//! releases pods of its own that stopped matching, creates missing pods
//! from the template and deletes surplus ones (the cheapest first), and
//! reports `status` (replicas, fullyLabeledReplicas, readyReplicas,
//! availableReplicas, observedGeneration).
//!
//! Pods are found through the pod cache's controller-uid index (and an
//! index of orphans by namespace), so a sync costs what the ReplicaSet
//! owns, not what the cluster holds. [`expectations`] keep a sync that
//! runs before the cache has seen this controller's own creations and
//! deletions from acting twice.

pub(crate) mod claim;
pub mod expectations;
mod manage;
pub mod pods;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use skiff_api::apps::{REPLICASETS, ReplicaSet};
use skiff_api::core::Pod;
use skiff_api::meta::LabelSelector;
use skiff_client::Api;
use skiff_client::runtime::{
    Action, BY_CONTROLLER_UID, Cache, Event, ObjectExt, ObjectKey, WorkQueue,
};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::claim::Claim;
use self::expectations::Expectations;
use self::pods::{controller_ref, deletion_order, is_active};
use self::status::{StatusWriter, Written};
use crate::context::Context;
use crate::run::spawn_workers;

pub use self::manage::{BURST_REPLICAS, MAX_IN_FLIGHT};

/// Name of the controller in logs.
pub const NAME: &str = "replicaset-controller";

/// Index of the pod cache: pods without a controller, by namespace (the
/// candidates for adoption).
pub const ORPHAN_PODS: &str = "orphans-by-namespace";

/// Full syncs of one ReplicaSet are at least this far apart: while
/// thousands of its pods change, their events fold into a few syncs.
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(25);

/// ... and at least this many times what counting its pods took, so that
/// a very large ReplicaSet costs at most a fraction of a core.
const SYNC_COST_FACTOR: u32 = 4;

/// The longest wait before looking again at pods about to become
/// available: the clock may be a test clock that jumps.
const AVAILABILITY_RECHECK_CAP: Duration = Duration::from_secs(2);

/// Pod cache index function for [`ORPHAN_PODS`].
fn orphan_namespace(pod: &Pod) -> Vec<String> {
    if pod.metadata.controller_ref().is_none() {
        vec![pod.metadata.namespace_str().to_string()]
    } else {
        Vec::new()
    }
}

pub struct ReplicaSetController {
    ctx: Context,
    expectations: Arc<Expectations>,
    status: StatusWriter,
    /// When each ReplicaSet's last full sync started, and what counting its pods took.
    last_sync: Mutex<HashMap<String, (Instant, Duration)>>,
}

/// Registers the ReplicaSet controller's event handlers on the shared
/// informers and spawns its workers (they start once the caches are synced).
pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let controller = Arc::new(ReplicaSetController {
        ctx: ctx.clone(),
        expectations: Arc::default(),
        status: StatusWriter::default(),
        last_sync: Mutex::default(),
    });
    let queue = WorkQueue::new();
    controller.register_handlers(&queue);
    spawn_workers(ctx, tasks, NAME, queue, move |key: ObjectKey| {
        let controller = controller.clone();
        async move { controller.reconcile(&key).await }
    });
}

/// The keys of the ReplicaSets `pod` concerns, and notes what expectations it meets.
fn on_pod(
    queue: &WorkQueue<ObjectKey>,
    expectations: &Expectations,
    replicasets: &Cache<ReplicaSet>,
    pod: &Pod,
    gone: bool,
) {
    if let Some(key) = pod.controller_key(&REPLICASETS) {
        expectations.observe(&key.to_string(), pod, gone);
        queue.add(key);
    } else if !gone && pod.metadata.controller_ref().is_none() {
        // An orphan: every ReplicaSet that could adopt it.
        for rs in replicasets.list_namespace(pod.metadata.namespace_str()) {
            if rs
                .spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
            {
                queue.add(rs.key());
            }
        }
    }
}

impl ReplicaSetController {
    fn register_handlers(&self, queue: &WorkQueue<ObjectKey>) {
        let informers = &self.ctx.informers;
        informers
            .pods
            .cache
            .add_index(ORPHAN_PODS, orphan_namespace);
        let (q, exp) = (queue.clone(), self.expectations.clone());
        informers.replicasets.on_event(move |event| match event {
            Event::Applied(rs) => q.add(rs.key()),
            Event::Deleted(rs) => {
                exp.forget(&rs.key().to_string());
                q.add(rs.key());
            }
            Event::Restarted(all) => all.iter().for_each(|rs| q.add(rs.key())),
        });
        let (q, exp) = (queue.clone(), self.expectations.clone());
        let replicasets = informers.replicasets.cache.clone();
        informers.pods.on_event(move |event| match event {
            Event::Applied(pod) => on_pod(&q, &exp, &replicasets, pod, false),
            Event::Deleted(pod) => on_pod(&q, &exp, &replicasets, pod, true),
            Event::Restarted(_) => {
                exp.reset();
                replicasets
                    .keys()
                    .iter()
                    .for_each(|k| q.add(ObjectKey::parse(k)));
            }
        });
    }

    /// Time left before the next full sync of `key` may run.
    fn sync_wait(&self, key: &str) -> Option<Duration> {
        let (started, cost) = self
            .last_sync
            .lock()
            .expect("last sync lock")
            .get(key)
            .copied()?;
        let interval = MIN_SYNC_INTERVAL.max(cost * SYNC_COST_FACTOR);
        interval
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
    }

    fn note_sync(&self, key: &str, started: Instant, cost: Duration) {
        self.last_sync
            .lock()
            .expect("last sync lock")
            .insert(key.to_string(), (started, cost));
    }

    fn forget(&self, key: &str) {
        self.expectations.forget(key);
        self.status.forget(key);
        self.last_sync.lock().expect("last sync lock").remove(key);
    }

    pub async fn reconcile(&self, key: &ObjectKey) -> anyhow::Result<Action> {
        let key_str = key.to_string();
        let Some(rs) = self.ctx.informers.replicasets.cache.get(&key_str) else {
            self.forget(&key_str);
            return Ok(Action::Done);
        };
        if let Some(wait) = self.sync_wait(&key_str) {
            return Ok(Action::RequeueAfter(wait));
        }
        let started = Instant::now();
        self.note_sync(&key_str, started, Duration::ZERO);
        let Some(selector) = rs.spec.selector.clone().filter(|s| !s.is_empty()) else {
            tracing::warn!(replicaset = %key, "no selector: nothing to do");
            return Ok(Action::Done);
        };
        let needs_sync = self.expectations.satisfied(&key_str);
        let counting = Instant::now();
        let active = self.claim_pods(&rs, &selector).await?;
        let mut cost = counting.elapsed();
        let manage_error = if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            self.manage(&key_str, &rs, &active).await.err()
        } else {
            None
        };

        let counting = Instant::now();
        let computed =
            status::calculate(&rs, &active, manage_error.as_deref(), self.ctx.clock.now());
        cost += counting.elapsed();
        self.note_sync(&key_str, started, cost);
        let api: Api<ReplicaSet> =
            Api::namespaced(self.ctx.client.clone(), rs.metadata.namespace_str());
        let mut next: Option<Duration> =
            computed.recheck_in.map(|d| d.min(AVAILABILITY_RECHECK_CAP));
        match self
            .status
            .write(&api, &key_str, &rs, &computed.status)
            .await
        {
            Ok(Written::Deferred(wait)) => next = Some(next.map_or(wait, |n| n.min(wait))),
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).context("updating the ReplicaSet status"),
        }
        if let Some(e) = manage_error {
            anyhow::bail!(e);
        }
        Ok(next.map_or(Action::Done, Action::RequeueAfter))
    }

    /// The active pods that are the ReplicaSet's after adopting and releasing.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        selector: &LabelSelector,
    ) -> anyhow::Result<Vec<Arc<Pod>>> {
        let cache = &self.ctx.informers.pods.cache;
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let namespace = rs.metadata.namespace_str();
        let deleting = rs.metadata.deletion_timestamp.is_some();
        let candidates = cache
            .by_index(BY_CONTROLLER_UID, &uid)
            .into_iter()
            .chain(cache.by_index(ORPHAN_PODS, namespace))
            .filter(|p| is_active(p) && p.metadata.namespace_str() == namespace);
        let (mut mine, mut adopt, mut release) = (Vec::new(), Vec::new(), Vec::new());
        for pod in candidates {
            match claim::decide(pod.as_ref(), &uid, deleting, selector) {
                Claim::Keep => mine.push(pod),
                Claim::Adopt => adopt.push(pod),
                Claim::Release => release.push(pod),
                Claim::Ignore => {}
            }
        }
        if !adopt.is_empty() && !self.still_adoptable(rs).await? {
            adopt.clear();
        }
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let owner = controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
        let adoptions: Vec<_> = adopt
            .iter()
            .map(|pod| claim::adopt(&pods, pod.as_ref(), owner.clone()))
            .collect();
        let adopted: Vec<skiff_client::Result<Pod>> = futures::stream::iter(adoptions)
            .buffer_unordered(MAX_IN_FLIGHT)
            .collect()
            .await;
        let mut first_error = None;
        for result in adopted {
            match result {
                Ok(pod) => mine.push(Arc::new(pod)),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for pod in &release {
            match claim::release(&pods, pod.as_ref(), &uid).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e).context("claiming pods"),
            None => Ok(mine),
        }
    }

    /// As Kubernetes, re-reads the ReplicaSet from the server (not the
    /// cache) before adopting: one deleted or replaced meanwhile adopts nothing.
    async fn still_adoptable(&self, rs: &ReplicaSet) -> anyhow::Result<bool> {
        let api: Api<ReplicaSet> =
            Api::namespaced(self.ctx.client.clone(), rs.metadata.namespace_str());
        Ok(match api.get_opt(rs.metadata.name_str()).await? {
            Some(fresh) => {
                fresh.metadata.uid == rs.metadata.uid && fresh.metadata.deletion_timestamp.is_none()
            }
            None => false,
        })
    }

    /// Creates or deletes pods so that `active` becomes `spec.replicas` long.
    async fn manage(&self, key: &str, rs: &ReplicaSet, active: &[Arc<Pod>]) -> Result<(), String> {
        let want = usize::try_from(rs.spec.replicas()).unwrap_or(0);
        let have = active.len();
        if have < want {
            self.create_pods(key, rs, (want - have).min(BURST_REPLICAS))
                .await
        } else if have > want {
            let mut doomed = active.to_vec();
            doomed.sort_by(|a, b| deletion_order(a, b));
            doomed.truncate((have - want).min(BURST_REPLICAS));
            self.delete_pods(key, rs, &doomed).await
        } else {
            Ok(())
        }
    }
}
