//! preStop hooks on graceful deletion: each running container's `exec` or
//! `sleep` hook runs (all at once) before its stop signal, inside the grace
//! period, as the kubelet does. This is what lets a Service drop a
//! terminating endpoint before the server in it stops accepting.

use std::time::Duration;

use futures::future::join_all;
use skiff_api::core::{LifecycleHandler, Pod};
use tokio::time::Instant;

use super::spec::field_path;
use crate::node_state::NodeState;
use crate::runtime::ContainerInfo;

/// Runs the hooks of `containers` (the running ones of `pod`) within
/// `grace`; returns what is left of it for the stop signal.
pub async fn run_hooks(
    node: &NodeState,
    pod: &Pod,
    containers: &[ContainerInfo],
    grace: Duration,
) -> Duration {
    let started = Instant::now();
    let hooks = containers
        .iter()
        .filter(|c| c.state.is_running())
        .filter_map(|c| Some((c, hook_of(pod, &c.name)?)))
        .map(|(c, hook)| run_one(node, pod, c, hook, grace));
    let _ = tokio::time::timeout(grace, join_all(hooks)).await;
    grace.saturating_sub(started.elapsed())
}

fn hook_of<'a>(pod: &'a Pod, container: &str) -> Option<&'a LifecycleHandler> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .lifecycle
        .as_ref()?
        .pre_stop
        .as_ref()
}

async fn run_one(
    node: &NodeState,
    pod: &Pod,
    container: &ContainerInfo,
    hook: &LifecycleHandler,
    grace: Duration,
) {
    let failed = |message: String| {
        let field = field_path(pod, &container.name);
        node.event(pod, Some(&field), true, "FailedPreStopHook", message);
    };
    if let Some(sleep) = &hook.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64).min(grace)).await;
    } else if let Some(exec) = &hook.exec {
        match node
            .runtime
            .exec_sync(&container.id, &exec.command, grace)
            .await
        {
            Ok(out) if out.exit_code == 0 => {}
            Ok(out) => failed(format!(
                "PreStopHook {:?} exited with {}: {}",
                exec.command,
                out.exit_code,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failed(format!("PreStopHook {:?} failed: {e}", exec.command)),
        }
    } else {
        failed("only exec and sleep preStop hooks are supported".into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use skiff_api::core::{Container, ExecAction, Lifecycle, PodSpec, SleepAction};
    use skiff_client::Client;

    use super::*;
    use crate::config::AgentConfig;
    use crate::runtime::hollow::HollowRuntime;
    use crate::runtime::{ContainerConfig, Runtime, SandboxConfig};

    fn pod(hook: Option<LifecycleHandler>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    lifecycle: hook.map(|h| Lifecycle {
                        pre_stop: Some(h),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn sleep(seconds: i64) -> LifecycleHandler {
        LifecycleHandler {
            sleep: Some(SleepAction { seconds }),
            ..Default::default()
        }
    }

    /// A node with one running container `web` of pod `u1`.
    async fn node() -> (Arc<NodeState>, Vec<ContainerInfo>) {
        let runtime = Arc::new(HollowRuntime::default());
        let sandbox = SandboxConfig {
            pod_uid: "u1".into(),
            namespace: "ns".into(),
            name: "p".into(),
            pod_cidr: Some("10.244.0.0/24".into()),
            ..Default::default()
        };
        runtime.run_sandbox(&sandbox).await.unwrap();
        let config = ContainerConfig {
            name: "web".into(),
            image: "busybox".into(),
            ..Default::default()
        };
        let id = runtime.create_container("u1", &config).await.unwrap();
        runtime.start_container(&id).await.unwrap();
        let containers = runtime.list_containers("u1").await.unwrap();
        let cfg = AgentConfig::new("n1", "10.250.0.1".parse().unwrap());
        let client = Client::from_server("http://127.0.0.1:9").unwrap();
        (NodeState::new(cfg, runtime, client), containers)
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_hook_runs_before_the_stop_and_uses_up_grace() {
        let (node, containers) = node().await;
        let started = Instant::now();
        let grace = Duration::from_secs(10);
        let left = run_hooks(&node, &pod(Some(sleep(2))), &containers, grace).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(left, Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_longer_than_the_grace_period_is_cut_short() {
        let (node, containers) = node().await;
        let started = Instant::now();
        let grace = Duration::from_secs(1);
        let left = run_hooks(&node, &pod(Some(sleep(30))), &containers, grace).await;
        assert_eq!(started.elapsed(), grace);
        assert_eq!(left, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_hook_takes_no_time_and_an_exec_hook_runs_in_the_container() {
        let (node, containers) = node().await;
        let grace = Duration::from_secs(5);
        assert_eq!(
            run_hooks(&node, &pod(None), &containers, grace).await,
            grace
        );
        let exec = LifecycleHandler {
            exec: Some(ExecAction {
                command: vec!["true".into()],
            }),
            ..Default::default()
        };
        assert_eq!(
            run_hooks(&node, &pod(Some(exec)), &containers, grace).await,
            grace
        );
    }
}
