//! skiff-container: Linux containers built from kernel primitives, with no
//! runtime binary in between.
//!
//! The layers, bottom up (arrows one way):
//!
//! - [`spec`]: the fully resolved description of one container (argv, env,
//!   user, mounts, namespaces to join, cgroup and limits, log files). The
//!   agent writes it; everything below only reads it.
//! - [`cgroups`]: one interface over cgroup v1, v2 and hybrid hierarchies,
//!   mirrored module by module (`v1/`, `v2/`).
//! - [`sandbox`]: a pod's network, IPC and UTS namespaces, pinned by bind
//!   mounts so that no pause process is needed, and its `/dev/shm`.
//! - [`init`]: what runs in the cloned child before `execve`: the overlay
//!   root, `pivot_root`, `/proc`, `/sys`, `/dev`, masked paths, then the
//!   process hardening (capabilities, `no_new_privs`, seccomp, user).
//! - [`monitor`]: the small per-container supervisor (the `skiff` binary
//!   re-executed, single-threaded): clones the container, copies its output
//!   into rotated log files and records its exit, so containers outlive the
//!   agent and no exit code is lost. [`state`] is its on-disk record.
//! - [`exec`]: a process joining a running container (namespaces, cgroup,
//!   the same hardening). [`logs`] reads the log files back.
//!
//! Everything here is synchronous and meant for single-threaded processes
//! (the monitor, the exec helper) or plain file work; the agent calls it
//! through `spawn_blocking` or by starting those processes.

pub mod cgroups;
pub mod entry;
pub mod exec;
pub mod init;
pub mod logs;
pub mod monitor;
mod mountinfo;
pub mod sandbox;
pub mod spec;
pub mod state;

pub use entry::dispatch;
