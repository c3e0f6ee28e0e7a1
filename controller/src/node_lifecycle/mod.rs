//! Node lifecycle: a node that stops renewing its Lease (and posting
//! status) for `node_monitor_grace_period` becomes `Ready=Unknown` and is
//! tainted `node.kubernetes.io/unreachable:NoExecute` (`not-ready` when it
//! reports `Ready=False`); its pods are marked not ready, then evicted once
//! their toleration of the taint runs out (`default_toleration_seconds`
//! for pods without one), at `eviction_rate_per_second`, and force-deleted
//! once terminating (the node will not finish them). A node that is
//! healthy again loses the taints. Pods bound to a Node that no longer
//! exists are force-deleted after the grace period.
//!
//! Every node is looked at every `node_monitor_period`, and at once when
//! it, its Lease or one of its pods changes. All timing is `ctx.clock`.

mod eviction;
mod health;
mod pods;
mod taints;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::core::Node;
use skiff_api::meta::Time;
use skiff_client::runtime::{Action, WorkQueue};
use skiff_client::{Api, EventType};
use tokio::task::JoinSet;

pub use eviction::{TokenBucket, eviction_time, with_default_tolerations};
pub use health::{Heartbeat, Heartbeats, ready_status, silent_conditions};
pub use taints::{NO_EXECUTE, NOT_READY, UNREACHABLE, reconcile_taints};

use crate::context::Context;
use crate::run::{requeue_on_conflict, spawn_workers};

/// Namespace of the nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the controller remembers between looks.
pub(crate) struct Monitor {
    heartbeats: Mutex<Heartbeats>,
    /// When a node name with pods bound to it was first seen without a Node.
    missing_since: Mutex<HashMap<String, DateTime<Utc>>>,
    evictions: Mutex<TokenBucket>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<String> = WorkQueue::new();
    let informers = &ctx.informers;
    informers.nodes.on_event({
        let queue = queue.clone();
        move |event| {
            for node in event.objects() {
                queue.add(node.metadata.name_str().to_string());
            }
        }
    });
    informers.node_leases.on_event({
        let queue = queue.clone();
        move |event| {
            for lease in event.objects() {
                queue.add(lease.metadata.name_str().to_string());
            }
        }
    });
    // A pod matters here when its node is missing or in trouble.
    informers.pods.on_event({
        let (queue, nodes) = (queue.clone(), informers.nodes.cache.clone());
        move |event| {
            for pod in event.objects() {
                let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                    continue;
                };
                let troubled = nodes.get(node).is_none_or(|n| {
                    ready_status(&n) != Some("True")
                        || n.spec
                            .as_ref()
                            .is_some_and(|s| s.taints.iter().any(|t| t.effect == NO_EXECUTE))
                });
                if troubled && !node.is_empty() {
                    queue.add(node.to_string());
                }
            }
        }
    });
    let monitor = Arc::new(Monitor {
        heartbeats: Mutex::default(),
        missing_since: Mutex::default(),
        evictions: Mutex::new(TokenBucket::new(ctx.config.eviction_rate_per_second)),
    });
    let worker_ctx = ctx.clone();
    spawn_workers(ctx, tasks, "node-lifecycle", queue, move |name: String| {
        let (ctx, monitor) = (worker_ctx.clone(), monitor.clone());
        async move { requeue_on_conflict(reconcile(&ctx, &monitor, &name).await) }
    });
}

async fn reconcile(
    ctx: &Context,
    monitor: &Monitor,
    name: &str,
) -> Result<Action, skiff_client::Error> {
    let now = ctx.clock.now();
    let Some(cached) = ctx.informers.nodes.cache.get(name) else {
        lock(&monitor.heartbeats).forget(name);
        return pods::collect_orphans(ctx, monitor, name, now).await;
    };
    lock(&monitor.missing_since).remove(name);
    let lease = ctx
        .informers
        .node_leases
        .cache
        .get(&format!("{NODE_LEASE_NAMESPACE}/{name}"));
    let heartbeat = Heartbeat::of(&cached, lease.as_deref());
    let last_change = lock(&monitor.heartbeats).observe(name, heartbeat, now);
    let grace = chrono::Duration::from_std(ctx.config.node_monitor_grace_period)
        .unwrap_or(chrono::Duration::MAX);
    let silent = now - last_change > grace;

    let node = update_node(ctx, cached, silent, now).await?;
    let ready = ready_status(&node);
    let unreachable = ready == Some("Unknown");
    if matches!(ready, Some("Unknown" | "False")) {
        pods::mark_not_ready(ctx, &node, now).await?;
    }
    let next_eviction = pods::evict(ctx, monitor, &node, now).await?;
    if unreachable {
        pods::finish_terminating(ctx, &node).await?;
    }
    let mut recheck = ctx.config.node_monitor_period;
    if let Some(at) = next_eviction
        && let Ok(until) = (at - now).to_std()
    {
        recheck = recheck.min(until.max(Duration::from_millis(10)));
    }
    Ok(Action::RequeueAfter(recheck))
}

/// Writes the status of a silent node, then the taints its `Ready` calls
/// for; returns the node as stored.
async fn update_node(
    ctx: &Context,
    cached: Arc<Node>,
    silent: bool,
    now: DateTime<Utc>,
) -> Result<Arc<Node>, skiff_client::Error> {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let name = cached.metadata.name_str().to_string();
    let mut node = cached;
    if silent {
        let conditions = node
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        if let Some(conditions) = silent_conditions(conditions, Time::from(now)) {
            let was_ready = ready_status(&node) == Some("True");
            let mut next = (*node).clone();
            next.status.get_or_insert_with(Default::default).conditions = conditions;
            node = Arc::new(api.replace_status(&name, &next).await?);
            tracing::info!(node = %name, "node stopped posting status: Ready=Unknown");
            if was_ready {
                ctx.recorder.publish(
                    &*node,
                    EventType::Normal,
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
            }
        }
    }
    let taints = node
        .spec
        .as_ref()
        .map(|s| s.taints.as_slice())
        .unwrap_or_default();
    if let Some(taints) = reconcile_taints(taints, ready_status(&node), Time::from(now)) {
        let mut next = (*node).clone();
        next.spec.get_or_insert_with(Default::default).taints = taints;
        node = Arc::new(api.replace(&name, &next).await?);
    }
    Ok(node)
}
