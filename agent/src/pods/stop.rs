//! Stopping pods: graceful deletion (stop within the grace period, remove
//! the sandbox, delete the object), teardown of pods that are gone, and
//! terminal pods that keep their records but run nothing.

use std::time::Duration;

use futures::future::join_all;
use skiff_api::core::Pod;

use super::pre_stop;
use super::spec::field_path;
use super::write;
use crate::engine::Engine;
use crate::node_state::NodeState;
use crate::runtime::{SandboxStatus, StopOptions};

/// The sandboxes the runtime has for `namespace/name`.
pub async fn sandboxes_of(node: &NodeState, key: &str) -> anyhow::Result<Vec<SandboxStatus>> {
    let all = node.runtime.list_sandboxes().await?;
    Ok(all.into_iter().filter(|s| s.pod_key() == key).collect())
}

pub fn termination_grace(pod: &Pod) -> Duration {
    let secs = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(skiff_api::core::pod_defaults::DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    Duration::from_secs(secs.max(0) as u64)
}

/// Stops every running container of the pod (each given `grace`) at once.
pub async fn stop_all(node: &NodeState, uid: &str, grace: Duration) -> anyhow::Result<()> {
    let containers = node.runtime.list_containers(uid).await?;
    let stops = containers.iter().filter(|c| c.state.is_running()).map(|c| {
        node.runtime
            .stop_container(&c.id, StopOptions::grace(grace))
    });
    for result in join_all(stops).await {
        result?;
    }
    Ok(())
}

pub async fn teardown(node: &NodeState, uid: &str, grace: Duration) -> anyhow::Result<()> {
    stop_all(node, uid, grace).await?;
    node.runtime.remove_sandbox(uid).await?;
    Ok(())
}

/// A terminal pod: nothing runs, the IP is given back; container records
/// stay until the pod is deleted.
pub async fn stop_everything(node: &NodeState, uid: &str) -> anyhow::Result<()> {
    let Some(sb) = node.runtime.sandbox_status(uid).await? else {
        return Ok(());
    };
    if sb.is_ready() {
        stop_all(node, uid, Duration::ZERO).await?;
        node.runtime.stop_sandbox(uid).await?;
    }
    Ok(())
}

/// Graceful deletion: stop within the grace period, remove, delete.
pub async fn terminate(engine: &Engine, node: &NodeState, pod: &Pod) -> anyhow::Result<()> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let grace = pod
        .metadata
        .deletion_grace_period_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or_else(|| termination_grace(pod));
    let containers = node.runtime.list_containers(uid).await?;
    for c in &containers {
        if c.state.is_running() {
            let field = field_path(pod, &c.name);
            node.event(
                pod,
                Some(&field),
                false,
                "Killing",
                format!("Stopping container {}", c.name),
            );
        }
    }
    let grace = pre_stop::run_hooks(node, pod, &containers, grace).await;
    teardown(node, uid, grace).await?;
    write::delete_pod(engine, pod).await
}
