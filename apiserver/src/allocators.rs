//! Service cluster IPs (from the service CIDR) and node ports (from the
//! node-port range). Nothing is kept in memory: the used set is derived
//! from the stored Services on every allocation, under one lock held until
//! the Service is written, so restarts never hand out duplicates and a
//! deleted Service frees its addresses at once.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use rand::Rng;
use serde_json::{Value, json};
use skiff_api::core::SERVICES;
use skiff_api::{Status, StatusCause};
use skiff_store::{ListOptions, Store};
use tokio::sync::{Mutex, MutexGuard};

use crate::errors::plain_store_error;
use crate::value;

/// Addresses and ports held by stored Services.
#[derive(Debug, Clone, Default)]
pub struct Used {
    pub ips: HashSet<Ipv4Addr>,
    pub node_ports: HashSet<u16>,
}

pub struct Allocators {
    network: u32,
    prefix_len: u8,
    cidr: String,
    node_ports: (u16, u16),
    lock: Mutex<()>,
}

impl Allocators {
    /// `cidr` like `10.96.0.0/12`, `node_ports` inclusive.
    pub fn new(cidr: &str, node_ports: (u16, u16)) -> anyhow::Result<Allocators> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("service CIDR {cidr:?} is not of the form a.b.c.d/n"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|e| anyhow::anyhow!("service CIDR {cidr:?}: {e} (only IPv4 is supported)"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|l| (1..=30).contains(l))
            .ok_or_else(|| {
                anyhow::anyhow!("service CIDR {cidr:?}: prefix length must be 1..=30")
            })?;
        anyhow::ensure!(
            node_ports.0 <= node_ports.1 && node_ports.0 > 0,
            "node port range {}-{} is empty",
            node_ports.0,
            node_ports.1
        );
        let mask = u32::MAX << (32 - prefix_len);
        Ok(Allocators {
            network: u32::from(addr) & mask,
            prefix_len,
            cidr: cidr.to_string(),
            node_ports,
            lock: Mutex::new(()),
        })
    }

