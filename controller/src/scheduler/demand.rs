//! What a pod takes from a node: resource requests (the larger of the
//! containers' sum and any one init container, plus overhead), host ports,
//! and the controller it belongs to (for spreading).

use std::collections::BTreeMap;

use skiff_api::core::{Container, Pod, PodSpec};
use skiff_api::quantity::Quantity;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const PODS: &str = "pods";

/// What scoring assumes a container without a cpu request uses
/// (kube-scheduler's `DefaultMilliCPURequest`), so BestEffort pods spread.
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// Likewise for memory (`DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// A `hostPort` a pod claims on its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// `0.0.0.0` when the pod did not name an address.
    pub ip: String,
    pub port: i32,
}

const ANY_IP: &str = "0.0.0.0";

impl HostPort {
    /// Two claims collide on the same protocol and port when either listens
    /// on every address or both on the same one.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }
}

/// A pod's demand on a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDemand {
    /// Requested cpu in thousandths of a core.
    pub cpu_milli: i64,
    /// Requested memory in bytes.
    pub memory: i64,
    /// Requests of every other resource (`ephemeral-storage`, extended
    /// resources such as `example.com/gpu`), in whole units.
    pub other: Vec<(String, i64)>,
    /// cpu with [`DEFAULT_MILLI_CPU`] for containers that request none: what
    /// scoring counts.
    pub nonzero_cpu_milli: i64,
    /// memory with [`DEFAULT_MEMORY`] for containers that request none.
    pub nonzero_memory: i64,
    pub host_ports: Vec<HostPort>,
    /// uid of the pod's controller (its ReplicaSet, Job, ...).
    pub owner: Option<String>,
}

/// One container's requests: a request it does not state falls back to
/// its limit, as the API's defaulting does in Kubernetes.
fn request<'a>(c: &'a Container, name: &str) -> Option<&'a Quantity> {
    c.resources
        .requests
        .get(name)
        .or_else(|| c.resources.limits.get(name))
}

fn cpu_of(q: Option<&Quantity>) -> i64 {
    q.and_then(|q| q.parsed().ok())
        .map_or(0, |v| v.as_milli().max(0))
}

fn units_of(q: Option<&Quantity>) -> i64 {
    q.and_then(|q| q.parsed().ok())
        .map_or(0, |v| v.value().max(0))
}

/// The requests of one container (or of the overhead), resource by resource.
#[derive(Default)]
struct Requests {
    cpu_milli: i64,
    memory: i64,
    nonzero_cpu_milli: i64,
    nonzero_memory: i64,
    other: BTreeMap<String, i64>,
}

impl Requests {
    fn of_container(c: &Container) -> Requests {
        let cpu = request(c, CPU);
        let memory = request(c, MEMORY);
        let mut other = BTreeMap::new();
        let names = c.resources.requests.keys().chain(c.resources.limits.keys());
        for name in names {
            if name != CPU && name != MEMORY && !other.contains_key(name) {
                other.insert(name.clone(), units_of(request(c, name)));
            }
        }
        Requests {
            cpu_milli: cpu_of(cpu),
            memory: units_of(memory),
            nonzero_cpu_milli: if cpu.is_some() {
                cpu_of(cpu)
            } else {
                DEFAULT_MILLI_CPU
            },
            nonzero_memory: if memory.is_some() {
                units_of(memory)
            } else {
                DEFAULT_MEMORY
            },
            other,
        }
    }

    fn add(&mut self, r: &Requests) {
        self.cpu_milli += r.cpu_milli;
        self.memory += r.memory;
        self.nonzero_cpu_milli += r.nonzero_cpu_milli;
        self.nonzero_memory += r.nonzero_memory;
        for (name, v) in &r.other {
            *self.other.entry(name.clone()).or_default() += v;
        }
    }

