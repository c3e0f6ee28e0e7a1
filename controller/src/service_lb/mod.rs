//! LoadBalancer status, lab-style: every `type: LoadBalancer` Service gets
//! the InternalIPs of the Ready Nodes as `status.loadBalancer.ingress`
//! (each node's service proxy serves them as it serves the ClusterIP), so
//! `get svc` shows an EXTERNAL-IP instead of `<pending>`. A Service that
//! stops being a LoadBalancer has its ingress cleared.

use std::sync::Arc;

use skiff_api::core::{LoadBalancerIngress, LoadBalancerStatus, Node, Service};
use skiff_client::Api;
use skiff_client::runtime::{Action, ObjectExt, ObjectKey, WorkQueue};
use tokio::task::JoinSet;

use crate::context::Context;
use crate::run::{requeue_on_conflict, spawn_workers};

pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let queue: WorkQueue<ObjectKey> = WorkQueue::new();
    let informers = &ctx.informers;
    informers.services.on_event({
        let queue = queue.clone();
        move |event| {
            for service in event.objects() {
                queue.add(service.key());
            }
        }
    });
    // A Node joining, leaving or changing readiness changes every
    // LoadBalancer's ingress.
    informers.nodes.on_event({
        let (queue, services) = (queue.clone(), informers.services.cache.clone());
        move |_| {
            for service in services.filter(None, is_load_balancer) {
                queue.add(service.key());
            }
        }
    });
    let reconcile_ctx = ctx.clone();
    spawn_workers(ctx, tasks, "service-lb", queue, move |key: ObjectKey| {
        let ctx = reconcile_ctx.clone();
        async move { requeue_on_conflict(reconcile(&ctx, &key).await) }
    });
}

fn is_load_balancer(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .is_some_and(|s| s.type_str() == "LoadBalancer")
}

/// The Ready Nodes' InternalIPs, sorted, as ingress entries.
pub fn desired_ingress(nodes: &[Arc<Node>]) -> Vec<LoadBalancerIngress> {
    let mut ips: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.status.as_ref())
        .filter(|s| s.is_ready())
        .filter_map(|s| s.internal_ips().next().map(str::to_string))
        .collect();
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip),
            ip_mode: Some("VIP".into()),
            ..Default::default()
        })
        .collect()
}

async fn reconcile(ctx: &Context, key: &ObjectKey) -> Result<Action, skiff_client::Error> {
    let Some(service) = ctx.informers.services.cache.get_key(key) else {
        return Ok(Action::Done);
    };
    let current = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .map(|lb| lb.ingress.clone())
        .unwrap_or_default();
    let desired = if is_load_balancer(&service) {
        desired_ingress(&ctx.informers.nodes.cache.list())
    } else {
        Vec::new()
    };
    if current == desired {
        return Ok(Action::Done);
    }
    let mut updated = (*service).clone();
    let status = updated.status.get_or_insert_with(Default::default);
    status.load_balancer = (!desired.is_empty()).then_some(LoadBalancerStatus { ingress: desired });
    let api: Api<Service> =
        Api::namespaced(ctx.client.clone(), key.namespace().unwrap_or("default"));
    api.replace_status(service.metadata.name_str(), &updated)
        .await?;
    Ok(Action::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{NodeAddress, NodeCondition, NodeStatus};
    use skiff_api::meta::ObjectMeta;

    fn node(name: &str, ip: &str, ready: &str) -> Arc<Node> {
        Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                addresses: vec![
                    NodeAddress {
                        type_: "Hostname".into(),
                        address: name.into(),
                    },
                    NodeAddress {
                        type_: "InternalIP".into(),
                        address: ip.into(),
                    },
                ],
                conditions: vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn ingress_lists_ready_nodes_internal_ips_sorted() {
        let nodes = [
            node("n2", "10.250.0.2", "True"),
            node("n1", "10.250.0.1", "True"),
            node("n3", "10.250.0.3", "Unknown"),
        ];
        let ips: Vec<_> = desired_ingress(&nodes)
            .into_iter()
            .map(|i| i.ip.unwrap())
            .collect();
        assert_eq!(ips, ["10.250.0.1", "10.250.0.2"]);
        assert!(desired_ingress(&[]).is_empty());
    }
}
