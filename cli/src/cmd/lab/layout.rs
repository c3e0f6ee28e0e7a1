//! Every name and path of one lab, derived from its name and directory, so
//! that `up`, `down`, `exec`, `load` and `status` agree without asking each
//! other: netns `skiff-<lab>-br` (the lab bridge, server, registry) and
//! `skiff-<lab>-nodeN`, node N at 10.250.0.N, the server at 10.250.0.254.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::errors::{CliError, CliResult};

/// The lab's link: no default route, nothing routed out.
pub const LAB_PREFIX_LEN: u8 = 24;
/// The server's (and the registry's) address on the lab bridge.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 254);
pub const API_PORT: u16 = 6443;
pub const REGISTRY_PORT: u16 = 5000;
/// The bridge in the lab netns that every node's eth0 is plugged into.
pub const BRIDGE: &str = "labbr0";
/// Each node's interface on the lab link.
pub const NODE_IFACE: &str = "eth0";
/// Node numbers stay below the server's .254.
pub const MAX_NODES: u32 = 64;
/// Pods get /24s of this (the controller's node IPAM).
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// Service cluster IPs (the server's default range, passed explicitly).
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
pub const DEFAULT_LAB_NAME: &str = "skiff";
pub const DEFAULT_LAB_DIR: &str = "/var/lib/skiff/lab";

#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    /// `<--dir>/<name>`: everything the lab writes.
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(base: &Path, name: &str) -> CliResult<Layout> {
        validate_name(name)?;
        let base = std::path::absolute(base)
            .map_err(|e| CliError::msg(format!("resolving {}: {e}", base.display())))?;
        Ok(Layout {
            name: name.to_string(),
            dir: base.join(name),
        })
    }

    pub fn bridge_netns(&self) -> String {
        format!("skiff-{}-br", self.name)
    }

    pub fn node_netns(&self, n: u32) -> String {
        format!("skiff-{}-node{n}", self.name)
    }

    /// Prefix of every netns this lab makes.
    pub fn netns_prefix(&self) -> String {
        format!("skiff-{}-", self.name)
    }

    pub fn node_name(n: u32) -> String {
        format!("node{n}")
    }

    pub fn node_ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, 0, n as u8)
    }

    pub fn cgroup_parent(&self, n: u32) -> String {
        format!("skiff-{}-node{n}", self.name)
    }

    pub fn node_dir(&self, n: u32) -> PathBuf {
        self.dir.join(Layout::node_name(n))
    }

    pub fn server_dir(&self) -> PathBuf {
        self.dir.join("server")
    }

    pub fn registry_dir(&self) -> PathBuf {
        self.dir.join("registry")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// What the server writes: its address inside the lab (the agents use it).
    pub fn server_kubeconfig(&self) -> PathBuf {
        self.server_dir().join("kubeconfig")
    }

    /// For the host: the server through its loopback listener.
    pub fn host_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn api_addr() -> SocketAddr {
        SocketAddr::from((SERVER_IP, API_PORT))
    }

    pub fn registry_addr() -> SocketAddr {
        SocketAddr::from((SERVER_IP, REGISTRY_PORT))
    }

    pub fn netns_path(name: &str) -> PathBuf {
        Path::new("/run/netns").join(name)
    }

    /// `node2`, `2` -> 2; `server`/`br` -> 0 (the lab bridge's netns).
    pub fn parse_target(target: &str, nodes: u32) -> CliResult<u32> {
        if matches!(target, "server" | "br" | "bridge") {
            return Ok(0);
        }
        let digits = target.strip_prefix("node").unwrap_or(target);
        match digits.parse::<u32>() {
            Ok(n) if (1..=nodes).contains(&n) => Ok(n),
            _ => Err(CliError::msg(format!(
                "unknown lab node {target:?}: want node1..node{nodes} or server"
            ))),
        }
    }

    pub fn target_netns(&self, n: u32) -> String {
        if n == 0 {
            self.bridge_netns()
        } else {
            self.node_netns(n)
        }
    }
}

/// Lower-case letters, digits and `-`, starting with a letter or digit, at
/// most 20 characters (netns, cgroup and file names are built from it).
pub fn validate_name(name: &str) -> CliResult {
    let ok = !name.is_empty()
        && name.len() <= 20
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CliError::msg(format!(
            "invalid lab name {name:?}: 1 to 20 of a-z, 0-9 and '-', starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        let l = Layout::new(Path::new("/var/lib/skiff/lab"), "t1").unwrap();
        assert_eq!(l.dir, PathBuf::from("/var/lib/skiff/lab/t1"));
        assert_eq!(l.bridge_netns(), "skiff-t1-br");
        assert_eq!(l.node_netns(2), "skiff-t1-node2");
        assert_eq!(l.cgroup_parent(3), "skiff-t1-node3");
        assert_eq!(Layout::node_ip(3).to_string(), "10.250.0.3");
        assert_eq!(Layout::api_addr().to_string(), "10.250.0.254:6443");
        assert_eq!(Layout::parse_target("node2", 3).unwrap(), 2);
        assert_eq!(Layout::parse_target("3", 3).unwrap(), 3);
        assert_eq!(Layout::parse_target("server", 3).unwrap(), 0);
        assert!(Layout::parse_target("node4", 3).is_err());
        assert!(Layout::parse_target("node0", 3).is_err());
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "A", "-x", "a/b", "a b", "abcdefghijklmnopqrstu"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        validate_name("test-123").unwrap();
    }
}
