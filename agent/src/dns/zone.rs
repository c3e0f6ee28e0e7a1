//! The cluster's names, answered from watch caches of Services and
//! Endpoints: what records a (name, type) question gets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use skiff_api::core::{Endpoints, Service};
use skiff_client::runtime::Cache;

use super::names::{self, ClusterName};

/// The record types this server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    A,
    Aaaa,
    Srv,
    /// `ANY`: addresses of both families.
    Any,
    /// Anything else: names exist but hold no such records.
    Other,
}

/// One record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        /// A fully qualified name without the trailing dot.
        target: String,
    },
    /// `type: ExternalName` Services.
    Cname(String),
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The name exists: these records (none: NOERROR without data),
    /// owned by the queried name; `additional` are `(name, record)` pairs
    /// (the addresses of SRV targets).
    Found {
        answers: Vec<RecordData>,
        additional: Vec<(String, RecordData)>,
    },
    /// No such name in the cluster domain.
    NxDomain,
    /// The caches have not loaded yet: try again shortly.
    NotReady,
    /// Outside the cluster domain.
    Outside,
}

impl Lookup {
    fn records(answers: Vec<RecordData>) -> Lookup {
        Lookup::Found {
            answers,
            additional: Vec::new(),
        }
    }

    fn no_data() -> Lookup {
        Lookup::records(Vec::new())
    }
}

/// The cluster domain over caches of Services and Endpoints.
#[derive(Debug, Clone)]
pub struct ClusterZone {
    domain: String,
    services: Cache<Service>,
    endpoints: Cache<Endpoints>,
}

