//! v2 kill-all: `cgroup.kill` (Linux 5.14+) kills the whole subtree
//! atomically; older kernels freeze (`cgroup.freeze`, 5.2+) so nothing can
//! fork while each pid gets SIGKILL, then thaw.

use super::super::CgroupError;
use super::super::fs::{self, CgroupDir, KILL_PATIENCE};
use std::time::Duration;

const FREEZE_PATIENCE: Duration = Duration::from_secs(1);

pub(super) fn kill_all(dir: &CgroupDir) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    let atomic = dir.has("cgroup.kill") || dir.has("cgroup.freeze");
    if dir.has("cgroup.kill") {
        dir.write("cgroup.kill", "1")?;
    } else if dir.has("cgroup.freeze") {
        dir.write("cgroup.freeze", "1")?;
        let frozen = fs::wait_until(FREEZE_PATIENCE, || {
            Ok(dir.read_key("cgroup.events", "frozen")? == 1)
        });
        let killed = dir.subtree_procs().map(|pids| fs::kill_pids(&pids));
        dir.write("cgroup.freeze", "0")?;
        if !frozen? {
            tracing::warn!(cgroup = %dir.cgroup, "cgroup did not freeze in time; killed its pids anyway");
        }
        killed?;
    }
    // Without either file, children forked meanwhile are killed each round.
    let empty = fs::wait_until(KILL_PATIENCE, || {
        let pids = dir.subtree_procs()?;
        if !atomic {
            fs::kill_pids(&pids);
        }
        Ok(pids.is_empty())
    })?;
    if empty {
        Ok(())
    } else {
        Err(CgroupError::Timeout {
            cgroup: dir.cgroup.clone(),
            what: "killing every process",
            file: dir.file("cgroup.procs"),
            waited: KILL_PATIENCE,
        })
    }
}
