//! `Agent::start`: one node agent (the kubelet's control half) over a
//! [`Runtime`], and the handle that controls it.

use std::sync::Arc;

use skiff_client::Client;

use crate::config::AgentConfig;
use crate::engine::{Engine, Scope, Settings};
use crate::node_state::NodeState;
use crate::runtime::Runtime;
use crate::server::AgentServer;

/// Starts node agents.
pub struct Agent;

impl Agent {
    /// Registers the Node (or takes over an existing one of that name),
    /// starts its Lease, waits briefly for its podCIDR, then syncs the pods
    /// bound to it. Containers the runtime already runs (a restarted agent)
    /// are adopted, or removed if their pod is gone. Returns once pods sync.
    pub async fn start(
        client: Client,
        mut config: AgentConfig,
        runtime: Arc<dyn Runtime>,
    ) -> anyhow::Result<AgentHandle> {
        config.validate().map_err(anyhow::Error::msg)?;
        let settings = Settings {
            pod_workers: config.pod_workers,
            api_concurrency: config.api_concurrency,
            housekeeping_interval: config.housekeeping_interval,
            heartbeat_workers: 1,
        };
        let engine = Engine::start(
            client.clone(),
            Scope::Node(config.node_name.clone()),
            settings,
        );
        // Before the Node registers: it reports the port really bound.
        let server = match config.server_addr {
            Some(addr) => {
                let server = AgentServer::start(addr, &engine, config.server_token.clone()).await;
                let server = server.inspect_err(|_| engine.shutdown_now())?;
                config.kubelet_port = i32::from(server.local_addr().port());
                Some(server)
            }
            None => None,
        };
        let node = NodeState::new(config, runtime, client.clone());
        // Dropped on an error below: that stops the engine (and the server).
        let mut handle = AgentHandle::new(node.clone(), engine.clone(), true);
        handle.server = server;
        if let Some(routes) = node.config.routes.clone() {
            let keeper = crate::routes::start(client.clone(), &node.name, routes)
                .map_err(|e| anyhow::anyhow!("pod routes: {e}"))?;
            handle.routes = Some(keeper);
        }
        if let Some(proxy) = node.config.proxy.clone() {
            handle.proxy = Some(crate::proxy::ServiceProxy::start(client.clone(), proxy).await?);
        }
        engine.register(&node).await?;
        let deadline = tokio::time::Instant::now() + node.config.pod_cidr_wait;
        node.wait_for_pod_cidr(deadline).await;
        if let Some(dns) = node.config.dns.clone() {
            handle.dns = Some(start_dns(&client, &node, &dns)?);
        }
        engine.activate(&node).await;
        Ok(handle)
    }
}

/// A running node agent. Dropping it stops the agent (as [`shutdown`](Self::shutdown)
/// does, without waiting); the runtime's containers keep running either way.
pub struct AgentHandle {
    node: Arc<NodeState>,
    engine: Arc<Engine>,
    /// The engine serves this node alone: stopping the node stops it.
    owns_engine: bool,
    /// The agent's HTTP API, when `server_addr` asked for one.
    server: Option<AgentServer>,
    /// The cross-node route keeper, when `config.routes` asked for one.
    routes: Option<crate::routes::RoutesHandle>,
    /// The service proxy, when `config.proxy` asked for one.
    proxy: Option<crate::proxy::ServiceProxy>,
    /// The node's cluster DNS, when `config.dns` asked for it.
    dns: Option<Arc<crate::dns::DnsServer>>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle")
            .field("node", &self.node.name)
            .field("running", &self.is_running())
            .field("heartbeat_paused", &self.is_heartbeat_paused())
            .finish()
    }
}

impl AgentHandle {
    pub(crate) fn new(node: Arc<NodeState>, engine: Arc<Engine>, owns_engine: bool) -> AgentHandle {
        AgentHandle {
            node,
            engine,
            owns_engine,
            server: None,
            routes: None,
            proxy: None,
            dns: None,
        }
    }

    /// Where the agent's HTTP API listens (see `AgentConfig::server_addr`).
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(AgentServer::local_addr)
    }

    /// What the service proxy has applied, when it runs.
    pub fn proxy_state(&self) -> Option<tokio::sync::watch::Receiver<crate::proxy::ProxyState>> {
        self.proxy.as_ref().map(crate::proxy::ServiceProxy::state)
    }

    /// Where the node's cluster DNS listens (empty: not enabled, or not
    /// bound yet; see `AgentConfig::dns`).
    pub fn dns_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.dns.as_ref().map_or_else(Vec::new, |d| d.local_addrs())
    }

    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    pub fn config(&self) -> &AgentConfig {
        &self.node.config
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.node.runtime
    }

    /// The podCIDR the controller gave the Node, if any yet (pod IPs come
    /// from `config().fallback_pod_cidr` until it arrives).
    pub fn pod_cidr(&self) -> Option<String> {
        self.node.pod_cidr()
    }

    /// Syncing pods and heartbeating (false once stopped).
    pub fn is_running(&self) -> bool {
        self.node.is_active() && !self.engine.is_shut_down()
    }

    /// Fault injection: the node stops renewing its Lease and writing its
    /// status, as if cut off; its pods keep being synced.
    pub fn pause_heartbeat(&self) {
        self.node.set_heartbeat_paused(true);
    }

    /// Renews the Lease and fixes the Node's status at once.
    pub fn resume_heartbeat(&self) {
        self.node.set_heartbeat_paused(false);
        self.engine.kick_heartbeat(&self.node.name);
    }

    pub fn is_heartbeat_paused(&self) -> bool {
        self.node.heartbeat_paused()
    }

    fn stop(&mut self) {
        // Its routes stay: pods keep reaching each other meanwhile.
        self.routes = None;
        if let Some(dns) = self.dns.take() {
            dns.stop();
        }
        self.engine.remove(&self.node.name);
        if self.owns_engine {
            self.engine.shutdown_now();
        }
    }

    /// Stops the agent and waits for its tasks to end. The Node, its Lease
    /// and the runtime's containers stay: a new agent on the same runtime
    /// takes them over.
    pub async fn shutdown(mut self) {
        self.stop();
        // The proxy's table goes if its config says so (`remove_on_shutdown`).
        if let Some(proxy) = self.proxy.take()
            && let Err(e) = proxy.shutdown().await
        {
            tracing::warn!(error = %e, "service proxy: removing its table failed");
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if self.owns_engine {
            self.engine.shutdown().await;
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The node's DNS server: on `dns.listen` if given (an error there fails
/// the start), else on port 53 of the pod network's gateway, following the
/// Node's podCIDR (a failed bind there is logged and retried).
fn start_dns(
    client: &Client,
    node: &Arc<NodeState>,
    dns: &crate::dns::DnsServerConfig,
) -> anyhow::Result<Arc<crate::dns::DnsServer>> {
    let server = Arc::new(crate::dns::DnsServer::start(client.clone(), dns)?);
    match dns.listen {
        Some(addr) => {
            server
                .listen(addr)
                .map_err(|e| anyhow::anyhow!("cluster DNS: listening on {addr}: {e}"))?;
        }
        None => server.follow_pod_gateways(
            node.watch_pod_cidr(),
            node.config.fallback_pod_cidr.clone(),
            crate::dns::DNS_PORT,
        ),
    }
    Ok(server)
}
