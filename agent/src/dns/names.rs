//! Query names inside the cluster domain, taken apart: which Service,
//! endpoint, port or pod a name asks about. Pure string work, no lookups.

use std::net::IpAddr;

/// What a name below the cluster domain refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterName {
    /// The domain itself, `svc.<domain>`, `pod.<domain>` or
    /// `<ns>.pod.<domain>`: names that exist but hold no records.
    Empty,
    /// `<ns>.svc.<domain>`: exists while the namespace has Services.
    Namespace(String),
    /// `<svc>.<ns>.svc.<domain>`.
    Service { namespace: String, name: String },
    /// `<host>.<svc>.<ns>.svc.<domain>`: one address of a headless Service,
    /// by its endpoint hostname or its dashed IP.
    Endpoint {
        namespace: String,
        service: String,
        host: String,
    },
    /// `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: SRV of a named port.
    Port {
        namespace: String,
        service: String,
        port: String,
        protocol: String,
    },
    /// `<a-b-c-d>.<ns>.pod.<domain>`: the pod whose IP is spelled there.
    Pod(IpAddr),
    /// Inside the domain, but no name of that shape exists.
    Unknown,
}

/// `name` relative to `domain` (both lower case, without the trailing
/// dot); `None` when `name` is outside the domain.
pub fn parse(name: &str, domain: &str) -> Option<ClusterName> {
    let rest = if name == domain {
        ""
    } else {
        name.strip_suffix(domain)?.strip_suffix('.')?
    };
    let labels: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('.').collect()
    };
    let owned = |s: &str| s.to_string();
    Some(match labels.as_slice() {
        [] | ["svc" | "pod"] | [_, "pod"] => ClusterName::Empty,
        [ns, "svc"] => ClusterName::Namespace(owned(ns)),
        [svc, ns, "svc"] => ClusterName::Service {
            namespace: owned(ns),
            name: owned(svc),
        },
        [host, svc, ns, "svc"] if !host.starts_with('_') => ClusterName::Endpoint {
            namespace: owned(ns),
            service: owned(svc),
            host: owned(host),
        },
        [port, proto, svc, ns, "svc"] => match (port.strip_prefix('_'), proto.strip_prefix('_')) {
            (Some(port), Some(protocol)) if !port.is_empty() && !protocol.is_empty() => {
                ClusterName::Port {
                    namespace: owned(ns),
                    service: owned(svc),
                    port: owned(port),
                    protocol: owned(protocol),
                }
            }
            _ => ClusterName::Unknown,
        },
        [ip, _, "pod"] => dashed_ip(ip).map_or(ClusterName::Unknown, ClusterName::Pod),
        _ => ClusterName::Unknown,
    })
}

/// `10-1-2-3` -> 10.1.2.3, `fd00--1` -> fd00::1.
pub fn dashed_ip(label: &str) -> Option<IpAddr> {
    let v4 = label.replace('-', ".");
    if let Ok(ip) = v4.parse::<std::net::Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    label
        .replace('-', ":")
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The label an address without a hostname goes by: 10.1.2.3 -> `10-1-2-3`.
pub fn dash_ip(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "cluster.local";

    fn service(ns: &str, name: &str) -> ClusterName {
        ClusterName::Service {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn services_and_their_parts() {
        assert_eq!(
            parse("web.default.svc.cluster.local", D),
            Some(service("default", "web"))
        );
        assert_eq!(
            parse("_http._tcp.web.default.svc.cluster.local", D),
            Some(ClusterName::Port {
                namespace: "default".into(),
                service: "web".into(),
                port: "http".into(),
                protocol: "tcp".into()
            })
        );
        assert_eq!(
            parse("web-0.web.default.svc.cluster.local", D),
            Some(ClusterName::Endpoint {
                namespace: "default".into(),
                service: "web".into(),
                host: "web-0".into()
            })
        );
        assert_eq!(
            parse("default.svc.cluster.local", D),
            Some(ClusterName::Namespace("default".into()))
        );
    }

    #[test]
    fn zone_names_pods_and_junk() {
        for empty in ["cluster.local", "svc.cluster.local", "pod.cluster.local"] {
            assert_eq!(parse(empty, D), Some(ClusterName::Empty), "{empty}");
        }
        assert_eq!(
            parse("10-1-2-3.default.pod.cluster.local", D),
            Some(ClusterName::Pod("10.1.2.3".parse().unwrap()))
        );
        assert_eq!(
            parse("fd00--1.default.pod.cluster.local", D),
            Some(ClusterName::Pod("fd00::1".parse().unwrap()))
        );
        for unknown in [
            "nope.default.pod.cluster.local",
            "_http.web.default.svc.cluster.local",
            "__tcp.web.default.svc.cluster.local",
            "a.b.c.d.e.f.cluster.local",
            "web.default.cluster.local",
        ] {
            assert_eq!(parse(unknown, D), Some(ClusterName::Unknown), "{unknown}");
        }
    }

    #[test]
    fn names_outside_the_domain_are_not_ours() {
        assert_eq!(parse("example.com", D), None);
        assert_eq!(parse("notcluster.local", D), None);
        assert_eq!(parse("local", D), None);
        assert_eq!(
            parse("web.default.svc.skiff.test", "skiff.test"),
            Some(service("default", "web"))
        );
    }

    #[test]
    fn ips_dash_both_ways() {
        let v4: IpAddr = "10.250.1.7".parse().unwrap();
        assert_eq!(dash_ip(&v4), "10-250-1-7");
        assert_eq!(dashed_ip("10-250-1-7"), Some(v4));
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(dashed_ip(&dash_ip(&v6)), Some(v6));
        assert_eq!(dashed_ip("10-250-1"), None);
    }
}