    /// Init containers run one at a time, before the others: the pod needs
    /// the most any one of them asks for, if that is more than the rest.
    fn max_with(&mut self, r: &Requests) {
        self.cpu_milli = self.cpu_milli.max(r.cpu_milli);
        self.memory = self.memory.max(r.memory);
        self.nonzero_cpu_milli = self.nonzero_cpu_milli.max(r.nonzero_cpu_milli);
        self.nonzero_memory = self.nonzero_memory.max(r.nonzero_memory);
        for (name, v) in &r.other {
            let e = self.other.entry(name.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    spec.containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| HostPort {
            protocol: p
                .protocol
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "TCP".into()),
            ip: p
                .host_ip
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ANY_IP.into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}

impl PodDemand {
    pub fn of(pod: &Pod) -> PodDemand {
        let owner = pod.metadata.controller_ref().map(|r| r.uid.clone());
        let Some(spec) = &pod.spec else {
            return PodDemand {
                owner,
                ..PodDemand::default()
            };
        };
        let mut total = Requests::default();
        for c in &spec.containers {
            total.add(&Requests::of_container(c));
        }
        for c in &spec.init_containers {
            total.max_with(&Requests::of_container(c));
        }
        if !spec.overhead.is_empty() {
            let overhead = Requests {
                cpu_milli: cpu_of(spec.overhead.get(CPU)),
                memory: units_of(spec.overhead.get(MEMORY)),
                nonzero_cpu_milli: cpu_of(spec.overhead.get(CPU)),
                nonzero_memory: units_of(spec.overhead.get(MEMORY)),
                other: spec
                    .overhead
                    .iter()
                    .filter(|(k, _)| *k != CPU && *k != MEMORY)
                    .map(|(k, q)| (k.clone(), units_of(Some(q))))
                    .collect(),
            };
            total.add(&overhead);
        }
        PodDemand {
            cpu_milli: total.cpu_milli,
            memory: total.memory,
            other: total.other.into_iter().filter(|(_, v)| *v > 0).collect(),
            nonzero_cpu_milli: total.nonzero_cpu_milli,
            nonzero_memory: total.nonzero_memory,
            host_ports: host_ports(spec),
            owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{ContainerPort, ResourceRequirements};
    use skiff_api::meta::OwnerReference;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity::new(*v)))
                .collect()
        };
        Container {
            name: "c".into(),
            resources: ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
            },
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: init,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_add_up_and_init_containers_take_the_max() {
        let p = pod(
            vec![
                container(&[("cpu", "250m"), ("memory", "64Mi")], &[]),
                container(&[("cpu", "0.5")], &[]),
            ],
            vec![container(&[("cpu", "1"), ("memory", "16Mi")], &[])],
        );
        let d = PodDemand::of(&p);
        assert_eq!(d.cpu_milli, 1000);
        assert_eq!(d.memory, 64 * 1024 * 1024);
        // The second container states no memory: scoring counts the default.
        assert_eq!(d.nonzero_memory, 64 * 1024 * 1024 + DEFAULT_MEMORY);
        assert_eq!(d.nonzero_cpu_milli, 1000);
    }

    #[test]
    fn limits_stand_in_for_missing_requests_and_other_resources_count() {
        let p = pod(
            vec![container(
                &[("example.com/gpu", "2")],
                &[("cpu", "2"), ("memory", "1Gi"), ("example.com/gpu", "2")],
            )],
            vec![],
        );
        let d = PodDemand::of(&p);
        assert_eq!(d.cpu_milli, 2000);
        assert_eq!(d.memory, 1 << 30);
        assert_eq!(d.other, vec![("example.com/gpu".to_string(), 2)]);
    }

    #[test]
    fn best_effort_pods_ask_for_nothing_but_score_with_defaults() {
        let d = PodDemand::of(&pod(vec![container(&[], &[])], vec![]));
        assert_eq!((d.cpu_milli, d.memory), (0, 0));
        assert_eq!(
            (d.nonzero_cpu_milli, d.nonzero_memory),
            (DEFAULT_MILLI_CPU, DEFAULT_MEMORY)
        );
    }

    #[test]
    fn host_ports_and_owner() {
        let mut c = container(&[], &[]);
        c.ports = vec![
            ContainerPort {
                container_port: 80,
                host_port: Some(8080),
                ..Default::default()
            },
            ContainerPort {
                container_port: 81,
                ..Default::default()
            },
        ];
        let mut p = pod(vec![c], vec![]);
        p.metadata.owner_references = vec![OwnerReference {
            uid: "rs-1".into(),
            controller: Some(true),
            ..Default::default()
        }];
        let d = PodDemand::of(&p);
        assert_eq!(d.owner.as_deref(), Some("rs-1"));
        assert_eq!(
            d.host_ports,
            vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 8080
            }]
        );
        let specific = HostPort {
            ip: "10.0.0.1".into(),
            ..d.host_ports[0].clone()
        };
        let other_ip = HostPort {
            ip: "10.0.0.2".into(),
            ..specific.clone()
        };
        let udp = HostPort {
            protocol: "UDP".into(),
            ..d.host_ports[0].clone()
        };
        assert!(d.host_ports[0].conflicts_with(&specific));
        assert!(!specific.conflicts_with(&other_ip));
        assert!(!udp.conflicts_with(&d.host_ports[0]));
    }
}
