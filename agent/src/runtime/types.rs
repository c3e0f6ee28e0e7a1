//! The data that crosses the runtime seam.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;

use super::RuntimeError;

/// What the agent asks for when it creates a pod's sandbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    /// How many sandboxes this pod had before (0 for the first).
    pub attempt: u32,
    /// The pod's hostname (`spec.hostname`, else its name).
    pub hostname: String,
    /// The node's pod range (`spec.podCIDR`) the pod IP comes from.
    pub pod_cidr: Option<String>,
    /// `hostNetwork: true`: no network namespace, the node's IP.
    pub host_network: bool,
    /// Host ports of the pod's containers.
    pub port_mappings: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    /// `Guaranteed`, `Burstable` or `BestEffort`: where the pod's cgroup goes.
    pub qos_class: String,
    /// `spec.securityContext.sysctls`.
    pub sysctls: Vec<(String, String)>,
    /// `hostUsers: false`: the pod's containers get a user namespace.
    pub user_namespace: bool,
    /// The `skiff.dev/time-offset` annotation, in seconds: the pod's
    /// containers see CLOCK_MONOTONIC and CLOCK_BOOTTIME shifted by it.
    pub time_offset_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxState {
    /// Its network is up: containers can run in it.
    Ready,
    /// Stopped (or broken): containers cannot run in it.
    NotReady,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxStatus {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub attempt: u32,
    /// The pod IP (none for host-network pods or once stopped).
    pub ip: Option<IpAddr>,
    pub state: SandboxState,
    pub created_at: DateTime<Utc>,
}

impl SandboxStatus {
    /// `namespace/name`: the pod's key in caches.
    pub fn pod_key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn is_ready(&self) -> bool {
        self.state == SandboxState::Ready
    }
}

/// A port of a container, with its host port if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: i32,
    pub host_port: Option<i32>,
    pub host_ip: Option<String>,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// CPU and memory of a container, in the units cgroups use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request_milli: Option<i64>,
    pub cpu_limit_milli: Option<i64>,
    pub memory_request_bytes: Option<i64>,
    pub memory_limit_bytes: Option<i64>,
}

/// A container as the agent wants it run: the pod's container with its
/// environment resolved and `$(VAR)` references expanded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerConfig {
    pub name: String,
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: String,
    /// Replaces the image's entrypoint when not empty.
    pub command: Vec<String>,
    /// Replaces the image's cmd when not empty.
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    pub env: Vec<(String, String)>,
    pub ports: Vec<PortMapping>,
    pub resources: Resources,
    /// Restarts of this container before this one: the runtime keeps it and
    /// reports it back, so a restarted agent knows the count.
    pub restart_count: u32,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub termination_message_path: Option<String>,
    /// The container's securityContext with the pod's defaults
    /// (`runAsUser`, `runAsGroup`, `runAsNonRoot`, `seccompProfile`) merged in.
    pub security_context: Option<skiff_api::core::SecurityContext>,
    /// `spec.securityContext.supplementalGroups` (and `fsGroup`).
    pub supplemental_groups: Vec<u32>,
    /// Volumes, already materialised on the node by the agent.
    pub mounts: Vec<VolumeMount>,
}

/// A volume as the runtime sees it: a host path bound into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// On the node: the emptyDir, hostPath, or configMap/secret directory.
    pub host_path: std::path::PathBuf,
    /// `volumeMounts[].mountPath`.
    pub container_path: String,
    pub read_only: bool,
    /// `subPath`, relative to `host_path`, when given.
    pub sub_path: Option<String>,
}

/// A container's id, unique within its runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub Arc<str>);

impl ContainerId {
    pub fn new(id: impl Into<Arc<str>>) -> ContainerId {
        ContainerId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a container exited, as `status.containerStatuses[].state.terminated.reason` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit code 0.
    Completed,
    /// A non-zero exit code or a signal.
    Error,
    /// Killed by the kernel for using more memory than its limit.
    OomKilled,
}

impl ExitReason {
    /// The reason for an exit code, when nothing more is known.
    pub fn from_code(code: i32) -> ExitReason {
        if code == 0 {
            ExitReason::Completed
        } else {
            ExitReason::Error
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    Running {
        started_at: DateTime<Utc>,
    },
    Exited {
        exit_code: i32,
        /// The signal that ended it, if one did.
        signal: Option<i32>,
        reason: ExitReason,
        /// The termination message, if the container wrote one.
        message: Option<String>,
        /// `None` when it never started.
        started_at: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
    },
}

impl ContainerState {
    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running { .. })
    }

    pub fn is_exited(&self) -> bool {
        matches!(self, ContainerState::Exited { .. })
    }

    /// The exit code of an exited container.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ContainerState::Exited { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }
}

/// What the runtime knows of one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    pub id: ContainerId,
    pub pod_uid: String,
    /// The name in the pod spec.
    pub name: String,
    /// `ContainerConfig::restart_count` it was created with.
    pub restart_count: u32,
    pub image: String,
    /// The resolved image (`...@sha256:...`): `status.containerStatuses[].imageID`.
    pub image_ref: String,
    pub state: ContainerState,
    /// The runtime's readiness signal (the hollow runtime's readiness delay;
    /// readiness probes feed in above the runtime).
    pub ready: bool,
    pub created_at: DateTime<Utc>,
}

/// How to stop a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOptions {
    /// Time between the stop signal and SIGKILL.
    pub grace: Duration,
    /// The stop signal; `None`: the image's `STOPSIGNAL`, else SIGTERM.
    pub signal: Option<i32>,
}

impl StopOptions {
    pub fn grace(grace: Duration) -> StopOptions {
        StopOptions {
            grace,
            signal: None,
        }
    }
}

/// A change the runtime saw on its own (not one the agent asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeEvent {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub container: ContainerId,
    pub kind: RuntimeEventKind,
}

impl RuntimeEvent {
    /// `namespace/name` of the pod.
    pub fn pod_key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeEventKind {
    /// The container exited (or was killed).
    Exited,
    /// Its readiness signal changed.
    ReadinessChanged,
}

/// `kubectl logs` options the runtime honours (`--previous` is resolved
/// above the runtime, by picking the previous container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub timestamps: bool,
    pub limit_bytes: Option<usize>,
}

/// Chunks of a container's output.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, RuntimeError>> + Send>>;

/// An interactive `exec` (`kubectl exec -it`), as the runtime starts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Give the process a stdin the caller writes to.
    pub stdin: bool,
    /// Run it on a terminal: stdout and stderr are one stream, no `stderr`.
    pub tty: bool,
}

/// A terminal's size, in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// A running exec: its streams, and its exit code once it ends.
pub struct ExecSession {
    /// Present when the request asked for stdin; dropping it closes stdin.
    pub stdin: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    /// With a tty: the terminal's output.
    pub stdout: Option<Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
    /// None with a tty.
    pub stderr: Option<Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
    /// Present with a tty: terminal size changes.
    pub resize: Option<tokio::sync::mpsc::UnboundedSender<TerminalSize>>,
    /// Resolves to the exit code when the process ends.
    pub exit: futures::future::BoxFuture<'static, Result<i32, RuntimeError>>,
}

impl fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("tty", &self.resize.is_some())
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Usage figures of one container, as `metrics.k8s.io` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStats {
    pub timestamp: DateTime<Utc>,
    /// CPU time used since the container started.
    pub cpu_usage_nanos: u64,
    pub memory_working_set_bytes: u64,
}
