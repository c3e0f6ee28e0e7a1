//! Many hollow nodes in one process (`skiff agent --hollow --nodes N`):
//! each a real agent (registration, Lease, pod workers, status) over its
//! own [`HollowRuntime`], all sharing one pods watch, one nodes watch, one
//! pool of pod workers and one bound on API requests. No thread or task per
//! node: a node costs a few KiB plus its pods.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use skiff_api::core::Pod;
use skiff_client::Client;

use crate::agent::AgentHandle;
use crate::config::{AgentConfig, Capacity, PodEvents};
use crate::engine::{Engine, Scope, Settings};
use crate::node_state::NodeState;
use crate::runtime::hollow::{HollowConfig, HollowRuntime};
use crate::server::AgentServer;

/// Label on every hollow Node.
pub const HOLLOW_LABEL: &str = "skiff.dev/hollow";

#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Every node's config; `node_name`, `node_ip` and `fallback_pod_cidr`
    /// are set per node.
    pub agent: AgentConfig,
    pub hollow: HollowConfig,
    /// Pods synced at once, all nodes together.
    pub pod_workers: usize,
    /// API requests in flight, all nodes together.
    pub api_concurrency: usize,
    /// Workers for Lease renewals (and as many for node status).
    pub heartbeat_workers: usize,
    /// Nodes registering at once.
    pub registration_concurrency: usize,
}

impl Default for FleetConfig {
    /// Kubernetes' timings; hollow capacity (4 CPUs, 8Gi, 110 pods).
    fn default() -> FleetConfig {
        let mut agent = AgentConfig::new("hollow-node-0", hollow_node_ip(0));
        agent.capacity = Capacity::hollow();
        agent.labels.insert(HOLLOW_LABEL.into(), "true".into());
        // One write per pod on the happy path.
        agent.pod_events = PodEvents::Warnings;
        FleetConfig {
            agent,
            hollow: HollowConfig::default(),
            pod_workers: 64,
            api_concurrency: 64,
            heartbeat_workers: 4,
            registration_concurrency: 32,
        }
    }
}

impl FleetConfig {
    /// The agents' lab profile (seconds instead of minutes).
    pub fn lab_profile(mut self) -> FleetConfig {
        self.agent = self.agent.lab_profile();
        self
    }
}

/// The InternalIP of hollow node `index`: 10.250.0.1, 10.250.0.2, ...
/// (254 per third octet, up to 65,024 nodes).
pub fn hollow_node_ip(index: usize) -> IpAddr {
    let third = (index / 254) % 256;
    let fourth = index % 254 + 1;
    IpAddr::V4(Ipv4Addr::new(10, 250, third as u8, fourth as u8))
}

/// Pod IPs of hollow node `index` while it has no podCIDR: a /24 of
/// 172.16.0.0/12 of its own.
pub fn hollow_fallback_cidr(index: usize) -> String {
    let i = index % 4096;
    format!("172.{}.{}.0/24", 16 + i / 256, i % 256)
}

/// One hollow node: its runtime (for fault injection) and its agent.
pub struct HollowNode {
    name: String,
    index: usize,
    runtime: HollowRuntime,
    handle: Option<AgentHandle>,
}

impl HollowNode {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Crash, exit or un-ready its containers through this.
    pub fn runtime(&self) -> &HollowRuntime {
        &self.runtime
    }

    /// Its agent, unless stopped.
    pub fn handle(&self) -> Option<&AgentHandle> {
        self.handle.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(AgentHandle::is_running)
    }
}

