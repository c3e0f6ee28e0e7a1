//! v2 memory: `memory.max`, and swap off (`memory.swap.max` = 0) where the
//! kernel has swap accounting, as the kubelet does without swap support.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    dir: &CgroupDir,
    available: bool,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    if !available {
        let requested = res.memory_limit_bytes.is_some();
        return unless_requested(&dir.cgroup, "memory", requested, "a memory limit");
    }
    let max = res
        .memory_limit_bytes
        .map_or_else(|| "max".to_string(), |b| b.to_string());
    dir.write("memory.max", &max)?;
    if dir.has("memory.swap.max") {
        dir.write("memory.swap.max", "0")?;
    }
    Ok(())
}
