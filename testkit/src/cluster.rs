//! [`Cluster`]: an API server on an embedded SQLite store in a temp dir,
//! the controllers and the scheduler, and N hollow nodes, all in this
//! process, with handles to break them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use skiff_agent::{AgentConfig, FleetConfig, HollowRuntime};
use skiff_api::Object;
use skiff_api::apps::Deployment;
use skiff_api::coordination::Lease;
use skiff_api::core::Pod;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_apiserver::{Faults, RunningServer};
use skiff_client::{Api, Client};
use skiff_controller::clock::{FakeClock, SharedClock, SystemClock};
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use skiff_controller::manager::Parts;

use crate::controllers::{Controllers, ElectionTimings, LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE};
use crate::invariants::{ObjectWatch, PodSnapshot, PodWatch, Snapshot};
use crate::nodes::Nodes;
use crate::objects::{deployment_image, rolled_out};

/// How the controllers run.
#[derive(Debug, Clone)]
enum ControllerMode {
    /// One manager (as `skiff server` runs them).
    Single,
    /// None until the test starts them.
    Off,
    /// Replicas under leader election, with these identities.
    Replicas(Vec<String>),
}

/// Configures a [`Cluster`]; [`Cluster::builder`] makes one.
pub struct ClusterBuilder {
    nodes: usize,
    node_prefix: String,
    controller_config: ControllerConfig,
    fleet_config: FleetConfig,
    election: ElectionTimings,
    faults: Option<Arc<Faults>>,
    fake_clock: Option<DateTime<Utc>>,
    parts: Parts,
    mode: ControllerMode,
}

impl Default for ClusterBuilder {
    fn default() -> ClusterBuilder {
        ClusterBuilder {
            nodes: 1,
            node_prefix: "node-".into(),
            controller_config: ControllerConfig::default(),
            fleet_config: FleetConfig::default(),
            election: ElectionTimings::kubernetes(),
            faults: None,
            fake_clock: None,
            parts: Parts::all(),
            mode: ControllerMode::Single,
        }
    }
}

impl ClusterBuilder {
    /// How many hollow nodes (`node-0`, `node-1`, ...) start with the
    /// cluster (default 1; 0 is allowed).
    pub fn nodes(mut self, n: usize) -> ClusterBuilder {
        self.nodes = n;
        self
    }

    /// Names of the fleet's nodes: `{prefix}0`, `{prefix}1`, ... (default `node-`).
    pub fn node_prefix(mut self, prefix: &str) -> ClusterBuilder {
        self.node_prefix = prefix.into();
        self
    }

    /// Seconds instead of minutes everywhere: controllers
    /// ([`ControllerConfig::lab_profile`]: a silent node is unknown after
    /// 4 s, its pods evicted 2 s later), node agents (Lease renewed every
    /// second, restarts backing off from 1 s) and leader election (a
    /// failover in about 3 s).
    pub fn lab_profile(mut self) -> ClusterBuilder {
        self.controller_config = ControllerConfig::lab_profile();
        self.fleet_config = self.fleet_config.lab_profile();
        self.election = ElectionTimings::lab();
        self
    }

    /// Adjusts the controllers' configuration (after `lab_profile`).
    pub fn controller_config(mut self, tune: impl FnOnce(&mut ControllerConfig)) -> ClusterBuilder {
        tune(&mut self.controller_config);
        self
    }

    /// Adjusts the nodes' configuration (agent and hollow runtime).
    pub fn node_config(mut self, tune: impl FnOnce(&mut FleetConfig)) -> ClusterBuilder {
        tune(&mut self.fleet_config);
        self
    }

    /// Leader-election timings of [`controller_replicas`](Self::controller_replicas).
    pub fn election_timings(mut self, timings: ElectionTimings) -> ClusterBuilder {
        self.election = timings;
        self
    }

    /// Which controllers run (default: all of them and the scheduler).
    pub fn parts(mut self, parts: Parts) -> ClusterBuilder {
        self.parts = parts;
        self
    }

    /// The server consults `faults` (by default it gets a handle of its
    /// own, reachable through [`Cluster::faults`]).
    pub fn faults(mut self, faults: Arc<Faults>) -> ClusterBuilder {
        self.faults = Some(faults);
        self
    }

