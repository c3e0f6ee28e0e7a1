//! One interface over the host's cgroups, whichever layout it runs.
//!
//! # Layout
//!
//! - this file: the public [`Cgroups`] handle, [`CgroupStats`], and the
//!   dispatch to a backend;
//! - `detect`: which layout the host has (`statfs` on
//!   `/sys/fs/cgroup`, v1 mount points from `/proc/self/mountinfo`);
//! - `v1/` and `v2/`: the two backends, mirrored module by module like
//!   youki's (`cpu`, `memory`, `pids`, `stats`, plus `cpuset`, `devices`,
//!   `freezer` on v1 and `controllers`, `kill` on v2);
//! - `convert`: Kubernetes units to cgroup values (the kubelet's formulas);
//! - `fs`: file helpers whose errors name the cgroup and the file; `path`:
//!   validation of the caller's relative path; `error`: [`CgroupError`].
//!
//! # Why two backends
//!
//! v1 (and hybrid, where controllers are still v1 and the unified
//! hierarchy holds nothing skiff uses) mounts one hierarchy per controller:
//! a cgroup is a directory in *each* of them, a process joins each one,
//! and removal must rmdir in each. Files differ per controller
//! (`cpu.cfs_quota_us`, `memory.limit_in_bytes`, `cpuacct.usage`), cpuset
//! directories must be filled before use, killing needs the freezer, and
//! only v1 has a file-based devices controller.
//!
//! v2 has one tree: a cgroup is one directory, controllers are delegated
//! down through each ancestor's `cgroup.subtree_control`, processes live
//! only in leaves, `cgroup.kill` kills a subtree, and the directory's fd
//! can be passed to `clone3(CLONE_INTO_CGROUP)` so a container starts in
//! its cgroup without a later migration.
//!
//! Paths are relative to every hierarchy root (e.g.
//! `skiff/burstable/pod<uid>/<container>`); the caller picks the layout
//! of pod and QoS levels. A backend can be rooted anywhere ([`Cgroups::v2_at`],
//! [`Cgroups::v1_at`]), which is how unit tests drive fake cgroupfs trees.

mod convert;
mod detect;
mod error;
mod fs;
mod path;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::CgroupError;

use crate::spec::CgroupResources;

/// Where skiff looks for cgroups on a real host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The device rules [`Cgroups::create`] installs on v1 (after denying all),
/// as `devices.allow` lines.
pub const V1_DEVICES_ALLOWED: [&str; 10] = v1::devices::ALLOWED;

/// Which backend a [`Cgroups`] drives. Hybrid hosts count as V1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Usage numbers of one cgroup (it and its children), in kubelet terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu_usage_nanos: u64,
    pub memory_usage_bytes: u64,
    /// Usage minus inactive file pages: what the kubelet evicts on.
    pub memory_working_set_bytes: u64,
    pub oom_kills: u64,
    pub pids_current: u64,
}

/// The host's cgroups. Cheap to clone and shareable between threads; holds
/// no open files, only the hierarchy roots.
#[derive(Debug, Clone)]
pub struct Cgroups {
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    V1(v1::V1),
    V2(v2::V2),
}

impl Cgroups {
    /// The layout of this host, from `/sys/fs/cgroup` and
    /// `/proc/self/mountinfo`.
    pub fn detect() -> Result<Cgroups, CgroupError> {
        let root = Path::new(CGROUP_ROOT);
        match detect::root_kind(root)? {
            detect::RootKind::Unified => Ok(Cgroups::v2_at(root)),
            detect::RootKind::Tmpfs => {
                let mountinfo = Path::new(crate::mountinfo::PROC_MOUNTINFO);
                let text = std::fs::read_to_string(mountinfo).map_err(|e| CgroupError::Detect {
                    file: mountinfo.to_path_buf(),
                    detail: e.to_string(),
                })?;
                let mounts = detect::parse_v1_mounts(&text);
                if mounts.is_empty() {
                    return Err(CgroupError::Detect {
                        file: mountinfo.to_path_buf(),
                        detail: format!(
                            "{CGROUP_ROOT} is a tmpfs but none of the v1 controllers {:?} is mounted",
                            detect::V1_CONTROLLERS
                        ),
                    });
                }
                Ok(Cgroups::v1_at(mounts))
            }
        }
    }

    /// A v2 hierarchy rooted at `root` (the real one or a fake).
    pub fn v2_at(root: &Path) -> Cgroups {
        Cgroups::with(Backend::V2(v2::V2 {
            root: root.to_path_buf(),
        }))
    }

