//! v1 freezer: `freezer.state` FROZEN stops every task of the cgroup and its
//! children, so none can fork while the cgroup is being killed.

use std::time::Duration;

use super::super::CgroupError;
use super::super::fs::{self, CgroupDir};

const STATE: &str = "freezer.state";
const FREEZE_PATIENCE: Duration = Duration::from_secs(1);

/// Freeze; Ok(false) if the kernel still reports FREEZING after a while
/// (a task in uninterruptible sleep), which the caller may tolerate.
pub(super) fn freeze(dir: &CgroupDir) -> Result<bool, CgroupError> {
    fs::wait_until(FREEZE_PATIENCE, || {
        // Writing again pushes tasks that forked meanwhile (as runc does).
        dir.write(STATE, "FROZEN")?;
        Ok(dir.read(STATE)?.trim() == "FROZEN")
    })
}

pub(super) fn thaw(dir: &CgroupDir) -> Result<(), CgroupError> {
    dir.write(STATE, "THAWED")
}
