//! The description of one container, fully resolved: nothing below this
//! point reads the pod spec, the image config or the API.
//!
//! The agent builds a [`ContainerSpec`] (image config + pod spec + the
//! sandbox's namespaces), writes it as `spec.json` in the container's state
//! directory, and starts the monitor on that directory. Every path in it is
//! absolute and on the host.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// File name of the spec inside a container's state directory.
pub const SPEC_FILE: &str = "spec.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Unique on the node; also the leaf name of the container's cgroup.
    pub id: String,
    pub rootfs: RootfsSpec,
    pub process: ProcessSpec,
    pub namespaces: NamespacesSpec,
    /// Extra mounts, applied in order after `/proc`, `/sys` and `/dev`:
    /// volumes, `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`,
    /// `/dev/shm`, the termination-message file.
    pub mounts: Vec<MountSpec>,
    /// Paths hidden from the container (`/dev/null` over files, an empty
    /// read-only tmpfs over directories); missing ones are skipped.
    pub masked_paths: Vec<String>,
    /// Paths remounted read-only; missing ones are skipped.
    pub readonly_paths: Vec<String>,
    pub cgroup: CgroupSpec,
    pub log: LogSpec,
    /// Keep stdin open as a pipe (`stdin: true`); else stdin is `/dev/null`.
    pub stdin: bool,
    /// Close the container's stdin after the first attach ends.
    pub stdin_once: bool,
}

/// The container's root: an overlay of read-only image layers and a
/// per-container writable upper directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootfsSpec {
    /// Unpacked layer directories, **bottom first** (`manifest.layers[0]`
    /// first). Overlay wants them top first; [`crate::init`] reverses them.
    pub layers: Vec<PathBuf>,
    /// Where the container's writes go (created empty by the agent).
    pub upper_dir: PathBuf,
    /// overlayfs's work directory: same filesystem as `upper_dir`, empty.
    pub work_dir: PathBuf,
    /// Mount point of the merged root (an empty directory).
    pub merged_dir: PathBuf,
    /// `readOnlyRootFilesystem`.
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv. `args[0]` without a `/` is looked up in the container's `PATH`
    /// inside the new root (as images.md says), not on the host.
    pub args: Vec<String>,
    /// `KEY=value`, image env first then the pod's, already merged.
    pub env: Vec<String>,
    /// Working directory inside the root; created if missing.
    pub cwd: String,
    pub user: UserSpec,
    /// Allocate a terminal (`tty: true`): stdout and stderr are one stream.
    pub tty: bool,
    /// Capabilities kept (bounding, effective, permitted), e.g. `CAP_CHOWN`.
    /// Ambient and inheritable are always cleared.
    pub capabilities: Vec<String>,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    pub no_new_privileges: bool,
    pub seccomp: SeccompMode,
    /// `(resource, soft, hard)`, e.g. `("RLIMIT_NOFILE", 1048576, 1048576)`.
    /// A hard limit above the current one is lowered to it (root here lacks
    /// CAP_SYS_RESOURCE).
    pub rlimits: Vec<(String, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    /// Signal number sent to stop it (the image's StopSignal, else SIGTERM).
    pub stop_signal: i32,
}

/// Who the process runs as. `uid`/`gid` given by the pod win; else `name`
/// (the image's `User`: `uid`, `uid:gid`, `name`, `name:group`) is resolved in
/// the container's own `/etc/passwd` and `/etc/group`; else root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSpec {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub name: Option<String>,
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// No filter (`seccompProfile: Unconfined`, or `privileged`).
    Unconfined,
    /// skiff's RuntimeDefault-style filter (the default).
    RuntimeDefault,
}

/// Namespaces: the pod's are joined (pinned by the sandbox), the
/// container's own are created by the monitor's clone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespacesSpec {
    /// The pod's pinned network namespace; `None` = the node's (hostNetwork).
    pub net: Option<PathBuf>,
    /// The pod's pinned IPC namespace; `None` = a new one.
    pub ipc: Option<PathBuf>,
    /// The pod's pinned UTS namespace (hostname = pod name); `None` = a new
    /// one with `hostname`.
    pub uts: Option<PathBuf>,
    /// Used only when `uts` is `None`.
    pub hostname: Option<String>,
    /// A new cgroup namespace (cgroup v2 only; ignored on v1).
    pub cgroup: bool,
    /// `hostUsers: false`: a new user namespace with these maps.
    pub user: Option<IdMapping>,
    /// The `skiff.dev/time-offset` annotation: a new time namespace whose
    /// CLOCK_MONOTONIC and CLOCK_BOOTTIME are shifted by this many seconds.
    pub time_offset_seconds: Option<i64>,
}

