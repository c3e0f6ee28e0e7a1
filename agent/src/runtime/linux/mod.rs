//! The Linux runtime: real containers built from kernel primitives by the
//! `skiff-container` crate, one monitor process per container (the `skiff`
//! binary re-executed as `container-monitor`), pods in sandboxes whose
//! namespaces are pinned on disk, pod networks from the standard CNI
//! plugins, images from the node's image store.
//!
//! Every fact lives on disk under the runtime's root ([`paths`]): a new
//! runtime on the same root adopts what runs (see `adopt.rs`), and no exit
//! is lost while no agent runs, since the monitors record them.

mod adopt;
pub mod cni;
pub mod config;
mod containers;
mod events;
mod exec;
mod images;
mod logs;
pub mod paths;
pub mod process;
mod records;
mod sandboxes;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use skiff_container::cgroups::Cgroups;
use skiff_image::ImageStore;

pub use config::{DnsConfig, LinuxRuntimeConfig, NetworkConfig, RegistryConfig};

use self::paths::Paths;
use self::records::{ContainerRecord, SandboxRecord};
use super::{
    ContainerConfig, ContainerId, ContainerInfo, ContainerStats, EventSink, ExecOutput,
    ExecRequest, ExecSession, LogOptions, LogStream, Runtime, RuntimeError, RuntimeEvent,
    RuntimeResult, SandboxConfig, SandboxStatus, SinkSlot, StopOptions,
};

/// What `nodeInfo.containerRuntimeVersion` says of a Linux node.
pub const LINUX_RUNTIME_VERSION: &str = "skiff://0.1";

/// Real containers on this machine. Cheap to clone: clones share the state.
#[derive(Clone)]
pub struct LinuxRuntime {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: LinuxRuntimeConfig,
    paths: Paths,
    cgroups: Cgroups,
    /// Held while a pod cgroup is made or a QoS cgroup removed.
    qos_lock: Arc<Mutex<()>>,
    images: ImageStore,
    puller: skiff_image::Puller,
    /// Pod uid -> its sandbox, as on disk.
    sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    /// Container id -> its record, as on disk.
    containers: Mutex<HashMap<String, ContainerRecord>>,
    /// Containers the agent is stopping: their exits are not events.
    stopping: Mutex<HashSet<String>>,
    /// Containers whose monitor is being watched.
    watched: Mutex<HashSet<String>>,
    sink: SinkSlot,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No update panics half-way; the maps stay usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for LinuxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxRuntime")
            .field("root", &self.shared.config.root)
            .field("sandboxes", &lock(&self.shared.sandboxes).len())
            .field("containers", &lock(&self.shared.containers).len())
            .finish()
    }
}

impl LinuxRuntime {
    /// Opens the runtime on `config.root`: detects the cgroup layout, opens
    /// the image store, and adopts every sandbox and container recorded
    /// there (watching the exits of those still running). Must run inside a
    /// tokio runtime.
    pub async fn open(config: LinuxRuntimeConfig) -> RuntimeResult<LinuxRuntime> {
        config.validate().map_err(RuntimeError::InvalidConfig)?;
        let paths = Paths::new(&config.root);
        for dir in [paths.sandboxes(), paths.containers(), paths.logs()] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| failed(format!("creating {}", dir.display()), e))?;
        }
        let cgroups = Cgroups::detect().map_err(|e| failed("detecting the cgroup hierarchy", e))?;
        let images = ImageStore::open(&config.image_root).map_err(|e| {
            failed(
                format!("opening the image store {}", config.image_root.display()),
                e,
            )
        })?;
        let puller = images::puller(&config.registry)?;
        let shared = Arc::new(Shared {
            config,
            paths,
            cgroups,
            qos_lock: Arc::new(Mutex::new(())),
            images,
            puller,
            sandboxes: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            stopping: Mutex::new(HashSet::new()),
            watched: Mutex::new(HashSet::new()),
            sink: SinkSlot::default(),
        });
        let runtime = LinuxRuntime { shared };
        runtime.adopt().await?;
        Ok(runtime)
    }

    pub fn config(&self) -> &LinuxRuntimeConfig {
        &self.shared.config
    }

    /// Where the agent puts pod volumes (`AgentConfig::volumes_root`): the
    /// sandboxes' directory, so that a pod's volumes go with its sandbox.
    pub fn volumes_root(&self) -> PathBuf {
        self.shared.paths.sandboxes()
    }

    /// The node's image store.
    pub fn images(&self) -> &ImageStore {
        &self.shared.images
    }

    /// The state directory of a container (its spec and monitor files).
    pub fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.shared.paths.container(id.as_str()).dir
    }

    fn emit(&self, event: RuntimeEvent) {
        self.shared.sink.emit(event);
    }

    fn sandbox_record(&self, pod_uid: &str) -> Option<SandboxRecord> {
        lock(&self.shared.sandboxes).get(pod_uid).cloned()
    }

    fn container_record(&self, id: &ContainerId) -> RuntimeResult<ContainerRecord> {
        lock(&self.shared.containers)
            .get(id.as_str())
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))
    }

    fn containers_of(&self, pod_uid: &str) -> Vec<ContainerRecord> {
        let mut list: Vec<ContainerRecord> = lock(&self.shared.containers)
            .values()
            .filter(|c| c.pod_uid == pod_uid)
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        list
    }
}