pub struct HollowFleet {
    engine: Arc<Engine>,
    /// The fleet's one agent HTTP API (logs, exec), if configured.
    server: Option<AgentServer>,
    config: FleetConfig,
    prefix: String,
    nodes: Vec<HollowNode>,
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for HollowFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HollowFleet")
            .field("prefix", &self.prefix)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// Starts `count` hollow nodes named `{name_prefix}0`, `{name_prefix}1`, ...
/// Returns once every Node is registered and syncing pods.
pub async fn start_hollow_fleet(
    client: Client,
    count: usize,
    name_prefix: &str,
    mut config: FleetConfig,
) -> anyhow::Result<HollowFleet> {
    let mut template = config.agent.clone();
    template.node_name = format!("{name_prefix}0");
    template.validate().map_err(anyhow::Error::msg)?;
    let settings = Settings {
        pod_workers: config.pod_workers,
        api_concurrency: config.api_concurrency,
        housekeeping_interval: config.agent.housekeeping_interval,
        heartbeat_workers: config.heartbeat_workers,
    };
    let engine = Engine::start(client, Scope::Fleet, settings);
    // One server for the whole fleet; every Node reports its port.
    let server = match config.agent.server_addr {
        Some(addr) => {
            let server = AgentServer::start(addr, &engine, config.agent.server_token.clone()).await;
            let server = server.inspect_err(|_| engine.shutdown_now())?;
            config.agent.kubelet_port = i32::from(server.local_addr().port());
            Some(server)
        }
        None => None,
    };
    let mut fleet = HollowFleet {
        engine,
        server,
        config,
        prefix: name_prefix.to_string(),
        nodes: Vec::new(),
        by_name: HashMap::new(),
    };
    fleet.add_nodes(count).await?;
    Ok(fleet)
}

impl HollowFleet {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Where the fleet's agent HTTP API listens (`agent.server_addr`).
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(AgentServer::local_addr)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> &[HollowNode] {
        &self.nodes
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn node(&self, name: &str) -> Option<&HollowNode> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    pub fn runtime(&self, node: &str) -> Option<&HollowRuntime> {
        self.node(node).map(HollowNode::runtime)
    }

    pub fn handle(&self, node: &str) -> Option<&AgentHandle> {
        self.node(node).and_then(HollowNode::handle)
    }

    /// The runtime of the node `pod` is bound to.
    pub fn runtime_for(&self, pod: &Pod) -> Option<&HollowRuntime> {
        let node = pod.spec.as_ref()?.node_name.as_deref()?;
        self.runtime(node)
    }

    fn node_config(&self, index: usize) -> AgentConfig {
        let mut c = self.config.agent.clone();
        c.node_name = format!("{}{index}", self.prefix);
        c.node_ip = hollow_node_ip(index);
        c.fallback_pod_cidr = hollow_fallback_cidr(index);
        c
    }

    /// Adds `count` nodes (numbered after the last); their names.
    pub async fn add_nodes(&mut self, count: usize) -> anyhow::Result<Vec<String>> {
        let first = self.nodes.iter().map(|n| n.index + 1).max().unwrap_or(0);
        let fresh: Vec<(usize, HollowRuntime)> = (first..first + count)
            .map(|i| (i, HollowRuntime::new(self.config.hollow.clone())))
            .collect();
        let states: Vec<Arc<NodeState>> = fresh
            .iter()
            .map(|(i, rt)| {
                NodeState::new(
                    self.node_config(*i),
                    Arc::new(rt.clone()),
                    self.engine.client.clone(),
                )
            })
            .collect();
        self.join(&states).await?;
        let mut names = Vec::with_capacity(count);
        for ((index, runtime), state) in fresh.into_iter().zip(states) {
            let name = state.name.to_string();
            self.by_name.insert(name.clone(), self.nodes.len());
            self.nodes.push(HollowNode {
                name: name.clone(),
                index,
                runtime,
                handle: Some(AgentHandle::new(state, self.engine.clone(), false)),
            });
            names.push(name);
        }
        Ok(names)
    }

    /// Registers the nodes (a bounded number at once), waits for their
    /// podCIDRs together, then starts syncing their pods.
    async fn join(&self, states: &[Arc<NodeState>]) -> anyhow::Result<()> {
        let engine = &self.engine;
        let registered = futures::stream::iter(states.iter().map(|s| engine.register(s)))
            .buffer_unordered(self.config.registration_concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await;
        if let Err(e) = registered {
            // None of them joins: no half-started nodes heartbeating.
            for s in states {
                engine.remove(&s.name);
            }
            return Err(e);
        }
        let deadline = tokio::time::Instant::now() + self.config.agent.pod_cidr_wait;
        futures::future::join_all(states.iter().map(|s| s.wait_for_pod_cidr(deadline))).await;
        for s in states {
            engine.activate(s).await;
        }
        Ok(())
    }

    /// Stops the agent of `node`, as if its kubelet died: no more
    /// heartbeats or status; its containers keep "running". False if
    /// there is no such running node.
    pub async fn stop_node(&mut self, node: &str) -> bool {
        let Some(&i) = self.by_name.get(node) else {
            return false;
        };
        match self.nodes[i].handle.take() {
            Some(h) => {
                h.shutdown().await;
                true
            }
            None => false,
        }
    }

    /// Starts a fresh agent for `node` over the same runtime (stopping the
    /// running one first): it adopts the containers that run.
    pub async fn restart_node(&mut self, node: &str) -> anyhow::Result<()> {
        let Some(&i) = self.by_name.get(node) else {
            anyhow::bail!("no hollow node {node}");
        };
        self.stop_node(node).await;
        let index = self.nodes[i].index;
        let runtime = self.nodes[i].runtime.clone();
        let state = NodeState::new(
            self.node_config(index),
            Arc::new(runtime),
            self.engine.client.clone(),
        );
        self.join(std::slice::from_ref(&state)).await?;
        self.nodes[i].handle = Some(AgentHandle::new(state, self.engine.clone(), false));
        Ok(())
    }

    /// Stops every agent and waits for the shared tasks to end.
    pub async fn shutdown(mut self) {
        for n in &mut self.nodes {
            n.handle.take();
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.engine.shutdown().await;
    }
}

impl Drop for HollowFleet {
    fn drop(&mut self) {
        self.engine.shutdown_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_per_index() {
        assert_eq!(hollow_node_ip(0).to_string(), "10.250.0.1");
        assert_eq!(hollow_node_ip(253).to_string(), "10.250.0.254");
        assert_eq!(hollow_node_ip(254).to_string(), "10.250.1.1");
        assert_eq!(hollow_fallback_cidr(0), "172.16.0.0/24");
        assert_eq!(hollow_fallback_cidr(257), "172.17.1.0/24");
        let ips: std::collections::HashSet<_> = (0..5000).map(hollow_node_ip).collect();
        assert_eq!(ips.len(), 5000);
    }

    #[test]
    fn fleet_defaults_are_hollow() {
        let c = FleetConfig::default();
        assert_eq!(c.agent.capacity, Capacity::hollow());
        assert_eq!(c.agent.labels[HOLLOW_LABEL], "true");
        let lab = c.lab_profile();
        assert_eq!(
            lab.agent.lease_renew_interval,
            std::time::Duration::from_secs(1)
        );
    }
}
