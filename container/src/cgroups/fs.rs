//! File work shared by both backends. A [`CgroupDir`] is one cgroup's
//! directory in one hierarchy; its helpers turn every failure into a
//! [`CgroupError`] naming the file and the cgroup.
//!
//! Writes open without `O_CREAT`: on cgroupfs the kernel creates the
//! interface files, so a missing file means a missing controller and must
//! fail loudly. Fake cgroupfs trees in tests pre-create the files the
//! kernel would.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::CgroupError;
use crate::spec::CgroupResources;

/// How long removal waits for a busy cgroup (tasks still exiting).
pub(crate) const REMOVE_PATIENCE: Duration = Duration::from_secs(2);
/// How long a kill waits for the cgroup to empty.
pub(crate) const KILL_PATIENCE: Duration = Duration::from_secs(5);
/// Poll interval for the waits above: short, since the usual wait is a
/// few milliseconds.
pub(crate) const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub(crate) struct CgroupDir {
    /// The caller's relative path, for messages.
    pub cgroup: String,
    pub dir: PathBuf,
}

impl CgroupDir {
    pub fn new(root: &Path, cgroup: &str) -> CgroupDir {
        CgroupDir {
            cgroup: cgroup.to_string(),
            dir: root.join(cgroup),
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    pub fn has(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    /// One `write(2)` of `value`, replacing the content (cgroupfs ignores
    /// the truncation; fakes need it).
    pub fn write(&self, name: &str, value: &str) -> Result<(), CgroupError> {
        let file = self.file(name);
        let action = || format!("write {value:?} to");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)
            .map_err(|e| CgroupError::io(&self.cgroup, action(), &file, e))?;
        f.write_all(value.as_bytes())
            .map_err(|e| CgroupError::io(&self.cgroup, action(), &file, e))
    }

    /// One `write(2)` of `value` in append mode: for rule files such as
    /// `devices.allow`, where each write is one rule (a fake keeps them all).
    pub fn append(&self, name: &str, value: &str) -> Result<(), CgroupError> {
        let file = self.file(name);
        let action = || format!("write {value:?} to");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .map_err(|e| CgroupError::io(&self.cgroup, action(), &file, e))?;
        f.write_all(format!("{value}\n").as_bytes())
            .map_err(|e| CgroupError::io(&self.cgroup, action(), &file, e))
    }

    pub fn read(&self, name: &str) -> Result<String, CgroupError> {
        let file = self.file(name);
        fs::read_to_string(&file).map_err(|e| CgroupError::io(&self.cgroup, "read", &file, e))
    }

    pub fn parse_error(&self, name: &str, detail: impl Into<String>) -> CgroupError {
        CgroupError::Parse {
            cgroup: self.cgroup.clone(),
            file: self.file(name),
            detail: detail.into(),
        }
    }

    /// A file holding one unsigned number (`memory.current`, `cpuacct.usage`).
    pub fn read_u64(&self, name: &str) -> Result<u64, CgroupError> {
        let text = self.read(name)?;
        let text = text.trim();
        text.parse()
            .map_err(|_| self.parse_error(name, format!("expected a number, found {text:?}")))
    }

    /// A value from a flat keyed file (`key value` per line: `cpu.stat`,
    /// `memory.stat`, `memory.events`, `memory.oom_control`).
    pub fn read_key(&self, name: &str, key: &str) -> Result<u64, CgroupError> {
        let text = self.read(name)?;
        parse_keyed(&text, key).map_err(|detail| self.parse_error(name, detail))
    }

    /// The processes in this cgroup (not its children).
    pub fn procs(&self) -> Result<Vec<i32>, CgroupError> {
        let text = self.read("cgroup.procs")?;
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.parse()
                    .map_err(|_| self.parse_error("cgroup.procs", format!("bad pid {l:?}")))
            })
            .collect()
    }

