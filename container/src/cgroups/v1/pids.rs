//! v1 pids: `pids.max`.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, Limited, limit_or_max, unless_requested};
use crate::spec::CgroupResources;

pub(super) fn apply(
    cgroup: &str,
    dir: Option<&CgroupDir>,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    let Some(dir) = dir else {
        return unless_requested(cgroup, Limited::Pids, res);
    };
    dir.write("pids.max", &limit_or_max(res.pids_limit))
}
