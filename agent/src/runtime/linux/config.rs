//! Everything the Linux runtime is told by its node: where its state lives,
//! which cgroup parent it owns, how pods get their network and images.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The pod network: the standard CNI plugins (`bridge` + `host-local` +
/// `loopback`) on one bridge per node.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Where the plugin binaries are searched, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// The CNI network's name (also host-local's sub-directory).
    pub network_name: String,
    /// The node's bridge (created by the plugin inside the agent's netns).
    pub bridge: String,
    /// host-local's IP files; `None`: `<root>/cni/ipam`.
    pub data_dir: Option<PathBuf>,
    /// Results kept for DEL; `None`: `<root>/cni/cache`.
    pub cache_dir: Option<PathBuf>,
    pub mtu: Option<u32>,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            plugin_dirs: vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
            network_name: "skiff".into(),
            bridge: "skiff0".into(),
            data_dir: None,
            cache_dir: None,
            mtu: None,
        }
    }
}

/// Pod DNS: what goes into each pod's `/etc/resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsConfig {
    /// `nameserver` lines; empty: copy the node's `/etc/resolv.conf`.
    pub servers: Vec<IpAddr>,
    /// `search` domains (with `servers` only).
    pub search: Vec<String>,
    /// The node runs cluster DNS for this domain (`crate::dns`): pods on
    /// the pod network get `nameserver <their gateway>` and the search path
    /// `<ns>.svc.<domain> svc.<domain> <domain>` instead of the above.
    pub cluster_domain: Option<String>,
}

/// Registry access for pulls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryConfig {
    /// `(registry, mirror URL)`, e.g. `("docker.io", "http://127.0.0.1:5000")`.
    pub mirrors: Vec<(String, String)>,
    /// Registries reached over plain HTTP.
    pub insecure: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinuxRuntimeConfig {
    /// Sandboxes, containers and logs: `/var/lib/skiff/agent`.
    pub root: PathBuf,
    /// The image store: `/var/lib/skiff/images`.
    pub image_root: PathBuf,
    /// The binary run as `container-monitor` and `container-exec` (the
    /// `skiff` binary itself).
    pub helper_program: PathBuf,
    /// Every pod cgroup goes under `<parent>/<qos>/pod<uid>`.
    pub cgroup_parent: String,
    pub network: NetworkConfig,
    pub dns: DnsConfig,
    pub registry: RegistryConfig,
    /// `pids.max` of every container.
    pub pids_limit: u64,
    /// Rotate a container's log at this size...
    pub log_max_size_bytes: u64,
    /// ...keeping this many rotated files.
    pub log_max_files: u32,
}

impl LinuxRuntimeConfig {
    /// Defaults for a node whose state lives under `root`, images under
    /// `image_root`, and whose helper is the running executable.
    pub fn new(root: impl Into<PathBuf>, image_root: impl Into<PathBuf>) -> LinuxRuntimeConfig {
        LinuxRuntimeConfig {
            root: root.into(),
            image_root: image_root.into(),
            helper_program: std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()),
            cgroup_parent: "skiff".into(),
            network: NetworkConfig::default(),
            dns: DnsConfig::default(),
            registry: RegistryConfig::default(),
            pids_limit: 4096,
            log_max_size_bytes: 10 * 1024 * 1024,
            log_max_files: 4,
        }
    }

    /// Checks what would fail later in a confusing way.
    pub fn validate(&self) -> Result<(), String> {
        if !self.root.is_absolute() {
            return Err(format!(
                "the runtime root {} must be an absolute path",
                self.root.display()
            ));
        }
        if !self.image_root.is_absolute() {
            return Err(format!(
                "the image root {} must be an absolute path",
                self.image_root.display()
            ));
        }
        let parent = self.cgroup_parent.trim_matches('/');
        if parent.is_empty() || parent.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(format!(
                "invalid cgroup parent {:?}: want a relative path like \"skiff\"",
                self.cgroup_parent
            ));
        }
        if self.pids_limit == 0 {
            return Err("the pids limit must be at least 1".into());
        }
        if self.network.bridge.is_empty() || self.network.bridge.len() > 15 {
            return Err(format!(
                "invalid bridge name {:?}: 1 to 15 characters",
                self.network.bridge
            ));
        }
        Ok(())
    }

    pub fn cni_data_dir(&self) -> PathBuf {
        self.network
            .data_dir
            .clone()
            .unwrap_or_else(|| self.root.join("cni").join("ipam"))
    }

    pub fn cni_cache_dir(&self) -> PathBuf {
        self.network
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.root.join("cni").join("cache"))
    }

    /// The cgroup parent without surrounding slashes.
    pub fn cgroup_parent(&self) -> &str {
        self.cgroup_parent.trim_matches('/')
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let c = LinuxRuntimeConfig::new("/var/lib/skiff/agent", "/var/lib/skiff/images");
        c.validate().unwrap();
        assert_eq!(c.pids_limit, 4096);
        assert_eq!(
            c.cni_data_dir(),
            PathBuf::from("/var/lib/skiff/agent/cni/ipam")
        );
        let mut bad = c.clone();
        bad.root = "rel".into();
        assert!(bad.validate().unwrap_err().contains("absolute"));
        let mut bad = c.clone();
        bad.cgroup_parent = "a/../b".into();
        assert!(bad.validate().unwrap_err().contains("cgroup parent"));
        let mut bad = c;
        bad.network.bridge = "a-very-long-bridge-name".into();
        assert!(bad.validate().unwrap_err().contains("bridge"));
    }
}