    /// This cgroup and every cgroup below it, parents before children.
    pub fn subtree(&self) -> Result<Vec<CgroupDir>, CgroupError> {
        let mut out = vec![self.clone()];
        let mut next = 0;
        while next < out.len() {
            let parent = out[next].clone();
            next += 1;
            let entries = match fs::read_dir(&parent.dir) {
                Ok(entries) => entries,
                // Removed concurrently: nothing below it any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CgroupError::io(&self.cgroup, "list", &parent.dir, e)),
            };
            let mut children = Vec::new();
            for entry in entries {
                let entry =
                    entry.map_err(|e| CgroupError::io(&self.cgroup, "list", &parent.dir, e))?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    children.push(CgroupDir {
                        cgroup: format!("{}/{name}", parent.cgroup),
                        dir: entry.path(),
                    });
                }
            }
            children.sort_by(|a, b| a.dir.cmp(&b.dir));
            out.extend(children);
        }
        Ok(out)
    }

    /// Every process in this cgroup and below (a missing cgroup has none).
    pub fn subtree_procs(&self) -> Result<Vec<i32>, CgroupError> {
        if !self.exists() {
            return Ok(Vec::new());
        }
        let mut pids = Vec::new();
        for dir in self.subtree()? {
            match dir.procs() {
                Ok(p) => pids.extend(p),
                // Removed meanwhile: ENOENT once gone, ENODEV while dying.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => {}
                Err(e) => return Err(e),
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// `mkdir` each missing component below `root`, top down; `each_level`
    /// then runs on every level, new or not (v1 cpuset fills its files).
    pub fn create_all(
        &self,
        root: &Path,
        mut each_level: impl FnMut(&CgroupDir, &CgroupDir) -> Result<(), CgroupError>,
    ) -> Result<(), CgroupError> {
        let mut parent = CgroupDir {
            cgroup: self.cgroup.clone(),
            dir: root.to_path_buf(),
        };
        for component in self.cgroup.split('/') {
            let level = CgroupDir {
                cgroup: self.cgroup.clone(),
                dir: parent.dir.join(component),
            };
            create_dir_if_missing(&level)?;
            each_level(&parent, &level)?;
            parent = level;
        }
        Ok(())
    }

    /// `rmdir` this cgroup and everything below it, leaf first. `EBUSY`
    /// (tasks still leaving) is reported to the caller, which retries.
    pub fn remove_tree(&self) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        for dir in self.subtree()?.iter().rev() {
            match fs::remove_dir(&dir.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(CgroupError::io(&dir.cgroup, "remove", &dir.dir, e)),
            }
        }
        Ok(())
    }
}

pub(crate) fn create_dir_if_missing(dir: &CgroupDir) -> Result<(), CgroupError> {
    match fs::create_dir(&dir.dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            Err(CgroupError::io(&dir.cgroup, "create", &dir.dir, e))
        }
        _ => Ok(()),
    }
}

/// A resource controller both backends write limits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    Cpu,
    Memory,
    Pids,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Limited::Cpu => "cpu",
            Limited::Memory => "memory",
            Limited::Pids => "pids",
        }
    }

    /// What the container asked of this controller, if anything.
    fn request(self, res: &CgroupResources) -> Option<&'static str> {
        let (requested, needed_for) = match self {
            Limited::Cpu => (
                res.cpu_limit_milli.is_some() || res.cpu_request_milli.is_some(),
                "a cpu limit or request",
            ),
            Limited::Memory => (res.memory_limit_bytes.is_some(), "a memory limit"),
            Limited::Pids => (res.pids_limit.is_some(), "a pids limit"),
        };
        requested.then_some(needed_for)
    }
}

/// A controller this host lacks is fine as long as nothing asks for it.
pub(crate) fn unless_requested(
    cgroup: &str,
    controller: Limited,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    match controller.request(res) {
        Some(needed_for) => Err(CgroupError::MissingController {
            cgroup: cgroup.to_string(),
            controller: controller.name(),
            needed_for,
        }),
        None => Ok(()),
    }
}

/// A limit as cgroupfs writes it: the number, or `max` for none.
pub(crate) fn limit_or_max(limit: Option<u64>) -> String {
    limit.map_or_else(|| "max".to_string(), |n| n.to_string())
}

/// `value` of `key` in a flat keyed file.
pub(crate) fn parse_keyed(text: &str, key: &str) -> Result<u64, String> {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() == Some(key) {
            let value = fields.next().unwrap_or("");
            return value
                .parse()
                .map_err(|_| format!("key {key:?} has a non-numeric value {value:?}"));
        }
    }
    Err(format!("no {key:?} line"))
}

