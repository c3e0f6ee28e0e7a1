//! Pod sandboxes: pinned network/IPC/UTS namespaces and `/dev/shm`
//! (`skiff_container::sandbox`), the pod IP (CNI), the pod cgroup, and the
//! per-pod `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::Utc;
use skiff_container::cgroups::Cgroups;
use skiff_container::sandbox;
use skiff_container::spec::CgroupResources;

use super::cni::{Cni, CniConfig};
use super::paths::{SandboxPaths, is_plain_component};
use super::records::{self, SandboxRecord};
use super::{LinuxRuntime, blocking, failed, lock};
use crate::runtime::{RuntimeError, RuntimeResult, SandboxConfig, SandboxStatus};

/// First host id of user-namespaced pods, and the size of each pod's range.
const USERNS_BASE: u32 = 1 << 20;
const USERNS_SIZE: u32 = 65536;

impl LinuxRuntime {
    pub(super) async fn run_sandbox_impl(
        &self,
        config: &SandboxConfig,
    ) -> RuntimeResult<SandboxStatus> {
        let uid = &config.pod_uid;
        if !is_plain_component(uid) {
            return Err(RuntimeError::InvalidConfig(format!(
                "pod uid {uid:?} cannot name a directory"
            )));
        }
        if let Some(existing) = self.sandbox_record(uid)
            && existing.ready
        {
            return Ok(existing.status());
        }
        let sp = self.shared.paths.sandbox(uid);
        let qos = qos_dir(&config.qos_class);
        let cgroup = format!("{}/{qos}/pod{uid}", self.shared.config.cgroup_parent());
        let mut record = SandboxRecord {
            pod_uid: uid.clone(),
            namespace: config.namespace.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            hostname: config.hostname.clone(),
            host_network: config.host_network,
            qos: qos.to_string(),
            cgroup: cgroup.clone(),
            ip: None,
            ready: false,
            pod_cidr: config.pod_cidr.clone(),
            user_namespace_host_id: config.user_namespace.then(|| self.free_userns_range(uid)),
            time_offset_seconds: config.time_offset_seconds,
            created_at: Utc::now(),
        };
        // Namespaces, shm and the pod cgroup first (blocking work).
        let (ns_dir, hostname, host_network) = (
            sp.namespaces(),
            config.hostname.clone(),
            config.host_network,
        );
        let cgroups = self.shared.cgroups.clone();
        let qos_lock = self.shared.qos_lock.clone();
        // Start-up costs per step, for `RUST_LOG=skiff_agent::runtime=debug`.
        let started = std::time::Instant::now();
        let pins = blocking(move || {
            let pins = sandbox::create(&ns_dir, &hostname, host_network)
                .map_err(|e| failed("creating the pod's namespaces", e))?;
            let _held = lock(&qos_lock);
            cgroups
                .create(&cgroup, &CgroupResources::default())
                .map_err(|e| failed(format!("creating the pod cgroup {cgroup}"), e))?;
            Ok(pins)
        })
        .await?;
        let namespaces_done = started.elapsed();
        if let Some(netns) = &pins.net {
            let cni = self.cni(config.pod_cidr.as_deref())?;
            match cni.add(uid, netns).await {
                Ok(net) => record.ip = Some(net.ip),
                Err(e) => {
                    let ns_dir = sp.namespaces();
                    let _ = blocking(move || {
                        sandbox::remove(&ns_dir).map_err(|e| failed("cleaning up", e))
                    })
                    .await;
                    return Err(failed("setting up the pod network (CNI ADD)", e));
                }
            }
        }
        let network_done = started.elapsed();
        record.ready = true;
        let files = sp.clone();
        let rec = record.clone();
        let dns = self.shared.config.dns.clone();
        blocking(move || {
            write_pod_files(&files, &rec, &dns)?;
            records::save(&files.record(), &rec).map_err(|e| failed("saving the sandbox", e))
        })
        .await?;
        lock(&self.shared.sandboxes).insert(uid.clone(), record.clone());
        tracing::debug!(
            pod = %config.name,
            namespaces_ms = namespaces_done.as_millis() as u64,
            network_ms = (network_done - namespaces_done).as_millis() as u64,
            files_ms = (started.elapsed() - network_done).as_millis() as u64,
            "sandbox ready"
        );
        Ok(record.status())
    }

    /// The CNI network of this node for pod IPs from `pod_cidr`.
    pub(super) fn cni(&self, pod_cidr: Option<&str>) -> RuntimeResult<Cni> {
        let c = &self.shared.config;
        let subnet = pod_cidr.ok_or_else(|| {
            RuntimeError::InvalidConfig("the node has no pod CIDR to take pod IPs from".into())
        })?;
        Cni::new(CniConfig {
            plugin_dirs: c.network.plugin_dirs.clone(),
            network_name: c.network.network_name.clone(),
            bridge: c.network.bridge.clone(),
            subnet: subnet.to_string(),
            data_dir: c.cni_data_dir(),
            cache_dir: c.cni_cache_dir(),
            mtu: c.network.mtu,
        })
        .map_err(|e| RuntimeError::InvalidConfig(format!("the pod network: {e}")))
    }

