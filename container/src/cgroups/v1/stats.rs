//! v1 statistics: `cpuacct.usage` (ns), `memory.usage_in_bytes` minus
//! `memory.stat` total_inactive_file (the kubelet's working set),
//! `memory.oom_control` oom_kill, `pids.current`.

use super::super::fs::CgroupDir;
use super::super::{CgroupError, CgroupStats};

/// The three hierarchies the numbers come from.
pub(super) struct StatDirs<'a> {
    pub cpuacct: &'a CgroupDir,
    pub memory: &'a CgroupDir,
    pub pids: &'a CgroupDir,
}

pub(super) fn read(dirs: StatDirs<'_>) -> Result<CgroupStats, CgroupError> {
    let memory_usage_bytes = dirs.memory.read_u64("memory.usage_in_bytes")?;
    let inactive_file = dirs.memory.read_key("memory.stat", "total_inactive_file")?;
    Ok(CgroupStats {
        cpu_usage_nanos: dirs.cpuacct.read_u64("cpuacct.usage")?,
        memory_usage_bytes,
        memory_working_set_bytes: memory_usage_bytes.saturating_sub(inactive_file),
        oom_kills: oom_kills(dirs.memory)?,
        pids_current: dirs.pids.read_u64("pids.current")?,
    })
}

pub(super) fn oom_kills(memory: &CgroupDir) -> Result<u64, CgroupError> {
    memory.read_key("memory.oom_control", "oom_kill")
}
