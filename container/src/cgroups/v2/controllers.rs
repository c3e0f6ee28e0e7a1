//! v2 controller delegation: a controller works in a cgroup only when every
//! ancestor lists it in `cgroup.subtree_control`. Processes stay in leaves
//! ("no internal processes"), so the leaf's own subtree_control is untouched.

use super::super::CgroupError;
use super::super::fs::CgroupDir;

/// The controllers skiff limits, in the order they are enabled.
pub(super) const WANTED: [&str; 3] = ["cpu", "memory", "pids"];

/// Controllers usable in `dir` (its `cgroup.controllers`).
pub(super) fn available(dir: &CgroupDir) -> Result<Vec<String>, CgroupError> {
    Ok(dir
        .read("cgroup.controllers")?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Enable each [`WANTED`] controller that `parent` has, in its
/// `cgroup.subtree_control`, skipping ones already on (a write to a
/// delegated root that already has them could fail for nothing).
pub(super) fn enable_for_children(parent: &CgroupDir) -> Result<(), CgroupError> {
    let available = available(parent)?;
    let enabled = parent.read("cgroup.subtree_control")?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = WANTED
        .iter()
        .filter(|c| available.iter().any(|a| a == *c) && !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    parent.write("cgroup.subtree_control", &missing.join(" "))
}
