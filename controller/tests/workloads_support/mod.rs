//! What the ReplicaSet and Deployment tests share: an API server on SQLite
//! in a temp dir, the two controllers on shared informers, a fake kubelet
//! that binds pods, reports them Running (and Ready, unless told
//! otherwise) and completes graceful deletions, a pod watch that checks
//! invariants at every event, and polling helpers.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use skiff_api::apps::{Deployment, ReplicaSet, RollingUpdateDeployment};
use skiff_api::core::{Container, Event as CoreEvent, Pod, PodSpec, PodTemplateSpec};
use skiff_api::meta::{LabelSelector, ObjectMeta};
use skiff_apiserver::RunningServer;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, Client, DeleteParams, ListParams, Patch, Request};
use skiff_controller::clock::{FakeClock, SharedClock, SystemClock};
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use tokio::task::JoinSet;

pub const NS: &str = "default";

/// An API server with the ReplicaSet and Deployment controllers.
pub struct Cluster {
    pub client: Client,
    pub clock: SharedClock,
    controllers: Option<JoinSet<()>>,
    helpers: JoinSet<()>,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::start_with_clock(Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(clock: SharedClock) -> Cluster {
        let EmbeddedServer { server, url, dir } =
            start_embedded(|_| {}).await.expect("start API server");
        let client = Client::from_server(&url).expect("client");
        let mut cluster = Cluster {
            client,
            clock,
            controllers: None,
            helpers: JoinSet::new(),
            server: Some(server),
            _dir: dir,
        };
        cluster.start_controllers();
        cluster
    }

    /// Starts (again) the ReplicaSet and Deployment controllers, with
    /// fresh informers: what a restarted controller process does.
    pub fn start_controllers(&mut self) {
        let ctx = Context::new(
            self.client.clone(),
            ControllerConfig::lab_profile(),
            self.clock.clone(),
            "controller-manager",
        );
        let mut tasks = JoinSet::new();
        skiff_controller::replicaset::start(&ctx, &mut tasks);
        skiff_controller::deployment::start(&ctx, &mut tasks);
        ctx.informers.start(&mut tasks);
        self.controllers = Some(tasks);
    }

    /// Kills the controllers mid-whatever (their tasks are aborted).
    pub async fn kill_controllers(&mut self) {
        if let Some(mut tasks) = self.controllers.take() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Starts a fake kubelet (see [`Kubelet`]).
    pub fn start_kubelet(&mut self, kubelet: Kubelet) {
        let client = self.client.clone();
        self.helpers.spawn(kubelet.run(client));
    }

    /// Runs `task` until the cluster is dropped.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.helpers.spawn(task);
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn replicasets(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub async fn list_pods(&self, app: &str) -> Vec<Pod> {
        self.pods()
            .list_all(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list pods")
            .items
    }

    pub async fn list_replicasets(&self, app: &str) -> Vec<ReplicaSet> {
        let mut rss = self
            .replicasets()
            .list_all(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list replicasets")
            .items;
        rss.sort_by_key(|rs| {
            rs.metadata
                .annotations
                .get("deployment.kubernetes.io/revision")
                .cloned()
        });
        rss
    }

    /// Reasons and messages of the Events about the object named `name`.
    pub async fn events_about(&self, name: &str) -> Vec<(String, String)> {
        let api: Api<CoreEvent> = Api::namespaced(self.client.clone(), NS);
        api.list_all(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    pub async fn scale(&self, name: &str, replicas: i32) {
        self.deployments()
            .patch(name, &Patch::Merge(json!({"spec": {"replicas": replicas}})))
            .await
            .expect("scale deployment");
    }

    pub async fn set_image(&self, name: &str, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
        self.deployments()
            .patch(name, &Patch::Strategic(patch))
            .await
            .expect("set image");
    }

    pub async fn shutdown(mut self) {
        self.kill_controllers().await;
        self.helpers.abort_all();
        while self.helpers.join_next().await.is_some() {}
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// A pod template `app=<app>` with one container `app` running `image`.
pub fn template(app: &str, image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: BTreeMap::from([("app".to_string(), app.to_string())]),
            ..Default::default()
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            termination_grace_period_seconds: Some(30),
            ..Default::default()
        },
    }
}

pub fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        ..Default::default()
    }
}

pub fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    let mut d = Deployment::default();
    d.metadata.name = Some(name.into());
    d.metadata.namespace = Some(NS.into());
    d.spec.replicas = Some(replicas);
    d.spec.selector = Some(selector(name));
    d.spec.template = template(name, image);
    d
}

pub fn rolling(d: &mut Deployment, surge: i32, unavailable: i32) {
    d.spec.strategy.type_ = Some("RollingUpdate".into());
    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
        max_surge: Some(surge.into()),
        max_unavailable: Some(unavailable.into()),
    });
}

pub fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet::default();
    rs.metadata.name = Some(name.into());
    rs.metadata.namespace = Some(NS.into());
    rs.spec.replicas = Some(replicas);
    rs.spec.selector = Some(selector(name));
    rs.spec.template = template(name, "nginx:1.27");
    rs
}

pub fn image_of(pod_template: &PodTemplateSpec) -> String {
    pod_template.spec.containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

/// Polls `check` every 50 ms until it gives `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Has the rollout of `d` finished, as `kubectl rollout status` decides it?
pub fn rolled_out(d: &Deployment) -> bool {
    let Some(s) = &d.status else {
        return false;
    };
    let n = |v: Option<i32>| v.unwrap_or(0);
    let progressing = s.conditions.iter().find(|c| c.type_ == "Progressing");
    s.observed_generation >= d.metadata.generation
        && progressing.is_none_or(|c| c.reason.as_deref() != Some("ProgressDeadlineExceeded"))
        && n(s.updated_replicas) >= d.spec.replicas()
        && n(s.replicas) <= n(s.updated_replicas)
        && n(s.available_replicas) >= n(s.updated_replicas)
}

/// Waits until `kubectl rollout status` would report success, and the
/// Deployment runs `image`.
pub async fn wait_rolled_out(cluster: &Cluster, name: &str, image: &str, secs: u64) -> Deployment {
    let api = cluster.deployments();
    eventually(
        &format!("deployment {name} rolled out with {image}"),
        secs,
        || {
            let api = api.clone();
            async move {
                let d = api.get(name).await.ok()?;
                (rolled_out(&d) && image_of(&d.spec.template) == image).then_some(d)
            }
        },
    )
    .await
}

/// A stand-in for node agents: binds every new pod to `node-1`, reports it
/// Running and (if `ready` says so) Ready after `ready_delay`, and finishes
/// graceful deletions after `deletion_delay`.
pub struct Kubelet {
    pub ready: Arc<dyn Fn(&Pod) -> bool + Send + Sync>,
    pub ready_delay: Duration,
    pub deletion_delay: Duration,
}

impl Default for Kubelet {
    fn default() -> Kubelet {
        Kubelet {
            ready: Arc::new(|_| true),
            ready_delay: Duration::ZERO,
            deletion_delay: Duration::from_millis(20),
        }
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| s.is_ready())
}

impl Kubelet {
    async fn run(self, client: Client) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let mut events = std::pin::pin!(watcher(pods.clone(), ListParams::default()));
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let list = match event {
                Event::Restarted(all) => all,
                Event::Applied(p) => vec![p],
                Event::Deleted(_) => continue,
            };
            for pod in list {
                self.handle(&client, &pods, pod).await;
            }
        }
    }