/// SIGKILL each pid; ones already gone are fine.
pub(crate) fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        if pid > 0 {
            // SAFETY: kill(2) takes plain integers and touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Poll `done` until it returns true or `patience` passes; Ok(false) then.
pub(crate) fn wait_until(
    patience: Duration,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let deadline = Instant::now() + patience;
    loop {
        if done()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL);
    }
}

/// Remove `dir`'s tree, killing whatever still lives there, retrying while
/// the kernel answers `EBUSY` (exiting tasks) for up to [`REMOVE_PATIENCE`].
pub(crate) fn remove_with_retry(
    dir: &CgroupDir,
    mut kill_all: impl FnMut() -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let deadline = Instant::now() + REMOVE_PATIENCE;
    loop {
        if !dir.subtree_procs()?.is_empty() {
            kill_all()?;
        }
        match dir.remove_tree() {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(POLL);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_controller_fails_only_when_requested() {
        let none = CgroupResources::default();
        for controller in [Limited::Cpu, Limited::Memory, Limited::Pids] {
            assert!(unless_requested("pod/c", controller, &none).is_ok());
        }
        let cpu_request = CgroupResources {
            cpu_request_milli: Some(250),
            ..CgroupResources::default()
        };
        let err = unless_requested("pod/c", Limited::Cpu, &cpu_request).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pod/c") && text.contains("cpu"), "{text}");
        assert!(unless_requested("pod/c", Limited::Memory, &cpu_request).is_ok());
        let pids = CgroupResources {
            pids_limit: Some(64),
            ..CgroupResources::default()
        };
        assert!(unless_requested("pod/c", Limited::Pids, &pids).is_err());
    }

    #[test]
    fn limits_are_numbers_or_max() {
        assert_eq!(limit_or_max(Some(1024)), "1024");
        assert_eq!(limit_or_max(None), "max");
    }

    #[test]
    fn keyed_files_are_parsed_by_key() {
        let text = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n";
        assert_eq!(parse_keyed(text, "usage_usec"), Ok(1500));
        assert_eq!(parse_keyed(text, "system_usec"), Ok(500));
        assert!(
            parse_keyed(text, "nope")
                .unwrap_err()
                .contains("no \"nope\" line")
        );
        assert!(parse_keyed("oom_kill x\n", "oom_kill").is_err());
    }

    #[test]
    fn subtree_lists_parents_before_children_and_removal_goes_leaf_first() {
        let root = tempfile::tempdir().unwrap();
        let dir = CgroupDir::new(root.path(), "p");
        for d in ["p/a/x", "p/b"] {
            fs::create_dir_all(root.path().join(d)).unwrap();
        }
        fs::write(root.path().join("p/cgroup.procs"), "").unwrap();
        let names: Vec<String> = dir
            .subtree()
            .unwrap()
            .into_iter()
            .map(|d| d.cgroup)
            .collect();
        assert_eq!(names, ["p", "p/a", "p/b", "p/a/x"]);

        // A plain directory still holding files refuses rmdir (cgroupfs
        // would not): the error names the directory.
        let err = dir.remove_tree().unwrap_err().to_string();
        assert!(err.contains("cannot remove") && err.contains("/p"), "{err}");
        // With the interface files gone (as rmdir on cgroupfs drops them),
        // the whole tree goes, children before parents.
        fs::remove_file(root.path().join("p/cgroup.procs")).unwrap();
        dir.remove_tree().unwrap();
        assert!(!root.path().join("p").exists());
        // Missing is fine.
        dir.remove_tree().unwrap();
    }

    #[test]
    fn writes_need_the_kernel_file_to_exist() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("c")).unwrap();
        let dir = CgroupDir::new(root.path(), "c");
        let err = dir.write("pids.max", "10").unwrap_err().to_string();
        assert!(
            err.contains("pids.max") && err.contains("cgroup c"),
            "{err}"
        );
        fs::write(dir.file("pids.max"), "max\n").unwrap();
        dir.write("pids.max", "10").unwrap();
        assert_eq!(dir.read("pids.max").unwrap(), "10");
    }
}
