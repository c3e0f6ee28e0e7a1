//! Service cluster IPs and node ports: unique, in range, checked when
//! requested, kept on update, released on delete, and never handed out twice
//! across a server restart on the same store.

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn service(name: &str, service_type: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": service_type, "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}})
}

fn ip(svc: &Value) -> String {
    svc["spec"]["clusterIP"].as_str().unwrap().to_string()
}

fn node_ports(svc: &Value) -> Vec<u64> {
    svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["nodePort"].as_u64())
        .collect()
}

async fn allocations_survive_restarts(backend: Backend) {
    let mut s = TestServer::start_with(backend, |c| {
        c.service_cidr = "10.97.0.0/28".into();
        c.node_port_range = (30000, 30007);
    })
    .await;
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for i in 0..3 {
        let svc = s
            .create(SVC, &service(&format!("np-{i}"), "NodePort"))
            .await;
        assert!(ip(&svc).starts_with("10.97.0."), "{svc}");
        assert!(ips.insert(ip(&svc)));
        assert_eq!(svc["spec"]["clusterIPs"], json!([ip(&svc)]));
        for p in node_ports(&svc) {
            assert!((30000..=30007).contains(&p));
            assert!(ports.insert(p), "node port {p} handed out twice");
        }
    }
    assert_eq!(ports.len(), 6);

    // Restart on the same store: the new server sees what is taken.
    s.stop().await;
    let store = s.store.clone();
    let home = std::mem::replace(&mut s.home, StoreHome::Sqlite(tempfile::tempdir().unwrap()));
    let s = TestServer::start_on(store, home, |c| {
        c.service_cidr = "10.97.0.0/28".into();
        c.node_port_range = (30000, 30007);
    })
    .await;
    let svc = s.create(SVC, &service("after", "NodePort")).await;
    assert!(ips.insert(ip(&svc)));
    for p in node_ports(&svc) {
        assert!(ports.insert(p), "node port {p} reused after restart");
    }
    // The range (8 ports) is now full.
    let (code, st) = s.post(SVC, &service("full", "NodePort")).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{st}");

    // Deleting releases: the freed ports can be requested again.
    let (_, freed) = s.get(&format!("{SVC}/np-0")).await;
    let freed_ports = node_ports(&freed);
    s.delete(&format!("{SVC}/np-0"), &json!({})).await;
    let mut again = service("again", "NodePort");
    again["spec"]["ports"][0]["nodePort"] = json!(freed_ports[0]);
    again["spec"]["clusterIP"] = json!(ip(&freed));
    let svc = s.create(SVC, &again).await;
    assert_eq!(node_ports(&svc)[0], freed_ports[0]);
    assert_eq!(ip(&svc), ip(&freed));
}

#[tokio::test]
async fn sqlite_allocations_survive_restarts() {
    allocations_survive_restarts(Backend::Sqlite).await;
}

#[tokio::test]
async fn etcd_allocations_survive_restarts() {
    allocations_survive_restarts(Backend::Etcd).await;
}

#[tokio::test]
async fn requested_addresses_are_checked() {
    let s = TestServer::start(Backend::Sqlite).await;
    let a = s.create(SVC, &service("a", "NodePort")).await;
    let taken_port = node_ports(&a)[0];

    let mut low = service("low", "NodePort");
    low["spec"]["ports"][0]["nodePort"] = json!(80);
    let before = s.revision().await;
    let (code, st) = s.post(SVC, &low).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        st["message"],
        "Service \"low\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    let mut dup = service("dup", "NodePort");
    dup["spec"]["ports"][1]["nodePort"] = json!(taken_port);
    let (code, st) = s.post(SVC, &dup).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        st["details"]["causes"][0]["field"],
        "spec.ports[1].nodePort"
    );
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .ends_with("provided port is already allocated")
    );
    let mut same_ip = service("same-ip", "ClusterIP");
    same_ip["spec"]["clusterIP"] = a["spec"]["clusterIP"].clone();
    let (code, st) = s.post(SVC, &same_ip).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{st}");
    let mut outside = service("outside", "ClusterIP");
    outside["spec"]["clusterIP"] = json!("192.168.1.1");
    let (code, _) = s.post(SVC, &outside).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.revision().await, before);

    // Headless keeps None; ClusterIP Services get no node ports.
    let mut headless = service("headless", "ClusterIP");
    headless["spec"]["clusterIP"] = json!("None");
    let h = s.create(SVC, &headless).await;
    assert_eq!(h["spec"]["clusterIP"], "None");
    let c = s.create(SVC, &service("plain", "ClusterIP")).await;
    assert!(node_ports(&c).is_empty());

    // Updates keep the addresses; NodePort -> ClusterIP drops node ports.
    let mut changed = a.clone();
    changed["metadata"]["labels"] = json!({"x": "y"});
    for p in changed["spec"]["ports"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("nodePort");
    }
    let (code, updated) = s.put(&format!("{SVC}/a"), &changed).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(node_ports(&updated), node_ports(&a));
    assert_eq!(ip(&updated), ip(&a));
    let (code, cluster_only) = s
        .patch(
            &format!("{SVC}/a"),
            "application/merge-patch+json",
            &json!({"spec": {"type": "ClusterIP"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{cluster_only}");
    assert!(node_ports(&cluster_only).is_empty(), "{cluster_only}");
    // ... and its old node port is free again.
    let mut reuse = service("reuse", "NodePort");
    reuse["spec"]["ports"][0]["nodePort"] = json!(taken_port);
    s.create(SVC, &reuse).await;
}
