//! The probe workers of one pod, kept in its record: started for each
//! running container that has probes, stopped when it no longer runs.
//! Results are keyed by container id, so a restarted container starts over
//! (unready until its readiness probe passes). Pods without probes hold an
//! empty map and run nothing.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use skiff_api::core::{Container, Pod, Probe};
use skiff_api::meta::ObjectMeta;
use tokio::task::AbortHandle;

use super::action::{self, Action};
use super::results::{ContainerResults, Kill, ProbeView};
use super::timing::{Outcome, ProbeKind, Timing};
use super::worker::{Prober, Reporter, Worker};
use super::{handlers, http};
use crate::node_state::NodeState;
use crate::pods::spec::field_path;
use crate::runtime::{ContainerId, ContainerInfo, Runtime};

/// What workers of one pod need, built only when a pod has probes.
#[derive(Clone)]
pub struct ProbeContext {
    pub runtime: Arc<dyn Runtime>,
    pub node: Weak<NodeState>,
    /// The pod, for events (its metadata is enough).
    pub pod: Arc<Pod>,
    /// Where probes without a `host` go: the pod IP (the node's for hostNetwork pods).
    pub pod_ip: Option<IpAddr>,
    /// Queues a sync of the pod.
    pub resync: Arc<dyn Fn() + Send + Sync>,
}

impl ProbeContext {
    /// The parts of `pod` events name.
    pub fn event_pod(pod: &Pod) -> Arc<Pod> {
        let m = &pod.metadata;
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: m.name.clone(),
                namespace: m.namespace.clone(),
                uid: m.uid.clone(),
                resource_version: m.resource_version.clone(),
                ..Default::default()
            },
            spec: pod.spec.as_ref().map(|s| skiff_api::core::PodSpec {
                // Enough for field paths (`spec.initContainers{x}`).
                init_containers: s
                    .init_containers
                    .iter()
                    .map(|c| Container {
                        name: c.name.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

/// The probes a container has.
fn probes_of(c: &Container) -> impl Iterator<Item = (ProbeKind, &Probe)> {
    [
        (ProbeKind::Startup, &c.startup_probe),
        (ProbeKind::Liveness, &c.liveness_probe),
        (ProbeKind::Readiness, &c.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.as_ref().map(|p| (k, p)))
}

pub fn has_probes(c: &Container) -> bool {
    probes_of(c).next().is_some()
}

/// The workers of one container; dropping the last handle stops them.
struct Workers {
    results: Arc<ContainerResults>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Default)]
pub struct PodProbes {
    running: HashMap<ContainerId, Arc<Workers>>,
    /// Containers stopped for failing liveness or startup: they restart
    /// unless the policy is Never, whatever their exit code.
    killed: Vec<ContainerId>,
}

impl fmt::Debug for PodProbes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodProbes")
            .field("containers", &self.running.len())
            .field("killed", &self.killed)
            .finish()
    }
}

impl PodProbes {
    /// Starts workers for each running container in `running` (with its
    /// spec) that has probes and none yet; stops those of every other
    /// container. `context` is only called when a worker starts.
    pub fn sync(
        &mut self,
        running: &[(&ContainerInfo, &Container)],
        context: impl FnOnce() -> Option<ProbeContext>,
    ) {
        self.running
            .retain(|id, _| running.iter().any(|(info, _)| info.id == *id));
        let mut context = Some(context);
        let mut ctx: Option<ProbeContext> = None;
        for (info, spec) in running {
            if self.running.contains_key(&info.id) || !has_probes(spec) {
                continue;
            }
            if ctx.is_none() {
                ctx = context.take().and_then(|f| f());
            }
            let Some(ctx) = &ctx else { return };
            let workers = start(ctx, info, spec);
            self.running.insert(info.id.clone(), Arc::new(workers));
        }
    }

    /// Stops every worker (a terminal pod).
    pub fn clear(&mut self) {
        self.running.clear();
    }

    /// No workers and no kills remembered.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty() && self.killed.is_empty()
    }

    pub fn view(&self, id: &ContainerId) -> ProbeView {
        self.running
            .get(id)
            .map(|w| w.results.view())
            .unwrap_or_default()
    }

    /// Why the container is to be stopped, if a probe says so.
    pub fn kill(&self, id: &ContainerId) -> Option<Kill> {
        self.running.get(id).and_then(|w| w.results.kill())
    }

    /// The container was stopped for its probe: its workers go.
    pub fn mark_killed(&mut self, id: &ContainerId) {
        self.running.remove(id);
        if !self.killed.contains(id) {
            self.killed.push(id.clone());
        }
    }

    pub fn was_killed(&self, id: &ContainerId) -> bool {
        self.killed.contains(id)
    }

    /// Forgets kills of containers the runtime no longer has.
    pub fn retain_killed(&mut self, existing: &[ContainerInfo]) {
        self.killed
            .retain(|id| existing.iter().any(|c| c.id == *id));
    }
}

/// Starts the workers of one running container.
fn start(ctx: &ProbeContext, info: &ContainerInfo, spec: &Container) -> Workers {
    let results = Arc::new(ContainerResults::new(
        spec.readiness_probe.is_some(),
        spec.startup_probe.is_some(),
    ));
    // The container's start on tokio's clock (an adopted one started long ago).
    let running_for = match &info.state {
        crate::runtime::ContainerState::Running { started_at } => {
            (Utc::now() - *started_at).to_std().unwrap_or_default()
        }
        _ => Duration::ZERO,
    };
    let now = tokio::time::Instant::now();
    let started = now.checked_sub(running_for).unwrap_or(now);
    let field = field_path(&ctx.pod, &spec.name);
    let mut tasks = Vec::new();
    for (kind, probe) in probes_of(spec) {
        let reporter = NodeReporter {
            node: ctx.node.clone(),
            pod: ctx.pod.clone(),
            field: field.clone(),
            resync: ctx.resync.clone(),
        };
        let action = match action::resolve(probe, spec, ctx.pod_ip) {
            Action::Unusable(why) => {
                // Reported once; the result stays as it started (unready,
                // not started, never killed): it does not silently pass.
                let msg = format!("{} probe errored: {why}", kind.title());
                reporter.event(true, "Unhealthy", msg);
                continue;
            }
            action => action,
        };
        let worker = Worker {
            kind,
            timing: Timing::of(kind, probe),
            results: results.clone(),
            prober: ActionProber {
                action,
                runtime: ctx.runtime.clone(),
                container: info.id.clone(),
            },
            reporter,
            started,
            kill_grace: probe
                .termination_grace_period_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64)),
        };
        tasks.push(tokio::spawn(worker.run()).abort_handle());
    }
    Workers { results, tasks }
}

