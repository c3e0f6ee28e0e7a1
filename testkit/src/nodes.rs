//! The cluster's hollow nodes: a fleet numbered `node-0`, `node-1`, ...
//! (one process, shared watches) and nodes added one at a time with a name
//! and a configuration of the test's choosing (each a real agent over its
//! own hollow runtime).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use skiff_agent::{
    Agent, AgentConfig, AgentHandle, FleetConfig, HollowFleet, HollowRuntime, hollow_fallback_cidr,
    hollow_node_ip, start_hollow_fleet,
};
use skiff_client::Client;

/// Addresses of named nodes start here (the fleet takes the first ones).
const NAMED_NODE_INDEX: usize = 10_000;

struct NamedNode {
    config: AgentConfig,
    runtime: HollowRuntime,
    handle: Option<AgentHandle>,
}

pub struct Nodes {
    client: Client,
    config: FleetConfig,
    fleet: HollowFleet,
    named: BTreeMap<String, NamedNode>,
}

impl Nodes {
    pub async fn start(
        client: Client,
        count: usize,
        prefix: &str,
        config: FleetConfig,
    ) -> anyhow::Result<Nodes> {
        let fleet = start_hollow_fleet(client.clone(), count, prefix, config.clone())
            .await
            .context("starting the hollow nodes")?;
        Ok(Nodes {
            client,
            config,
            fleet,
            named: BTreeMap::new(),
        })
    }

    pub fn names(&self) -> Vec<String> {
        let mut names = self.fleet.node_names();
        names.extend(self.named.keys().cloned());
        names
    }

    pub fn runtime(&self, node: &str) -> Option<&HollowRuntime> {
        self.fleet
            .runtime(node)
            .or_else(|| self.named.get(node).map(|n| &n.runtime))
    }

    pub fn handle(&self, node: &str) -> Option<&AgentHandle> {
        self.fleet
            .handle(node)
            .or_else(|| self.named.get(node).and_then(|n| n.handle.as_ref()))
    }

    /// Adds fleet nodes (named after the last one); their names.
    pub async fn add_fleet_nodes(&mut self, count: usize) -> anyhow::Result<Vec<String>> {
        self.fleet.add_nodes(count).await
    }

    /// Starts a node called `name`, configured like the fleet's and then by
    /// `tune` (labels, taints, capacity...).
    pub async fn add_named(
        &mut self,
        name: &str,
        tune: impl FnOnce(&mut AgentConfig),
    ) -> anyhow::Result<()> {
        if self.runtime(name).is_some() {
            anyhow::bail!("a node called {name} exists already");
        }
        let index = NAMED_NODE_INDEX + self.named.len();
        let mut config = self.config.agent.clone();
        config.node_name = name.to_string();
        config.node_ip = hollow_node_ip(index);
        config.fallback_pod_cidr = hollow_fallback_cidr(index);
        tune(&mut config);
        let runtime = HollowRuntime::new(self.config.hollow.clone());
        let handle = Agent::start(
            self.client.clone(),
            config.clone(),
            Arc::new(runtime.clone()),
        )
        .await
        .with_context(|| format!("starting node {name}"))?;
        self.named.insert(
            name.to_string(),
            NamedNode {
                config,
                runtime,
                handle: Some(handle),
            },
        );
        Ok(())
    }

    /// Starts a fresh agent for `node` over the same runtime (stopping the
    /// running one first): it adopts the containers that still run.
    pub async fn restart(&mut self, node: &str) -> anyhow::Result<()> {
        if self.fleet.node(node).is_some() {
            return self.fleet.restart_node(node).await;
        }
        let Some(n) = self.named.get_mut(node) else {
            anyhow::bail!("no node {node}");
        };
        if let Some(h) = n.handle.take() {
            h.shutdown().await;
        }
        let handle = Agent::start(
            self.client.clone(),
            n.config.clone(),
            Arc::new(n.runtime.clone()),
        )
        .await
        .with_context(|| format!("restarting node {node}"))?;
        n.handle = Some(handle);
        Ok(())
    }

    /// Stops the node's agent, as if its kubelet died. False if none ran.
    pub async fn stop(&mut self, node: &str) -> bool {
        if self.fleet.node(node).is_some() {
            return self.fleet.stop_node(node).await;
        }
        match self.named.get_mut(node).and_then(|n| n.handle.take()) {
            Some(h) => {
                h.shutdown().await;
                true
            }
            None => false,
        }
    }

    pub async fn shutdown(mut self) {
        for n in self.named.values_mut() {
            if let Some(h) = n.handle.take() {
                h.shutdown().await;
            }
        }
        self.fleet.shutdown().await;
    }
}
