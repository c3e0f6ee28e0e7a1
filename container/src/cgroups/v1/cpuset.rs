//! v1 cpuset: a new cpuset cgroup starts with empty `cpuset.cpus` and
//! `cpuset.mems`, and joining it fails (ENOSPC) until both are filled, so
//! each level copies its parent's values.

use super::super::CgroupError;
use super::super::fs::CgroupDir;

const FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];

/// Fill `level`'s empty cpuset files from `parent`; set ones are kept.
pub(super) fn inherit(parent: &CgroupDir, level: &CgroupDir) -> Result<(), CgroupError> {
    for file in FILES {
        if level.read(file)?.trim().is_empty() {
            let value = parent.read(file)?;
            level.write(file, value.trim())?;
        }
    }
    Ok(())
}
