//! podCIDR allocation against a real API server: unique subnets, reuse
//! after a Node is deleted, no duplicates after a controller restart, and
//! an Event when the cluster CIDR is used up.

mod in_process;

use std::collections::BTreeSet;

use in_process::*;
use skiff_api::core::{Event, Node};
use skiff_api::meta::ObjectMeta;
use skiff_client::{Api, DeleteParams, ListParams};
use skiff_controller::config::ControllerConfig;
use skiff_controller::node_ipam;

fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Waits for `name`'s podCIDR and checks `podCIDRs` agrees.
async fn pod_cidr(api: &Api<Node>, name: &str) -> String {
    wait_for(&format!("a podCIDR on {name}"), 15, || async {
        let n = api.get(name).await.ok()?;
        let spec = n.spec?;
        let cidr = spec.pod_cidr?;
        assert_eq!(spec.pod_cidrs, vec![cidr.clone()]);
        Some(cidr)
    })
    .await
}

#[tokio::test]
async fn nodes_get_unique_subnets_reused_after_deletion_and_restart() {
    let mut c = Cluster::start(&[node_ipam::start]).await;
    let api: Api<Node> = Api::all(c.client.clone());
    for n in ["a", "b", "c"] {
        api.create(&node(n)).await.unwrap();
    }
    let mut seen = BTreeSet::new();
    for n in ["a", "b", "c"] {
        let cidr = pod_cidr(&api, n).await;
        assert!(
            cidr.starts_with("10.244.") && cidr.ends_with(".0/24"),
            "{cidr}"
        );
        assert!(seen.insert(cidr), "duplicate podCIDR");
    }
    let b = pod_cidr(&api, "b").await;

    // b's subnet is free again, and the lowest free one.
    api.delete("b", &DeleteParams::default()).await.unwrap();
    wait_until("b's deletion seen", 10, || async {
        c.ctx.informers.nodes.cache.get("b").is_none()
    })
    .await;
    api.create(&node("d")).await.unwrap();
    assert_eq!(pod_cidr(&api, "d").await, b);

    // A restarted allocator learns what is taken from the Nodes.
    c.restart(&[node_ipam::start]);
    api.create(&node("e")).await.unwrap();
    let e = pod_cidr(&api, "e").await;
    let all: Vec<String> =
        futures::future::join_all(["a", "c", "d", "e"].map(|n| pod_cidr(&api, n))).await;
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 4, "duplicates after a restart: {all:?}");
    assert!(!seen.contains(&e), "{e} was handed out before");
}

#[tokio::test]
async fn an_exhausted_range_is_reported_and_freed_subnets_handed_out() {
    let config = ControllerConfig {
        cluster_cidr: "10.10.0.0/23".into(),
        node_cidr_mask: 24,
        ..ControllerConfig::lab_profile()
    };
    let c = Cluster::start_with(config, &[node_ipam::start]).await;
    let api: Api<Node> = Api::all(c.client.clone());
    api.create(&node("one")).await.unwrap();
    api.create(&node("two")).await.unwrap();
    let one = pod_cidr(&api, "one").await;
    pod_cidr(&api, "two").await;
    api.create(&node("three")).await.unwrap();
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    wait_until("a CIDRNotAvailable event", 15, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("CIDRNotAvailable")
                    && e.involved_object.name.as_deref() == Some("three")
            })
    })
    .await;
    assert!(
        api.get("three")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.pod_cidr)
            .is_none()
    );
    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert_eq!(pod_cidr(&api, "three").await, one);
}
