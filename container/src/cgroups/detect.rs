//! Which cgroup layout the host runs: `statfs(/sys/fs/cgroup)` tells pure
//! v2 (cgroup2 magic) from v1/hybrid (a tmpfs of per-controller mounts);
//! for v1 the controller mount points come from `/proc/self/mountinfo`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::CgroupError;
use crate::mountinfo;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The v1 controllers skiff manages; others (blkio, named hierarchies such
/// as `name=systemd`) are left alone.
pub(crate) const V1_CONTROLLERS: [&str; 7] = [
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];

/// What `statfs` says the root of the cgroup mounts is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootKind {
    Unified,
    Tmpfs,
}

pub(crate) fn root_kind(root: &Path) -> Result<RootKind, CgroupError> {
    let detect_error = |detail: String| CgroupError::Detect {
        file: root.to_path_buf(),
        detail,
    };
    let c_path = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| detect_error("the path contains a NUL byte".into()))?;
    // SAFETY: statfs fills the zeroed struct we own; the path is a valid C string.
    let (rc, buf) = unsafe {
        let mut buf: libc::statfs = std::mem::zeroed();
        (libc::statfs(c_path.as_ptr(), &mut buf), buf)
    };
    if rc != 0 {
        return Err(detect_error(format!(
            "statfs failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by architecture
    match buf.f_type as i64 {
        CGROUP2_SUPER_MAGIC => Ok(RootKind::Unified),
        TMPFS_MAGIC => Ok(RootKind::Tmpfs),
        other => Err(detect_error(format!(
            "neither cgroup2 nor a tmpfs of v1 hierarchies (filesystem magic {other:#x})"
        ))),
    }
}

/// Controller name -> mount point of every v1 hierarchy skiff manages, from
/// the text of `/proc/self/mountinfo`. Co-mounted controllers (`cpu,cpuacct`)
/// map to the same directory; the first mount of a controller wins.
pub(crate) fn parse_v1_mounts(mountinfo: &str) -> BTreeMap<String, PathBuf> {
    let mut mounts = BTreeMap::new();
    for mount in mountinfo::parse(mountinfo) {
        if mount.fs_type != "cgroup" {
            continue;
        }
        for option in mount.super_options.split(',') {
            if V1_CONTROLLERS.contains(&option) {
                mounts
                    .entry(option.to_string())
                    .or_insert_with(|| mount.mount_point.clone());
            }
        }
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on this project's CI machine (hybrid: v1 controllers plus
    /// an unused unified hierarchy).
    const HYBRID: &str = "\
23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A pure v2 host (Ubuntu 24.04 style, with optional fields).
    const PURE_V2: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
";

    /// systemd-era v1 with co-mounted controllers and optional fields.
    const COMOUNTED: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:15 - cgroup cgroup rw,net_cls,net_prio
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
36 30 0:32 / /mnt/odd\\040dir rw shared:17 - cgroup cgroup rw,pids,clone_children
";

    #[test]
    fn hybrid_lists_each_managed_controller_and_skips_the_rest() {
        let mounts = parse_v1_mounts(HYBRID);
        let expected: BTreeMap<String, PathBuf> = V1_CONTROLLERS
            .iter()
            .map(|c| (c.to_string(), PathBuf::from(format!("/sys/fs/cgroup/{c}"))))
            .collect();
        assert_eq!(mounts, expected);
    }

    #[test]
    fn pure_v2_has_no_v1_hierarchies() {
        assert!(parse_v1_mounts(PURE_V2).is_empty());
    }

    #[test]
    fn comounted_controllers_share_a_directory_and_escapes_are_decoded() {
        let mounts = parse_v1_mounts(COMOUNTED);
        let cpu = PathBuf::from("/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(mounts.get("cpu"), Some(&cpu));
        assert_eq!(mounts.get("cpuacct"), Some(&cpu));
        assert_eq!(mounts.get("pids"), Some(&PathBuf::from("/mnt/odd dir")));
        assert_eq!(mounts.len(), 4);
    }

    #[test]
    fn statfs_tells_a_tmpfs_from_other_filesystems() {
        // /dev/shm is a tmpfs everywhere skiff runs.
        assert_eq!(root_kind(Path::new("/dev/shm")).unwrap(), RootKind::Tmpfs);
        let err = root_kind(Path::new("/proc")).unwrap_err().to_string();
        assert!(err.contains("/proc") && err.contains("magic"), "{err}");
        assert!(root_kind(Path::new("/nonexistent-skiff")).is_err());
    }
}