    /// A 65536-id range no other sandbox uses.
    fn free_userns_range(&self, uid: &str) -> u32 {
        let used: Vec<u32> = lock(&self.shared.sandboxes)
            .values()
            .filter(|s| s.pod_uid != uid)
            .filter_map(|s| s.user_namespace_host_id)
            .collect();
        (0..)
            .map(|i| USERNS_BASE + i * USERNS_SIZE)
            .find(|id| !used.contains(id))
            .unwrap_or(USERNS_BASE)
    }

    pub(super) async fn stop_sandbox_impl(&self, pod_uid: &str) -> RuntimeResult<()> {
        let Some(mut record) = self.sandbox_record(pod_uid) else {
            return Ok(());
        };
        for c in self.containers_of(pod_uid) {
            self.kill_quietly(&c).await?;
        }
        let sp = self.shared.paths.sandbox(pod_uid);
        self.release_network(&record, &sp).await?;
        record.ready = false;
        record.ip = None;
        let rec = record.clone();
        blocking(move || {
            records::save(&sp.record(), &rec).map_err(|e| failed("saving the sandbox", e))
        })
        .await?;
        lock(&self.shared.sandboxes).insert(pod_uid.to_string(), record);
        Ok(())
    }

    /// CNI DEL, then the namespace pins and shm go.
    async fn release_network(
        &self,
        record: &SandboxRecord,
        sp: &SandboxPaths,
    ) -> RuntimeResult<()> {
        if !record.host_network {
            let netns = sp.namespaces().join(sandbox::NET_PIN);
            let netns = netns.exists().then_some(netns);
            let cni = self.cni(record.pod_cidr.as_deref())?;
            cni.del(&record.pod_uid, netns.as_deref())
                .await
                .map_err(|e| failed("releasing the pod network (CNI DEL)", e))?;
        }
        let ns_dir = sp.namespaces();
        blocking(move || {
            sandbox::remove(&ns_dir).map_err(|e| failed("removing the pod's namespaces", e))
        })
        .await
    }

    pub(super) async fn remove_sandbox_impl(&self, pod_uid: &str) -> RuntimeResult<()> {
        let record = self.sandbox_record(pod_uid);
        if record.as_ref().is_some_and(|r| r.ready) {
            self.stop_sandbox_impl(pod_uid).await?;
        }
        for c in self.containers_of(pod_uid) {
            self.remove_container_record(&c).await?;
        }
        let sp = self.shared.paths.sandbox(pod_uid);
        let cgroups = self.shared.cgroups.clone();
        let qos_lock = self.shared.qos_lock.clone();
        let cgroup = record.as_ref().map(|r| r.cgroup.clone());
        let pod_logs = record
            .as_ref()
            .map(|r| self.shared.paths.pod_logs(&r.namespace, &r.name, pod_uid));
        blocking(move || {
            // What a stop left behind (a crash half-way) goes too.
            sandbox::remove(&sp.namespaces())
                .map_err(|e| failed("removing the pod's namespaces", e))?;
            if let Some(cgroup) = cgroup.as_ref().filter(|c| cgroups.exists(c)) {
                cgroups
                    .remove(cgroup)
                    .map_err(|e| failed(format!("removing the pod cgroup {cgroup}"), e))?;
                // The QoS level goes once its last pod has gone.
                if let Some((qos, _)) = cgroup.rsplit_once('/') {
                    let _held = lock(&qos_lock);
                    if let Err(e) = remove_if_empty(&cgroups, qos) {
                        tracing::debug!(cgroup = qos, error = %e, "QoS cgroup left");
                    }
                }
            }
            if let Some(logs) = pod_logs {
                remove_dir(&logs)?;
            }
            remove_dir(&sp.dir)
        })
        .await?;
        lock(&self.shared.sandboxes).remove(pod_uid);
        Ok(())
    }
}

