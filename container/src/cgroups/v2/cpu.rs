//! v2 cpu: `cpu.max` ("QUOTA PERIOD" or "max PERIOD") and `cpu.weight`.

use super::super::CgroupError;
use super::super::convert::{CFS_PERIOD_US, cfs_quota_us, cpu_shares, cpu_weight};
use super::super::fs::{CgroupDir, Limited, unless_requested};
use crate::spec::CgroupResources;

/// The kernel's default weight, for an unset request.
const DEFAULT_WEIGHT: u64 = 100;

pub(super) fn apply(
    dir: &CgroupDir,
    available: bool,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    if !available {
        return unless_requested(&dir.cgroup, Limited::Cpu, res);
    }
    let max = match cfs_quota_us(res.cpu_limit_milli) {
        Some(quota) => format!("{quota} {CFS_PERIOD_US}"),
        None => format!("max {CFS_PERIOD_US}"),
    };
    dir.write("cpu.max", &max)?;
    let weight = cpu_shares(res.cpu_request_milli).map_or(DEFAULT_WEIGHT, cpu_weight);
    dir.write("cpu.weight", &weight.to_string())
}
