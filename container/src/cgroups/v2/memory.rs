//! v2 memory: `memory.max`, and swap off (`memory.swap.max` = 0) where the
//! kernel has swap accounting, as the kubelet does without swap support.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, Limited, limit_or_max, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    dir: &CgroupDir,
    available: bool,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    if !available {
        return unless_requested(&dir.cgroup, Limited::Memory, res);
    }
    dir.write("memory.max", &limit_or_max(res.memory_limit_bytes))?;
    if dir.has("memory.swap.max") {
        dir.write("memory.swap.max", "0")?;
    }
    Ok(())
}