/// Runs a resolved action against a container of a runtime.
struct ActionProber {
    action: Action,
    runtime: Arc<dyn Runtime>,
    container: ContainerId,
}

impl Prober for ActionProber {
    fn probe(&mut self, timeout: Duration) -> BoxFuture<'_, Option<Outcome>> {
        Box::pin(async move {
            // As the kubelet, probe only a container that runs.
            match self.runtime.container_status(&self.container).await {
                Ok(Some(c)) if c.state.is_running() => {}
                Ok(_) => return None,
                Err(e) => return Some(Outcome::Error(format!("container status: {e}"))),
            }
            Some(match &self.action {
                Action::Exec(cmd) => {
                    handlers::exec(&*self.runtime, &self.container, cmd, timeout).await
                }
                Action::Http(target) => http::get(target, timeout).await,
                Action::Tcp { host, port } => handlers::tcp(host, *port, timeout).await,
                Action::Unusable(why) => Outcome::Error(why.clone()),
            })
        })
    }
}

/// Events through the node's recorder; changes queue a pod sync.
struct NodeReporter {
    node: Weak<NodeState>,
    pod: Arc<Pod>,
    field: String,
    resync: Arc<dyn Fn() + Send + Sync>,
}

impl Reporter for NodeReporter {
    fn event(&self, warning: bool, reason: &str, message: String) {
        if let Some(node) = self.node.upgrade() {
            node.event(&self.pod, Some(&self.field), warning, reason, message);
        }
    }

    fn changed(&self) {
        (self.resync)();
    }

    fn gone(&self) -> bool {
        self.node.upgrade().is_none_or(|n| n.is_stopped())
    }
}
