//! Pod networks from the standard CNI plugins (Debian
//! `containernetworking-plugins`): `loopback` for `lo`, then `bridge` with
//! `host-local` addresses from the node's pod CIDR for `eth0`.
//!
//! The plugins run as child processes with the CNI environment; the bridge
//! and `ip_forward` land in the network namespace the agent runs in (the
//! node's). Each ADD's network list and result are cached per sandbox so
//! DEL replays exactly what ADD did, and [`Cni::gc`] releases addresses of
//! sandboxes that are gone (host-local leaks them otherwise).

mod cache;
mod error;
mod host_local;
mod netconf;
mod plugin;
mod result;
mod subnet;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::CniError;

use cache::CacheEntry;
use netconf::NetworkList;
use plugin::{Call, PluginDirs, Verb};
use subnet::Subnet;

/// The pod's interface name inside its sandbox.
pub const POD_INTERFACE: &str = "eth0";

/// Plugins [`Cni::new`] insists on.
const REQUIRED_PLUGINS: &[&str] = &["bridge", "host-local", "loopback"];

/// Longest Linux interface name (`IFNAMSIZ` - 1).
const MAX_INTERFACE_NAME: usize = 15;

#[derive(Debug, Clone, PartialEq)]
pub struct CniConfig {
    /// Searched in order for plugin binaries; also the plugins' `CNI_PATH`.
    pub plugin_dirs: Vec<PathBuf>,
    /// The network's name: host-local keeps its files in
    /// `data_dir/<network_name>`.
    pub network_name: String,
    /// The node's bridge, made by the plugin on first ADD.
    pub bridge: String,
    /// The Node's podCIDR, e.g. `10.250.1.0/24`; `.1` is the gateway.
    pub subnet: String,
    /// host-local's `dataDir`.
    pub data_dir: PathBuf,
    /// Where each sandbox's ADD result is kept for DEL.
    pub cache_dir: PathBuf,
    pub mtu: Option<u32>,
}

impl Default for CniConfig {
    /// Plugin directories, network and bridge names filled in; `subnet`,
    /// `data_dir` and `cache_dir` are left empty for the node to set.
    fn default() -> CniConfig {
        CniConfig {
            plugin_dirs: vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
            network_name: "skiff".into(),
            bridge: "cbr0".into(),
            subnet: String::new(),
            data_dir: PathBuf::new(),
            cache_dir: PathBuf::new(),
            mtu: None,
        }
    }
}

/// The pods' gateway (the bridge's address) on `pod_cidr`: its first host,
/// e.g. 10.250.1.1 for 10.250.1.0/24.
pub fn pod_gateway(pod_cidr: &str) -> Result<IpAddr, CniError> {
    Ok(Subnet::parse(pod_cidr)?.gateway())
}

/// A sandbox's address on the pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    pub ip: IpAddr,
    pub gateway: Option<IpAddr>,
    /// Inside the sandbox: [`POD_INTERFACE`].
    pub interface: String,
}

/// The node's CNI driver. Cheap to clone; calls for different sandboxes may
/// run concurrently (host-local serializes its own allocations).
#[derive(Debug, Clone)]
pub struct Cni {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: CniConfig,
    subnet: Subnet,
    plugins: PluginDirs,
    network: NetworkList,
}

impl Cni {
    /// Checks the configuration and that the `bridge`, `host-local` and
    /// `loopback` plugins are installed.
    pub fn new(config: CniConfig) -> Result<Cni, CniError> {
        let subnet = Subnet::parse(&config.subnet)?;
        check_name("network name", &config.network_name)?;
        if config.bridge.is_empty()
            || config.bridge.len() > MAX_INTERFACE_NAME
            || config
                .bridge
                .contains(|c: char| c == '/' || c.is_whitespace())
        {
            return Err(CniError::InvalidConfig(format!(
                "bridge name {:?}: must be 1 to {MAX_INTERFACE_NAME} characters without '/' or spaces",
                config.bridge
            )));
        }
        for (what, dir) in [
            ("data_dir", &config.data_dir),
            ("cache_dir", &config.cache_dir),
        ] {
            if !dir.is_absolute() {
                return Err(CniError::InvalidConfig(format!(
                    "{what} {:?} must be an absolute path",
                    dir
                )));
            }
        }
        if config.mtu.is_some_and(|mtu| !(576..=65535).contains(&mtu)) {
            return Err(CniError::InvalidConfig(format!(
                "mtu {:?} is outside 576..=65535",
                config.mtu
            )));
        }
        let plugins = PluginDirs::new(config.plugin_dirs.clone());
        for plugin in REQUIRED_PLUGINS {
            plugins.find(plugin)?;
        }
        let network = NetworkList::bridge(&config, &subnet);
        Ok(Cni {
            inner: Arc::new(Inner {
                config,
                subnet,
                plugins,
                network,
            }),
        })
    }

    pub fn config(&self) -> &CniConfig {
        &self.inner.config
    }

