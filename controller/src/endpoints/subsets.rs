//! What a Service's Endpoints should hold: its pods' addresses, ready ones
//! apart from not-ready ones, grouped by the ports each pod resolves (a
//! named targetPort is looked up in each pod's containers, so pods can
//! differ), in a stable order so that "unchanged" compares equal.

use std::collections::BTreeMap;
use std::sync::Arc;

use skiff_api::core::{
    EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service, ServicePort,
};
use skiff_api::intstr::IntOrString;

/// Does the Service's selector pick pods with `labels`? A Service without
/// a selector picks none (its Endpoints are managed by hand).
pub fn selects(service: &Service, labels: &BTreeMap<String, String>) -> bool {
    let selector = service_selector(service);
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub fn service_selector(service: &Service) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    service.spec.as_ref().map_or(&EMPTY, |s| &s.selector)
}

/// Is the pod's `Ready` condition `True`?
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| s.is_ready())
}

/// The container port `port` points at in `pod`: a number as is (unset:
/// the service port), a name looked up among the pod's container ports of
/// the same protocol. `None` when the name is not found.
pub fn resolve_target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None | Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = protocol_of(port.protocol.as_deref());
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| &c.ports)
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol_of(p.protocol.as_deref()) == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

fn protocol_of(p: Option<&str>) -> &str {
    p.filter(|p| !p.is_empty()).unwrap_or("TCP")
}

/// A port set as a sortable key.
type PortsKey = Vec<(String, i32, String, Option<String>)>;

#[derive(Default)]
struct Group {
    ports: Vec<EndpointPort>,
    ready: Vec<EndpointAddress>,
    not_ready: Vec<EndpointAddress>,
}

