//! The cgroup v2 backend: one unified hierarchy, one directory per cgroup.
//! Controllers must be delegated down the tree (see [`controllers`]);
//! killing uses `cgroup.kill`; the directory's fd lets the monitor clone a
//! container straight into its cgroup (`CLONE_INTO_CGROUP`).

mod controllers;
mod cpu;
mod kill;
mod memory;
mod pids;
mod stats;

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::fs::{self, CgroupDir};
use super::{CgroupError, CgroupStats};
use crate::spec::CgroupResources;

#[derive(Debug)]
pub(crate) struct V2 {
    pub root: PathBuf,
}

impl V2 {
    fn dir(&self, path: &str) -> CgroupDir {
        CgroupDir::new(&self.root, path)
    }

    pub fn dirs(&self, path: &str) -> Vec<PathBuf> {
        vec![self.dir(path).dir]
    }

    pub fn create(&self, path: &str, res: &CgroupResources) -> Result<(), CgroupError> {
        // Root first: each level delegates to the next before it exists.
        let mut level = CgroupDir {
            cgroup: path.to_string(),
            dir: self.root.clone(),
        };
        for component in path.split('/') {
            controllers::enable_for_children(&level)?;
            level.dir.push(component);
            fs::create_dir_if_missing(&level)?;
        }
        self.update(path, res)
    }

    pub fn update(&self, path: &str, res: &CgroupResources) -> Result<(), CgroupError> {
        let dir = self.dir(path);
        let available = controllers::available(&dir)?;
        let has = |c: &str| available.iter().any(|a| a == c);
        cpu::apply(&dir, has("cpu"), res)?;
        memory::apply(&dir, has("memory"), res)?;
        pids::apply(&dir, has("pids"), res)
    }

    pub fn add_process(&self, path: &str, pid: i32) -> Result<(), CgroupError> {
        self.dir(path).write("cgroup.procs", &pid.to_string())
    }

    pub fn dir_fd(&self, path: &str) -> Result<OwnedFd, CgroupError> {
        let dir = self.dir(path);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&dir.dir)
            .map_err(|e| CgroupError::io(path, "open", &dir.dir, e))?;
        Ok(file.into())
    }

    pub fn stats(&self, path: &str) -> Result<CgroupStats, CgroupError> {
        stats::read(&self.dir(path))
    }

    pub fn oom_kills(&self, path: &str) -> Result<u64, CgroupError> {
        stats::oom_kills(&self.dir(path))
    }

    pub fn pids(&self, path: &str) -> Result<Vec<i32>, CgroupError> {
        self.dir(path).procs()
    }

    pub fn kill_all(&self, path: &str) -> Result<(), CgroupError> {
        kill::kill_all(&self.dir(path))
    }

    pub fn remove(&self, path: &str) -> Result<(), CgroupError> {
        let dir = self.dir(path);
        fs::remove_with_retry(&dir, || kill::kill_all(&dir))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.dir(path).exists()
    }
}
