//! Which routes a node should have: one per other node's IPv4 podCIDR,
//! via that node's InternalIP, when that IP is on the node's own link.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use skiff_api::core::Node;

use super::cidr::Ipv4Cidr;

/// The routes wanted, and why some nodes got none (for the log).
#[derive(Debug, Default, PartialEq)]
pub struct Desired {
    /// podCIDR -> the node IP it is reached through.
    pub routes: BTreeMap<Ipv4Cidr, Ipv4Addr>,
    /// `node: reason` for nodes skipped.
    pub skipped: Vec<String>,
}

/// `own`: this node's name (its podCIDR is local, on the CNI bridge);
/// `link`: the subnets of the interface routes go out of: a gateway must
/// be on one of them.
pub fn desired_routes<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    own: &str,
    link: &[Ipv4Cidr],
) -> Desired {
    let mut out = Desired::default();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if name == own {
            continue;
        }
        let cidrs = pod_cidrs(node);
        if cidrs.is_empty() {
            continue; // no podCIDR yet: nothing to route
        }
        let Some(via) = internal_ipv4(node) else {
            out.skipped.push(format!("{name}: no IPv4 InternalIP"));
            continue;
        };
        if !link.iter().any(|l| l.contains(via)) {
            out.skipped.push(format!(
                "{name}: InternalIP {via} is not on this node's link ({})",
                list(link)
            ));
            continue;
        }
        for cidr in cidrs {
            if link.iter().any(|l| l.overlaps(&cidr)) {
                out.skipped
                    .push(format!("{name}: podCIDR {cidr} overlaps the node network"));
                continue;
            }
            out.routes.insert(cidr, via);
        }
    }
    out
}

/// `spec.podCIDRs` (else `spec.podCIDR`), IPv4 only.
fn pod_cidrs(node: &Node) -> Vec<Ipv4Cidr> {
    let Some(spec) = &node.spec else {
        return Vec::new();
    };
    let mut all: Vec<&String> = spec.pod_cidrs.iter().collect();
    if all.is_empty() {
        all.extend(spec.pod_cidr.as_ref());
    }
    all.into_iter()
        .filter_map(|c| Ipv4Cidr::parse(c).ok())
        .collect()
}

/// The first IPv4 `InternalIP` in `status.addresses`.
pub fn internal_ipv4(node: &Node) -> Option<Ipv4Addr> {
    node.status
        .as_ref()?
        .addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

fn list(link: &[Ipv4Cidr]) -> String {
    if link.is_empty() {
        return "no IPv4 address".into();
    }
    link.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{NodeAddress, NodeSpec, NodeStatus};
    use skiff_api::meta::ObjectMeta;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: cidr.map(Into::into),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                addresses: ip
                    .into_iter()
                    .map(|a| NodeAddress {
                        type_: "InternalIP".into(),
                        address: a.into(),
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn routes_every_other_node_on_the_link() {
        let link = [Ipv4Cidr::parse("10.250.0.0/24").unwrap()];
        let nodes = [
            node("node1", Some("10.244.0.0/24"), Some("10.250.0.1")),
            node("node2", Some("10.244.1.0/24"), Some("10.250.0.2")),
            node("node3", Some("10.244.2.0/24"), Some("10.250.0.3")),
            node("waiting", None, Some("10.250.0.4")),
            node("elsewhere", Some("10.244.5.0/24"), Some("192.168.9.9")),
            node("noip", Some("10.244.6.0/24"), None),
            node("clash", Some("10.250.0.128/25"), Some("10.250.0.7")),
        ];
        let d = desired_routes(&nodes, "node1", &link);
        let got: Vec<String> = d
            .routes
            .iter()
            .map(|(c, via)| format!("{c} via {via}"))
            .collect();
        assert_eq!(
            got,
            [
                "10.244.1.0/24 via 10.250.0.2",
                "10.244.2.0/24 via 10.250.0.3"
            ]
        );
        assert_eq!(d.skipped.len(), 3, "{:?}", d.skipped);
        assert!(d.skipped[0].contains("192.168.9.9"));
        assert!(d.skipped[1].contains("no IPv4 InternalIP"));
        assert!(d.skipped[2].contains("overlaps"));
    }

    #[test]
    fn pod_cidrs_list_wins_and_ipv6_is_ignored() {
        let mut n = node("n2", Some("10.244.1.0/24"), Some("10.0.0.2"));
        n.spec.as_mut().unwrap().pod_cidrs = vec!["10.244.9.0/24".into(), "fd00:1::/64".into()];
        let link = [Ipv4Cidr::parse("10.0.0.0/24").unwrap()];
        let d = desired_routes([&n], "n1", &link);
        assert_eq!(d.routes.len(), 1);
        assert!(
            d.routes
                .contains_key(&Ipv4Cidr::parse("10.244.9.0/24").unwrap())
        );
    }
}