    /// The controllers read a [`FakeClock`] starting now, moved by
    /// [`Cluster::advance_clock`]. Every time decision of theirs follows it
    /// (CronJob schedules, deadlines, and node health too: moving it far
    /// makes nodes look silent; leave `node_lifecycle` out of the
    /// [`parts`](Self::parts) for such tests).
    pub fn fake_clock(mut self) -> ClusterBuilder {
        self.fake_clock = Some(Utc::now());
        self
    }

    /// No controllers at first ([`Cluster::restart_controllers`] starts them).
    pub fn without_controllers(mut self) -> ClusterBuilder {
        self.mode = ControllerMode::Off;
        self
    }

    /// Instead of one manager, `n` replicas (`controller-0`, ...) that
    /// campaign for the leader Lease: only the leader acts.
    pub fn controller_replicas(mut self, n: usize) -> ClusterBuilder {
        self.mode = ControllerMode::Replicas((0..n).map(|i| format!("controller-{i}")).collect());
        self
    }

    /// Starts everything; returns once the nodes are registered.
    pub async fn start(self) -> anyhow::Result<Cluster> {
        let faults = self.faults.unwrap_or_default();
        let EmbeddedServer {
            server,
            url: server_url,
            dir,
        } = start_embedded(|c| {
            c.garbage_collector = self.controller_config.garbage_collector;
            c.faults = Some(faults.clone());
        })
        .await?;
        let client = Client::from_server(&server_url).context("building the client")?;

        let fake_clock = self.fake_clock.map(FakeClock::new);
        let clock: SharedClock = match &fake_clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(SystemClock),
        };
        // Controllers first: the nodes wait for the podCIDRs they hand out.
        let mut controllers = Controllers::new(
            client.clone(),
            self.controller_config.clone(),
            clock.clone(),
            self.parts,
            self.election,
        );
        match &self.mode {
            ControllerMode::Single => controllers.start().await,
            ControllerMode::Off => {}
            ControllerMode::Replicas(ids) => {
                for id in ids {
                    controllers.start_replica(id)?;
                }
            }
        }
        let nodes = Nodes::start(
            client.clone(),
            self.nodes,
            &self.node_prefix,
            self.fleet_config,
        )
        .await?;
        Ok(Cluster {
            controllers,
            nodes: Some(nodes),
            client,
            server_url,
            faults,
            clock,
            fake_clock,
            controller_config: self.controller_config,
            server: Some(server),
            _dir: dir,
        })
    }
}