    /// Connects the sandbox whose network namespace is pinned at `netns`:
    /// `lo` up, then `eth0` on the node's bridge with an address from the
    /// pod CIDR. The result is cached for [`Cni::del`]. Calling it again
    /// for a sandbox already connected through the same `netns` returns
    /// the cached address.
    pub async fn add(&self, sandbox_id: &str, netns: &Path) -> Result<PodNetwork, CniError> {
        check_name("sandbox id", sandbox_id)?;
        if !netns.is_absolute() || !netns.exists() {
            return Err(CniError::InvalidArgument(format!(
                "network namespace {} of sandbox {sandbox_id} does not exist",
                netns.display()
            )));
        }
        let cache_dir = &self.inner.config.cache_dir;
        if let Some(entry) = cache::read(cache_dir, sandbox_id).await?
            && entry.netns == netns
        {
            return self.pod_network(&entry.network, &entry.result);
        }

        let loopback = NetworkList::loopback();
        self.run_list(&loopback, sandbox_id, Some(netns), "lo", Verb::Add, None)
            .await?;
        let network = self.inner.network.clone();
        let added = self
            .run_list(
                &network,
                sandbox_id,
                Some(netns),
                POD_INTERFACE,
                Verb::Add,
                None,
            )
            .await
            .and_then(|result| {
                let pod = self.pod_network(&network, &result)?;
                Ok((result, pod))
            });
        let (result, pod) = match added {
            Ok(added) => added,
            Err(err) => {
                // CNI: a failed ADD is followed by DEL so nothing half-made
                // (an address, a veth) stays behind.
                if let Err(cleanup) = self.del(sandbox_id, Some(netns)).await {
                    tracing::warn!(sandbox_id, %cleanup, "CNI cleanup after a failed ADD");
                }
                return Err(err);
            }
        };
        let entry = CacheEntry {
            container_id: sandbox_id.to_string(),
            netns: netns.to_path_buf(),
            if_name: POD_INTERFACE.to_string(),
            network,
            result,
        };
        cache::write(cache_dir, &entry).await?;
        Ok(pod)
    }

    /// Disconnects the sandbox and releases its address. Idempotent, and
    /// works when the namespace is already gone (`netns` `None` or no
    /// longer a namespace): the plugins then only release the address.
    pub async fn del(&self, sandbox_id: &str, netns: Option<&Path>) -> Result<(), CniError> {
        check_name("sandbox id", sandbox_id)?;
        let cache_dir = &self.inner.config.cache_dir;
        let cached = cache::read(cache_dir, sandbox_id).await?;
        let netns = netns
            .filter(|p| is_netns(p))
            .map(Path::to_path_buf)
            .or_else(|| {
                cached
                    .as_ref()
                    .map(|c| c.netns.clone())
                    .filter(|p| is_netns(p))
            });
        let (network, result, if_name) = match &cached {
            Some(c) => (&c.network, Some(&c.result), c.if_name.as_str()),
            None => (&self.inner.network, None, POD_INTERFACE),
        };
        self.run_list(
            network,
            sandbox_id,
            netns.as_deref(),
            if_name,
            Verb::Del,
            result,
        )
        .await?;
        if netns.is_some() {
            let loopback = NetworkList::loopback();
            self.run_list(
                &loopback,
                sandbox_id,
                netns.as_deref(),
                "lo",
                Verb::Del,
                None,
            )
            .await?;
        }
        cache::remove(cache_dir, sandbox_id).await
    }

    /// Releases the addresses (and cache entries) of sandboxes not in
    /// `live_sandbox_ids`: first through the plugins' DEL, then, for files
    /// DEL left (another interface name, a broken cache), directly under
    /// host-local's lock. Returns the addresses released.
    ///
    /// `live_sandbox_ids` must include sandboxes being created right now:
    /// an address whose sandbox is missing from it is taken back.
    pub async fn gc(&self, live_sandbox_ids: &HashSet<String>) -> Result<Vec<IpAddr>, CniError> {
        let network_dir = self.network_dir();
        let before = blocking_allocations(network_dir.clone()).await?;
        let mut stale_ids: Vec<String> = before
            .iter()
            .map(|a| a.container_id.clone())
            .chain(cache::ids(&self.inner.config.cache_dir).await?)
            .filter(|id| !live_sandbox_ids.contains(id))
            .collect();
        stale_ids.sort();
        stale_ids.dedup();

        for id in &stale_ids {
            if check_name("sandbox id", id).is_err() {
                continue; // not ours to DEL; its file is released below
            }
            if let Err(err) = self.del(id, None).await {
                tracing::warn!(sandbox_id = %id, %err, "CNI DEL during garbage collection");
            }
        }

        let after = blocking_allocations(network_dir.clone()).await?;
        let leftover: Vec<_> = after
            .into_iter()
            .filter(|a| !live_sandbox_ids.contains(&a.container_id))
            .collect();
        tokio::task::spawn_blocking(move || host_local::release(&network_dir, &leftover))
            .await
            .expect("host-local release does not panic")
            .map_err(CniError::io("releasing host-local addresses"))?;

        let still: HashSet<IpAddr> = blocking_allocations(self.network_dir())
            .await?
            .into_iter()
            .map(|a| a.ip)
            .collect();
        let mut released: Vec<IpAddr> = before
            .into_iter()
            .filter(|a| !live_sandbox_ids.contains(&a.container_id) && !still.contains(&a.ip))
            .map(|a| a.ip)
            .collect();
        released.sort();
        Ok(released)
    }

