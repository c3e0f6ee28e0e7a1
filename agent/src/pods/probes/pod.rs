//! The pod sync's side of probes: which containers get workers, and how a
//! worker's change reaches the pod's work queue.

use std::net::IpAddr;
use std::sync::Arc;

use skiff_api::core::{Container, Pod, PodSpec};

use super::set::{PodProbes, ProbeContext, has_probes};
use crate::engine::{Engine, PodKey};
use crate::node_state::NodeState;
use crate::runtime::ContainerInfo;

/// Starts and stops the workers of the pod's containers to match what runs
/// (`containers`: the runtime's list). App containers and sidecars have
/// probes; regular init containers do not.
pub fn sync_pod_probes(
    engine: &Engine,
    node: &NodeState,
    pod: &Pod,
    spec: &PodSpec,
    pod_ip: Option<IpAddr>,
    probes: &mut PodProbes,
    containers: &[ContainerInfo],
) {
    let sidecars = spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let probed: Vec<&Container> = spec
        .containers
        .iter()
        .chain(sidecars)
        .filter(|c| has_probes(c))
        .collect();
    if probed.is_empty() && probes.is_empty() {
        return;
    }
    let running: Vec<(&ContainerInfo, &Container)> = containers
        .iter()
        .filter(|c| c.state.is_running())
        .filter_map(|info| {
            let spec = probed.iter().find(|s| s.name == info.name)?;
            Some((info, *spec))
        })
        .collect();
    probes.sync(&running, || {
        let this = engine.node(&node.name)?;
        let queue = engine.pod_queue.clone();
        let key = PodKey {
            node: node.name.clone(),
            pod: format!(
                "{}/{}",
                pod.metadata.namespace_str(),
                pod.metadata.name_str()
            )
            .into(),
        };
        Some(ProbeContext {
            runtime: node.runtime.clone(),
            node: Arc::downgrade(&this),
            pod: ProbeContext::event_pod(pod),
            pod_ip,
            resync: Arc::new(move || queue.add(key.clone())),
        })
    });
}
