//! Switching to the new root: `/` made rprivate first (no mount event
//! leaks to or from the host), then `pivot_root(new, new)` and a lazy
//! unmount of the old root (never `chroot`, which leaves the host's root
//! reachable).

use std::os::fd::AsFd;

use super::error::{Context, InitError};
use super::sys;

/// Make every mount in this (new) mount namespace private.
pub fn make_root_private() -> Result<(), InitError> {
    sys::mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .context(|| "making / rprivate".to_string())
}

/// `pivot_root` into `new_root` and detach the old root.
pub fn pivot_into(new_root: &str) -> Result<(), InitError> {
    sys::chdir(new_root).context(|| format!("chdir {new_root}"))?;
    // With new_root == put_old the old root ends up stacked on "/"; unmount
    // it from there (pivot_root(2), "pivot_root(".", ".")").
    sys::pivot_root(".", ".").context(|| format!("pivot_root into {new_root}"))?;
    sys::umount_detach(".").context(|| "detaching the old root".to_string())?;
    sys::chdir("/").context(|| "chdir / in the new root".to_string())
}

/// `readOnlyRootFilesystem`: the root mount alone becomes read-only
/// (mounts on top of it keep their own flags).
pub fn make_root_readonly() -> Result<(), InitError> {
    let root =
        sys::open("/", libc::O_PATH | libc::O_DIRECTORY).context(|| "opening /".to_string())?;
    sys::mount_setattr(root.as_fd(), false, libc::MOUNT_ATTR_RDONLY, 0, None)
        .context(|| "making the root read-only".to_string())
}