/// rmdir of a cgroup that has no child cgroups (in every hierarchy);
/// `Cgroups::remove` would take its children (and their processes) along.
fn remove_if_empty(cgroups: &Cgroups, path: &str) -> std::io::Result<()> {
    let dirs = cgroups.dirs(path).map_err(std::io::Error::other)?;
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                return Ok(());
            }
        }
    }
    for dir in &dirs {
        match std::fs::remove_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn remove_dir(dir: &Path) -> RuntimeResult<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(failed(format!("removing {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

/// `Guaranteed` -> `guaranteed`, the kubelet's QoS cgroup names.
fn qos_dir(qos_class: &str) -> &'static str {
    match qos_class {
        "Guaranteed" => "guaranteed",
        "BestEffort" => "besteffort",
        _ => "burstable",
    }
}

/// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of the pod.
fn write_pod_files(
    sp: &SandboxPaths,
    record: &SandboxRecord,
    dns: &super::DnsConfig,
) -> RuntimeResult<()> {
    let write = |path: PathBuf, text: String| {
        skiff_container::state::write_atomic(&path, text.as_bytes())
            .map_err(|e| failed(format!("writing {}", path.display()), e))
    };
    write(sp.hosts(), hosts_file(&record.hostname, record.ip))?;
    let node_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(sp.resolv_conf(), pod_resolv_conf(dns, record, &node_resolv))?;
    write(sp.hostname(), format!("{}\n", record.hostname))
}

/// The kubelet's managed hosts file.
pub fn hosts_file(hostname: &str, ip: Option<IpAddr>) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file (skiff).\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// With cluster DNS, a pod on the pod network asks the node's DNS server
/// on its gateway, searching its namespace first; host-network pods and
/// nodes without cluster DNS get [`resolv_conf`].
pub fn pod_resolv_conf(dns: &super::DnsConfig, pod: &SandboxRecord, node_resolv: &str) -> String {
    let gateway = pod
        .pod_cidr
        .as_deref()
        .and_then(|cidr| super::cni::pod_gateway(cidr).ok());
    match (&dns.cluster_domain, gateway) {
        (Some(domain), Some(gateway)) if !pod.host_network => {
            let cluster = super::DnsConfig {
                servers: vec![gateway],
                search: crate::dns::search_path(&pod.namespace, domain),
                cluster_domain: None,
            };
            resolv_conf(&cluster, node_resolv)
        }
        _ => resolv_conf(dns, node_resolv),
    }
}

/// The configured servers and search domains, or the node's own file.
pub fn resolv_conf(dns: &super::DnsConfig, node_resolv: &str) -> String {
    if dns.servers.is_empty() {
        return node_resolv.to_string();
    }
    let mut s = String::new();
    if !dns.search.is_empty() {
        s.push_str(&format!("search {}\n", dns.search.join(" ")));
    }
    for server in &dns.servers {
        s.push_str(&format!("nameserver {server}\n"));
    }
    s.push_str("options ndots:5\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv() {
        let h = hosts_file("web-1", Some("10.1.0.5".parse().unwrap()));
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.5\tweb-1\n"));
        assert!(!hosts_file("x", None).contains("\tx\n"));
        let node = "nameserver 192.0.2.53\n";
        assert_eq!(resolv_conf(&Default::default(), node), node);
        let dns = super::super::DnsConfig {
            servers: vec!["10.96.0.10".parse().unwrap()],
            search: vec!["default.svc.cluster.local".into()],
            cluster_domain: None,
        };
        let r = resolv_conf(&dns, node);
        assert!(r.starts_with("search default.svc.cluster.local\nnameserver 10.96.0.10\n"));
        assert_eq!(qos_dir("BestEffort"), "besteffort");
        assert_eq!(
            pod_resolv_conf(&dns, &record(false), node),
            r,
            "no cluster DNS"
        );
        assert_eq!(qos_dir("Burstable"), "burstable");
    }

    fn record(host_network: bool) -> SandboxRecord {
        SandboxRecord {
            pod_uid: "u1".into(),
            namespace: "shop".into(),
            name: "web".into(),
            attempt: 0,
            hostname: "web".into(),
            host_network,
            qos: "burstable".into(),
            cgroup: "skiff/burstable/podu1".into(),
            ip: Some("10.250.1.7".parse().unwrap()),
            ready: true,
            pod_cidr: Some("10.250.1.0/24".into()),
            user_namespace_host_id: None,
            time_offset_seconds: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn cluster_dns_pods_ask_their_gateway() {
        let node = "nameserver 192.0.2.53\n";
        let dns = super::super::DnsConfig {
            cluster_domain: Some("cluster.local".into()),
            ..Default::default()
        };
        assert_eq!(
            pod_resolv_conf(&dns, &record(false), node),
            "search shop.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.250.1.1\n\
             options ndots:5\n"
        );
        // Host-network pods keep the node's resolver, as the kubelet does.
        assert_eq!(pod_resolv_conf(&dns, &record(true), node), node);
        // No pod CIDR (no pod network): the node's resolver too.
        let mut no_cidr = record(false);
        no_cidr.pod_cidr = None;
        assert_eq!(pod_resolv_conf(&dns, &no_cidr, node), node);
    }
}
