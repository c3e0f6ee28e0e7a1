//! LoadBalancer status against a real API server: ingress = the Ready
//! Nodes' InternalIPs, following Nodes as they come, go ready or not, and
//! cleared when the Service stops being a LoadBalancer.

mod in_process;

use in_process::*;
use skiff_api::core::{
    Node, NodeAddress, NodeCondition, NodeStatus, Service, ServicePort, ServiceSpec,
};
use skiff_api::meta::ObjectMeta;
use skiff_client::Api;
use skiff_controller::service_lb;

async fn add_node(api: &Api<Node>, name: &str, ip: &str, ready: &str) {
    let mut node = Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    if api.get_opt(name).await.unwrap().is_none() {
        node = api.create(&node).await.unwrap();
    } else {
        node = api.get(name).await.unwrap();
    }
    node.status = Some(NodeStatus {
        addresses: vec![NodeAddress {
            type_: "InternalIP".into(),
            address: ip.into(),
        }],
        conditions: vec![NodeCondition {
            type_: "Ready".into(),
            status: ready.into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    api.replace_status(name, &node).await.unwrap();
}

fn service(name: &str, type_: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            ports: vec![ServicePort {
                port: 80,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn ingress_ips(api: &Api<Service>, name: &str) -> Vec<String> {
    let svc = api.get(name).await.unwrap();
    svc.status
        .and_then(|s| s.load_balancer)
        .map(|lb| lb.ingress.into_iter().filter_map(|i| i.ip).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn load_balancers_get_ready_node_ips_as_ingress() {
    let c = Cluster::start(&[service_lb::start]).await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    add_node(&nodes, "n1", "10.250.0.1", "True").await;
    add_node(&nodes, "n2", "10.250.0.2", "False").await;
    services
        .create(&service("lb", "LoadBalancer"))
        .await
        .unwrap();
    services
        .create(&service("plain", "ClusterIP"))
        .await
        .unwrap();

    wait_until("lb's ingress = n1", 10, || async {
        ingress_ips(&services, "lb").await == ["10.250.0.1"]
    })
    .await;

    // n2 turns Ready: it joins the ingress.
    add_node(&nodes, "n2", "10.250.0.2", "True").await;
    wait_until("lb's ingress = n1, n2", 10, || async {
        ingress_ips(&services, "lb").await == ["10.250.0.1", "10.250.0.2"]
    })
    .await;
    assert!(ingress_ips(&services, "plain").await.is_empty());

    // No longer a LoadBalancer: the ingress goes.
    let mut lb = services.get("lb").await.unwrap();
    let spec = lb.spec.as_mut().unwrap();
    spec.type_ = Some("ClusterIP".into());
    for p in &mut spec.ports {
        p.node_port = None;
    }
    services.replace("lb", &lb).await.unwrap();
    wait_until("lb's ingress cleared", 10, || async {
        ingress_ips(&services, "lb").await.is_empty()
    })
    .await;
}