/// One contiguous uid and gid range: container 0.. -> host `host_id`..
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub host_id: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container; resolved inside the new root
    /// without following symlinks out of it.
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MountKind {
    /// Bind a host file or directory (recursive). The destination is
    /// created (as a file or directory, like the source) if missing.
    Bind { source: PathBuf },
    /// A fresh tmpfs (`options` as mount(8) takes them, e.g. `size=64m`).
    Tmpfs { options: String },
}

/// The container's cgroup: `<parent>/<id>` where the parent is the pod's
/// cgroup (see [`crate::cgroups`]); relative to every hierarchy's root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupSpec {
    /// e.g. `skiff/burstable/pod<uid>/<container id>`.
    pub path: String,
    pub resources: CgroupResources,
}

/// Limits in Kubernetes units; each backend converts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupResources {
    /// `limits.cpu` in millicores -> CFS quota / `cpu.max`.
    pub cpu_limit_milli: Option<u64>,
    /// `requests.cpu` in millicores -> `cpu.shares` / `cpu.weight`.
    pub cpu_request_milli: Option<u64>,
    /// `limits.memory` -> memory limit, swap off.
    pub memory_limit_bytes: Option<u64>,
    /// `pids.max`.
    pub pids_limit: Option<u64>,
}

/// Where the monitor writes the container's output (CRI log format:
/// `2026-11-27T11:00:00.123456789Z stdout F text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSpec {
    /// The current file; rotated ones are `PATH.1` (newest) .. `PATH.N`.
    pub path: PathBuf,
    /// Rotate when the current file would pass this size.
    pub max_size_bytes: u64,
    /// Rotated files kept besides the current one.
    pub max_files: u32,
}

impl LogSpec {
    /// The kubelet's defaults: 10 MiB, 5 files in all.
    pub fn at(path: PathBuf) -> LogSpec {
        LogSpec {
            path,
            max_size_bytes: 10 * 1024 * 1024,
            max_files: 4,
        }
    }
}

/// Every capability the kernel knows, by number (`capability.h`): the
/// names a spec and a securityContext may use.
pub const CAPABILITY_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The PATH a container gets when its image sets none (containerd's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's default capability set minus `NET_RAW` and `MKNOD`: what a
/// container keeps unless its securityContext adds or drops some.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Hidden from every container (runc's and containerd's list).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/proc/interrupts",
];

/// Read-only in every container.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Open-file limit given to containers (the kubelet's containers get
/// 1048576 from containerd; lowered to the current hard limit if smaller).
pub const DEFAULT_NOFILE: u64 = 1_048_576;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_json() {
        let spec = ContainerSpec {
            id: "c1".into(),
            rootfs: RootfsSpec {
                layers: vec!["/l/1".into(), "/l/2".into()],
                upper_dir: "/c/upper".into(),
                work_dir: "/c/work".into(),
                merged_dir: "/c/merged".into(),
                readonly: false,
            },
            process: ProcessSpec {
                args: vec!["httpd".into(), "-f".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                user: UserSpec::default(),
                tty: false,
                capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
                no_new_privileges: true,
                seccomp: SeccompMode::RuntimeDefault,
                rlimits: vec![("RLIMIT_NOFILE".into(), DEFAULT_NOFILE, DEFAULT_NOFILE)],
                oom_score_adj: None,
                stop_signal: 15,
            },
            namespaces: NamespacesSpec::default(),
            mounts: vec![MountSpec {
                destination: "/data".into(),
                kind: MountKind::Bind {
                    source: "/var/lib/x".into(),
                },
                readonly: true,
            }],
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            cgroup: CgroupSpec::default(),
            log: LogSpec::at("/c/0.log".into()),
            stdin: false,
            stdin_once: false,
        };
        let json = serde_json::to_string(&spec).unwrap();
        let back: ContainerSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
    }
}
