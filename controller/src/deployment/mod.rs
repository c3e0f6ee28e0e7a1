//! The Deployment controller: one ReplicaSet per pod template (named
//! `<deployment>-<pod-template-hash>`, the hash also in its labels,
//! selector and pods), rolled out by the RollingUpdate (`maxSurge`,
//! `maxUnavailable`, `minReadySeconds`) or Recreate strategy, resized in
//! proportion when the Deployment is scaled mid-rollout, with revisions
//! (`deployment.kubernetes.io/revision`), a bounded history
//! (`revisionHistoryLimit`), rollback ([`rollback`]), and the status
//! `kubectl rollout status` reads (conditions `Available` and
//! `Progressing`, with `progressDeadlineSeconds`). Beyond Kubernetes,
//! `skiff.dev/auto-rollback: "true"` rolls back by itself when the
//! progress deadline passes.
//!
//! A sync reads ReplicaSets from the cache and writes each change pinned
//! to the version it read (a 409 means "look again"); [`fresh`] keeps a
//! sync from running on a cache that has not caught up with the
//! controller's own writes yet.

mod auto_rollback;
mod conditions;
mod fresh;
pub mod hash;
mod history;
mod new_rs;
mod progress;
mod recreate;
mod rolling;
mod scale;
mod sync;
pub mod util;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use skiff_api::apps::{DEPLOYMENTS, Deployment, REPLICASETS, ReplicaSet};
use skiff_api::core::Pod;
use skiff_api::meta::LabelSelector;
use skiff_client::runtime::{
    Action, BY_CONTROLLER_UID, Cache, Event, ObjectExt, ObjectKey, WorkQueue,
};
use skiff_client::{Api, EventType};
use tokio::task::JoinSet;

pub use self::history::{RollbackError, revision_to_restore, rollback, rollback_patch};

use self::fresh::Freshness;
use self::sync::Sync;
use crate::context::Context;
use crate::replicaset::claim::{self, Claim};
use crate::replicaset::pods::controller_ref;
use crate::run::spawn_workers;

/// Name of the controller in logs.
pub const NAME: &str = "deployment-controller";

/// How soon to look again when the caches lag behind this controller's
/// writes (the watch event that catches them up also requeues).
const STALE_RECHECK: Duration = Duration::from_secs(1);

pub struct DeploymentController {
    ctx: Context,
    fresh: Arc<Freshness>,
}

/// Registers the Deployment controller's event handlers on the shared
/// informers and spawns its workers (they start once the caches are synced).
pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let controller = Arc::new(DeploymentController {
        ctx: ctx.clone(),
        fresh: Arc::default(),
    });
    let queue = WorkQueue::new();
    controller.register_handlers(&queue);
    spawn_workers(ctx, tasks, NAME, queue, move |key: ObjectKey| {
        let controller = controller.clone();
        async move { controller.reconcile(&key).await }
    });
}

fn selects(selector: Option<&LabelSelector>, rs: &ReplicaSet) -> bool {
    selector.is_some_and(|s| !s.is_empty() && s.matches(&rs.metadata.labels))
}

/// The Deployments a ReplicaSet event concerns: its controller, or for an
/// orphan every Deployment that could adopt it.
fn on_replicaset(
    queue: &WorkQueue<ObjectKey>,
    fresh: &Freshness,
    deployments: &Cache<Deployment>,
    rs: &ReplicaSet,
    gone: bool,
) {
    if let Some(owner) = rs.controller_key(&DEPLOYMENTS) {
        if gone {
            fresh.forget_object(&owner.to_string(), &rs.key().to_string());
        }
        queue.add(owner);
    } else if !gone && rs.metadata.controller_ref().is_none() {
        for d in deployments.list_namespace(rs.metadata.namespace_str()) {
            if selects(d.spec.selector.as_ref(), rs) {
                queue.add(d.key());
            }
        }
    }
}

/// A pod change matters to a Recreate Deployment waiting for its old pods to go.
fn on_pod(
    queue: &WorkQueue<ObjectKey>,
    replicasets: &Cache<ReplicaSet>,
    deployments: &Cache<Deployment>,
    pod: &Pod,
) {
    let Some(rs_key) = pod.controller_key(&REPLICASETS) else {
        return;
    };
    let Some(owner) = replicasets
        .get_key(&rs_key)
        .and_then(|rs| rs.controller_key(&DEPLOYMENTS))
    else {
        return;
    };
    if deployments
        .get_key(&owner)
        .is_some_and(|d| !util::is_rolling(&d))
    {
        queue.add(owner);
    }
}

impl DeploymentController {
    fn register_handlers(&self, queue: &WorkQueue<ObjectKey>) {
        let informers = &self.ctx.informers;
        let (q, fresh) = (queue.clone(), self.fresh.clone());
        informers.deployments.on_event(move |event| match event {
            Event::Applied(d) => q.add(d.key()),
            Event::Deleted(d) => {
                fresh.forget_owner(&d.key().to_string());
                q.add(d.key());
            }
            Event::Restarted(all) => {
                fresh.reset();
                all.iter().for_each(|d| q.add(d.key()));
            }
        });
        let (q, fresh) = (queue.clone(), self.fresh.clone());
        let deployments = informers.deployments.cache.clone();
        informers.replicasets.on_event(move |event| match event {
            Event::Applied(rs) => on_replicaset(&q, &fresh, &deployments, rs, false),
            Event::Deleted(rs) => on_replicaset(&q, &fresh, &deployments, rs, true),
            Event::Restarted(_) => {
                fresh.reset();
                deployments
                    .keys()
                    .iter()
                    .for_each(|k| q.add(ObjectKey::parse(k)));
            }
        });
        let q = queue.clone();
        let (replicasets, deployments) = (
            informers.replicasets.cache.clone(),
            informers.deployments.cache.clone(),
        );
        informers.pods.on_event(move |event| match event {
            Event::Applied(pod) | Event::Deleted(pod) => {
                on_pod(&q, &replicasets, &deployments, pod)
            }
            Event::Restarted(_) => deployments
                .list()
                .iter()
                .filter(|d| !util::is_rolling(d))
                .for_each(|d| q.add(d.key())),
        });
    }

