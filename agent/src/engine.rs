//! The machinery every agent runs, shared by all the nodes of one process:
//! one pods informer and one nodes informer, a work queue of pod keys with
//! a pool of workers (one worker per pod at a time), queues for node status
//! and Lease renewals, a bound on API requests in flight, and housekeeping.
//!
//! A single agent watches only its own pods (`spec.nodeName=NAME`) and its
//! own Node; a hollow fleet watches every bound pod and every Node once and
//! dispatches by node name, so a thousand nodes cost two watches, not two
//! thousand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use skiff_api::core::{Node, Pod};
use skiff_client::runtime::{
    Action, BY_NODE, Cache, Controller, Event, InformerEvents, RateLimits, WorkQueue, informer,
    pod_node_name,
};
use skiff_client::{Api, Client, ListParams};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::node_state::NodeState;
use crate::runtime::EventSink;

/// Which pods and Nodes the engine watches.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One node: its own pods and its own Node only.
    Node(String),
    /// Many nodes: every bound pod and every Node, dispatched by name.
    Fleet,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub pod_workers: usize,
    pub api_concurrency: usize,
    pub housekeeping_interval: Duration,
    /// Workers for Lease renewals and for node status.
    pub heartbeat_workers: usize,
}

/// A pod on a node: its worker's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodKey {
    pub node: Arc<str>,
    /// `namespace/name`.
    pub pod: Arc<str>,
}

pub struct Engine {
    pub client: Client,
    /// Bounds the API requests in flight (status writes, deletes, heartbeats).
    pub writes: Arc<Semaphore>,
    pub pods_cache: Cache<Pod>,
    pub nodes_cache: Cache<Node>,
    pub pod_queue: WorkQueue<PodKey>,
    node_queue: WorkQueue<Arc<str>>,
    lease_queue: WorkQueue<Arc<str>>,
    nodes: RwLock<HashMap<Arc<str>, Arc<NodeState>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shut_down: AtomicBool,
}

/// Retries of failed syncs: quick at first, never more than a few seconds
/// apart, and not rate-limited overall (a thousand nodes retry at once
/// after an API server restart).
fn retry_limits(max: Duration) -> RateLimits {
    RateLimits {
        base_delay: Duration::from_millis(100),
        max_delay: max,
        qps: 0.0,
        burst: 1,
    }
}

impl Engine {
    /// Starts the informers and workers; nodes join with [`Engine::register`]
    /// and [`Engine::activate`].
    pub fn start(client: Client, scope: Scope, settings: Settings) -> Arc<Engine> {
        let (pod_params, node_params) = match &scope {
            Scope::Node(name) => (
                ListParams::default().fields(&format!("spec.nodeName={name}")),
                ListParams::default().fields(&format!("metadata.name={name}")),
            ),
            Scope::Fleet => (
                ListParams::default().fields("spec.nodeName!="),
                ListParams::default(),
            ),
        };
        let (pods_cache, pod_events) = informer(Api::<Pod>::all(client.clone()), pod_params);
        pods_cache.add_index(BY_NODE, pod_node_name);
        let (nodes_cache, node_events) = informer(Api::<Node>::all(client.clone()), node_params);
        let engine = Arc::new(Engine {
            client,
            writes: Arc::new(Semaphore::new(settings.api_concurrency.max(1))),
            pods_cache,
            nodes_cache,
            pod_queue: WorkQueue::with_rate_limits(retry_limits(Duration::from_secs(30))),
            node_queue: WorkQueue::with_rate_limits(retry_limits(Duration::from_secs(10))),
            lease_queue: WorkQueue::with_rate_limits(retry_limits(Duration::from_secs(2))),
            nodes: RwLock::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        });
        let mut tasks = vec![
            tokio::spawn(drive_pods(engine.clone(), pod_events)),
            tokio::spawn(drive_nodes(engine.clone(), node_events)),
            tokio::spawn(housekeeping(engine.clone(), settings.housekeeping_interval)),
        ];
        let e = engine.clone();
        tasks.push(tokio::spawn(
            Controller::new(engine.pod_queue.clone())
                .named("agent-pods")
                .run(settings.pod_workers, move |key: PodKey| {
                    let e = e.clone();
                    async move { e.sync_pod(key).await }
                }),
        ));
        let e = engine.clone();
        tasks.push(tokio::spawn(
            Controller::new(engine.node_queue.clone())
                .named("agent-node-status")
                .run(settings.heartbeat_workers, move |name: Arc<str>| {
                    let e = e.clone();
                    async move {
                        match e.node(&name) {
                            Some(n) => crate::node::sync_status(&e, &n).await,
                            None => Ok(Action::Done),
                        }
                    }
                }),
        ));
        let e = engine.clone();
        tasks.push(tokio::spawn(
            Controller::new(engine.lease_queue.clone())
                .named("agent-lease")
                .run(settings.heartbeat_workers, move |name: Arc<str>| {
                    let e = e.clone();
                    async move {
                        match e.node(&name) {
                            Some(n) => crate::lease::renew(&e, &n).await,
                            None => Ok(Action::Done),
                        }
                    }
                }),
        ));
        *engine.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        engine
    }

