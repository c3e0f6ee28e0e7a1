//! v1 memory: `memory.limit_in_bytes`, then swap off by setting
//! `memory.memsw.limit_in_bytes` (memory + swap) to the same value, where
//! swap accounting exists. The kernel keeps limit <= memsw at every step,
//! so a raise writes memsw first and a cut writes the limit first.

use super::super::CgroupError;
use super::super::fs::{CgroupDir, Limited, unless_requested};
use crate::spec::CgroupResources;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub(super) fn apply(
    cgroup: &str,
    dir: Option<&CgroupDir>,
    res: &CgroupResources,
) -> Result<(), CgroupError> {
    let Some(dir) = dir else {
        return unless_requested(cgroup, Limited::Memory, res);
    };
    // -1 is "unlimited"; compare it as the largest value.
    let (value, comparable) = match res.memory_limit_bytes {
        Some(bytes) => (bytes.to_string(), bytes),
        None => ("-1".to_string(), u64::MAX),
    };
    if !dir.has(MEMSW) {
        return dir.write(LIMIT, &value);
    }
    let current_memsw = dir.read_u64(MEMSW)?;
    for file in write_order(comparable, current_memsw) {
        dir.write(file, &value)?;
    }
    Ok(())
}

/// Which file to write first so that limit <= memsw holds throughout.
fn write_order(new: u64, current_memsw: u64) -> [&'static str; 2] {
    if new > current_memsw {
        [MEMSW, LIMIT]
    } else {
        [LIMIT, MEMSW]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_writes_memsw_first_and_cutting_writes_the_limit_first() {
        assert_eq!(write_order(64 << 20, 32 << 20), [MEMSW, LIMIT]);
        assert_eq!(write_order(16 << 20, 32 << 20), [LIMIT, MEMSW]);
        // Unlimited memsw (the kernel shows PAGE_COUNTER_MAX pages) is not raised first.
        assert_eq!(
            write_order(32 << 20, 9_223_372_036_854_771_712),
            [LIMIT, MEMSW]
        );
        assert_eq!(write_order(u64::MAX, 32 << 20), [MEMSW, LIMIT]);
    }
}
