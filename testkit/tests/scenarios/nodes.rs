//! Nodes and the control plane's own availability: a node that goes
//! silent, a pod that fits nowhere until a node joins, and controller
//! replicas under leader election.

use std::time::Duration;

use serde_json::json;
use skiff_api::core::{Node, Pod};
use skiff_testkit::Cluster;
use skiff_testkit::objects::{deployment, is_active, is_available, node_of};

use crate::support::*;

fn ready_condition(n: &Node) -> String {
    n.status
        .as_ref()
        .and_then(|s| s.condition("Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

fn unreachable_taint(n: &Node) -> bool {
    n.spec.as_ref().is_some_and(|s| {
        s.taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_loses_its_pods_to_the_others() {
    let c = cluster(3).await;
    create_deployment(&c, &deployment("web", 6, "nginx:1.27")).await;
    let pods = wait_settled(&c, "web", 6).await;
    // The scheduler spreads a ReplicaSet: every node has some.
    let silent = node_of(&pods[0]).unwrap().to_string();
    let on_silent = pods.iter().filter(|p| node_of(p) == Some(&silent)).count();
    assert!(on_silent > 0);

    c.stop_heartbeat(&silent).unwrap();
    let config = c.controller_config();
    // Lab profile: unknown after the grace period, evicted after the
    // default toleration, noticed within a monitor period; then the pods
    // are made again and scheduled. Slack for a loaded machine.
    let budget = config.node_monitor_grace_period
        + config.node_monitor_period
        + Duration::from_secs(config.default_toleration_seconds as u64)
        + Duration::from_secs(8);
    let started = tokio::time::Instant::now();
    let nodes = c.api_all::<Node>();
    c.wait_until(budget, &format!("{silent} unknown and tainted"), || async {
        let n = nodes.get(&silent).await.unwrap();
        ready_condition(&n) == "Unknown" && unreachable_taint(&n)
    })
    .await
    .unwrap();
    let deadline = budget.saturating_sub(started.elapsed());
    c.wait_until(
        deadline,
        "6 available pods away from the silent node",
        || async {
            let pods = pods_of(&c, "web").await;
            let active: Vec<&Pod> = pods.iter().filter(|p| is_active(p)).collect();
            active.len() == 6
                && active.iter().all(|p| is_available(p))
                && active.iter().all(|p| node_of(p) != Some(&silent))
        },
    )
    .await
    .unwrap();

    // Back on line: Ready again, untainted.
    c.resume_heartbeat(&silent).unwrap();
    c.wait_until(CONVERGE, &format!("{silent} ready again"), || async {
        let n = nodes.get(&silent).await.unwrap();
        ready_condition(&n) == "True" && !unreachable_taint(&n)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unschedulable_pod_runs_once_a_fitting_node_joins() {
    let mut c = cluster(1).await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "fussy"},
        "spec": {"nodeSelector": {"disk": "ssd"},
            "containers": [{"name": "app", "image": "nginx:1.27"}]},
    }))
    .unwrap();
    let pods = c.api::<Pod>(NS);
    pods.create(&pod).await.unwrap();
    c.wait_until(CONVERGE, "PodScheduled=False, Unschedulable", || async {
        let p = pods.get("fussy").await.unwrap();
        p.status
            .as_ref()
            .and_then(|s| s.condition("PodScheduled"))
            .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    })
    .await
    .unwrap();
    assert_eq!(node_of(&pods.get("fussy").await.unwrap()), None);

    c.add_named_node("ssd-0", |config| {
        config.labels.insert("disk".into(), "ssd".into());
    })
    .await
    .unwrap();
    let p = c
        .wait_for(CONVERGE, "the pod running on ssd-0", || async {
            let p = pods.get("fussy").await.ok()?;
            is_available(&p).then_some(p)
        })
        .await
        .unwrap();
    assert_eq!(node_of(&p), Some("ssd-0"));
}

/// The replicas that recorded scaling Events about `name`.
async fn scaling_reporters(c: &Cluster, name: &str, message_part: &str) -> Vec<String> {
    events_about(c, name)
        .await
        .into_iter()
        .filter(|(reason, message, _)| {
            reason == "ScalingReplicaSet" && message.contains(message_part)
        })
        .map(|(_, _, instance)| instance)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controller_replicas_one_leader_and_a_failover() {
    init_logging();
    let mut c = Cluster::builder()
        .nodes(1)
        .lab_profile()
        .controller_replicas(2)
        .start()
        .await
        .unwrap();
    let leader = c
        .wait_for(CONVERGE, "a leader", || async {
            c.leader().await.ok().flatten()
        })
        .await
        .unwrap();
    let follower = if leader == "controller-0" {
        "controller-1"
    } else {
        "controller-0"
    };
    create_deployment(&c, &deployment("web", 2, "nginx:1.27")).await;
    c.wait_rolled_out(NS, "web", CONVERGE).await.unwrap();
    wait_settled(&c, "web", 2).await;
    assert_eq!(c.times_led(&leader), 1);
    assert_eq!(c.times_led(follower), 0, "the follower never acted");
    let reporters = scaling_reporters(&c, "web", "to 2").await;
    assert!(!reporters.is_empty());
    assert!(reporters.iter().all(|r| *r == leader), "{reporters:?}");

    // The leader crashes without giving the Lease back: the follower takes
    // over once it expires.
    assert!(c.kill_controller_replica(&leader).await);
    c.wait_until(CONVERGE, "the follower leading", || async {
        c.leader().await.ok().flatten().as_deref() == Some(follower)
    })
    .await
    .unwrap();
    scale(&c, "web", 4).await;
    wait_settled(&c, "web", 4).await;
    c.wait_rolled_out(NS, "web", CONVERGE).await.unwrap();
    assert_eq!(c.times_led(follower), 1);
    let reporters = c
        .wait_for(CONVERGE, "the scaling event", || async {
            let r = scaling_reporters(&c, "web", "to 4").await;
            (!r.is_empty()).then_some(r)
        })
        .await
        .unwrap();
    assert!(reporters.iter().all(|r| r == follower), "{reporters:?}");
}
