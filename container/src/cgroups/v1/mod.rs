//! The cgroup v1 backend (also used on hybrid hosts): one hierarchy per
//! controller (or per co-mounted group), so every operation repeats in each
//! hierarchy, and each controller's files live in its own directory.
//! Killing goes through the freezer; devices get an allowlist here since
//! only v1 has files for it.

mod cpu;
mod cpuset;
pub(crate) mod devices;
mod freezer;
mod memory;
mod pids;
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fs::{self, CgroupDir, KILL_PATIENCE};
use super::{CgroupError, CgroupStats};
use crate::spec::CgroupResources;

#[derive(Debug)]
pub(crate) struct V1 {
    /// Controller name -> hierarchy root (co-mounted ones share a root).
    pub mounts: BTreeMap<String, PathBuf>,
}

impl V1 {
    /// `path` in the hierarchy of `controller`, if that is mounted.
    fn controller(&self, controller: &str, path: &str) -> Option<CgroupDir> {
        self.mounts
            .get(controller)
            .map(|root| CgroupDir::new(root, path))
    }

    fn require(
        &self,
        controller: &'static str,
        path: &str,
        needed_for: &'static str,
    ) -> Result<CgroupDir, CgroupError> {
        self.controller(controller, path)
            .ok_or_else(|| CgroupError::MissingController {
                cgroup: path.to_string(),
                controller,
                needed_for,
            })
    }

    /// The distinct hierarchy roots.
    fn roots(&self) -> Vec<&Path> {
        let mut roots: Vec<&Path> = self.mounts.values().map(PathBuf::as_path).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// `path` in every hierarchy.
    fn hierarchies(&self, path: &str) -> Vec<CgroupDir> {
        self.roots()
            .into_iter()
            .map(|root| CgroupDir::new(root, path))
            .collect()
    }

    pub fn dirs(&self, path: &str) -> Vec<PathBuf> {
        self.hierarchies(path).into_iter().map(|d| d.dir).collect()
    }

    pub fn create(&self, path: &str, res: &CgroupResources) -> Result<(), CgroupError> {
        let cpuset_root = self.mounts.get("cpuset").map(PathBuf::as_path);
        for root in self.roots() {
            let dir = CgroupDir::new(root, path);
            if Some(root) == cpuset_root {
                dir.create_all(root, cpuset::inherit)?;
            } else {
                dir.create_all(root, |_, _| Ok(()))?;
            }
        }
        self.update(path, res)?;
        match self.controller("devices", path) {
            Some(dir) => devices::restrict(&dir),
            None => Ok(()),
        }
    }

    pub fn update(&self, path: &str, res: &CgroupResources) -> Result<(), CgroupError> {
        cpu::apply(path, self.controller("cpu", path).as_ref(), res)?;
        memory::apply(path, self.controller("memory", path).as_ref(), res)?;
        pids::apply(path, self.controller("pids", path).as_ref(), res)
    }

    pub fn add_process(&self, path: &str, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for dir in self.hierarchies(path) {
            dir.write("cgroup.procs", &pid)?;
        }
        Ok(())
    }

    pub fn stats(&self, path: &str) -> Result<CgroupStats, CgroupError> {
        stats::read(stats::StatDirs {
            cpuacct: &self.require("cpuacct", path, "cpu usage statistics")?,
            memory: &self.require("memory", path, "memory statistics")?,
            pids: &self.require("pids", path, "the process count")?,
        })
    }

    pub fn oom_kills(&self, path: &str) -> Result<u64, CgroupError> {
        stats::oom_kills(&self.require("memory", path, "OOM kill counts")?)
    }

    /// The processes in `path` itself, in any hierarchy (they agree unless
    /// a join failed half way).
    pub fn pids(&self, path: &str) -> Result<Vec<i32>, CgroupError> {
        let dirs = self.hierarchies(path);
        let existing: Vec<&CgroupDir> = dirs.iter().filter(|d| d.exists()).collect();
        if existing.is_empty() {
            // Report the missing cgroup the way a read of it would.
            return dirs.first().map_or(Ok(Vec::new()), CgroupDir::procs);
        }
        let mut pids = Vec::new();
        for dir in existing {
            pids.extend(dir.procs()?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Every process in `path` and below, in every hierarchy.
    fn subtree_procs(&self, path: &str) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        for dir in self.hierarchies(path) {
            pids.extend(dir.subtree_procs()?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    pub fn kill_all(&self, path: &str) -> Result<(), CgroupError> {
        let freezer = self.controller("freezer", path).filter(CgroupDir::exists);
        let frozen = match &freezer {
            Some(dir) => freezer::freeze(dir)?,
            None => false,
        };
        if freezer.is_some() && !frozen {
            tracing::warn!(
                cgroup = path,
                "cgroup did not freeze in time; killing its pids anyway"
            );
        }
        let killed = self.subtree_procs(path).map(|pids| fs::kill_pids(&pids));
        if let Some(dir) = &freezer {
            freezer::thaw(dir)?;
        }
        killed?;
        // Frozen tasks could not fork; otherwise new children are killed too.
        let empty = fs::wait_until(KILL_PATIENCE, || {
            let pids = self.subtree_procs(path)?;
            if !frozen {
                fs::kill_pids(&pids);
            }
            Ok(pids.is_empty())
        })?;
        if empty {
            return Ok(());
        }
        let watched = self.hierarchies(path).into_iter().next();
        Err(CgroupError::Timeout {
            cgroup: path.to_string(),
            what: "killing every process",
            file: watched.map_or_else(PathBuf::new, |d| d.file("cgroup.procs")),
            waited: KILL_PATIENCE,
        })
    }

    pub fn remove(&self, path: &str) -> Result<(), CgroupError> {
        for dir in self.hierarchies(path) {
            fs::remove_with_retry(&dir, || self.kill_all(path))?;
        }
        Ok(())
    }

    pub fn exists(&self, path: &str) -> bool {
        self.hierarchies(path).iter().any(CgroupDir::exists)
    }
}
