//! Removing a lab, whole or half-built: processes, then the containers
//! (through their cgroups), leftover processes, mounts, network
//! namespaces, directories; then a check that nothing is left.

use std::path::Path;
use std::time::Duration;

use skiff_container::cgroups::Cgroups;

use super::layout::{Layout, MAX_NODES};
use super::state::LabState;
use super::{netns, procs};
use crate::errors::{CliError, CliResult};

/// What was still there after a teardown.
#[derive(Debug, Default)]
pub struct Leftovers {
    pub netns: Vec<String>,
    pub mounts: Vec<String>,
    pub cgroups: Vec<String>,
    pub processes: Vec<(i32, String)>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.netns.is_empty()
            && self.mounts.is_empty()
            && self.cgroups.is_empty()
            && self.processes.is_empty()
    }
}

/// Tears the lab down; `state` is what `up` recorded (None: found by name).
pub fn teardown(layout: &Layout, state: Option<&LabState>) -> CliResult {
    // Agents first (no new containers), the rest after.
    if let Some(state) = state {
        let (agents, others): (Vec<_>, Vec<_>) = state
            .processes
            .iter()
            .cloned()
            .partition(|p| p.role.starts_with("node"));
        procs::stop(&agents, Duration::from_secs(5));
        procs::stop(&others, Duration::from_secs(5));
    }
    let mut errors = Vec::new();
    let parents = cgroup_parents(layout, state);
    match Cgroups::detect() {
        Ok(cgroups) => {
            for parent in &parents {
                if let Err(e) = remove_cgroup(&cgroups, parent) {
                    errors.push(format!("removing cgroup {parent}: {e}"));
                }
            }
        }
        Err(e) => errors.push(format!("detecting cgroups: {e}")),
    }
    let names = netns_names(layout, state);
    let inodes: Vec<u64> = names.iter().filter_map(|n| netns::inode(n)).collect();
    let stuck = procs::sweep(&layout.dir, &inodes);
    for (pid, cmd) in stuck {
        errors.push(format!("process {pid} would not die: {cmd}"));
    }
    unmount_under(&layout.dir);
    for name in &names {
        if let Err(e) = netns::delete(name) {
            errors.push(e.render().unwrap_or_default());
        }
    }
    if layout.dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&layout.dir)
    {
        errors.push(format!("removing {}: {e}", layout.dir.display()));
    }
    let left = leftovers(layout, &parents);
    if !left.is_empty() {
        errors.push(format!("still there after the teardown: {left:?}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(format!(
            "tearing down lab {}: {}",
            layout.name,
            errors.join("; ")
        )))
    }
}

/// `Cgroups::remove`, retried: a container's monitor may be removing its
/// own cgroup at the same moment (the kernel then answers ENODEV).
fn remove_cgroup(cgroups: &Cgroups, parent: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..10 {
        if !cgroups.exists(parent) {
            return Ok(());
        }
        match cgroups.remove(parent) {
            Ok(()) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

/// Everything of the lab that is still around.
pub fn leftovers(layout: &Layout, parents: &[String]) -> Leftovers {
    let cgroups = Cgroups::detect()
        .map(|c| parents.iter().filter(|p| c.exists(p)).cloned().collect())
        .unwrap_or_default();
    Leftovers {
        netns: netns::list_with_prefix(&layout.netns_prefix()),
        mounts: mounts_under(&layout.dir),
        cgroups,
        processes: procs::leftovers(&layout.dir, &[]),
    }
}

/// The recorded parents, and (for a lab whose state is lost) every
/// `skiff-<lab>-nodeN` that exists.
pub fn cgroup_parents(layout: &Layout, state: Option<&LabState>) -> Vec<String> {
    let mut parents: Vec<String> = state.map(|s| s.cgroup_parents.clone()).unwrap_or_default();
    for n in 1..=MAX_NODES {
        let p = layout.cgroup_parent(n);
        if !parents.contains(&p) {
            parents.push(p);
        }
    }
    parents
}

fn netns_names(layout: &Layout, state: Option<&LabState>) -> Vec<String> {
    let mut names: Vec<String> = state.map(|s| s.netns.clone()).unwrap_or_default();
    for n in netns::list_with_prefix(&layout.netns_prefix()) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    // Nodes before the bridge (their veth peers go with them).
    names.reverse();
    names
}

/// Mount points at or under `dir` (this mount namespace).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmounts every mount under `dir`, deepest first, until none is left.
fn unmount_under(dir: &Path) {
    for _ in 0..8 {
        let mut mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let Ok(c) = std::ffi::CString::new(m) else {
                continue;
            };
            // SAFETY: umount2 on a path string; MNT_DETACH never blocks.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_unescape() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }

    #[test]
    fn parents_cover_a_lost_state() {
        let l = Layout::new(Path::new("/tmp/x"), "t").unwrap();
        let p = cgroup_parents(&l, None);
        assert_eq!(p.len() as u32, MAX_NODES);
        assert_eq!(p[0], "skiff-t-node1");
    }
}
