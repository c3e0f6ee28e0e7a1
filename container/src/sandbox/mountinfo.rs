//! Which mount points lie at or under a sandbox directory, from the
//! crate's one mountinfo parser; and a cheap `statx` test for one path.

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(super) use crate::mountinfo::Mount;
use crate::mountinfo::{is_listed_mount_point, mounts};

/// Mounts at `dir` or below it, deepest (and most recently stacked) first:
/// the order to unmount them in.
pub(super) fn mounts_under(dir: &Path) -> io::Result<Vec<Mount>> {
    let mut found: Vec<Mount> = mounts()?
        .into_iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .collect();
    found.reverse();
    // Stable: stacked mounts on one point keep newest-first.
    found.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
    Ok(found)
}

/// Whether something is mounted on `path` (a canonical path). `statx`'s
/// mount-root attribute answers without reading mountinfo, whose cost
/// grows with every pod's mounts, and also sees bind mounts of a directory
/// onto itself (same device, so `st_dev` could not); kernels before 5.8
/// lack the attribute and fall back to mountinfo.
pub(super) fn is_mount_point(path: &Path) -> io::Result<bool> {
    match statx_mount_root(path)? {
        Some(is_root) => Ok(is_root),
        None => is_listed_mount_point(path),
    }
}

/// `Some(is a mount root)`, or `None` where the kernel does not report it.
/// A missing path is no mount point.
fn statx_mount_root(path: &Path) -> io::Result<Option<bool>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: the path contains a NUL byte", path.display()),
        )
    })?;
    // SAFETY: statx only writes into the zeroed struct we own; the path is
    // a valid C string.
    let mut stx: libc::statx = unsafe { mem::zeroed() };
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            0,
            &mut stx,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(Some(false));
        }
        return Err(io::Error::new(
            e.kind(),
            format!("statx {}: {e}", path.display()),
        ));
    }
    let flag = libc::STATX_ATTR_MOUNT_ROOT as u64;
    Ok((stx.stx_attributes_mask & flag != 0).then_some(stx.stx_attributes & flag != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_agrees_with_mountinfo() {
        for path in [
            "/",
            "/proc",
            "/proc/self",
            "/sys",
            "/dev",
            "/dev/null",
            "/tmp",
        ] {
            let path = Path::new(path);
            assert_eq!(
                is_mount_point(path).unwrap(),
                is_listed_mount_point(path).unwrap(),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn this_kernel_answers_without_mountinfo() {
        // The fast path create relies on (kernel 5.8+).
        assert_eq!(statx_mount_root(Path::new("/proc")).unwrap(), Some(true));
        assert_eq!(
            statx_mount_root(Path::new("/proc/self")).unwrap(),
            Some(false)
        );
    }

    #[test]
    fn a_missing_path_is_no_mount_point() {
        assert!(!is_mount_point(Path::new("/nonexistent-skiff")).unwrap());
    }
}