/// An in-process cluster. Dropping it stops everything (controllers, then
/// nodes, then the server) and removes its files.
pub struct Cluster {
    // Fields drop in this order: whatever writes stops before the server.
    controllers: Controllers,
    /// Always `Some` until [`Cluster::shutdown`].
    nodes: Option<Nodes>,
    client: Client,
    server_url: String,
    faults: Arc<Faults>,
    clock: SharedClock,
    fake_clock: Option<FakeClock>,
    controller_config: ControllerConfig,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    // --- talking to it ---

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `http://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Objects of kind `T` in namespace `ns`.
    pub fn api<T: Object>(&self, ns: &str) -> Api<T> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Cluster-scoped objects of kind `T` (or `T` in every namespace).
    pub fn api_all<T: Object>(&self) -> Api<T> {
        Api::all(self.client.clone())
    }

    // --- faults and time ---

    /// The server's fault injection.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The controllers' clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The fake clock, if the cluster was built with one.
    pub fn fake_clock(&self) -> Option<&FakeClock> {
        self.fake_clock.as_ref()
    }

    /// Moves the fake clock forward.
    ///
    /// # Panics
    /// When the cluster was built without [`ClusterBuilder::fake_clock`].
    pub fn advance_clock(&self, by: Duration) {
        let clock = self
            .fake_clock
            .as_ref()
            .expect("advance_clock needs Cluster::builder().fake_clock()");
        clock.advance(chrono::Duration::from_std(by).expect("a duration that fits"));
    }

    pub fn controller_config(&self) -> &ControllerConfig {
        &self.controller_config
    }

    // --- controllers ---

    /// Kills the controllers and the scheduler at once, mid-whatever.
    pub async fn kill_controllers(&mut self) {
        self.controllers.kill().await;
    }

    /// Starts the controllers and the scheduler again on a fresh
    /// `Context`: fresh informers, queues and expectations, as a restarted
    /// process (kills running ones first).
    pub async fn restart_controllers(&mut self) {
        self.controllers.start().await;
    }

    pub fn controllers_running(&self) -> bool {
        self.controllers.is_running()
    }

    /// The running manager's context (its caches), if one runs.
    pub fn controller_context(&self) -> Option<&Context> {
        self.controllers.manager_context()
    }

    /// Starts one more leader-elected replica called `identity`.
    pub fn start_controller_replica(&mut self, identity: &str) -> anyhow::Result<()> {
        self.controllers.start_replica(identity)
    }

    /// Kills a replica as a crash would (the Lease is not released).
    pub async fn kill_controller_replica(&mut self, identity: &str) -> bool {
        self.controllers.kill_replica(identity).await
    }

    /// Stops a replica cleanly (it releases the Lease).
    pub async fn stop_controller_replica(&mut self, identity: &str) -> bool {
        self.controllers.stop_replica(identity).await
    }

    /// How many times replica `identity` became leader.
    pub fn times_led(&self, identity: &str) -> usize {
        self.controllers.terms(identity)
    }

    /// The holder of the controllers' leader Lease, as stored.
    pub async fn leader(&self) -> anyhow::Result<Option<String>> {
        let lease = Api::<Lease>::namespaced(self.client.clone(), LEADER_LEASE_NAMESPACE)
            .get_opt(LEADER_LEASE_NAME)
            .await?;
        Ok(lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty()))
    }

    // --- nodes ---

    fn nodes(&self) -> &Nodes {
        self.nodes.as_ref().expect("nodes run until shutdown")
    }

    fn nodes_mut(&mut self) -> &mut Nodes {
        self.nodes.as_mut().expect("nodes run until shutdown")
    }

    /// Every node's name.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes().names()
    }

    /// Adds a fleet node (named after the last one); its name.
    pub async fn add_node(&mut self) -> anyhow::Result<String> {
        let mut names = self.nodes_mut().add_fleet_nodes(1).await?;
        names.pop().context("no node was added")
    }

    /// Adds a node called `name`, configured like the others and then by
    /// `tune` (labels, taints, capacity).
    pub async fn add_named_node(
        &mut self,
        name: &str,
        tune: impl FnOnce(&mut AgentConfig),
    ) -> anyhow::Result<()> {
        self.nodes_mut().add_named(name, tune).await
    }

    /// Stops the node's agent, as if it died (no heartbeats, no pod
    /// syncs; its hollow containers keep "running").
    pub async fn stop_node(&mut self, node: &str) -> anyhow::Result<()> {
        anyhow::ensure!(self.nodes_mut().stop(node).await, "no running node {node}");
        Ok(())
    }

    /// Starts the node's agent again over the same runtime.
    pub async fn restart_node(&mut self, node: &str) -> anyhow::Result<()> {
        self.nodes_mut().restart(node).await
    }

    /// The node stops renewing its Lease and writing its status, as if cut
    /// off from the server; it keeps syncing its pods.
    pub fn stop_heartbeat(&self, node: &str) -> anyhow::Result<()> {
        self.nodes()
            .handle(node)
            .with_context(|| format!("no running node {node}"))?
            .pause_heartbeat();
        Ok(())
    }

    /// Renews the Lease again, at once.
    pub fn resume_heartbeat(&self, node: &str) -> anyhow::Result<()> {
        self.nodes()
            .handle(node)
            .with_context(|| format!("no running node {node}"))?
            .resume_heartbeat();
        Ok(())
    }

    /// The hollow runtime of `node` (crash, exit, un-ready containers).
    pub fn runtime(&self, node: &str) -> Option<&HollowRuntime> {
        self.nodes().runtime(node)
    }

    // --- containers ---

    /// The pod, and the runtime of the node it runs on.
    async fn pod_runtime(&self, ns: &str, pod: &str) -> anyhow::Result<(String, &HollowRuntime)> {
        let p = self.api::<Pod>(ns).get(pod).await?;
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .with_context(|| format!("pod {ns}/{pod} is not scheduled"))?;
        let rt = self.runtime(&node).with_context(|| {
            format!("pod {ns}/{pod} runs on {node}, not a node of this cluster")
        })?;
        Ok((uid, rt))
    }

    /// Runs `act` on the hollow runtime of the pod's node; `act` says
    /// whether the container was running.
    async fn on_running_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        act: impl FnOnce(&HollowRuntime, &str) -> bool,
    ) -> anyhow::Result<()> {
        let (uid, rt) = self.pod_runtime(ns, pod).await?;
        anyhow::ensure!(
            act(rt, &uid),
            "container {container} of {ns}/{pod} is not running"
        );
        Ok(())
    }

    /// Crashes a running container (exit `exit_code`, reason `Error`): the
    /// agent restarts it or fails the pod, per its restartPolicy.
    pub async fn crash_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        exit_code: i32,
    ) -> anyhow::Result<()> {
        self.on_running_container(ns, pod, container, |rt, uid| {
            rt.crash(uid, container, exit_code)
        })
        .await
    }

    /// Ends a running container as if its process exited (`Completed` for 0).
    pub async fn exit_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        exit_code: i32,
    ) -> anyhow::Result<()> {
        self.on_running_container(ns, pod, container, |rt, uid| {
            rt.exit(uid, container, exit_code)
        })
        .await
    }

    /// Makes a running container ready or not (a failing readiness probe).
    pub async fn set_container_ready(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        ready: bool,
    ) -> anyhow::Result<()> {
        self.on_running_container(ns, pod, container, |rt, uid| {
            rt.set_ready(uid, container, ready)
        })
        .await
    }

    // --- checking ---

    /// Watches the pods of `ns` that `selector` picks and runs `check` on
    /// the set after every event; returns once the first list is checked.
    pub async fn watch_pods(
        &self,
        ns: &str,
        selector: &str,
        check: impl FnMut(&PodSnapshot) -> Result<(), String> + Send + 'static,
    ) -> anyhow::Result<PodWatch> {
        PodWatch::start(self.api::<Pod>(ns), selector, check).await
    }

    /// [`watch_pods`](Self::watch_pods) for any namespaced kind (ReplicaSets,
    /// Jobs, ...).
    pub async fn watch_objects<T: Object>(
        &self,
        ns: &str,
        selector: &str,
        check: impl FnMut(&Snapshot<T>) -> Result<(), String> + Send + 'static,
    ) -> anyhow::Result<ObjectWatch<T>> {
        ObjectWatch::start(self.api::<T>(ns), selector, check).await
    }

    /// See [`crate::wait_until`].
    pub async fn wait_until<F, Fut>(
        &self,
        timeout: Duration,
        what: &str,
        check: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        crate::wait::wait_until(timeout, what, check).await
    }

    /// See [`crate::wait_for`].
    pub async fn wait_for<T, F, Fut>(
        &self,
        timeout: Duration,
        what: &str,
        check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        crate::wait::wait_for(timeout, what, check).await
    }

    /// Waits until `kubectl rollout status` would report success for
    /// Deployment `ns/name`, and returns it.
    pub async fn wait_rolled_out(
        &self,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<Deployment> {
        let api = self.api::<Deployment>(ns);
        self.wait_for(
            timeout,
            &format!("deployment {ns}/{name} to roll out"),
            || {
                let api = api.clone();
                async move { api.get(name).await.ok().filter(rolled_out) }
            },
        )
        .await
    }

    /// [`wait_rolled_out`](Self::wait_rolled_out), with the template running `image`.
    pub async fn wait_rolled_out_with(
        &self,
        ns: &str,
        name: &str,
        image: &str,
        timeout: Duration,
    ) -> anyhow::Result<Deployment> {
        let api = self.api::<Deployment>(ns);
        let what = format!("deployment {ns}/{name} to roll out {image}");
        self.wait_for(timeout, &what, || {
            let api = api.clone();
            async move {
                api.get(name)
                    .await
                    .ok()
                    .filter(|d| rolled_out(d) && deployment_image(d) == image)
            }
        })
        .await
    }

    /// Stops everything in order and waits for it.
    pub async fn shutdown(mut self) {
        self.controllers.kill().await;
        if let Some(nodes) = self.nodes.take() {
            nodes.shutdown().await;
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}
