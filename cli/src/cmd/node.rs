//! A real node on this machine: the node agent over the Linux runtime
//! (`skiff agent` without `--hollow`, and the agent half of `skiff up`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_agent::dns::DnsServerConfig;
use skiff_agent::routes::{RoutesConfig, iface};
use skiff_agent::runtime::linux::{LinuxRuntime, LinuxRuntimeConfig};
use skiff_agent::{Agent, AgentConfig, AgentHandle};
use skiff_client::Client;

use crate::errors::{CliError, CliResult};

/// Where a node keeps its sandboxes, containers and logs.
pub const DEFAULT_RUNTIME_ROOT: &str = "/var/lib/skiff/agent";

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Node options")]
pub struct NodeFlags {
    /// The Node's name (default: this machine's hostname).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// The node's InternalIP (default: the --iface's address, else the first
    /// non-loopback IPv4 address). Must be an address of this machine.
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<IpAddr>,
    /// The interface other nodes reach this one through (on a VM: the
    /// private network, not the NAT interface). Turns on cross-node pod
    /// routes: every other node's podCIDR via its InternalIP on it.
    #[arg(long, value_name = "NAME")]
    pub iface: Option<String>,
    /// Set net.ipv4.ip_forward=1 in the agent's network namespace (lab nodes
    /// do; on a host, only when you mean it).
    #[arg(long)]
    pub enable_ip_forward: bool,
    /// Sandboxes, containers and logs.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUNTIME_ROOT)]
    pub root: PathBuf,
    /// The image store (shared with `skiff image`).
    #[arg(long, value_name = "DIR", default_value = super::image::DEFAULT_ROOT)]
    pub image_root: PathBuf,
    /// Pod cgroups go under PARENT/<qos>/pod<uid> in every hierarchy.
    #[arg(long, value_name = "PARENT", default_value = "skiff")]
    pub cgroup_parent: String,
    /// The pod network's bridge (made by the CNI bridge plugin in this
    /// process's network namespace).
    #[arg(long, value_name = "NAME", default_value = "skiff0")]
    pub cni_bridge: String,
    /// Extra directory searched for CNI plugins (before /usr/lib/cni and /opt/cni/bin).
    #[arg(long, value_name = "DIR")]
    pub cni_plugin_dir: Vec<PathBuf>,
    /// Pull REGISTRY's images from URL first, e.g. docker.io=http://127.0.0.1:5000 (repeatable).
    #[arg(long, value_name = "REGISTRY=URL")]
    pub registry_mirror: Vec<String>,
    /// A registry reached over plain HTTP, e.g. 127.0.0.1:5000 (repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Pod IPs come from this range until the Node is given a podCIDR.
    #[arg(long, value_name = "CIDR", default_value = "10.88.0.0/16")]
    pub pod_cidr: String,
    /// The nftables table this node's service proxy owns (`table ip NAME`;
    /// no other table is touched). Lab nodes sharing a machine each name their own.
    #[arg(long, value_name = "NAME", default_value = skiff_agent::proxy::DEFAULT_PROXY_TABLE)]
    pub proxy_table: String,
    /// The API server's service CIDR: traffic to it that no Service port
    /// matches is rejected, so nothing leaves the node for it.
    #[arg(long, value_name = "CIDR", default_value = skiff_agent::proxy::DEFAULT_SERVICE_CIDR)]
    pub service_cidr: String,
    /// The pod IPs of the whole cluster: NodePort and external-IP traffic
    /// from outside it is masqueraded (default: all such traffic).
    #[arg(long, value_name = "CIDR")]
    pub proxy_cluster_cidr: Option<String>,
    /// Run no service proxy on this node (no nftables table).
    #[arg(long)]
    pub no_proxy: bool,
    /// Serve cluster DNS to this node's pods on port 53 of the pod network's
    /// gateway, and point their /etc/resolv.conf at it (--cluster-dns=false:
    /// pods get this machine's resolv.conf).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub cluster_dns: bool,
    /// The cluster's DNS domain: Services are <svc>.<namespace>.svc.<domain>.
    #[arg(long, value_name = "DOMAIN", default_value = skiff_agent::dns::DEFAULT_CLUSTER_DOMAIN)]
    pub cluster_domain: String,
    /// Forward names outside the cluster domain to this server (IP or
    /// IP:PORT, repeatable); without one they fail at once (NXDOMAIN).
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_upstream)]
    pub dns_upstream: Vec<SocketAddr>,
}