    /// Held from choosing addresses until the Service is stored.
    pub async fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix_len)
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip).wrapping_sub(self.network) < self.size()
    }

    /// The addresses of every stored Service except the one at `except_key`.
    pub async fn used(&self, store: &dyn Store, except_key: Option<&str>) -> Result<Used, Status> {
        let page = store
            .list(&SERVICES.storage_prefix(), &ListOptions::default())
            .await
            .map_err(plain_store_error)?;
        let mut used = Used::default();
        for kv in page
            .items
            .iter()
            .filter(|kv| Some(kv.key.as_str()) != except_key)
        {
            let Ok(svc) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            for ip in cluster_ips(&svc) {
                if let Ok(ip) = ip.parse() {
                    used.ips.insert(ip);
                }
            }
            used.node_ports.extend(node_ports(&svc));
        }
        Ok(used)
    }

    /// Gives `service` its cluster IP and node ports (keeping those of `old`,
    /// the stored version on an update); 422 for a requested address that is
    /// out of range or taken.
    pub fn assign(
        &self,
        service: &mut Value,
        used: &Used,
        old: Option<&Value>,
    ) -> Result<(), Status> {
        let name = value::name_of(service).to_string();
        let invalid = |field: String, message: String| {
            Status::invalid(
                &SERVICES,
                &name,
                vec![StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message,
                    field,
                }],
            )
        };
        let spec = value::object_mut(
            value::object_mut(service)
                .entry("spec")
                .or_insert_with(|| json!({})),
        );
        let service_type = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();

        // Cluster IP.
        if service_type == "ExternalName" {
            spec.remove("clusterIPs");
        } else {
            let requested = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kept = old
                .and_then(|o| o.pointer("/spec/clusterIP"))
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty())
                .map(str::to_string);
            let ip = match kept {
                Some(kept) if requested.is_empty() || requested == kept => kept,
                Some(kept) => {
                    return Err(invalid(
                        "spec.clusterIPs[0]".into(),
                        format!("Invalid value: \"{requested}\": may not change once set (was {kept})"),
                    ));
                }
                None if requested == "None" => requested,
                None if requested.is_empty() => self.free_ip(&used.ips).map(|ip| ip.to_string()).ok_or_else(|| {
                    invalid(
                        "spec.clusterIPs".into(),
                        format!("Internal error: failed to allocate a serviceIP: range is full ({})", self.cidr),
                    )
                })?,
                None => {
                    let parsed: Ipv4Addr = requested.parse().map_err(|_| {
                        invalid(
                            "spec.clusterIPs[0]".into(),
                            format!("Invalid value: \"{requested}\": must be a valid IP address"),
                        )
                    })?;
                    if !self.contains(parsed) {
                        return Err(invalid(
                            "spec.clusterIPs".into(),
                            format!(
                                "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}",
                                self.cidr
                            ),
                        ));
                    }
                    if used.ips.contains(&parsed) {
                        return Err(invalid(
                            "spec.clusterIPs".into(),
                            format!(
                                "Invalid value: [\"{requested}\"]: failed to allocate IP {requested}: provided IP is already allocated"
                            ),
                        ));
                    }
                    requested
                }
            };
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }

        // Node ports.
        let wants_node_ports = service_type == "NodePort" || service_type == "LoadBalancer";
        let old_ports: Vec<(i64, String, u16)> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| {
                        let np = p.get("nodePort").and_then(Value::as_u64)?;
                        Some((
                            p.get("port").and_then(Value::as_i64).unwrap_or_default(),
                            protocol(p),
                            u16::try_from(np).ok()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut taken: HashSet<u16> = used.node_ports.clone();
        let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        let mut mine: HashSet<u16> = HashSet::new();
        // Requested ports first, so that allocated ones avoid them.
        for (i, port) in ports.iter_mut().enumerate() {
            let map = value::object_mut(port);
            if !wants_node_ports {
                map.remove("nodePort");
                continue;
            }
            let Some(requested) = map
                .get("nodePort")
                .and_then(Value::as_i64)
                .filter(|p| *p != 0)
            else {
                continue;
            };
            let field = format!("spec.ports[{i}].nodePort");
            let in_range = u16::try_from(requested)
                .ok()
                .filter(|p| (self.node_ports.0..=self.node_ports.1).contains(p));
            let Some(p) = in_range else {
                return Err(invalid(
                    field,
                    format!(
                        "Invalid value: {requested}: provided port is not in the valid range. The range of valid ports is {}-{}",
                        self.node_ports.0, self.node_ports.1
                    ),
                ));
            };
            if taken.contains(&p) || !mine.insert(p) {
                return Err(invalid(
                    field,
                    format!("Invalid value: {requested}: provided port is already allocated"),
                ));
            }
        }
        if !wants_node_ports {
            return Ok(());
        }
        taken.extend(mine.iter().copied());
        for port in ports.iter_mut() {
            let map = value::object_mut(port);
            if map
                .get("nodePort")
                .and_then(Value::as_i64)
                .is_some_and(|p| p != 0)
            {
                continue;
            }
            let number = map.get("port").and_then(Value::as_i64).unwrap_or_default();
            let proto = protocol(&Value::Object(map.clone()));
            let previous = old_ports
                .iter()
                .find(|(n, pr, np)| *n == number && *pr == proto && !taken.contains(np))
                .map(|(_, _, np)| *np);
            let chosen = match previous {
                Some(p) => p,
                None => self.free_node_port(&taken).ok_or_else(|| {
                    invalid(
                        "spec.ports".into(),
                        "Internal error: failed to allocate a nodePort: range is full".into(),
                    )
                })?,
            };
            taken.insert(chosen);
            map.insert("nodePort".into(), json!(chosen));
        }
        Ok(())
    }

    /// A free address, skipping the network address, `.1` (kept for the
    /// `kubernetes` Service) and the broadcast address.
    fn free_ip(&self, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let size = self.size();
        let usable = size.checked_sub(3)?;
        if usable == 0 {
            return None;
        }
        let start = rand::rng().random_range(0..usable);
        (0..usable)
            .map(|i| Ipv4Addr::from(self.network + 2 + (start + i) % usable))
            .find(|ip| !used.contains(ip))
    }

    fn free_node_port(&self, used: &HashSet<u16>) -> Option<u16> {
        let (lo, hi) = self.node_ports;
        let count = u32::from(hi - lo) + 1;
        let start = rand::rng().random_range(0..count);
        (0..count)
            .map(|i| lo + ((start + i) % count) as u16)
            .find(|p| !used.contains(p))
    }
}

fn protocol(port: &Value) -> String {
    port.get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_string()
}

/// `spec.clusterIPs` (or `spec.clusterIP`) of a Service, without `None`.
pub fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut ips: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str)
        && !ips.iter().any(|i| i == ip)
    {
        ips.push(ip.to_string());
    }
    ips.retain(|ip| !ip.is_empty() && ip != "None");
    ips
}

