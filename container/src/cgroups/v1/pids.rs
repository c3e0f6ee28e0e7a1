//! v1 pids: `pids.max`.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    cgroup: &str,
    dir: Option<&CgroupDir>,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    let Some(dir) = dir else {
        return unless_requested(cgroup, "pids", res.pids_limit.is_some(), "a pids limit");
    };
    let max = res
        .pids_limit
        .map_or_else(|| "max".to_string(), |n| n.to_string());
    dir.write("pids.max", &max)
}