    fn network_dir(&self) -> PathBuf {
        self.inner
            .config
            .data_dir
            .join(&self.inner.config.network_name)
    }

    fn pod_network(
        &self,
        network: &NetworkList,
        result: &serde_json::Value,
    ) -> Result<PodNetwork, CniError> {
        let last = network
            .plugins
            .last()
            .and_then(|p| netconf::plugin_type(p).ok())
            .unwrap_or("bridge");
        let pod =
            result::pod_network(result, POD_INTERFACE).map_err(|reason| CniError::BadResult {
                plugin: last.to_string(),
                reason,
            })?;
        if !self.inner.subnet.contains(pod.ip) && network == &self.inner.network {
            return Err(CniError::BadResult {
                plugin: last.to_string(),
                reason: format!("address {} is outside {}", pod.ip, self.inner.subnet),
            });
        }
        Ok(pod)
    }

    /// Runs a network list: ADD in order, each plugin getting the previous
    /// one's result; DEL in reverse, each getting `prev_result` (the cached
    /// ADD result). Returns the last ADD result.
    async fn run_list(
        &self,
        network: &NetworkList,
        sandbox_id: &str,
        netns: Option<&Path>,
        if_name: &str,
        verb: Verb,
        prev_result: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, CniError> {
        let call = Call {
            verb,
            container_id: sandbox_id,
            netns,
            if_name,
        };
        let mut prev = prev_result.cloned();
        let order: Vec<_> = match verb {
            Verb::Add => network.plugins.iter().collect(),
            Verb::Del => network.plugins.iter().rev().collect(),
        };
        for plugin in order {
            let plugin_type = netconf::plugin_type(plugin)?;
            let stdin = network.stdin_for(plugin, prev.as_ref());
            let output = self.inner.plugins.run(plugin_type, &call, stdin).await?;
            if let Some(result) = output {
                prev = Some(result);
            }
        }
        Ok(prev.unwrap_or(serde_json::Value::Null))
    }
}

async fn blocking_allocations(dir: PathBuf) -> Result<Vec<host_local::Allocation>, CniError> {
    tokio::task::spawn_blocking(move || host_local::allocations(&dir))
        .await
        .expect("listing host-local files does not panic")
        .map_err(CniError::io("reading host-local addresses"))
}

/// CNI's rule for container ids and network names (which also keeps them
/// safe as file names): alphanumerics, then also `_`, `.` and `-`.
fn check_name(what: &str, name: &str) -> Result<(), CniError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 253;
    if valid {
        Ok(())
    } else {
        Err(CniError::InvalidArgument(format!(
            "{what} {name:?}: must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )))
    }
}

/// Whether `path` is a network namespace file (a pin or `/proc/*/ns/net`).
fn is_netns(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs only writes into the zeroed struct we own.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type == libc::NSFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(plugin_dir: &Path) -> CniConfig {
        CniConfig {
            plugin_dirs: vec![plugin_dir.to_path_buf()],
            subnet: "10.250.1.0/24".into(),
            data_dir: "/var/lib/skiff/cni/ipam".into(),
            cache_dir: "/var/lib/skiff/cni/cache".into(),
            ..CniConfig::default()
        }
    }

    #[test]
    fn new_names_the_missing_plugin_and_where_it_looked() {
        let empty = tempfile::tempdir().unwrap();
        let err = Cni::new(config(empty.path())).unwrap_err().to_string();
        assert!(err.contains("`bridge`"), "{err}");
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
        assert!(err.contains("containernetworking-plugins"), "{err}");
    }

    #[test]
    fn new_rejects_bad_configuration() {
        let dir = tempfile::tempdir().unwrap();
        type Change = fn(&mut CniConfig);
        let cases: [(Change, &str); 5] = [
            (|c| c.subnet = "10.250.1.0".into(), "pod subnet"),
            (|c| c.bridge = "a-very-long-bridge".into(), "bridge name"),
            (|c| c.network_name = "../x".into(), "network name"),
            (|c| c.data_dir = "ipam".into(), "data_dir"),
            (|c| c.mtu = Some(10), "mtu"),
        ];
        for (change, expected) in cases {
            let mut config = config(dir.path());
            change(&mut config);
            let err = Cni::new(config).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn sandbox_ids_follow_cni_rules() {
        assert!(check_name("sandbox id", "0f5c-9a_b.c").is_ok());
        for bad in ["", "-x", "a/b", "a b", "../x", ".x"] {
            let err = check_name("sandbox id", bad).unwrap_err().to_string();
            assert!(err.contains("sandbox id"), "{err}");
        }
    }

    #[test]
    fn only_namespace_files_count_as_netns() {
        assert!(is_netns(Path::new("/proc/self/ns/net")));
        assert!(!is_netns(Path::new("/proc/self/status")));
        assert!(!is_netns(Path::new("/nonexistent/net")));
    }
}
