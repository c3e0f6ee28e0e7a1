//! The runtime seam: everything the agent asks of whatever runs containers.
//!
//! The agent above this trait (pod workers, status, heartbeats) is the same
//! for every implementation: the Linux runtime (real containers built from
//! namespaces and cgroups) and the [`hollow`] runtime (instant, in memory,
//! hundreds of nodes in one process). The shapes follow the CRI: a pod is a
//! *sandbox* (its network namespace and IP, which outlive its containers)
//! holding *containers*, each created, started, stopped and removed by id.
//!
//! Runtimes keep their own record of what runs (the Linux runtime on disk,
//! the hollow one in memory): a restarted agent finds every sandbox and
//! container again through [`Runtime::list_sandboxes`] and
//! [`Runtime::list_containers`], restart counts included, and adopts them.
//!
//! Changes the agent did not cause (a container exiting, readiness moving)
//! are pushed to the [`EventSink`] given to [`Runtime::subscribe`], so the
//! agent never polls.

pub mod hollow;
pub mod linux;
mod types;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;

pub use types::{
    ContainerConfig, ContainerId, ContainerInfo, ContainerState, ContainerStats, ExecOutput,
    ExecRequest, ExecSession, ExitReason, LogOptions, LogStream, PortMapping, Resources,
    RuntimeEvent, RuntimeEventKind, SandboxConfig, SandboxState, SandboxStatus, StopOptions,
    TerminalSize, VolumeMount,
};

/// What a runtime call can fail with. The agent turns these into container
/// waiting reasons (`ErrImagePull`, `CreateContainerError`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// No such sandbox or container.
    #[error("not found: {0}")]
    NotFound(String),
    /// The image could not be pulled or is not present.
    #[error("{0}")]
    ImagePull(String),
    /// The configuration cannot be run (bad command, bad mount, ...).
    #[error("{0}")]
    InvalidConfig(String),
    /// This runtime does not do that (yet).
    #[error("unsupported by this runtime: {0}")]
    Unsupported(&'static str),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// Receives the runtime's own state changes (see [`RuntimeEvent`]). Called
/// from the runtime's tasks or threads: it must be quick and never block.
pub type EventSink = Arc<dyn Fn(RuntimeEvent) + Send + Sync>;

/// Where a runtime keeps its current [`EventSink`]: set by
/// [`Runtime::subscribe`], read on every event. Shared by the runtimes.
#[derive(Default)]
pub(crate) struct SinkSlot(RwLock<Option<EventSink>>);

impl SinkSlot {
    /// Replaces the sink (a restarted agent subscribes again).
    pub(crate) fn set(&self, sink: EventSink) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(sink);
    }

    /// Hands `event` to the sink, if any. The sink is called outside the lock.
    pub(crate) fn emit(&self, event: RuntimeEvent) {
        let sink = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }
}

/// Signal numbers the agent names (Linux values).
pub mod signal {
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
}

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Reported as the Node's `nodeInfo.containerRuntimeVersion`:
    /// `hollow://0.1`, `skiff://0.1`.
    fn version(&self) -> String;

    /// Hands the runtime the sink for its events, replacing any earlier one
    /// (a restarted agent subscribes again).
    fn subscribe(&self, sink: EventSink);

    // --- sandboxes: one per pod, keyed by the pod's uid ---

    /// Creates the pod's sandbox (network namespace, IP from
    /// `config.pod_cidr`) and returns its status. Creating one that exists
    /// returns the existing one.
    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<SandboxStatus>;

    /// Kills every container of the pod and releases its network (the IP),
    /// keeping the records of its containers (exit codes) until removal.
    async fn stop_sandbox(&self, pod_uid: &str) -> RuntimeResult<()>;

    /// Forgets the sandbox and all its containers (stopping what still runs).
    /// Removing one that does not exist is not an error.
    async fn remove_sandbox(&self, pod_uid: &str) -> RuntimeResult<()>;

    async fn sandbox_status(&self, pod_uid: &str) -> RuntimeResult<Option<SandboxStatus>>;

    /// Every sandbox this runtime knows, ready or not.
    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxStatus>>;

    // --- containers, inside a sandbox ---

    /// Creates (does not start) a container in the sandbox of `pod_uid`.
    async fn create_container(
        &self,
        pod_uid: &str,
        config: &ContainerConfig,
    ) -> RuntimeResult<ContainerId>;

    async fn start_container(&self, id: &ContainerId) -> RuntimeResult<()>;

    /// Sends the stop signal, waits up to `grace`, then kills. Returns once
    /// the container has exited. Stopping an exited container does nothing.
    async fn stop_container(&self, id: &ContainerId, options: StopOptions) -> RuntimeResult<()>;

    /// Forgets an exited container (stopping it first if it runs).
    async fn remove_container(&self, id: &ContainerId) -> RuntimeResult<()>;

    async fn container_status(&self, id: &ContainerId) -> RuntimeResult<Option<ContainerInfo>>;

    /// Every container of the pod, exited ones included, in creation order.
    async fn list_containers(&self, pod_uid: &str) -> RuntimeResult<Vec<ContainerInfo>>;

    // --- what `logs`, `exec` and metrics need ---

    /// The container's output.
    async fn logs(&self, id: &ContainerId, options: &LogOptions) -> RuntimeResult<LogStream>;

    /// Runs `command` in the container and waits for it (exec probes,
    /// non-interactive `exec`), giving up after `timeout`.
    async fn exec_sync(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecOutput>;

    /// Starts `request.command` in the running container (its namespaces,
    /// cgroup and hardening) with streams the caller drives: `kubectl exec`.
    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> RuntimeResult<ExecSession>;

    async fn container_stats(&self, id: &ContainerId) -> RuntimeResult<ContainerStats>;
}
