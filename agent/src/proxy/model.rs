//! What the proxy serves, per Service port: its virtual addresses and the
//! ready endpoints behind it, read from a Service and its Endpoints.

use std::net::Ipv4Addr;

use skiff_api::core::{Endpoints, Service, ServicePort};

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when unset: 3 hours.
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10800;

/// One port of one Service, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortRules {
    /// `namespace/name/protocol/port`: unique, and the stem of the nft names.
    pub id: String,
    /// `tcp`, `udp` or `sctp` (as nft spells them).
    pub protocol: &'static str,
    pub port: u16,
    pub cluster_ips: Vec<Ipv4Addr>,
    /// `externalIPs` and, for `type: LoadBalancer`, the ingress IPs of its status.
    pub external_ips: Vec<Ipv4Addr>,
    pub node_port: Option<u16>,
    /// Ready endpoints, sorted and de-duplicated.
    pub endpoints: Vec<(Ipv4Addr, u16)>,
    /// `sessionAffinity: ClientIP`: how long a client sticks, in seconds.
    pub affinity_timeout: Option<u32>,
}

/// The nft name of a protocol; `None` for what the proxy does not serve.
pub fn nft_protocol(protocol: Option<&str>) -> Option<&'static str> {
    match protocol.unwrap_or("TCP") {
        "TCP" | "" => Some("tcp"),
        "UDP" => Some("udp"),
        "SCTP" => Some("sctp"),
        _ => None,
    }
}

fn ipv4s<'a>(list: impl IntoIterator<Item = &'a str>) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = list.into_iter().filter_map(|s| s.parse().ok()).collect();
    ips.sort();
    ips.dedup();
    ips
}

fn port_u16(port: i32) -> Option<u16> {
    u16::try_from(port).ok().filter(|p| *p != 0)
}

/// The rules of every port of `service` (none for headless and
/// ExternalName Services), with the ready addresses of `endpoints`.
pub fn service_rules(service: &Service, endpoints: Option<&Endpoints>) -> Vec<ServicePortRules> {
    let Some(spec) = &service.spec else {
        return Vec::new();
    };
    let type_ = spec.type_str();
    if type_ == "ExternalName" {
        return Vec::new();
    }
    let mut cluster: Vec<&str> = spec.cluster_ips.iter().map(String::as_str).collect();
    cluster.extend(spec.cluster_ip.as_deref());
    let cluster_ips = ipv4s(cluster);
    let mut external: Vec<&str> = spec.external_ips.iter().map(String::as_str).collect();
    if type_ == "LoadBalancer"
        && let Some(lb) = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
    {
        external.extend(lb.ingress.iter().filter_map(|i| i.ip.as_deref()));
    }
    let external_ips = ipv4s(external);
    let node_ports = matches!(type_, "NodePort" | "LoadBalancer");
    if cluster_ips.is_empty() && external_ips.is_empty() && !node_ports {
        return Vec::new(); // headless: DNS only
    }
    let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS)
    });
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let name = service.metadata.name.as_deref().unwrap_or_default();
    spec.ports
        .iter()
        .filter_map(|port| {
            let protocol = nft_protocol(port.protocol.as_deref())?;
            let number = port_u16(port.port)?;
            Some(ServicePortRules {
                id: format!("{namespace}/{name}/{protocol}/{number}"),
                protocol,
                port: number,
                cluster_ips: cluster_ips.clone(),
                external_ips: external_ips.clone(),
                node_port: if node_ports {
                    port.node_port.and_then(port_u16)
                } else {
                    None
                },
                endpoints: ready_endpoints(port, protocol, endpoints),
                affinity_timeout,
            })
        })
        .collect()
}

