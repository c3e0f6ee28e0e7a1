//! v2 pids: `pids.max`.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    dir: &CgroupDir,
    available: bool,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    if !available {
        let requested = res.pids_limit.is_some();
        return unless_requested(&dir.cgroup, "pids", requested, "a pids limit");
    }
    let max = res
        .pids_limit
        .map_or_else(|| "max".to_string(), |n| n.to_string());
    dir.write("pids.max", &max)
}
