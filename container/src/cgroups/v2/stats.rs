//! v2 statistics: `cpu.stat` usage_usec, `memory.current` minus
//! `memory.stat` inactive_file (the kubelet's working set), `memory.events`
//! oom_kill (hierarchical), `pids.current`.

use super::super::fs::CgroupDir;
use super::super::{CgroupError, CgroupStats};

pub(super) fn read(dir: &CgroupDir) -> Result<CgroupStats, CgroupError> {
    let cpu_usage_nanos = dir.read_key("cpu.stat", "usage_usec")?.saturating_mul(1000);
    let memory_usage_bytes = dir.read_u64("memory.current")?;
    let inactive_file = dir.read_key("memory.stat", "inactive_file")?;
    Ok(CgroupStats {
        cpu_usage_nanos,
        memory_usage_bytes,
        memory_working_set_bytes: memory_usage_bytes.saturating_sub(inactive_file),
        oom_kills: oom_kills(dir)?,
        pids_current: dir.read_u64("pids.current")?,
    })
}

pub(super) fn oom_kills(dir: &CgroupDir) -> Result<u64, CgroupError> {
    dir.read_key("memory.events", "oom_kill")
}
