//! A real node on this machine: the node agent over the Linux runtime
//! (`skiff agent` without `--hollow`, and the agent half of `skiff up`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
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
    /// The node's InternalIP (default: its first non-loopback IPv4 address).
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<IpAddr>,
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
        let ip = self.node_ip.unwrap_or_else(first_ipv4);
        let mut config = AgentConfig::new(name, ip);
        if lab_profile {
            config = config.lab_profile();
        }
        config.fallback_pod_cidr = self.pod_cidr.clone();
        config.volumes_root = Some(runtime.volumes_root());
        config.server_addr = server_addr;
        config.validate().map_err(CliError::msg)?;
        Ok(config)
    }
}

/// The kubelet's port, on every address: where a real node serves logs and exec.
pub const DEFAULT_AGENT_LISTEN: &str = "0.0.0.0:10250";

/// Opens the runtime (adopting what runs under `--root`) and starts the agent.
pub async fn start(
    client: Client,
    flags: &NodeFlags,
    lab_profile: bool,
    server_addr: Option<SocketAddr>,
) -> CliResult<AgentHandle> {
    let runtime = LinuxRuntime::open(flags.runtime_config()?)
        .await
        .map_err(|e| CliError::msg(format!("opening the container runtime: {e}")))?;
    let config = flags.agent_config(&runtime, lab_profile, server_addr)?;
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
