//! Idmapped layers for containers in a user namespace (`hostUsers: false`).
//!
//! The container's root (host uid `host_id`) must see the image's files as
//! owned by root and be able to write its upper directory. The kernel only
//! lets a process with CAP_SYS_ADMIN over the layers' filesystem (the
//! initial user namespace) make idmapped mounts, so the child cannot do it
//! itself: the monitor calls [`prepare_idmapped_root`] in its own private
//! mount namespace before the clone, and the clone's copy of that
//! namespace carries the idmapped mounts at the layers' own paths.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::error::{Context, Errno, InitError};
use super::mounts::cwd;
use super::rootfs::common_parent;
use super::sys;
use crate::spec::{IdMapping, RootfsSpec};

/// Mount an idmapped copy of every layer, and of the directory holding the
/// upper and work directories, over itself, mapped through a user namespace with `mapping` (container
/// id 0 = host `mapping.host_id`): files owned by host root appear owned by
/// the container's root, and its writes land as host root.
///
/// Call in a private mount namespace (`unshare(CLONE_NEWNS)`, `/`
/// rprivate), single-threaded (it forks), before cloning the container.
pub fn prepare_idmapped_root(rootfs: &RootfsSpec, mapping: IdMapping) -> Result<(), InitError> {
    let userns = user_namespace_with(mapping)?;
    // Overlay wants upper and work on one mount: idmap their common parent.
    let upper_and_work = common_parent(&[rootfs.upper_dir.clone(), rootfs.work_dir.clone()]);
    if upper_and_work == Path::new("/") {
        return Err(InitError::invalid(
            "upper_dir and work_dir share no parent directory below / to idmap",
        ));
    }
    for dir in rootfs.layers.iter().chain([&upper_and_work]) {
        idmap_over_itself(dir, userns.as_fd()).map_err(|e| {
            InitError::invalid(format!(
                "{e} (idmapped mounts need kernel support on the layers' filesystem and CAP_SYS_ADMIN in the initial user namespace)"
            ))
        })?;
    }
    Ok(())
}

fn idmap_over_itself(dir: &Path, userns: std::os::fd::BorrowedFd<'_>) -> Result<(), InitError> {
    let path = dir
        .to_str()
        .ok_or_else(|| InitError::invalid(format!("path {dir:?} is not UTF-8")))?;
    let tree = sys::open_tree_clone(cwd(), path, false).context(|| format!("cloning {path}"))?;
    sys::mount_setattr(tree.as_fd(), false, libc::MOUNT_ATTR_IDMAP, 0, Some(userns))
        .context(|| format!("idmapping {path}"))?;
    let target =
        sys::open(path, libc::O_PATH | libc::O_DIRECTORY).context(|| format!("opening {path}"))?;
    sys::move_mount_onto(&tree, target.as_fd()).context(|| format!("mounting the idmapped {path}"))
}

/// An fd of a new user namespace with `mapping` for uids and gids: a
/// forked child unshares it, we write its maps and keep the namespace.
fn user_namespace_with(mapping: IdMapping) -> Result<OwnedFd, InitError> {
    let (ready_r, ready_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    // SAFETY: the child only makes system calls and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(InitError::sys("fork for the user namespace", Errno::last()));
    }
    if pid == 0 {
        drop((ready_r, done_w));
        // SAFETY: system calls on our own fds, then _exit.
        unsafe {
            let code = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                0
            } else {
                1
            };
            libc::write(ready_w.as_raw_fd(), [code as u8].as_ptr().cast(), 1);
            let mut byte = 0u8;
            libc::read(done_r.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
            libc::_exit(code);
        }
    }
    drop((ready_w, done_r));
    let result = (|| {
        let mut byte = [1u8];
        // SAFETY: one byte into our buffer.
        let n = unsafe { libc::read(ready_r.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
        if n != 1 || byte[0] != 0 {
            return Err(InitError::invalid(
                "creating a user namespace for idmapped mounts failed (unshare(CLONE_NEWUSER))",
            ));
        }
        let line = format!("0 {} {}\n", mapping.host_id, mapping.size);
        for file in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{pid}/{file}"), &line).map_err(|e| {
                InitError::invalid(format!(
                    "writing {file} {line:?} of the idmap namespace: {e}"
                ))
            })?;
        }
        sys::open(&format!("/proc/{pid}/ns/user"), libc::O_RDONLY)
            .context(|| "opening the idmap user namespace".to_string())
    })();
    drop(done_w);
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    result
}

fn pipe() -> Result<(OwnedFd, OwnedFd), InitError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(InitError::sys("pipe2", Errno::last()));
    }
    // SAFETY: fresh fds owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