/// The subsets for `service` from `pods` (already those its selector picks).
pub fn desired_subsets(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let service_name = service.metadata.name_str();
    let mut groups: BTreeMap<PortsKey, Group> = BTreeMap::new();
    for pod in pods {
        let Some(ip) = pod_ip(pod) else { continue };
        let terminal = matches!(phase(pod), "Succeeded" | "Failed");
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if terminal || (terminating && !publish_not_ready) {
            continue;
        }
        let ports: Vec<EndpointPort> = spec
            .ports
            .iter()
            .filter_map(|sp| {
                resolve_target_port(sp, pod).map(|port| EndpointPort {
                    name: sp.name.clone(),
                    port,
                    protocol: Some(protocol_of(sp.protocol.as_deref()).to_string()),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        if !spec.ports.is_empty() && ports.is_empty() {
            continue; // no port of the Service leads into this pod
        }
        let mut key: PortsKey = ports
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port,
                    p.protocol.clone().unwrap_or_default(),
                    p.app_protocol.clone(),
                )
            })
            .collect();
        key.sort();
        let group = groups.entry(key).or_default();
        if group.ports.is_empty() {
            let mut sorted = ports;
            sorted.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
            group.ports = sorted;
        }
        let address = address_of(pod, ip, service_name);
        if publish_not_ready || pod_ready(pod) {
            group.ready.push(address);
        } else {
            group.not_ready.push(address);
        }
    }
    groups
        .into_values()
        .map(|mut g| {
            sort_addresses(&mut g.ready);
            sort_addresses(&mut g.not_ready);
            EndpointSubset {
                addresses: g.ready,
                not_ready_addresses: g.not_ready,
                ports: g.ports,
            }
        })
        .collect()
}

fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn address_of(pod: &Pod, ip: &str, service_name: &str) -> EndpointAddress {
    let spec = pod.spec.as_ref();
    // A pod's own DNS name exists when its subdomain is this Service.
    let hostname = spec
        .filter(|s| s.subdomain.as_deref() == Some(service_name))
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    EndpointAddress {
        ip: ip.to_string(),
        hostname,
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    }
}

fn sort_addresses(addresses: &mut [EndpointAddress]) {
    addresses.sort_by(|a, b| {
        let name = |x: &EndpointAddress| x.target_ref.as_ref().and_then(|r| r.name.clone());
        (&a.ip, name(a)).cmp(&(&b.ip, name(b)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{
        Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec,
    };
    use skiff_api::meta::ObjectMeta;

    fn pod(name: &str, ip: &str, ready: bool, named_port: Option<(&str, i32)>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: named_port
                        .map(|(n, p)| ContainerPort {
                            name: Some(n.into()),
                            container_port: p,
                            ..Default::default()
                        })
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
                conditions: vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn service(ports: Vec<ServicePort>, publish: bool) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: [("app".to_string(), "web".to_string())].into(),
                ports,
                publish_not_ready_addresses: publish.then_some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(name: &str, port: i32, target: Option<IntOrString>) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            port,
            target_port: target,
            ..Default::default()
        }
    }

    fn ips(addresses: &[EndpointAddress]) -> Vec<&str> {
        addresses.iter().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_apart_and_sorted() {
        let svc = service(vec![port("http", 80, Some(8080.into()))], false);
        let pods = vec![
            pod("b", "10.0.0.2", true, None),
            pod("a", "10.0.0.1", true, None),
            pod("c", "10.0.0.3", false, None),
            pod("no-ip", "", true, None),
        ];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.3"]);
        assert_eq!(subsets[0].ports[0].port, 8080);
        assert_eq!(subsets[0].ports[0].protocol.as_deref(), Some("TCP"));
        let a = &subsets[0].addresses[0];
        assert_eq!(a.node_name.as_deref(), Some("n1"));
        let r = a.target_ref.as_ref().unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Pod"), Some("a"), Some("uid-a"))
        );
        // publishNotReadyAddresses: everyone is an address.
        let all = desired_subsets(&service(vec![port("http", 80, None)], true), &pods);
        assert_eq!(ips(&all[0].addresses), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(all[0].ports[0].port, 80);
    }

    #[test]
    fn named_ports_resolve_per_pod_and_group_by_port_set() {
        let svc = service(
            vec![
                port("http", 80, Some("web".into())),
                port("metrics", 9090, Some(9100.into())),
            ],
            false,
        );
        let pods = vec![
            pod("a", "10.0.0.1", true, Some(("web", 8080))),
            pod("b", "10.0.0.2", true, Some(("web", 8081))),
            pod("c", "10.0.0.3", true, None), // no "web": only the metrics port
        ];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 3);
        let find = |ip: &str| {
            subsets
                .iter()
                .find(|s| s.addresses.iter().any(|a| a.ip == ip))
                .unwrap()
        };
        let ports = |s: &EndpointSubset| s.ports.iter().map(|p| p.port).collect::<Vec<_>>();
        assert_eq!(ports(find("10.0.0.1")), [8080, 9100]);
        assert_eq!(ports(find("10.0.0.2")), [8081, 9100]);
        assert_eq!(ports(find("10.0.0.3")), [9100]);
        // Only the named port, and a pod without it: left out.
        let named_only = service(vec![port("http", 80, Some("web".into()))], false);
        let subsets = desired_subsets(&named_only, &pods[2..]);
        assert!(subsets.is_empty());
    }

    #[test]
    fn terminating_and_finished_pods_are_left_out() {
        let svc = service(vec![port("http", 80, None)], false);
        let mut gone = (*pod("a", "10.0.0.1", true, None)).clone();
        gone.metadata.deletion_timestamp = Some(skiff_api::meta::Time::now());
        let mut done = (*pod("b", "10.0.0.2", false, None)).clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(desired_subsets(&svc, &[Arc::new(gone), Arc::new(done)]).is_empty());
        let labels = [("app".to_string(), "web".to_string())].into();
        assert!(selects(&svc, &labels));
        let mut no_selector = svc.clone();
        no_selector.spec.as_mut().unwrap().selector.clear();
        assert!(!selects(&no_selector, &labels));
    }
}