impl ClusterZone {
    /// `domain` such as `cluster.local` (any case, trailing dot or not).
    pub fn new(domain: &str, services: Cache<Service>, endpoints: Cache<Endpoints>) -> ClusterZone {
        ClusterZone {
            domain: normalise(domain),
            services,
            endpoints,
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn is_synced(&self) -> bool {
        self.services.is_synced() && self.endpoints.is_synced()
    }

    /// The records `name` has of type `query`.
    pub fn lookup(&self, name: &str, query: QueryType) -> Lookup {
        let name = normalise(name);
        let Some(parsed) = names::parse(&name, &self.domain) else {
            return Lookup::Outside;
        };
        if !self.is_synced() && !matches!(parsed, ClusterName::Empty | ClusterName::Pod(_)) {
            return Lookup::NotReady;
        }
        match parsed {
            ClusterName::Empty => Lookup::no_data(),
            ClusterName::Unknown => Lookup::NxDomain,
            ClusterName::Namespace(ns) => {
                if self.services.list_namespace(&ns).is_empty() {
                    Lookup::NxDomain
                } else {
                    Lookup::no_data()
                }
            }
            ClusterName::Pod(ip) => Lookup::records(addresses([ip], query)),
            ClusterName::Service { namespace, name } => self.service(&namespace, &name, query),
            ClusterName::Endpoint {
                namespace,
                service,
                host,
            } => self.endpoint(&namespace, &service, &host, query),
            ClusterName::Port {
                namespace,
                service,
                port,
                protocol,
            } => self.port(&namespace, &service, &port, &protocol, query),
        }
    }

    fn service(&self, ns: &str, name: &str, query: QueryType) -> Lookup {
        let Some(svc) = self.services.get(&format!("{ns}/{name}")) else {
            return Lookup::NxDomain;
        };
        if let Some(target) = external_name(&svc) {
            return Lookup::records(vec![RecordData::Cname(target)]);
        }
        if query == QueryType::Srv {
            let ports = self.ports_of(&svc, ns, name);
            return srv(&self.srv_targets(&svc, ns, name), &ports, |_| true);
        }
        let ips = if is_headless(&svc) {
            self.ready_addresses(ns, name)
                .into_iter()
                .map(|b| b.ip)
                .collect()
        } else {
            cluster_ips(&svc)
        };
        Lookup::records(addresses(ips, query))
    }

    fn endpoint(&self, ns: &str, service: &str, host: &str, query: QueryType) -> Lookup {
        let Some(svc) = self.services.get(&format!("{ns}/{service}")) else {
            return Lookup::NxDomain;
        };
        if !is_headless(&svc) {
            return Lookup::NxDomain;
        }
        let ips: Vec<IpAddr> = self
            .ready_addresses(ns, service)
            .into_iter()
            .filter(|b| b.label() == host)
            .map(|b| b.ip)
            .collect();
        if ips.is_empty() {
            return Lookup::NxDomain;
        }
        Lookup::records(addresses(ips, query))
    }

    fn port(&self, ns: &str, service: &str, port: &str, proto: &str, query: QueryType) -> Lookup {
        let Some(svc) = self.services.get(&format!("{ns}/{service}")) else {
            return Lookup::NxDomain;
        };
        let ports = self.ports_of(&svc, ns, service);
        let wanted = |p: &NamedPort| p.name == port && p.protocol == proto;
        if external_name(&svc).is_some() || !ports.iter().any(wanted) {
            return Lookup::NxDomain;
        }
        if query != QueryType::Srv {
            return Lookup::no_data();
        }
        srv(&self.srv_targets(&svc, ns, service), &ports, wanted)
    }

    /// Named ports: the Endpoints' of a headless Service, else the Service's.
    fn ports_of(&self, svc: &Service, ns: &str, name: &str) -> Vec<NamedPort> {
        if is_headless(svc) {
            self.endpoint_ports(ns, name)
        } else {
            service_ports(svc)
        }
    }

    /// What SRV records point at: each ready endpoint of a headless
    /// Service (`<host>.<svc>.<ns>.svc.<domain>`), else the Service itself.
    fn srv_targets(&self, svc: &Service, ns: &str, name: &str) -> Vec<(String, IpAddr)> {
        let fqdn = format!("{name}.{ns}.svc.{}", self.domain);
        if is_headless(svc) {
            return self
                .ready_addresses(ns, name)
                .into_iter()
                .map(|b| (format!("{}.{fqdn}", b.label()), b.ip))
                .collect();
        }
        cluster_ips(svc)
            .into_iter()
            .take(1)
            .map(|ip| (fqdn.clone(), ip))
            .collect()
    }

    /// Ready addresses of the Service's Endpoints, in order.
    fn ready_addresses(&self, ns: &str, name: &str) -> Vec<Backend> {
        let Some(ep) = self.endpoints.get(&format!("{ns}/{name}")) else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        let mut backends = Vec::new();
        for a in ep.subsets.iter().flat_map(|s| &s.addresses) {
            let Ok(ip) = a.ip.parse::<IpAddr>() else {
                continue;
            };
            if seen.insert(ip) {
                let hostname = a.hostname.clone().filter(|h| !h.is_empty());
                backends.push(Backend { hostname, ip });
            }
        }
        backends
    }

    fn endpoint_ports(&self, ns: &str, name: &str) -> Vec<NamedPort> {
        let Some(ep) = self.endpoints.get(&format!("{ns}/{name}")) else {
            return Vec::new();
        };
        let mut ports: Vec<NamedPort> = Vec::new();
        for p in ep.subsets.iter().flat_map(|s| &s.ports) {
            if let Some(named) = NamedPort::new(p.name.as_deref(), p.protocol.as_deref(), p.port)
                && !ports.contains(&named)
            {
                ports.push(named);
            }
        }
        ports
    }
}

/// A ready address of a headless Service, with its endpoint hostname.
#[derive(Debug, Clone)]
struct Backend {
    hostname: Option<String>,
    ip: IpAddr,
}

impl Backend {
    /// Its name's first label: the hostname, else the dashed IP.
    fn label(&self) -> String {
        self.hostname
            .clone()
            .unwrap_or_else(|| names::dash_ip(&self.ip))
    }
}

/// A port with a name: only those have SRV records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NamedPort {
    name: String,
    /// Lower case: `tcp`, `udp`, `sctp`.
    protocol: String,
    port: u16,
}

impl NamedPort {
    fn new(name: Option<&str>, protocol: Option<&str>, port: i32) -> Option<NamedPort> {
        let name = name.filter(|n| !n.is_empty())?;
        Some(NamedPort {
            name: name.to_ascii_lowercase(),
            protocol: protocol.unwrap_or("TCP").to_ascii_lowercase(),
            port: u16::try_from(port).ok()?,
        })
    }
}

/// SRV records of `ports` (those `keep` keeps) on every target, and the
/// targets' addresses as additional records.
fn srv(
    targets: &[(String, IpAddr)],
    ports: &[NamedPort],
    keep: impl Fn(&NamedPort) -> bool,
) -> Lookup {
    let weight = u16::try_from(100 / targets.len().max(1)).unwrap_or(100);
    let mut answers = Vec::new();
    let mut additional = Vec::new();
    for (target, ip) in targets {
        for p in ports.iter().filter(|p| keep(p)) {
            answers.push(RecordData::Srv {
                priority: 0,
                weight,
                port: p.port,
                target: target.clone(),
            });
        }
        additional.extend(
            addresses([*ip], QueryType::Any)
                .into_iter()
                .map(|a| (target.clone(), a)),
        );
    }
    Lookup::Found {
        answers,
        additional,
    }
}

/// The addresses of `ips` that `query` asks for.
fn addresses(ips: impl IntoIterator<Item = IpAddr>, query: QueryType) -> Vec<RecordData> {
    ips.into_iter()
        .filter_map(|ip| match (ip, query) {
            (IpAddr::V4(v4), QueryType::A | QueryType::Any) => Some(RecordData::A(v4)),
            (IpAddr::V6(v6), QueryType::Aaaa | QueryType::Any) => Some(RecordData::Aaaa(v6)),
            _ => None,
        })
        .collect()
}

fn is_headless(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| ip.eq_ignore_ascii_case("none"))
}

