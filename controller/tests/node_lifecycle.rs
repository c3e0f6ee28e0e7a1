//! Node lifecycle against a real API server, on a fake clock: a node that
//! stops renewing its Lease becomes Ready=Unknown and tainted, its pods
//! are marked not ready and evicted once their toleration runs out (a pod
//! that tolerates the taint for ever stays), and the taint goes when the
//! node is back. Pods of a Node that does not exist are deleted.

mod in_process;

use std::time::Duration;

use in_process::*;
use serde_json::json;
use skiff_api::coordination::Lease;
use skiff_api::core::{Event, Node, Pod};
use skiff_api::meta::MicroTime;
use skiff_client::{Api, ListParams, Patch};
use skiff_controller::node_lifecycle::{self, NODE_LEASE_NAMESPACE, UNREACHABLE};

/// A Node reporting `Ready=True` now, with a fresh Lease.
async fn healthy_node(c: &Cluster, name: &str) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    nodes.create(&node).await.unwrap();
    report_ready(c, name).await;
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), NODE_LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40},
    }))
    .unwrap();
    leases.create(&lease).await.unwrap();
    renew(c, name).await;
}

/// What the node agent's heartbeat does.
async fn renew(c: &Cluster, name: &str) {
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), NODE_LEASE_NAMESPACE);
    let now = MicroTime::from(c.ctx.clock.now());
    let patch = Patch::Merge(json!({"spec": {"renewTime": now}}));
    leases.patch(name, &patch).await.unwrap();
}

/// What the node agent's status update does.
async fn report_ready(c: &Cluster, name: &str) {
    let nodes: Api<Node> = Api::all(c.client.clone());
    let mut node = nodes.get(name).await.unwrap();
    let now = skiff_api::meta::Time::from(c.ctx.clock.now());
    node.status = Some(
        serde_json::from_value(json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "lastHeartbeatTime": now, "lastTransitionTime": now},
        ]}))
        .unwrap(),
    );
    nodes.replace_status(name, &node).await.unwrap();
}

/// A Running, Ready pod on `node` with `tolerations`.
async fn running_pod(c: &Cluster, name: &str, node: &str, tolerations: serde_json::Value) {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "tolerations": tolerations,
                 "containers": [{"name": "c", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&pod).await.unwrap();
    let mut p = pods.get(name).await.unwrap();
    p.status = Some(
        serde_json::from_value(json!({"phase": "Running", "podIP": "10.244.0.9",
            "conditions": [{"type": "Ready", "status": "True"}]}))
        .unwrap(),
    );
    pods.replace_status(name, &p).await.unwrap();
}

fn ready(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

fn has_unreachable_taint(node: &Node) -> bool {
    node.spec.as_ref().is_some_and(|s| {
        s.taints
            .iter()
            .any(|t| t.key == UNREACHABLE && t.effect == "NoExecute")
    })
}

async fn events_for(c: &Cluster, name: &str, reason: &str) -> bool {
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| {
            e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(name)
        })
}

/// Moves the fake clock a second at a time (keeping `alive` nodes'
/// heartbeats going) until `done` holds. Time only moves while it does
/// not, so whatever `done` saw happened at the latest clock reading.
async fn let_time_pass<F, Fut>(c: &Cluster, alive: &[&str], what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..40 {
        c.advance(1);
        for n in alive {
            renew(c, n).await;
        }
        // At least two looks of the controller (every 500 ms) per second.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
        while tokio::time::Instant::now() < deadline {
            if done().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("time passed, but never {what}");
}

#[tokio::test]
async fn a_silent_node_is_tainted_its_pods_evicted_and_it_recovers() {
    let c = Cluster::start(&[node_lifecycle::start]).await;
    healthy_node(&c, "silent").await;
    healthy_node(&c, "alive").await;
    running_pod(&c, "plain", "silent", json!([])).await;
    running_pod(
        &c,
        "stays",
        "silent",
        json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]),
    )
    .await;
    running_pod(&c, "elsewhere", "alive", json!([])).await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");

    // "silent" stops renewing; "alive" goes on. Grace period: 4 s.
    let_time_pass(
        &c,
        &["alive"],
        "the silent node became Unknown and tainted",
        || async {
            let n = nodes.get("silent").await.unwrap();
            ready(&n).as_deref() == Some("Unknown") && has_unreachable_taint(&n)
        },
    )
    .await;
    let n = nodes.get("silent").await.unwrap();
    let cond = n
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(cond.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        cond.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    let taint = n
        .spec
        .as_ref()
        .unwrap()
        .taints
        .iter()
        .find(|t| t.key == UNREACHABLE)
        .unwrap();
    assert!(taint.time_added.is_some());
    // Toleration time (2 s by default) not over yet: marked, not evicted.
    let plain = pods.get("plain").await.unwrap();
    assert!(
        plain.metadata.deletion_timestamp.is_none(),
        "evicted before its toleration ran out"
    );
    wait_until("the silent node's pods marked not ready", 10, || async {
        let p = pods.get("plain").await.unwrap();
        p.status
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False")
    })
    .await;
    assert!(events_for(&c, "silent", "NodeNotReady").await);

    let_time_pass(
        &c,
        &["alive"],
        "the plain pod evicted (and, terminating on a dead node, removed)",
        || async { pods.get_opt("plain").await.unwrap().is_none() },
    )
    .await;
    assert!(events_for(&c, "plain", "TaintManagerEviction").await);
    let stays = pods.get("stays").await.unwrap();
    assert!(
        stays.metadata.deletion_timestamp.is_none(),
        "a pod tolerating for ever was evicted"
    );
    let alive = nodes.get("alive").await.unwrap();
    assert_eq!(ready(&alive).as_deref(), Some("True"));
    assert!(alive.spec.unwrap_or_default().taints.is_empty());
    assert!(
        pods.get("elsewhere")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // The node is back: heartbeat and status. The taint goes.
    renew(&c, "silent").await;
    report_ready(&c, "silent").await;
    wait_until("the taint removed from the recovered node", 10, || async {
        !has_unreachable_taint(&nodes.get("silent").await.unwrap())
    })
    .await;
    assert!(
        pods.get("stays")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
}

#[tokio::test]
async fn pods_of_missing_nodes_go_and_silent_new_nodes_become_unknown() {
    let c = Cluster::start(&[node_lifecycle::start]).await;
    running_pod(&c, "stranded", "ghost", json!([])).await;
    // Registered, never reported anything.
    let nodes: Api<Node> = Api::all(c.client.clone());
    nodes
        .create(&serde_json::from_value(json!({"metadata": {"name": "mute"}})).unwrap())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let_time_pass(
        &c,
        &[],
        "the pod of a missing node deleted and the mute node Unknown",
        || async {
            let mute = nodes.get("mute").await.unwrap();
            pods.get_opt("stranded").await.unwrap().is_none()
                && ready(&mute).as_deref() == Some("Unknown")
                && has_unreachable_taint(&mute)
        },
    )
    .await;
    let mute = nodes.get("mute").await.unwrap();
    let cond = mute
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(cond.reason.as_deref(), Some("NodeStatusNeverUpdated"));
}