    pub async fn reconcile(&self, key: &ObjectKey) -> anyhow::Result<Action> {
        let key_str = key.to_string();
        let informers = &self.ctx.informers;
        let Some(cached) = informers.deployments.cache.get(&key_str) else {
            self.fresh.forget_owner(&key_str);
            return Ok(Action::Done);
        };
        if self.fresh.stale(
            &key_str,
            &informers.deployments.cache,
            &informers.replicasets.cache,
        ) {
            return Ok(Action::RequeueAfter(STALE_RECHECK));
        }
        let d = (*cached).clone();
        let Some(selector) = d.spec.selector.clone().filter(|s| !s.is_empty()) else {
            return self.select_nothing(d).await;
        };
        let rss = self.claim_replica_sets(&d, &selector).await?;
        let mut sync = Sync::new(self, key_str, d, rss);
        if sync.d.metadata.deletion_timestamp.is_some() {
            sync.find_or_create_new_rs(false).await?;
            sync.sync_deployment_status().await?;
            return Ok(Action::Done);
        }
        sync.check_paused_conditions().await?;
        if util::is_paused(&sync.d) || sync.is_scaling_event().await? {
            sync.find_or_create_new_rs(false).await?;
            sync.scale().await?;
            if util::is_paused(&sync.d) {
                sync.cleanup().await?;
            }
            sync.sync_deployment_status().await?;
            return Ok(Action::Done);
        }
        if util::is_rolling(&sync.d) {
            sync.rollout_rolling().await?;
        } else {
            sync.rollout_recreate().await?;
        }
        Ok(sync.requeue.map_or(Action::Done, Action::RequeueAfter))
    }

    /// A Deployment without a selector would select every pod: refuse, say so.
    async fn select_nothing(&self, d: Deployment) -> anyhow::Result<Action> {
        self.ctx.recorder.publish(
            &d,
            EventType::Warning,
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        );
        let mut status = d.status.clone().unwrap_or_default();
        if status.observed_generation != d.metadata.generation {
            status.observed_generation = d.metadata.generation;
            let mut updated = d.clone();
            updated.status = Some(status);
            let api: Api<Deployment> =
                Api::namespaced(self.ctx.client.clone(), d.metadata.namespace_str());
            api.replace_status(d.metadata.name_str(), &updated).await?;
        }
        Ok(Action::Done)
    }

    /// The ReplicaSets that are the Deployment's, after adopting orphans
    /// its selector matches and releasing its own that stopped matching.
    async fn claim_replica_sets(
        &self,
        d: &Deployment,
        selector: &LabelSelector,
    ) -> anyhow::Result<Vec<ReplicaSet>> {
        let cache = &self.ctx.informers.replicasets.cache;
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let namespace = d.metadata.namespace_str();
        let deleting = d.metadata.deletion_timestamp.is_some();
        let owned = cache.by_index(BY_CONTROLLER_UID, &uid);
        let orphans = cache.filter(Some(namespace), |rs| rs.metadata.controller_ref().is_none());
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), namespace);
        let mut mine = Vec::new();
        let mut checked_adoptable: Option<bool> = None;
        for rs in owned.into_iter().chain(orphans) {
            if rs.metadata.namespace_str() != namespace {
                continue;
            }
            match claim::decide(rs.as_ref(), &uid, deleting, selector) {
                Claim::Keep => mine.push((*rs).clone()),
                Claim::Adopt => {
                    let adoptable = match checked_adoptable {
                        Some(a) => a,
                        None => *checked_adoptable.insert(self.still_adoptable(d).await?),
                    };
                    if !adoptable {
                        continue;
                    }
                    let owner = controller_ref("apps/v1", "Deployment", &d.metadata);
                    match claim::adopt(&api, rs.as_ref(), owner).await {
                        Ok(adopted) => mine.push(adopted),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e).context("adopting a replica set"),
                    }
                }
                Claim::Release => match claim::release(&api, rs.as_ref(), &uid).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e).context("releasing a replica set"),
                },
                Claim::Ignore => {}
            }
        }
        Ok(mine)
    }

    /// Re-reads the Deployment from the server before adopting: one
    /// deleted or replaced meanwhile adopts nothing.
    async fn still_adoptable(&self, d: &Deployment) -> anyhow::Result<bool> {
        let api: Api<Deployment> =
            Api::namespaced(self.ctx.client.clone(), d.metadata.namespace_str());
        Ok(match api.get_opt(d.metadata.name_str()).await? {
            Some(fresh) => {
                fresh.metadata.uid == d.metadata.uid && fresh.metadata.deletion_timestamp.is_none()
            }
            None => false,
        })
    }
}

impl Sync<'_> {
    /// Was `spec.replicas` changed (a ReplicaSet with replicas was last
    /// sized for another count)? Then scale instead of rolling.
    async fn is_scaling_event(&mut self) -> anyhow::Result<bool> {
        self.find_or_create_new_rs(false).await?;
        let replicas = self.d.spec.replicas();
        Ok(self
            .rss
            .iter()
            .filter(|rs| util::spec_replicas(rs) > 0)
            .any(|rs| util::desired_replicas_annotation(rs).is_some_and(|want| want != replicas)))
    }
}
