//! v1 cpu: CFS bandwidth (`cpu.cfs_period_us`, `cpu.cfs_quota_us`, -1 for
//! none) and `cpu.shares`.

use super::super::CgroupError;
use super::super::convert::{CFS_PERIOD_US, cfs_quota_us, cpu_shares};
use super::super::fs::{CgroupDir, Limited, unless_requested};
use crate::spec::CgroupResources;

/// The kernel's default shares, for an unset request.
const DEFAULT_SHARES: u64 = 1024;

pub(super) fn apply(
    cgroup: &str,
    dir: Option<&CgroupDir>,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    let Some(dir) = dir else {
        return unless_requested(cgroup, Limited::Cpu, res);
    };
    dir.write("cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
    let quota =
        cfs_quota_us(res.cpu_limit_milli).map_or_else(|| "-1".to_string(), |q| q.to_string());
    dir.write("cpu.cfs_quota_us", &quota)?;
    let shares = cpu_shares(res.cpu_request_milli).unwrap_or(DEFAULT_SHARES);
    dir.write("cpu.shares", &shares.to_string())
}
