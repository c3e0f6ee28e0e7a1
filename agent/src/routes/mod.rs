//! The cross-node pod network, host-gw style: for every other Node with a
//! podCIDR and an InternalIP on this node's link, a route
//! `podCIDR via nodeIP dev IFACE` in this node's network namespace, so pods
//! reach pods on other nodes by their own IPs, without NAT.
//!
//! The agent owns only the routes it writes: they carry a dedicated route
//! protocol number ([`DEFAULT_ROUTE_PROTO`]); routes of nodes that go away
//! are removed, every other route is left alone. `ip_forward` is turned on
//! only when the node asks for it ([`RoutesConfig::enable_ip_forward`]:
//! lab nodes, or `--enable-ip-forward`), never implicitly on a host.

pub mod cidr;
mod desired;
pub mod iface;
mod iproute;
pub mod sysctl;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use skiff_api::core::Node;
use skiff_client::runtime::{Cache, informer};
use skiff_client::{Api, Client, ListParams};

pub use cidr::Ipv4Cidr;
pub use desired::{Desired, desired_routes, internal_ipv4};
pub use iproute::{OwnedRoute, parse_routes};

/// The `proto` number on skiff's routes (`ip route show proto 66`).
pub const DEFAULT_ROUTE_PROTO: u8 = 66;

/// How the node routes other nodes' pod networks.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutesConfig {
    /// The interface other nodes are reached through (eth0 of a lab node,
    /// the private-network interface of a VM: not its NAT interface).
    pub iface: String,
    /// The route protocol number marking the routes this agent owns.
    pub proto: u8,
    /// Set `net.ipv4.ip_forward=1` in the agent's network namespace.
    pub enable_ip_forward: bool,
    /// Routes are compared with the Nodes at least this often (someone may
    /// have deleted one).
    pub resync_interval: Duration,
    /// iproute2's `ip`.
    pub ip_program: PathBuf,
}

impl RoutesConfig {
    pub fn new(iface: impl Into<String>) -> RoutesConfig {
        RoutesConfig {
            iface: iface.into(),
            proto: DEFAULT_ROUTE_PROTO,
            enable_ip_forward: false,
            resync_interval: Duration::from_secs(30),
            ip_program: PathBuf::from("ip"),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.iface.is_empty() || self.iface.len() > 15 || self.iface.contains('/') {
            return Err(format!("invalid interface name {:?}", self.iface));
        }
        // 0-4 are the kernel's own (unspec, redirect, kernel, boot, static).
        if self.proto < 5 {
            return Err(format!(
                "route protocol {} is reserved: use one of 5-255",
                self.proto
            ));
        }
        if self.resync_interval.is_zero() {
            return Err("the route resync interval must be positive".into());
        }
        Ok(())
    }
}

/// The running route keeper; dropping it stops it (the routes stay, so
/// pods keep reaching each other while an agent restarts).
pub struct RoutesHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RoutesHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks the interface, turns forwarding on if asked, then keeps the
/// routes in step with the Nodes until dropped.
pub fn start(
    client: Client,
    node_name: &str,
    config: RoutesConfig,
) -> Result<RoutesHandle, String> {
    config.validate()?;
    if !iface::exists(&config.iface) {
        return Err(format!(
            "interface {:?} does not exist in this network namespace",
            config.iface
        ));
    }
    if config.enable_ip_forward {
        sysctl::enable_ip_forward()
            .map_err(|e| format!("enabling net.ipv4.ip_forward in this netns: {e}"))?;
    } else if matches!(sysctl::ip_forward(), Ok(false)) {
        tracing::warn!(
            "net.ipv4.ip_forward is 0: pods on other nodes cannot reach this node's pods \
             (set it, or pass --enable-ip-forward)"
        );
    }
    let node_name = node_name.to_string();
    let task = tokio::spawn(run(client, node_name, config));
    Ok(RoutesHandle { task })
}

async fn run(client: Client, node_name: String, config: RoutesConfig) {
    let (cache, mut events) = informer(Api::<Node>::all(client), ListParams::default());
    let mut resync = tokio::time::interval(config.resync_interval);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut keeper = Keeper {
        config,
        node_name,
        last_skipped: Vec::new(),
    };
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(_)) => {
                    // A burst (the first list, a re-list) is one reconcile.
                    while let Some(Some(more)) = events.next().now_or_never() {
                        if let Err(e) = more {
                            tracing::debug!(error = %e, "node watch");
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "node watch");
                    continue;
                }
                None => return,
            },
            _ = resync.tick() => {}
        }
        if cache.is_synced() {
            keeper.reconcile(&cache).await;
        }
    }
}

struct Keeper {
    config: RoutesConfig,
    node_name: String,
    last_skipped: Vec<String>,
}

impl Keeper {
    async fn reconcile(&mut self, cache: &Cache<Node>) {
        let link = match iface::subnets_of(&self.config.iface) {
            Ok(link) => link,
            Err(e) => {
                tracing::warn!(iface = %self.config.iface, error = %e, "reading the interface's addresses");
                return;
            }
        };
        let nodes: Vec<Arc<Node>> = cache.list();
        let desired = desired_routes(nodes.iter().map(|n| n.as_ref()), &self.node_name, &link);
        if desired.skipped != self.last_skipped {
            for reason in &desired.skipped {
                tracing::warn!(iface = %self.config.iface, "no pod route to node {reason}");
            }
            self.last_skipped = desired.skipped.clone();
        }
        let program = &self.config.ip_program;
        let proto = self.config.proto;
        let current = match iproute::list_owned(program, proto).await {
            Ok(routes) => routes,
            Err(e) => {
                tracing::warn!(error = %e, "listing pod routes");
                return;
            }
        };
        let current: BTreeMap<Ipv4Cidr, OwnedRoute> =
            current.into_iter().map(|r| (r.dst, r)).collect();
        for (dst, via) in &desired.routes {
            let up_to_date = current.get(dst).is_some_and(|r| {
                r.via == Some(*via) && r.dev.as_deref() == Some(self.config.iface.as_str())
            });
            if up_to_date {
                continue;
            }
            match iproute::replace(program, *dst, *via, &self.config.iface, proto).await {
                Ok(()) => tracing::info!(%dst, %via, dev = %self.config.iface, "pod route set"),
                Err(e) => tracing::warn!(%dst, %via, error = %e, "setting a pod route"),
            }
        }
        for dst in current.keys() {
            if desired.routes.contains_key(dst) {
                continue;
            }
            match iproute::delete(program, *dst, proto).await {
                Ok(()) => tracing::info!(%dst, "pod route removed"),
                Err(e) => tracing::warn!(%dst, error = %e, "removing a pod route"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_problem() {
        let c = RoutesConfig::new("eth0");
        c.validate().unwrap();
        assert_eq!(c.proto, DEFAULT_ROUTE_PROTO);
        assert!(!c.enable_ip_forward);
        let mut bad = c.clone();
        bad.iface = "a-very-long-interface".into();
        assert!(bad.validate().unwrap_err().contains("interface"));
        let mut bad = c;
        bad.proto = 2;
        assert!(bad.validate().unwrap_err().contains("reserved"));
    }
}
