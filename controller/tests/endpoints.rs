//! The Endpoints controller against a real API server: addresses follow
//! pod readiness and labels, named target ports resolve per pod, the
//! Endpoints go with their Service, and hand-made ones are left alone.

mod in_process;

use in_process::*;
use serde_json::json;
use skiff_api::core::{EndpointSubset, Endpoints, Pod, Service};
use skiff_client::{Api, DeleteParams, Patch};
use skiff_controller::endpoints;

fn pod(name: &str, app: &str, named_port: Option<(&str, i32)>) -> Pod {
    let ports: Vec<_> = named_port
        .map(|(n, p)| json!({"name": n, "containerPort": p}))
        .into_iter()
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx", "ports": ports}]},
    }))
    .unwrap()
}

/// Writes what a node agent would: Running, an IP, `Ready`.
async fn report(api: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let mut p = api.get(name).await.unwrap();
    p.status = Some(
        serde_json::from_value(json!({
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        }))
        .unwrap(),
    );
    api.replace_status(name, &p).await.unwrap();
}

/// `(ready ips, not-ready ips, ports)` of each subset, in order.
fn shape(subsets: &[EndpointSubset]) -> Vec<(Vec<String>, Vec<String>, Vec<i32>)> {
    subsets
        .iter()
        .map(|s| {
            (
                s.addresses.iter().map(|a| a.ip.clone()).collect(),
                s.not_ready_addresses.iter().map(|a| a.ip.clone()).collect(),
                s.ports.iter().map(|p| p.port).collect(),
            )
        })
        .collect()
}

fn owned(ips: &[&str]) -> Vec<String> {
    ips.iter().map(|s| s.to_string()).collect()
}

async fn wait_shape(
    eps: &Api<Endpoints>,
    what: &str,
    want: Vec<(Vec<String>, Vec<String>, Vec<i32>)>,
) -> Endpoints {
    let mut last = None;
    let found = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            if let Ok(Some(e)) = eps.get_opt("web").await {
                if shape(&e.subsets) == want {
                    return e;
                }
                last = Some(shape(&e.subsets));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{what}: wanted {want:?}, last saw {last:?}"))
}

#[tokio::test]
async fn endpoints_follow_readiness_labels_and_named_ports() {
    let c = Cluster::start(&[endpoints::start]).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http-alt"},
            {"name": "metrics", "port": 9090, "targetPort": 9100},
        ]},
    }))
    .unwrap();
    services.create(&svc).await.unwrap();
    pods.create(&pod("p1", "web", Some(("http-alt", 8080))))
        .await
        .unwrap();
    pods.create(&pod("p2", "web", Some(("http-alt", 8081))))
        .await
        .unwrap();
    pods.create(&pod("p3", "other", None)).await.unwrap();

    // No pod has an IP yet: an empty Endpoints with the Service's labels.
    let e = wait_shape(&eps, "empty endpoints", vec![]).await;
    assert_eq!(
        e.metadata.labels.get("tier").map(String::as_str),
        Some("front")
    );

    report(&pods, "p1", "10.1.0.1", true).await;
    report(&pods, "p2", "10.1.0.2", false).await;
    report(&pods, "p3", "10.1.0.3", true).await;
    let e = wait_shape(
        &eps,
        "p1 ready, p2 not ready",
        vec![
            (owned(&["10.1.0.1"]), vec![], vec![8080, 9100]),
            (vec![], owned(&["10.1.0.2"]), vec![8081, 9100]),
        ],
    )
    .await;
    let a = &e.subsets[0].addresses[0];
    assert_eq!(a.node_name.as_deref(), Some("n1"));
    let r = a.target_ref.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref()),
        (Some("Pod"), Some("p1"))
    );
    assert!(r.uid.is_some());
    assert_eq!(e.subsets[0].ports[0].name.as_deref(), Some("http"));

    report(&pods, "p2", "10.1.0.2", true).await;
    wait_shape(
        &eps,
        "both ready",
        vec![
            (owned(&["10.1.0.1"]), vec![], vec![8080, 9100]),
            (owned(&["10.1.0.2"]), vec![], vec![8081, 9100]),
        ],
    )
    .await;

    // p1 leaves by relabelling; p3 joins, without the named port.
    pods.patch(
        "p1",
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .unwrap();
    pods.patch(
        "p3",
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .unwrap();
    wait_shape(
        &eps,
        "p1 out, p3 in on the numeric port only",
        vec![
            (owned(&["10.1.0.2"]), vec![], vec![8081, 9100]),
            (owned(&["10.1.0.3"]), vec![], vec![9100]),
        ],
    )
    .await;

    // A deleted pod goes at once (it is terminating).
    pods.delete("p2", &DeleteParams::default()).await.unwrap();
    wait_shape(
        &eps,
        "p2 gone",
        vec![(owned(&["10.1.0.3"]), vec![], vec![9100])],
    )
    .await;

    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_until("the Endpoints deleted with the Service", 15, || async {
        eps.get_opt("web").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn publish_not_ready_and_hand_made_endpoints() {
    let c = Cluster::start(&[endpoints::start]).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");

    // Without a selector, the Endpoints are the user's.
    let manual: Service = serde_json::from_value(json!({
        "metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432}]},
    }))
    .unwrap();
    services.create(&manual).await.unwrap();
    let mine: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "subsets": [{"addresses": [{"ip": "192.168.1.10"}], "ports": [{"port": 5432}]}],
    }))
    .unwrap();
    let created = eps.create(&mine).await.unwrap();

    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "publishNotReadyAddresses": true,
                 "ports": [{"port": 80}]},
    }))
    .unwrap();
    services.create(&svc).await.unwrap();
    pods.create(&pod("p1", "web", None)).await.unwrap();
    report(&pods, "p1", "10.1.0.1", false).await;
    wait_shape(
        &eps,
        "a not-ready pod published",
        vec![(owned(&["10.1.0.1"]), vec![], vec![80])],
    )
    .await;

    // Meanwhile the hand-made Endpoints were not touched (the db Service
    // was looked at before web's pods were).
    let db = eps.get("db").await.unwrap();
    assert_eq!(db.subsets[0].addresses[0].ip, "192.168.1.10");
    assert_eq!(
        db.metadata.resource_version,
        created.metadata.resource_version
    );
}
