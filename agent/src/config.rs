//! Every tunable of the agent, with the kubelet's defaults, and the "lab
//! profile" of a few seconds that tests and labs use.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use skiff_api::core::Taint;
use skiff_api::quantity::Quantity;

/// The kubelet version a skiff node reports (`kubectl get nodes` VERSION).
pub const KUBELET_VERSION: &str = "v1.32.0-skiff";

/// What a node offers: `status.capacity` (and `status.allocatable`).
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    pub cpu: Quantity,
    pub memory: Quantity,
    pub pods: i64,
    pub ephemeral_storage: Option<Quantity>,
}

impl Capacity {
    /// A hollow node: 4 CPUs, 8Gi, 110 pods, 100Gi of disk.
    pub fn hollow() -> Capacity {
        Capacity {
            cpu: Quantity::new("4"),
            memory: Quantity::new("8Gi"),
            pods: 110,
            ephemeral_storage: Some(Quantity::new("100Gi")),
        }
    }

    /// This machine: its CPUs and memory, 110 pods.
    pub fn detect() -> Capacity {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| mem_total_bytes(&text))
            .map_or_else(|| Quantity::new("1Gi"), Quantity::from_bytes);
        Capacity {
            cpu: Quantity::from_int(cpus as i64),
            memory,
            pods: 110,
            ephemeral_storage: None,
        }
    }

    /// As `status.capacity` writes it.
    pub fn to_resource_list(&self) -> BTreeMap<String, Quantity> {
        let mut m = BTreeMap::new();
        m.insert("cpu".to_string(), self.cpu.clone());
        m.insert("memory".to_string(), self.memory.clone());
        m.insert("pods".to_string(), Quantity::from_int(self.pods));
        if let Some(s) = &self.ephemeral_storage {
            m.insert("ephemeral-storage".to_string(), s.clone());
        }
        m
    }
}