/// The node ports a Service holds.
pub fn node_ports(svc: &Value) -> Vec<u16> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc() -> Allocators {
        Allocators::new("10.96.0.0/28", (30000, 30002)).unwrap()
    }

    #[test]
    fn rejects_bad_config() {
        assert!(Allocators::new("10.96.0.0", (1, 2)).is_err());
        assert!(Allocators::new("fd00::/108", (1, 2)).is_err());
        assert!(Allocators::new("10.0.0.0/12", (5, 4)).is_err());
    }

    #[test]
    fn allocates_unique_addresses_in_range() {
        let a = alloc();
        let mut used = Used::default();
        for _ in 0..13 {
            let mut svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
            a.assign(&mut svc, &used, None).unwrap();
            let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
            assert!(a.contains(ip));
            assert_ne!(ip, Ipv4Addr::new(10, 96, 0, 1));
            assert_ne!(ip, Ipv4Addr::new(10, 96, 0, 15));
            assert!(used.ips.insert(ip), "duplicate {ip}");
            assert!(svc["spec"]["ports"][0].get("nodePort").is_none());
        }
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {}});
        assert_eq!(a.assign(&mut svc, &used, None).unwrap_err().code, 422);
    }

    #[test]
    fn requested_addresses_are_checked() {
        let a = alloc();
        let mut used = Used::default();
        used.ips.insert(Ipv4Addr::new(10, 96, 0, 5));
        used.node_ports.insert(30001);
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.5"}});
        let e = a.assign(&mut svc, &used, None).unwrap_err();
        assert!(
            e.message.contains("provided IP is already allocated"),
            "{}",
            e.message
        );
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.1.0.5"}});
        let e = a.assign(&mut svc, &used, None).unwrap_err();
        assert!(
            e.message.contains("not in the valid range"),
            "{}",
            e.message
        );
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}});
        let e = a.assign(&mut svc, &used, None).unwrap_err();
        assert_eq!(
            e.message,
            "Service \"s\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-30002"
        );
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}});
        let e = a.assign(&mut svc, &used, None).unwrap_err();
        assert!(
            e.message.ends_with("provided port is already allocated"),
            "{}",
            e.message
        );
        let mut headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        a.assign(&mut headless, &used, None).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn node_ports_are_allocated_and_kept_on_update() {
        let a = alloc();
        let used = Used::default();
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443, "nodePort": 30000}]}});
        a.assign(&mut svc, &used, None).unwrap();
        let first = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!(first == 30001 || first == 30002);
        let mut update = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        a.assign(&mut update, &used, Some(&svc)).unwrap();
        assert_eq!(update["spec"]["ports"][0]["nodePort"].as_u64(), Some(first));
        assert_eq!(update["spec"]["ports"][1]["nodePort"].as_u64(), Some(30000));
        assert_eq!(update["spec"]["clusterIP"], svc["spec"]["clusterIP"]);
        let mut back = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]}});
        a.assign(&mut back, &used, Some(&svc)).unwrap();
        assert!(back["spec"]["ports"][0].get("nodePort").is_none());
        assert_eq!(node_ports(&svc).len(), 2);
        assert_eq!(cluster_ips(&headless_like()), Vec::<String>::new());
    }

    fn headless_like() -> Value {
        json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}})
    }
}
