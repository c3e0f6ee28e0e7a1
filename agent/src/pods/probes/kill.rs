//! Containers that failed their liveness or startup probe: stopped within
//! their grace period, as the kubelet does, for the pod sync's restart path
//! to start again (restartCount + 1) as the restart policy says.

use std::time::Duration;

use skiff_api::core::Pod;

use super::set::PodProbes;
use crate::node_state::NodeState;
use crate::pods::spec::field_path;
use crate::runtime::{ContainerInfo, StopOptions};

/// Stops each running container in `containers` whose probe failed;
/// `restarts(name)` says whether its restart policy starts it again (the
/// `Killing` message says so). `grace` is the pod's; a probe's own
/// `terminationGracePeriodSeconds` wins. True when one was stopped.
pub async fn stop_unhealthy(
    node: &NodeState,
    pod: &Pod,
    probes: &mut PodProbes,
    containers: &[ContainerInfo],
    grace: Duration,
    restarts: impl Fn(&str) -> bool,
) -> anyhow::Result<bool> {
    probes.retain_killed(containers);
    let mut stopped = false;
    for c in containers.iter().filter(|c| c.state.is_running()) {
        let Some(kill) = probes.kill(&c.id) else {
            continue;
        };
        let mut message = format!("Container {} failed {} probe", c.name, kill.kind.lower());
        if restarts(&c.name) {
            message.push_str(", will be restarted");
        }
        let field = field_path(pod, &c.name);
        node.event(pod, Some(&field), false, "Killing", message);
        let grace = kill.grace.unwrap_or(grace);
        node.runtime
            .stop_container(&c.id, StopOptions::grace(grace))
            .await?;
        probes.mark_killed(&c.id);
        stopped = true;
    }
    Ok(stopped)
}
