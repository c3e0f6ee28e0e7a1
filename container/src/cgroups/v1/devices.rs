//! v1 devices: deny every device, then allow the nodes a container's `/dev`
//! holds (null zero full random urandom tty, ptmx, the pts range) and
//! `mknod` of any node (creating one is harmless without access to it).
//! v2 has no files for this (it needs an eBPF program), so this is v1 only.

use super::super::CgroupError;
use super::super::fs::CgroupDir;

/// The allowlist, as lines of `devices.allow` (and of `devices.list` after).
pub const ALLOWED: [&str; 10] = [
    "c 1:3 rwm",   // null
    "c 1:5 rwm",   // zero
    "c 1:7 rwm",   // full
    "c 1:8 rwm",   // random
    "c 1:9 rwm",   // urandom
    "c 5:0 rwm",   // tty
    "c 5:2 rwm",   // ptmx
    "c 136:* rwm", // pts/*
    "c *:* m",
    "b *:* m",
];

/// Deny all, then allow [`ALLOWED`], unless `devices.list` already shows
/// exactly that (a repeated create must not briefly cut running processes
/// off). "Deny all" needs a cgroup without children, so a level that has
/// some keeps its parent's rules (its children got their own).
pub(super) fn restrict(dir: &CgroupDir) -> Result<(), CgroupError> {
    let listed = dir.read("devices.list")?;
    let mut listed: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    listed.sort_unstable();
    let mut wanted = ALLOWED.to_vec();
    wanted.sort_unstable();
    if listed == wanted || has_children(dir)? {
        return Ok(());
    }
    dir.append("devices.deny", "a")?;
    for rule in ALLOWED {
        dir.append("devices.allow", rule)?;
    }
    Ok(())
}

fn has_children(dir: &CgroupDir) -> Result<bool, CgroupError> {
    Ok(dir.subtree()?.len() > 1)
}