    /// v1 hierarchies: controller name (`cpu`, `memory`, ...) -> its root.
    pub fn v1_at(mounts: BTreeMap<String, PathBuf>) -> Cgroups {
        Cgroups::with(Backend::V1(v1::V1 { mounts }))
    }

    fn with(backend: Backend) -> Cgroups {
        Cgroups {
            backend: Arc::new(backend),
        }
    }

    pub fn version(&self) -> CgroupVersion {
        match *self.backend {
            Backend::V1(_) => CgroupVersion::V1,
            Backend::V2(_) => CgroupVersion::V2,
        }
    }

    /// The directories `path` has (or would have): one per hierarchy on v1.
    pub fn dirs(&self, path: &str) -> Result<Vec<PathBuf>, CgroupError> {
        path::validate(path)?;
        Ok(match &*self.backend {
            Backend::V1(b) => b.dirs(path),
            Backend::V2(b) => b.dirs(path),
        })
    }

    /// `mkdir -p path` in every hierarchy, then apply `resources`.
    /// v2 enables `+cpu +memory +pids` (those available) in each ancestor's
    /// `cgroup.subtree_control`, root included where not yet on; v1 fills
    /// each level's cpuset from its parent and gives a new leaf the device
    /// allowlist ([`V1_DEVICES_ALLOWED`]). Existing levels are reused. A
    /// limit whose controller is missing is an error; an unset one is not.
    /// On error, [`Cgroups::remove`] cleans up what was made.
    pub fn create(&self, path: &str, resources: &CgroupResources) -> Result<(), CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.create(path, resources),
            Backend::V2(b) => b.create(path, resources),
        }
    }

    /// Rewrite every limit of an existing cgroup; an unset one goes back
    /// to the kernel default (no quota, default shares/weight, no limit).
    pub fn update(&self, path: &str, resources: &CgroupResources) -> Result<(), CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.update(path, resources),
            Backend::V2(b) => b.update(path, resources),
        }
    }

    /// Move `pid` (the whole process) into `path`, in every hierarchy.
    pub fn add_process(&self, path: &str, pid: i32) -> Result<(), CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.add_process(path, pid),
            Backend::V2(b) => b.add_process(path, pid),
        }
    }

    /// v2 only: an `O_PATH | O_DIRECTORY` fd of the cgroup directory, for
    /// `clone3(CLONE_INTO_CGROUP)`. None on v1.
    pub fn dir_fd(&self, path: &str) -> Result<Option<OwnedFd>, CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(_) => Ok(None),
            Backend::V2(b) => b.dir_fd(path).map(Some),
        }
    }

    /// Usage of `path` and everything below it.
    pub fn stats(&self, path: &str) -> Result<CgroupStats, CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.stats(path),
            Backend::V2(b) => b.stats(path),
        }
    }

    /// How many processes the OOM killer killed in `path` (and below).
    pub fn oom_kills(&self, path: &str) -> Result<u64, CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.oom_kills(path),
            Backend::V2(b) => b.oom_kills(path),
        }
    }

    /// The processes directly in `path` (not in its children), sorted.
    pub fn pids(&self, path: &str) -> Result<Vec<i32>, CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.pids(path),
            Backend::V2(b) => {
                let mut pids = b.pids(path)?;
                pids.sort_unstable();
                Ok(pids)
            }
        }
    }

    /// SIGKILL every process in `path` and below, without letting any fork
    /// away (v2 `cgroup.kill`, else freeze/kill/thaw), and wait until none
    /// is left. A missing cgroup has nothing to kill.
    pub fn kill_all(&self, path: &str) -> Result<(), CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.kill_all(path),
            Backend::V2(b) => b.kill_all(path),
        }
    }

    /// Remove `path` and every cgroup under it, leaf first, in every
    /// hierarchy, killing what still runs there and retrying briefly while
    /// the kernel reports it busy. A missing cgroup is fine. Parents are
    /// kept (they belong to the caller's layout).
    pub fn remove(&self, path: &str) -> Result<(), CgroupError> {
        path::validate(path)?;
        match &*self.backend {
            Backend::V1(b) => b.remove(path),
            Backend::V2(b) => b.remove(path),
        }
    }

    /// Whether `path` exists in any hierarchy (a half-made cgroup counts,
    /// so that [`Cgroups::remove`] gets called for it).
    pub fn exists(&self, path: &str) -> bool {
        path::validate(path).is_ok()
            && match &*self.backend {
                Backend::V1(b) => b.exists(path),
                Backend::V2(b) => b.exists(path),
            }
    }
}

#[cfg(test)]
mod tests;