impl NodeFlags {
    pub fn runtime_config(&self) -> CliResult<LinuxRuntimeConfig> {
        let mut config =
            LinuxRuntimeConfig::new(absolute(&self.root)?, absolute(&self.image_root)?);
        config.helper_program = std::env::current_exe()
            .map_err(|e| CliError::msg(format!("finding this program's path: {e}")))?;
        config.cgroup_parent = self.cgroup_parent.clone();
        config.network.bridge = self.cni_bridge.clone();
        let mut dirs = self.cni_plugin_dir.clone();
        dirs.extend(config.network.plugin_dirs.iter().cloned());
        config.network.plugin_dirs = dirs;
        config.registry.mirrors = self
            .registry_mirror
            .iter()
            .map(|m| parse_mirror(m))
            .collect::<CliResult<_>>()?;
        config.registry.insecure = self.insecure_registry.clone();
        if self.cluster_dns {
            skiff_agent::dns::validate_domain(&self.cluster_domain).map_err(CliError::msg)?;
            config.dns.cluster_domain = Some(self.cluster_domain.clone());
        }
        config.validate().map_err(CliError::msg)?;
        Ok(config)
    }

    /// `lab_profile`: seconds instead of minutes for heartbeats and back-off;
    /// `server_addr`: where the agent's HTTP API (logs, exec) listens.
    pub fn agent_config(
        &self,
        runtime: &LinuxRuntime,
        lab_profile: bool,
        server_addr: Option<SocketAddr>,
    ) -> CliResult<AgentConfig> {
        let name = match &self.node_name {
            Some(n) => n.clone(),
            None => hostname()?,
        };
        let ip = self.resolve_node_ip()?;
        let mut config = AgentConfig::new(name, ip);
        if let Some(iface) = &self.iface {
            let mut routes = RoutesConfig::new(iface.clone());
            routes.enable_ip_forward = self.enable_ip_forward;
            config.routes = Some(routes);
        } else if self.enable_ip_forward {
            return Err(CliError::msg(
                "--enable-ip-forward needs --iface (the interface pod routes go through)",
            ));
        }
        if lab_profile {
            config = config.lab_profile();
        }
        config.fallback_pod_cidr = self.pod_cidr.clone();
        config.volumes_root = Some(runtime.volumes_root());
        config.server_addr = server_addr;
        if !self.no_proxy {
            let proxy = skiff_agent::ProxyConfig {
                table: self.proxy_table.clone(),
                service_cidr: self.service_cidr.clone(),
                cluster_cidr: self.proxy_cluster_cidr.clone(),
                ..skiff_agent::ProxyConfig::default()
            };
            proxy.validate().map_err(CliError::msg)?;
            config.proxy = Some(proxy);
        }
        if self.cluster_dns {
            let mut dns = DnsServerConfig::new(self.cluster_domain.clone());
            dns.upstreams = self.dns_upstream.clone();
            config.dns = Some(dns);
        }
        config.validate().map_err(CliError::msg)?;
        Ok(config)
    }
}

