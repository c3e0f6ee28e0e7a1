//! A node registers, heartbeats through its Lease, and can be told to stop.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use skiff_agent::{Agent, HollowRuntime, NODE_LEASE_NAMESPACE};
use skiff_api::coordination::Lease;
use skiff_api::core::Node;
use skiff_api::meta::MicroTime;
use skiff_client::{Api, Patch};
use support::*;

fn renew_time(l: &Lease) -> MicroTime {
    l.spec.as_ref().unwrap().renew_time.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_and_renews_its_lease() {
    let srv = TestServer::start().await;
    let mut cfg = agent_config("node-a", "10.250.0.1");
    cfg.lease_renew_interval = Duration::from_millis(300);
    let agent = Agent::start(srv.client.clone(), cfg, Arc::new(HollowRuntime::default()))
        .await
        .unwrap();

    let nodes: Api<Node> = Api::all(srv.client.clone());
    let node = nodes.get("node-a").await.unwrap();
    let status = node.status.as_ref().unwrap();
    assert_eq!(status.capacity["cpu"].as_str(), "4");
    assert_eq!(status.capacity["memory"].as_str(), "8Gi");
    assert_eq!(status.capacity["pods"].as_str(), "110");
    assert_eq!(status.allocatable, status.capacity);
    let ready = status.condition("Ready").unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
    assert!(ready.last_heartbeat_time.is_some());
    assert_eq!(status.condition("MemoryPressure").unwrap().status, "False");
    assert_eq!(status.addresses[0].type_, "InternalIP");
    assert_eq!(status.addresses[0].address, "10.250.0.1");
    let info = status.node_info.as_ref().unwrap();
    assert_eq!(info.kubelet_version, "v1.32.0-skiff");
    assert_eq!(info.container_runtime_version, "hollow://0.1");
    assert_eq!(info.architecture, "amd64");
    assert_eq!(node.metadata.labels["kubernetes.io/hostname"], "node-a");
    assert_eq!(node.metadata.labels["kubernetes.io/os"], "linux");

    let leases: Api<Lease> = Api::namespaced(srv.client.clone(), NODE_LEASE_NAMESPACE);
    let first = wait_for("the lease", 10, || async {
        leases.get_opt("node-a").await.unwrap()
    })
    .await;
    let spec = first.spec.as_ref().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("node-a"));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    let owner = &first.metadata.owner_references[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "node-a")
    );
    assert_eq!(Some(&owner.uid), node.metadata.uid.as_ref());
    let t0 = renew_time(&first);
    // Two renewals later.
    let mut seen = t0;
    for _ in 0..2 {
        let prev = seen;
        seen = wait_for("a renewal", 10, || async {
            let t = renew_time(&leases.get("node-a").await.unwrap());
            (t > prev).then_some(t)
        })
        .await;
    }
    assert!(seen > t0);
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_heartbeat_stops_lease_renewals() {
    let srv = TestServer::start().await;
    let mut cfg = agent_config("node-b", "10.250.0.2");
    cfg.lease_renew_interval = Duration::from_millis(200);
    let agent = Agent::start(srv.client.clone(), cfg, Arc::new(HollowRuntime::default()))
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(srv.client.clone(), NODE_LEASE_NAMESPACE);
    wait_for("the lease", 10, || async {
        leases.get_opt("node-b").await.unwrap()
    })
    .await;

    agent.pause_heartbeat();
    assert!(agent.is_heartbeat_paused());
    // A renewal already on its way may land: take the time after it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused_at = renew_time(&leases.get("node-b").await.unwrap());
    // Five renewal intervals without a renewal.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(renew_time(&leases.get("node-b").await.unwrap()), paused_at);

    // Meanwhile the node lifecycle controller would mark the node unknown.
    let nodes: Api<Node> = Api::all(srv.client.clone());
    nodes
        .patch_status(
            "node-b",
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                 "message": "Kubelet stopped posting node status."}]}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let node = nodes.get("node-b").await.unwrap();
    assert_eq!(
        node.status.unwrap().condition("Ready").unwrap().status,
        "Unknown"
    );

    agent.resume_heartbeat();
    wait_for("a renewal after resuming", 10, || async {
        (renew_time(&leases.get("node-b").await.unwrap()) > paused_at).then_some(())
    })
    .await;
    wait_for("Ready again", 10, || async {
        let n = nodes.get("node-b").await.unwrap();
        let s = n.status?;
        let ready = s.condition("Ready")?;
        (ready.status == "True" && s.condition("MemoryPressure").is_some()).then_some(())
    })
    .await;
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_ips_come_from_the_pod_cidr_and_restarts_take_the_node_over() {
    let srv = TestServer::start().await;
    let nodes: Api<Node> = Api::all(srv.client.clone());
    // A previous life of the node, with a podCIDR from the controller.
    let a = Agent::start(
        srv.client.clone(),
        agent_config("node-c", "10.250.0.3"),
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap();
    a.shutdown().await;
    nodes
        .patch(
            "node-c",
            &Patch::Merge(json!({"spec": {"podCIDR": "10.244.9.0/24"}})),
        )
        .await
        .unwrap();
    let mut cfg = agent_config("node-c", "10.250.0.33");
    cfg.labels.insert("tier".into(), "edge".into());
    let b = Agent::start(srv.client.clone(), cfg, Arc::new(HollowRuntime::default()))
        .await
        .unwrap();
    assert_eq!(b.pod_cidr().as_deref(), Some("10.244.9.0/24"));
    let node = nodes.get("node-c").await.unwrap();
    assert_eq!(node.metadata.labels["tier"], "edge");
    assert_eq!(node.status.unwrap().addresses[0].address, "10.250.0.33");

    let pods = srv.pods();
    pods.create(&pod(
        "in-range",
        "node-c",
        "Always",
        vec![container("c", &[])],
    ))
    .await
    .unwrap();
    let p = wait_pod(&pods, "in-range", "a pod IP", |p| {
        p.status.as_ref().is_some_and(|s| s.pod_ip.is_some())
    })
    .await;
    let ip = p.status.unwrap().pod_ip.unwrap();
    assert!(ip.starts_with("10.244.9."), "{ip}");
    b.shutdown().await;
    srv.stop().await;
}