fn external_name(svc: &Service) -> Option<String> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("ExternalName") {
        return None;
    }
    spec.external_name
        .as_deref()
        .map(normalise)
        .filter(|n| !n.is_empty())
}

/// `spec.clusterIPs`, else `spec.clusterIP`; unparsable ones skipped.
fn cluster_ips(svc: &Service) -> Vec<IpAddr> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = if spec.cluster_ips.is_empty() {
        spec.cluster_ip.as_deref().into_iter().collect()
    } else {
        spec.cluster_ips.iter().map(String::as_str).collect()
    };
    listed
        .into_iter()
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

fn service_ports(svc: &Service) -> Vec<NamedPort> {
    svc.spec
        .iter()
        .flat_map(|s| &s.ports)
        .filter_map(|p| NamedPort::new(p.name.as_deref(), p.protocol.as_deref(), p.port))
        .collect()
}

/// Lower case, without the trailing dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use skiff_api::core::{
        EndpointAddress, EndpointPort, EndpointSubset, ServicePort, ServiceSpec,
    };
    use skiff_api::meta::ObjectMeta;
    use skiff_client::runtime::{CacheWriter, Event};

    use super::*;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        }
    }

    fn port(name: &str, protocol: &str, port: i32) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            protocol: Some(protocol.into()),
            port,
            ..Default::default()
        }
    }

    fn service(ns: &str, name: &str, cluster_ip: &str, ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: meta(ns, name),
            spec: Some(ServiceSpec {
                cluster_ip: Some(cluster_ip.into()),
                ports,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn endpoints(
        ns: &str,
        name: &str,
        ready: &[(&str, Option<&str>)],
        not_ready: &[&str],
    ) -> Endpoints {
        let address = |ip: &str, hostname: Option<&str>| EndpointAddress {
            ip: ip.into(),
            hostname: hostname.map(Into::into),
            ..Default::default()
        };
        Endpoints {
            metadata: meta(ns, name),
            subsets: vec![EndpointSubset {
                addresses: ready.iter().map(|(ip, h)| address(ip, *h)).collect(),
                not_ready_addresses: not_ready.iter().map(|ip| address(ip, None)).collect(),
                ports: vec![EndpointPort {
                    name: Some("http".into()),
                    port: 8080,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }
    }

    struct Fixture {
        services: CacheWriter<Service>,
        endpoints: CacheWriter<Endpoints>,
        zone: ClusterZone,
    }

    impl Fixture {
        fn new(services: Vec<Service>, endpoints: Vec<Endpoints>) -> Fixture {
            let mut s = CacheWriter::new();
            let mut e = CacheWriter::new();
            s.apply(&Event::Restarted(
                services.into_iter().map(Arc::new).collect(),
            ));
            e.apply(&Event::Restarted(
                endpoints.into_iter().map(Arc::new).collect(),
            ));
            let zone = ClusterZone::new("Cluster.Local.", s.cache(), e.cache());
            Fixture {
                services: s,
                endpoints: e,
                zone,
            }
        }

        fn lookup(&self, name: &str, q: QueryType) -> Lookup {
            self.zone.lookup(name, q)
        }
    }

    fn a(ip: &str) -> RecordData {
        RecordData::A(ip.parse().unwrap())
    }

    fn found(answers: Vec<RecordData>) -> Lookup {
        Lookup::Found {
            answers,
            additional: Vec::new(),
        }
    }

    fn cluster() -> Fixture {
        let headless = service("default", "db", "None", vec![port("http", "TCP", 80)]);
        let mut external = service("default", "ext", "", vec![]);
        let spec = external.spec.as_mut().unwrap();
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("db.example.com.".into());
        Fixture::new(
            vec![
                service(
                    "default",
                    "web",
                    "10.96.0.10",
                    vec![port("http", "TCP", 80), port("", "TCP", 81)],
                ),
                service("other", "web", "10.96.0.20", vec![]),
                headless,
                external,
            ],
            vec![endpoints(
                "default",
                "db",
                &[("10.250.1.5", Some("db-0")), ("10.250.2.6", None)],
                &["10.250.1.9"],
            )],
        )
    }

    #[test]
    fn a_cluster_ip_service_answers_its_ip_per_namespace() {
        let f = cluster();
        assert_eq!(
            f.lookup("web.default.svc.cluster.local.", QueryType::A),
            found(vec![a("10.96.0.10")])
        );
        assert_eq!(
            f.lookup("WEB.other.svc.cluster.local", QueryType::A),
            found(vec![a("10.96.0.20")])
        );
        // The name exists without IPv6: NOERROR, no records.
        assert_eq!(
            f.lookup("web.default.svc.cluster.local", QueryType::Aaaa),
            found(vec![])
        );
        assert_eq!(
            f.lookup("web.default.svc.cluster.local", QueryType::Other),
            found(vec![])
        );
    }

    #[test]
    fn a_headless_service_answers_its_ready_endpoints() {
        let f = cluster();
        assert_eq!(
            f.lookup("db.default.svc.cluster.local", QueryType::A),
            found(vec![a("10.250.1.5"), a("10.250.2.6")])
        );
        assert_eq!(
            f.lookup("db-0.db.default.svc.cluster.local", QueryType::A),
            found(vec![a("10.250.1.5")])
        );
        assert_eq!(
            f.lookup("10-250-2-6.db.default.svc.cluster.local", QueryType::A),
            found(vec![a("10.250.2.6")])
        );
        // Not ready, or not there: no such name.
        for gone in ["10-250-1-9.db", "db-1.db", "x.web"] {
            let name = format!("{gone}.default.svc.cluster.local");
            assert_eq!(f.lookup(&name, QueryType::A), Lookup::NxDomain, "{name}");
        }
    }

    #[test]
    fn srv_records_of_named_ports() {
        let f = cluster();
        let srv = |port, target: &str| RecordData::Srv {
            priority: 0,
            weight: 100,
            port,
            target: target.into(),
        };
        assert_eq!(
            f.lookup("_http._tcp.web.default.svc.cluster.local", QueryType::Srv),
            Lookup::Found {
                answers: vec![srv(80, "web.default.svc.cluster.local")],
                additional: vec![("web.default.svc.cluster.local".into(), a("10.96.0.10"))],
            }
        );
        let Lookup::Found {
            answers,
            additional,
        } = f.lookup("_http._tcp.db.default.svc.cluster.local", QueryType::Srv)
        else {
            panic!("headless SRV not found");
        };
        let targets: Vec<_> = answers
            .iter()
            .map(|r| match r {
                RecordData::Srv {
                    port,
                    target,
                    weight,
                    ..
                } => (*port, *weight, target.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            targets,
            vec![
                (8080, 50, "db-0.db.default.svc.cluster.local"),
                (8080, 50, "10-250-2-6.db.default.svc.cluster.local")
            ]
        );
        assert_eq!(additional.len(), 2);
        // Wrong protocol or port name: no such name; A of a port name: no data.
        for missing in ["_http._udp.web", "_https._tcp.web", "_http._tcp.nope"] {
            let name = format!("{missing}.default.svc.cluster.local");
            assert_eq!(f.lookup(&name, QueryType::Srv), Lookup::NxDomain, "{name}");
        }
        assert_eq!(
            f.lookup("_http._tcp.web.default.svc.cluster.local", QueryType::A),
            found(vec![])
        );
    }

    #[test]
    fn external_names_pods_and_unknown_names() {
        let f = cluster();
        assert_eq!(
            f.lookup("ext.default.svc.cluster.local", QueryType::A),
            found(vec![RecordData::Cname("db.example.com".into())])
        );
        assert_eq!(
            f.lookup("10-250-1-7.default.pod.cluster.local", QueryType::A),
            found(vec![a("10.250.1.7")])
        );
        assert_eq!(
            f.lookup("nope.default.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            f.lookup("web.nope.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            f.lookup("nope.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            f.lookup("default.svc.cluster.local", QueryType::A),
            found(vec![])
        );
        assert_eq!(
            f.lookup("empty.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(f.lookup("cluster.local", QueryType::A), found(vec![]));
        assert_eq!(f.lookup("example.com", QueryType::A), Lookup::Outside);
        assert_eq!(
            f.lookup("web.default.svc.cluster.local.example.com", QueryType::A),
            Lookup::Outside
        );
    }

    #[test]
    fn answers_follow_the_caches() {
        let mut f = cluster();
        let moved = service("default", "web", "10.96.0.99", vec![]);
        f.services.apply(&Event::Applied(Arc::new(moved.clone())));
        assert_eq!(
            f.lookup("web.default.svc.cluster.local", QueryType::A),
            found(vec![a("10.96.0.99")])
        );
        f.services.apply(&Event::Deleted(Arc::new(moved)));
        assert_eq!(
            f.lookup("web.default.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        let grown = endpoints("default", "db", &[("10.250.3.3", None)], &[]);
        f.endpoints.apply(&Event::Applied(Arc::new(grown)));
        assert_eq!(
            f.lookup("db.default.svc.cluster.local", QueryType::A),
            found(vec![a("10.250.3.3")])
        );
    }

    #[test]
    fn dual_stack_and_any() {
        let mut svc = service("default", "dual", "10.96.0.30", vec![]);
        svc.spec.as_mut().unwrap().cluster_ips = vec!["10.96.0.30".into(), "fd00::30".into()];
        let f = Fixture::new(vec![svc], vec![]);
        let name = "dual.default.svc.cluster.local";
        assert_eq!(
            f.lookup(name, QueryType::Aaaa),
            found(vec![RecordData::Aaaa("fd00::30".parse().unwrap())])
        );
        assert_eq!(
            f.lookup(name, QueryType::Any),
            found(vec![
                a("10.96.0.30"),
                RecordData::Aaaa("fd00::30".parse().unwrap())
            ])
        );
    }

    #[test]
    fn unsynced_caches_are_not_ready() {
        let zone = ClusterZone::new(
            "cluster.local",
            CacheWriter::<Service>::new().cache(),
            CacheWriter::<Endpoints>::new().cache(),
        );
        assert_eq!(
            zone.lookup("web.default.svc.cluster.local", QueryType::A),
            Lookup::NotReady
        );
        assert_eq!(zone.lookup("example.com", QueryType::A), Lookup::Outside);
    }
}
