//! v2 pids: `pids.max`.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, Limited, limit_or_max, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    dir: &CgroupDir,
    available: bool,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    if !available {
        return unless_requested(&dir.cgroup, Limited::Pids, res);
    }
    dir.write("pids.max", &limit_or_max(res.pids_limit))
}