/// The ready `(ip, port)`s of the Endpoints' subsets that serve `port`
/// (matched by port name and protocol, as the endpoints controller names them).
fn ready_endpoints(
    port: &ServicePort,
    protocol: &str,
    endpoints: Option<&Endpoints>,
) -> Vec<(Ipv4Addr, u16)> {
    let wanted = port.name.as_deref().unwrap_or_default();
    let mut found = Vec::new();
    for subset in endpoints.map(|e| e.subsets.as_slice()).unwrap_or_default() {
        let matching = subset.ports.iter().find(|p| {
            p.name.as_deref().unwrap_or_default() == wanted
                && nft_protocol(p.protocol.as_deref()) == Some(protocol)
        });
        let Some(target) = matching.and_then(|p| port_u16(p.port)) else {
            continue;
        };
        for address in &subset.addresses {
            if let Ok(ip) = address.ip.parse::<Ipv4Addr>() {
                found.push((ip, target));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{
        ClientIpConfig, EndpointAddress, EndpointPort, EndpointSubset, LoadBalancerIngress,
        LoadBalancerStatus, ServiceSpec, ServiceStatus, SessionAffinityConfig,
    };
    use skiff_api::meta::ObjectMeta;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("web".into()),
            namespace: Some("shop".into()),
            ..Default::default()
        }
    }

    fn service(type_: &str) -> Service {
        Service {
            metadata: meta(),
            spec: Some(ServiceSpec {
                type_: Some(type_.into()),
                cluster_ip: Some("10.96.0.10".into()),
                ports: vec![
                    ServicePort {
                        name: Some("http".into()),
                        port: 80,
                        node_port: Some(30080),
                        ..Default::default()
                    },
                    ServicePort {
                        name: Some("dns".into()),
                        protocol: Some("UDP".into()),
                        port: 53,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            status: None,
            ..Default::default()
        }
    }

    fn endpoints() -> Endpoints {
        let address = |ip: &str| EndpointAddress {
            ip: ip.into(),
            ..Default::default()
        };
        Endpoints {
            metadata: meta(),
            subsets: vec![EndpointSubset {
                addresses: vec![address("10.1.0.3"), address("10.1.0.2")],
                not_ready_addresses: vec![address("10.1.0.9")],
                ports: vec![
                    EndpointPort {
                        name: Some("http".into()),
                        port: 8080,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    },
                    EndpointPort {
                        name: Some("dns".into()),
                        port: 5353,
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                ],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn ports_get_their_ready_endpoints_only() {
        let rules = service_rules(&service("ClusterIP"), Some(&endpoints()));
        assert_eq!(rules.len(), 2);
        let http = &rules[0];
        assert_eq!(http.id, "shop/web/tcp/80");
        assert_eq!(http.cluster_ips, vec![Ipv4Addr::new(10, 96, 0, 10)]);
        assert_eq!(
            http.endpoints,
            vec![
                (Ipv4Addr::new(10, 1, 0, 2), 8080),
                (Ipv4Addr::new(10, 1, 0, 3), 8080)
            ]
        );
        assert_eq!(http.node_port, None, "ClusterIP Services get no NodePort");
        let dns = &rules[1];
        assert_eq!((dns.id.as_str(), dns.protocol), ("shop/web/udp/53", "udp"));
        assert_eq!(dns.endpoints[0].1, 5353);
    }

    #[test]
    fn load_balancers_get_node_ports_ingress_ips_and_affinity() {
        let mut svc = service("LoadBalancer");
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: vec![LoadBalancerIngress {
                    ip: Some("10.250.0.2".into()),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        });
        let spec = svc.spec.as_mut().unwrap();
        spec.session_affinity = Some("ClientIP".into());
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(60),
            }),
        });
        let rules = service_rules(&svc, None);
        assert_eq!(rules[0].node_port, Some(30080));
        assert_eq!(rules[0].external_ips, vec![Ipv4Addr::new(10, 250, 0, 2)]);
        assert_eq!(rules[0].affinity_timeout, Some(60));
        assert!(rules[0].endpoints.is_empty());
    }

    #[test]
    fn headless_and_external_name_services_have_no_rules() {
        let mut headless = service("ClusterIP");
        headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        assert!(service_rules(&headless, None).is_empty());
        assert!(service_rules(&service("ExternalName"), None).is_empty());
    }
}