impl NodeFlags {
    /// `--node-ip` checked against this machine's addresses (and `--iface`'s:
    /// the classic VM trap is a node IP on the NAT interface), else the
    /// interface's address, else the first one found.
    fn resolve_node_ip(&self) -> CliResult<IpAddr> {
        let v4 = match self.node_ip {
            Some(IpAddr::V4(v4)) => Some(v4),
            Some(ip @ IpAddr::V6(_)) if self.iface.is_none() => return Ok(ip),
            Some(IpAddr::V6(ip)) => {
                return Err(CliError::msg(format!(
                    "--node-ip {ip}: pod routes (--iface) need an IPv4 node IP"
                )));
            }
            None => None,
        };
        match (&self.iface, v4) {
            (Some(iface), _) => iface::node_ip_on(iface, v4)
                .map(IpAddr::V4)
                .map_err(|e| CliError::msg(format!("--iface {iface}: {e}"))),
            (None, Some(ip)) => {
                let addrs = iface::ipv4_addrs()
                    .map_err(|e| CliError::msg(format!("listing network interfaces: {e}")))?;
                if addrs.iter().any(|a| a.addr == ip) {
                    Ok(IpAddr::V4(ip))
                } else {
                    Err(CliError::msg(format!(
                        "--node-ip {ip} is not an address of this machine (it has {})",
                        addrs
                            .iter()
                            .map(|a| format!("{} on {}", a.addr, a.iface))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            (None, None) => Ok(first_ipv4()),
        }
    }
}

/// The kubelet's port, on every address: where a real node serves logs and exec.
pub const DEFAULT_AGENT_LISTEN: &str = "0.0.0.0:10250";

/// Opens the runtime (adopting what runs under `--root`) and starts the
/// agent; its HTTP API (at `server_addr`) requires `server_token` if given.
pub async fn start(
    client: Client,
    flags: &NodeFlags,
    lab_profile: bool,
    server_addr: Option<SocketAddr>,
    server_token: Option<String>,
) -> CliResult<AgentHandle> {
    let runtime = LinuxRuntime::open(flags.runtime_config()?)
        .await
        .map_err(|e| CliError::msg(format!("opening the container runtime: {e}")))?;
    let mut config = flags.agent_config(&runtime, lab_profile, server_addr)?;
    config.server_token = server_token;
    let name = config.node_name.clone();
    let agent = Agent::start(client, config, Arc::new(runtime))
        .await
        .map_err(|e| CliError::msg(format!("starting the agent of node {name}: {e:#}")))?;
    tracing::info!(node = %name, root = %flags.root.display(), "node agent running");
    Ok(agent)
}

fn absolute(path: &std::path::Path) -> CliResult<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| CliError::msg(format!("resolving {}: {e}", path.display())))
}

/// `--dns-upstream`: `IP` (port 53) or `IP:PORT` (`[IPv6]:PORT`).
fn parse_upstream(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, skiff_agent::dns::DNS_PORT));
    }
    s.parse().map_err(|_| {
        format!(
            "invalid DNS upstream {s:?}: want IP or IP:PORT, e.g. 192.0.2.53 or 192.0.2.53:5353"
        )
    })
}

/// `docker.io=http://127.0.0.1:5000` -> the pair.
fn parse_mirror(s: &str) -> CliResult<(String, String)> {
    match s.split_once('=') {
        Some((reg, url)) if !reg.is_empty() && url.contains("://") => {
            Ok((reg.to_string(), url.trim_end_matches('/').to_string()))
        }
        _ => Err(CliError::msg(format!(
            "invalid --registry-mirror {s:?}: want REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000"
        ))),
    }
}

fn hostname() -> CliResult<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| CliError::msg(format!("reading the hostname (pass --node-name): {e}")))?;
    Ok(name.trim().to_ascii_lowercase())
}

/// The first IPv4 address of an interface that is up and not loopback;
/// 127.0.0.1 when there is none (a lab network namespace).
fn first_ipv4() -> IpAddr {
    let mut found = None;
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut addrs) } == 0 {
        let mut cur = addrs;
        while !cur.is_null() && found.is_none() {
            // SAFETY: cur is a node of the list getifaddrs returned.
            let ifa = unsafe { &*cur };
            let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
            let loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
            if up && !loopback && !ifa.ifa_addr.is_null() {
                // SAFETY: ifa_addr points to a sockaddr of the family it names.
                let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
                if family == libc::AF_INET {
                    // SAFETY: an AF_INET address is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                }
            }
            cur = ifa.ifa_next;
        }
        // SAFETY: the list came from getifaddrs.
        unsafe { libc::freeifaddrs(addrs) };
    }
    IpAddr::V4(found.unwrap_or(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_upstreams_parse() {
        assert_eq!(
            parse_upstream("192.0.2.53").unwrap(),
            "192.0.2.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_upstream("[fd00::53]:5353").unwrap(),
            "[fd00::53]:5353".parse().unwrap()
        );
        assert!(
            parse_upstream("dns.example")
                .unwrap_err()
                .contains("IP:PORT")
        );
    }

    #[test]
    fn mirrors_parse() {
        assert_eq!(
            parse_mirror("docker.io=http://127.0.0.1:5000/").unwrap(),
            ("docker.io".to_string(), "http://127.0.0.1:5000".to_string())
        );
        assert!(parse_mirror("docker.io").is_err());
        assert!(parse_mirror("=http://x").is_err());
        assert!(parse_mirror("docker.io=127.0.0.1:5000").is_err());
    }

    #[test]
    fn an_address_is_always_found() {
        assert!(first_ipv4().is_ipv4());
    }
}