/// A `Failed` error naming what was being done.
fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Failed(format!("{what}: {e}"))
}

/// Runs file and syscall work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> RuntimeResult<T> + Send + 'static,
) -> RuntimeResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Failed(format!("a runtime task failed: {e}")))?
}

#[async_trait]
impl Runtime for LinuxRuntime {
    fn version(&self) -> String {
        LINUX_RUNTIME_VERSION.to_string()
    }

    fn subscribe(&self, sink: EventSink) {
        self.shared.sink.set(sink);
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<SandboxStatus> {
        self.run_sandbox_impl(config).await
    }

    async fn stop_sandbox(&self, pod_uid: &str) -> RuntimeResult<()> {
        self.stop_sandbox_impl(pod_uid).await
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> RuntimeResult<()> {
        self.remove_sandbox_impl(pod_uid).await
    }

    async fn sandbox_status(&self, pod_uid: &str) -> RuntimeResult<Option<SandboxStatus>> {
        Ok(self.sandbox_record(pod_uid).map(|r| r.status()))
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxStatus>> {
        Ok(lock(&self.shared.sandboxes)
            .values()
            .map(SandboxRecord::status)
            .collect())
    }

    async fn create_container(
        &self,
        pod_uid: &str,
        config: &ContainerConfig,
    ) -> RuntimeResult<ContainerId> {
        self.create_container_impl(pod_uid, config).await
    }

    async fn start_container(&self, id: &ContainerId) -> RuntimeResult<()> {
        self.start_container_impl(id).await
    }

    async fn stop_container(&self, id: &ContainerId, options: StopOptions) -> RuntimeResult<()> {
        self.stop_container_impl(id, options).await
    }

    async fn remove_container(&self, id: &ContainerId) -> RuntimeResult<()> {
        self.remove_container_impl(id).await
    }

    async fn container_status(&self, id: &ContainerId) -> RuntimeResult<Option<ContainerInfo>> {
        let Ok(record) = self.container_record(id) else {
            return Ok(None);
        };
        let rt = self.clone();
        blocking(move || rt.info(&record).map(Some)).await
    }

    async fn list_containers(&self, pod_uid: &str) -> RuntimeResult<Vec<ContainerInfo>> {
        let records = self.containers_of(pod_uid);
        let rt = self.clone();
        blocking(move || records.iter().map(|r| rt.info(r)).collect()).await
    }

    async fn logs(&self, id: &ContainerId, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.logs_impl(id, options).await
    }

    async fn exec_sync(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecOutput> {
        self.exec_sync_impl(id, command, timeout).await
    }

    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> RuntimeResult<ExecSession> {
        self.exec_impl(id, request).await
    }

    async fn container_stats(&self, id: &ContainerId) -> RuntimeResult<ContainerStats> {
        self.stats_impl(id).await
    }
}