    pub fn node(&self, name: &str) -> Option<Arc<NodeState>> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    pub fn all_nodes(&self) -> Vec<Arc<NodeState>> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Registers the node's Node object (retrying what may pass: transport
    /// errors, conflicts, 5xx) and starts its Lease. Its pods are not synced
    /// before [`Engine::activate`].
    pub async fn register(&self, node: &Arc<NodeState>) -> anyhow::Result<()> {
        self.nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.name.clone(), node.clone());
        let mut delay = Duration::from_millis(200);
        loop {
            if self.is_shut_down() || node.is_stopped() {
                anyhow::bail!("the agent stopped before node {} registered", node.name);
            }
            match crate::node::register(self, node).await {
                Ok(_) => break,
                Err(e) if retryable(&e) => {
                    tracing::warn!(node = %node.name, error = %e, retry_in = ?delay, "registering the node");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    self.remove(&node.name);
                    return Err(
                        anyhow::Error::new(e).context(format!("registering node {}", node.name))
                    );
                }
            }
        }
        self.lease_queue.add(node.name.clone());
        Ok(())
    }

    /// Starts syncing the node's pods: those the API server has for it and
    /// those its runtime still runs (adopted, or cleaned up).
    pub async fn activate(&self, node: &Arc<NodeState>) {
        let queue = self.pod_queue.clone();
        let name = node.name.clone();
        let sink: EventSink = Arc::new(move |ev| {
            queue.add(PodKey {
                node: name.clone(),
                pod: ev.pod_key().into(),
            });
        });
        node.runtime.subscribe(sink);
        self.pods_cache.wait_synced().await;
        node.set_active();
        for pod in self.pods_cache.by_index(BY_NODE, &node.name) {
            self.enqueue(node, &pod);
        }
        match node.runtime.list_sandboxes().await {
            Ok(sandboxes) => {
                for sb in sandboxes {
                    self.pod_queue.add(PodKey {
                        node: node.name.clone(),
                        pod: sb.pod_key().into(),
                    });
                }
            }
            Err(e) => {
                tracing::warn!(node = %node.name, error = %e, "listing the runtime's sandboxes")
            }
        }
        self.node_queue.add(node.name.clone());
    }

    /// Takes the node out: its queues forget it, its runtime's events go
    /// nowhere. Its containers keep running.
    pub fn remove(&self, name: &str) {
        let removed = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        if let Some(node) = removed {
            node.stop();
            node.runtime.subscribe(Arc::new(|_| {}));
        }
    }

    /// Wakes the node's heartbeats at once (after a pause).
    pub fn kick_heartbeat(&self, name: &Arc<str>) {
        self.lease_queue.add(name.clone());
        self.node_queue.add(name.clone());
    }

    /// Stops everything (containers keep running) without waiting.
    pub fn shutdown_now(&self) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        for node in self.all_nodes() {
            self.remove(&node.name);
        }
        self.pod_queue.shutdown();
        self.node_queue.shutdown();
        self.lease_queue.shutdown();
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }

    /// Stops everything and waits for the tasks to end.
    pub async fn shutdown(&self) {
        self.shutdown_now();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for t in tasks {
            let _ = t.await;
        }
    }

    fn enqueue(&self, node: &NodeState, pod: &Pod) {
        self.pod_queue.add(PodKey {
            node: node.name.clone(),
            pod: pod_key(pod).into(),
        });
    }

    /// Queues a pod for its node's worker, if that node is ours and active.
    fn dispatch(&self, pod: &Pod) {
        let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            return;
        };
        if let Some(node) = self.node(node_name).filter(|n| n.is_active()) {
            self.enqueue(&node, pod);
        }
    }

    async fn sync_pod(self: Arc<Self>, key: PodKey) -> anyhow::Result<Action> {
        let Some(node) = self.node(&key.node).filter(|n| n.is_active()) else {
            return Ok(Action::Done);
        };
        let pod = self
            .pods_cache
            .get(&key.pod)
            .filter(|p| pod_node(p) == Some(&*node.name));
        crate::pods::sync::sync_pod(&self, &node, &key.pod, pod).await
    }
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace_str(),
        pod.metadata.name_str()
    )
}

fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// Errors worth retrying: the server may answer differently soon.
pub fn retryable(e: &skiff_client::Error) -> bool {
    match e {
        skiff_client::Error::Transport { .. } => true,
        skiff_client::Error::Api(s) => {
            s.code >= 500 || s.code == 429 || s.is_conflict() || s.is_already_exists()
        }
        _ => false,
    }
}

async fn drive_pods(engine: Arc<Engine>, mut events: InformerEvents<Pod>) {
    while let Some(item) = events.next().await {
        match item {
            Ok(Event::Applied(pod)) | Ok(Event::Deleted(pod)) => engine.dispatch(&pod),
            Ok(Event::Restarted(all)) => {
                for pod in &all {
                    engine.dispatch(pod);
                }
                // Pods that vanished while the watch was down.
                for node in engine.all_nodes().iter().filter(|n| n.is_active()) {
                    for key in node.record_keys() {
                        engine.pod_queue.add(PodKey {
                            node: node.name.clone(),
                            pod: key,
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching pods (retrying)"),
        }
    }
}

async fn drive_nodes(engine: Arc<Engine>, mut events: InformerEvents<Node>) {
    while let Some(item) = events.next().await {
        let objects = match &item {
            Ok(event) => event.objects().cloned().collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(error = %e, "watching nodes (retrying)");
                continue;
            }
        };
        let deleted = matches!(item, Ok(Event::Deleted(_)));
        for obj in objects {
            let Some(node) = engine.node(obj.metadata.name_str()) else {
                continue;
            };
            if !deleted {
                node.observe(&obj);
            }
            if node.is_active() {
                engine.node_queue.add(node.name.clone());
            }
        }
    }
}

/// Every so often, compares what the runtimes run with the pods the API
/// server has, and queues any difference (a missed event, a pod deleted
/// while the agent was down).
async fn housekeeping(engine: Arc<Engine>, interval: Duration) {
    engine.pods_cache.wait_synced().await;
    loop {
        tokio::time::sleep(interval).await;
        for node in engine.all_nodes().iter().filter(|n| n.is_active()) {
            let sandboxes = match node.runtime.list_sandboxes().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(node = %node.name, error = %e, "housekeeping: listing sandboxes");
                    continue;
                }
            };
            let ours = |key: &str, uid: Option<&str>| {
                engine.pods_cache.get(key).is_some_and(|p| {
                    pod_node(&p) == Some(&*node.name)
                        && uid.is_none_or(|u| p.metadata.uid.as_deref() == Some(u))
                })
            };
            for sb in sandboxes {
                let key = sb.pod_key();
                if !ours(&key, Some(&sb.pod_uid)) {
                    engine.pod_queue.add(PodKey {
                        node: node.name.clone(),
                        pod: key.into(),
                    });
                }
            }
            for key in node.record_keys() {
                if !ours(&key, None) {
                    engine.pod_queue.add(PodKey {
                        node: node.name.clone(),
                        pod: key,
                    });
                }
            }
        }
    }
}
