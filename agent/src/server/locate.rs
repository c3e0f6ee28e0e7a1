//! From the kubelet's names (`namespace/pod/container`) to a runtime and a
//! container id: the pod's node comes from the engine's pods cache (its
//! uid too), the container from the runtime's own records, so a pod the
//! API server no longer has (force-deleted, still stopping) is found too.

use std::sync::Arc;

use skiff_api::Status;

use crate::engine::Engine;
use crate::runtime::{ContainerInfo, ContainerState, Runtime};

/// Which instance of the container a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The newest one (or, if that one never started, the one before: the
    /// kubelet serves `lastState` then).
    Current,
    /// The one before the newest (`--previous`).
    Previous,
}

/// A container found for a request.
pub struct Located {
    pub runtime: Arc<dyn Runtime>,
    pub container: ContainerInfo,
}

/// Finds `container` of pod `namespace/pod` on any node the engine runs.
pub async fn locate(
    engine: &Engine,
    namespace: &str,
    pod: &str,
    container: &str,
    instance: Instance,
) -> Result<Located, Status> {
    let (runtime, uid) = find_pod(engine, namespace, pod).await?;
    let all = runtime
        .list_containers(&uid)
        .await
        .map_err(|e| Status::internal(format!("listing the containers of pod {pod}: {e}")))?;
    // Creation order: the last of that name is the newest.
    let named: Vec<ContainerInfo> = all.into_iter().filter(|c| c.name == container).collect();
    let chosen = match instance {
        Instance::Previous => {
            let previous = named.len().checked_sub(2).map(|i| named[i].clone());
            previous.ok_or_else(|| {
                Status::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                ))
            })?
        }
        Instance::Current => match named.as_slice() {
            [] => return Err(waiting(container, pod)),
            [.., before, last] if last.state == ContainerState::Created => before.clone(),
            [.., last] if last.state == ContainerState::Created => {
                return Err(waiting(container, pod));
            }
            [.., last] => last.clone(),
        },
    };
    Ok(Located {
        runtime,
        container: chosen,
    })
}

fn waiting(container: &str, pod: &str) -> Status {
    Status::bad_request(format!(
        "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
    ))
}

/// The runtime running pod `namespace/name` and the pod's uid.
async fn find_pod(
    engine: &Engine,
    namespace: &str,
    name: &str,
) -> Result<(Arc<dyn Runtime>, String), Status> {
    let key = format!("{namespace}/{name}");
    if let Some(pod) = engine.pods_cache.get(&key) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let uid = pod.metadata.uid.clone();
        if let (Some(node), Some(uid)) = (node.and_then(|n| engine.node(n)), uid) {
            return Ok((node.runtime.clone(), uid));
        }
    }
    // Not (or no longer) in the API server: the runtimes may still run it.
    for node in engine.all_nodes() {
        let Ok(sandboxes) = node.runtime.list_sandboxes().await else {
            continue;
        };
        if let Some(sb) = sandboxes
            .into_iter()
            .filter(|s| s.namespace == namespace && s.name == name)
            .max_by_key(|s| s.created_at)
        {
            return Ok((node.runtime.clone(), sb.pod_uid));
        }
    }
    Err(Status::not_found(&skiff_api::core::PODS, name))
}