    async fn handle(&self, client: &Client, pods: &Api<Pod>, pod: Pod) {
        let name = pod.metadata.name_str().to_string();
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        if pod.metadata.deletion_timestamp.is_some() {
            let (pods, delay) = (pods.clone(), self.deletion_delay);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let force = DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                };
                let _ = pods.delete(&name, &force).await;
            });
            return;
        }
        if node.is_none() {
            let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}});
            let path = format!("/api/v1/namespaces/{NS}/pods/{name}/binding");
            let _ = client.json(Request::post(path, &binding)).await;
            return;
        }
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let ready = (self.ready)(&pod);
        if running && is_ready(&pod) == ready {
            return;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let flag = if ready { "True" } else { "False" };
        let status = json!({"status": {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]}});
        if ready && !self.ready_delay.is_zero() {
            let (pods, delay) = (pods.clone(), self.ready_delay);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = pods.patch_status(&name, &Patch::Merge(status)).await;
            });
        } else {
            let _ = pods.patch_status(&name, &Patch::Merge(status)).await;
        }
    }
}

/// What a pod watch saw, checked at every event.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Most pods (not terminating) at once.
    pub max_active: usize,
    /// Fewest ready pods (not terminating) at once, once armed.
    pub min_available: Option<usize>,
    /// Events at which pods of two templates existed at once (terminating included).
    pub overlaps: usize,
    pub events: usize,
}

/// Watches the pods of `app` and records [`Observed`] at every event; the
/// availability floor counts from when `armed` is set.
pub fn watch_pods(
    cluster: &mut Cluster,
    app: &str,
) -> (Arc<Mutex<Observed>>, Arc<std::sync::atomic::AtomicBool>) {
    let observed = Arc::new(Mutex::new(Observed::default()));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), NS);
    let params = ListParams::default().labels(&format!("app={app}"));
    let (obs, arm) = (observed.clone(), armed.clone());
    cluster.spawn(async move {
        let mut seen: HashMap<String, Pod> = HashMap::new();
        let mut events = std::pin::pin!(watcher(pods, params));
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            match event {
                Event::Restarted(all) => {
                    seen = all
                        .into_iter()
                        .map(|p| (p.metadata.name_str().to_string(), p))
                        .collect();
                }
                Event::Applied(p) => {
                    seen.insert(p.metadata.name_str().to_string(), p);
                }
                Event::Deleted(p) => {
                    seen.remove(p.metadata.name_str());
                }
            }
            let active: Vec<&Pod> = seen
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let available = active.iter().filter(|p| is_ready(p)).count();
            let hashes: std::collections::HashSet<&str> = seen
                .values()
                .filter_map(|p| {
                    p.metadata
                        .labels
                        .get("pod-template-hash")
                        .map(String::as_str)
                })
                .collect();
            let mut o = obs.lock().unwrap();
            o.events += 1;
            o.max_active = o.max_active.max(active.len());
            if hashes.len() > 1 {
                o.overlaps += 1;
            }
            if arm.load(std::sync::atomic::Ordering::SeqCst) {
                o.min_available = Some(o.min_available.map_or(available, |m| m.min(available)));
            }
        }
    });
    (observed, armed)
}

/// A test clock starting now.
pub fn fake_clock() -> (FakeClock, SharedClock) {
    let clock = FakeClock::new(chrono::Utc::now());
    (clock.clone(), Arc::new(clock))
}