/// `MemTotal:  16318412 kB` -> bytes.
fn mem_total_bytes(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Which Events about pods the agent records (`describe pod` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodEvents {
    /// As the kubelet: Pulled, Created, Started, Killing, BackOff, Failed, ...
    All,
    /// Warnings only (BackOff, Failed): a large fleet writes one request per
    /// pod instead of four.
    Warnings,
    None,
}

/// Exponential back-off between restarts of a failing container (or
/// retries of a failing pull): `initial`, doubling, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// The kubelet's: 10 s doubling to 5 min.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// The node's `InternalIP`, and every pod's `hostIP`.
    pub node_ip: IpAddr,
    pub capacity: Capacity,
    /// What the scheduler may use; `None`: all of `capacity`.
    pub allocatable: Option<Capacity>,
    /// Labels beyond `kubernetes.io/{hostname,os,arch}`.
    pub labels: BTreeMap<String, String>,
    /// Taints the Node is registered with.
    pub taints: Vec<Taint>,
    pub kubelet_version: String,
    /// `status.daemonEndpoints.kubeletEndpoint.Port`: where logs and exec are served.
    /// With `server_addr`, the port the server really listens on replaces it.
    pub kubelet_port: i32,
    /// Where the agent's HTTP API (logs, exec, stats: `skiff_agent::server`)
    /// listens; `None`: no server. Port 0 picks a free port. When its IP is
    /// a specific one other than `node_ip` (a hollow fleet on 127.0.0.1),
    /// the Node lists it as its first `InternalIP`, the address the API
    /// server dials.
    pub server_addr: Option<std::net::SocketAddr>,
    /// The bearer token the API server presents to the agent's HTTP API
    /// (the server's `proxy-token`, handed over by the join). `Some`: every
    /// route but `/healthz` answers 401 without it. `None`: no
    /// authentication (hollow fleets on loopback, tests, agents started
    /// with an admin kubeconfig).
    pub server_token: Option<String>,
    /// How often the node's Lease is renewed (Kubernetes: 10 s).
    pub lease_renew_interval: Duration,
    /// `leaseDurationSeconds` of the Lease (Kubernetes: 40 s).
    pub lease_duration: Duration,
    /// The Node's status is written when it changes, and at least this
    /// often (its Ready heartbeat; liveness is the Lease). Kubernetes: 5 min.
    pub node_status_report_interval: Duration,
    /// At start, how long to wait for the controller to give the Node its
    /// `spec.podCIDR` before falling back to `fallback_pod_cidr`.
    pub pod_cidr_wait: Duration,
    /// Pod IPs come from here while the Node has no podCIDR.
    pub fallback_pod_cidr: String,
    /// Between restarts of a crashing container (CrashLoopBackOff).
    pub restart_backoff: Backoff,
    /// How often runtime state is compared with the pods the API server
    /// has (catches what an event missed). Kubernetes: 2 s.
    pub housekeeping_interval: Duration,
    /// Pods synced at once.
    pub pod_workers: usize,
    /// API requests in flight at once (status writes, deletes, heartbeats).
    pub api_concurrency: usize,
    pub pod_events: PodEvents,
    /// Where pod volumes (emptyDir, configMap, secret files) are made:
    /// `<dir>/<pod uid>/volumes/<name>`. `None`: volumes are not
    /// materialised (hollow nodes). The Linux runtime's sandbox directory
    /// (`LinuxRuntime::volumes_root`), so they go with the sandbox.
    pub volumes_root: Option<std::path::PathBuf>,
    /// The service proxy (nftables; needs root and its own network
    /// namespace or host). `None`: no proxy (hollow nodes, most tests).
    pub proxy: Option<crate::proxy::ProxyConfig>,
    /// Cross-node pod routes (host-gw, `crate::routes`); `None`: the agent
    /// writes no routes (single node, hollow nodes).
    pub routes: Option<crate::routes::RoutesConfig>,
    /// The node's cluster DNS server (`crate::dns`) for its pods; `None`:
    /// none (hollow nodes, most tests).
    pub dns: Option<crate::dns::DnsServerConfig>,
}

impl AgentConfig {
    /// Kubernetes' timings, this machine's capacity.
    pub fn new(node_name: impl Into<String>, node_ip: IpAddr) -> AgentConfig {
        AgentConfig {
            node_name: node_name.into(),
            node_ip,
            capacity: Capacity::detect(),
            allocatable: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            kubelet_port: 10250,
            server_addr: None,
            server_token: None,
            lease_renew_interval: Duration::from_secs(10),
            lease_duration: Duration::from_secs(40),
            node_status_report_interval: Duration::from_secs(300),
            pod_cidr_wait: Duration::from_secs(5),
            fallback_pod_cidr: "10.88.0.0/16".to_string(),
            restart_backoff: Backoff::default(),
            housekeeping_interval: Duration::from_secs(10),
            pod_workers: 16,
            api_concurrency: 32,
            pod_events: PodEvents::All,
            volumes_root: None,
            proxy: None,
            routes: None,
            dns: None,
        }
    }

    /// Seconds instead of minutes, to match the controllers' lab profile (a
    /// node is unknown after 4 s without a Lease renewal): renewals every
    /// second, restarts backing off from 1 s to 10 s.
    pub fn lab_profile(mut self) -> AgentConfig {
        self.lease_renew_interval = Duration::from_secs(1);
        self.lease_duration = Duration::from_secs(4);
        self.node_status_report_interval = Duration::from_secs(30);
        self.pod_cidr_wait = Duration::from_secs(2);
        self.restart_backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        self.housekeeping_interval = Duration::from_secs(2);
        self
    }

    /// Checks what would make the agent misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_name.is_empty() {
            return Err("the node name is empty".into());
        }
        if self.lease_renew_interval.is_zero() || self.lease_duration.is_zero() {
            return Err("lease intervals must be positive".into());
        }
        if self.restart_backoff.initial.is_zero()
            || self.restart_backoff.max < self.restart_backoff.initial
        {
            return Err("restart back-off: initial must be positive and at most max".into());
        }
        if self.pod_workers == 0 || self.api_concurrency == 0 {
            return Err("pod workers and API concurrency must be at least 1".into());
        }
        crate::runtime::hollow::ipam::Ipv4Pool::parse(&self.fallback_pod_cidr)
            .map_err(|e| format!("fallback pod CIDR: {e}"))?;
        if self
            .server_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err("the agent server's token is empty".into());
        }
        if let Some(routes) = &self.routes {
            routes.validate()?;
        }
        if let Some(dns) = &self.dns {
            dns.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_render_as_resource_lists() {
        let m = Capacity::hollow().to_resource_list();
        assert_eq!(m["cpu"].as_str(), "4");
        assert_eq!(m["memory"].as_str(), "8Gi");
        assert_eq!(m["pods"].as_str(), "110");
        assert_eq!(m["ephemeral-storage"].as_str(), "100Gi");
        let here = Capacity::detect();
        assert!(here.cpu.parsed().unwrap().value() >= 1);
        assert!(here.memory.parsed().unwrap().value() > 0);
    }

    #[test]
    fn meminfo_is_read_in_kib() {
        let text = "MemTotal:       16318412 kB\nMemFree:         1 kB\n";
        assert_eq!(mem_total_bytes(text), Some(16318412 * 1024));
        assert_eq!(mem_total_bytes("nothing"), None);
    }

    #[test]
    fn defaults_and_the_lab_profile_validate() {
        let ip: IpAddr = "10.250.0.1".parse().unwrap();
        let c = AgentConfig::new("n1", ip);
        assert_eq!(c.lease_renew_interval, Duration::from_secs(10));
        assert_eq!(c.restart_backoff.max, Duration::from_secs(300));
        c.validate().unwrap();
        let lab = c.clone().lab_profile();
        assert_eq!(lab.lease_renew_interval, Duration::from_secs(1));
        lab.validate().unwrap();
        let mut bad = c.clone();
        bad.node_name.clear();
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.fallback_pod_cidr = "nope".into();
        assert!(bad.validate().is_err());
    }
}
