//! What happens to the pods of a node in trouble (or of a node that is
//! gone): marked not ready, evicted, force-deleted.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::core::{Node, NodeSpec, Pod};
use skiff_api::meta::Time;
use skiff_client::runtime::{Action, BY_NODE};
use skiff_client::{Api, DeleteParams, Error, EventType};

use super::eviction::{eviction_time, tainted_since, with_default_tolerations};
use super::taints::NO_EXECUTE;
use super::{Monitor, lock};
use crate::context::Context;

fn pods_on(ctx: &Context, node: &str) -> Vec<Arc<Pod>> {
    ctx.informers.pods.cache.by_index(BY_NODE, node)
}

fn finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

fn pods_api(ctx: &Context, pod: &Pod) -> Api<Pod> {
    Api::namespaced(ctx.client.clone(), pod.metadata.namespace_str())
}

/// Deletes `pod` (that very pod: a uid precondition); gone already is fine.
async fn delete_pod(ctx: &Context, pod: &Pod, grace: Option<i64>) -> Result<bool, Error> {
    let params = DeleteParams {
        grace_period_seconds: grace,
        precondition_uid: pod.metadata.uid.clone(),
        ..Default::default()
    };
    match pods_api(ctx, pod)
        .delete(pod.metadata.name_str(), &params)
        .await
    {
        Ok(_) => Ok(true),
        // Gone, or another pod by that name now.
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sets `Ready=False` on the node's pods that still say `True`: they are
/// no longer reachable (Services drop them).
pub(super) async fn mark_not_ready(
    ctx: &Context,
    node: &Node,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    for pod in pods_on(ctx, node.metadata.name_str()) {
        let ready = pod.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .position(|c| c.type_ == "Ready" && c.status == "True")
        });
        let Some(index) = ready else { continue };
        let mut next = (*pod).clone();
        if let Some(c) = next.status.as_mut().map(|s| &mut s.conditions[index]) {
            c.status = "False".into();
            c.last_transition_time = Some(Time::from(now));
        }
        match pods_api(ctx, &pod)
            .replace_status(pod.metadata.name_str(), &next)
            .await
        {
            Ok(_) => ctx.recorder.publish(
                &*pod,
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready",
            ),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Evicts the pods whose toleration of the node's NoExecute taints has run
/// out, as far as the rate limit allows; returns when the next one is due.
pub(super) async fn evict(
    ctx: &Context,
    monitor: &Monitor,
    node: &Node,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let taints = node
        .spec
        .as_ref()
        .map_or(&[][..], |s: &NodeSpec| s.taints.as_slice());
    if !taints.iter().any(|t| t.effect == NO_EXECUTE) {
        return Ok(None);
    }
    let since = tainted_since(taints, now);
    let mut next: Option<DateTime<Utc>> = None;
    let mut sooner = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
    for pod in pods_on(ctx, node.metadata.name_str()) {
        if pod.metadata.deletion_timestamp.is_some() || finished(&pod) {
            continue;
        }
        let own = pod
            .spec
            .as_ref()
            .map(|s| s.tolerations.as_slice())
            .unwrap_or_default();
        let tolerations = with_default_tolerations(own, ctx.config.default_toleration_seconds);
        let Some(at) = eviction_time(&tolerations, taints, since) else {
            continue;
        };
        if at > now {
            sooner(at);
            continue;
        }
        if !lock(&monitor.evictions).try_take(now) {
            // Out of tokens: one comes back in 1/rate seconds.
            let wait = (1000.0 / ctx.config.eviction_rate_per_second.max(0.001)) as i64;
            sooner(now + chrono::Duration::milliseconds(wait.max(10)));
            continue;
        }
        if delete_pod(ctx, &pod, None).await? {
            let key = format!(
                "{}/{}",
                pod.metadata.namespace_str(),
                pod.metadata.name_str()
            );
            tracing::info!(pod = %key, node = node.metadata.name_str(), "evicting pod from a tainted node");
            ctx.recorder.publish(
                &*pod,
                EventType::Normal,
                "TaintManagerEviction",
                format!("Marking for deletion Pod {key}"),
            );
        }
    }
    Ok(next)
}

/// Force-deletes the node's terminating pods: an unreachable node will not
/// finish them (Kubernetes' pod GC does the same).
pub(super) async fn finish_terminating(ctx: &Context, node: &Node) -> Result<(), Error> {
    for pod in pods_on(ctx, node.metadata.name_str()) {
        if pod.metadata.deletion_timestamp.is_some() {
            delete_pod(ctx, &pod, Some(0)).await?;
        }
    }
    Ok(())
}

/// Pods bound to a node that does not exist: force-deleted once the node
/// has been missing for the grace period (and a GET agrees it is gone).
pub(super) async fn collect_orphans(
    ctx: &Context,
    monitor: &Monitor,
    node: &str,
    now: DateTime<Utc>,
) -> Result<Action, Error> {
    let pods = pods_on(ctx, node);
    if pods.is_empty() {
        lock(&monitor.missing_since).remove(node);
        return Ok(Action::Done);
    }
    let since = *lock(&monitor.missing_since)
        .entry(node.to_string())
        .or_insert(now);
    let grace = chrono::Duration::from_std(ctx.config.node_monitor_grace_period)
        .unwrap_or(chrono::Duration::MAX);
    let recheck = Action::RequeueAfter(ctx.config.node_monitor_period);
    if now - since < grace {
        return Ok(recheck);
    }
    if Api::<Node>::all(ctx.client.clone())
        .get_opt(node)
        .await?
        .is_some()
    {
        return Ok(recheck); // the cache is behind
    }
    for pod in &pods {
        if delete_pod(ctx, pod, Some(0)).await? {
            tracing::info!(
                pod = %format!("{}/{}", pod.metadata.namespace_str(), pod.metadata.name_str()),
                node,
                "deleted a pod bound to a node that does not exist"
            );
        }
    }
    lock(&monitor.missing_since).remove(node);
    Ok(Action::RequeueAfter(
        Duration::from_secs(1).min(ctx.config.node_monitor_period),
    ))
}
