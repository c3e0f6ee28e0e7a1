//! The container's `/dev`: a small tmpfs with the standard nodes, links,
//! a private devpts, `/dev/shm` and `/dev/mqueue`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{Context, Errno, InitError};
use super::mounts::{self, FsOptions, new_fs, parse_options, prefix};
use super::resolve::{self, NodeKind};
use super::sys;

/// The device nodes every container gets: (name, major, minor).
pub const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// (name, target) of the standard links.
pub const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Build `/dev`. `/dev/shm` is a 64 MiB tmpfs unless the spec mounts one
/// (the pod's shared one) later. In a user namespace (`userns`) whose IPC
/// namespace belongs to the host, mqueue cannot be mounted: it is left out.
pub fn setup_dev(
    root: BorrowedFd<'_>,
    spec_mounts_shm: bool,
    userns: bool,
) -> Result<(), InitError> {
    let dev = new_fs(
        "tmpfs",
        &with_attrs(
            "mode=755,size=65536k",
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_STRICTATIME,
        ),
    )
    .map_err(|e| prefix("mounting /dev", e))?;
    mounts::attach(root, "/dev", &dev, NodeKind::Dir)?;
    let dir = resolve::open_in_root(root, "/dev").context(|| "opening /dev".to_string())?;

    for &(name, major, minor) in DEVICES {
        make_device(root, dir.as_fd(), name, major, minor)?;
    }
    for &(name, target) in LINKS {
        sys::symlinkat(target, dir.as_fd(), name)
            .context(|| format!("linking /dev/{name} -> {target}"))?;
    }

    let mut pts = parse_options("ptmxmode=0666,mode=0620,gid=5");
    pts.attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOEXEC;
    // Every devpts mount made through fsopen is its own instance.
    let pts = new_fs("devpts", &pts).map_err(|e| prefix("mounting /dev/pts", e))?;
    mounts::attach(root, "/dev/pts", &pts, NodeKind::Dir)?;

    let locked = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    if !spec_mounts_shm {
        let shm = new_fs("tmpfs", &with_attrs("mode=1777,size=65536k", locked))
            .map_err(|e| prefix("mounting /dev/shm", e))?;
        mounts::attach(root, "/dev/shm", &shm, NodeKind::Dir)?;
    }
    match new_fs("mqueue", &with_attrs("", locked)) {
        Ok(mqueue) => mounts::attach(root, "/dev/mqueue", &mqueue, NodeKind::Dir),
        Err(e) if userns && e.errno() == Some(Errno(libc::EPERM)) => {
            tracing::debug!("no /dev/mqueue: {e}");
            Ok(())
        }
        Err(e) => Err(prefix("mounting /dev/mqueue", e)),
    }
}

fn with_attrs(options: &str, attrs: u64) -> FsOptions {
    let mut opts = parse_options(options);
    opts.attrs |= attrs;
    opts
}

/// `mknod` the node; where that is not allowed (a user namespace), bind
/// the host's node onto an empty file instead.
fn make_device(
    root: BorrowedFd<'_>,
    dev: BorrowedFd<'_>,
    name: &str,
    major: u32,
    minor: u32,
) -> Result<(), InitError> {
    let mode = libc::S_IFCHR | 0o666;
    match sys::mknodat(dev, name, mode, libc::makedev(major, minor)) {
        Ok(()) => {
            // mknod honours the umask; the mode must be exact.
            sys::fchmodat(dev, name, 0o666).context(|| format!("chmod /dev/{name}"))
        }
        Err(Errno(libc::EPERM)) => bind_host_device(root, name),
        Err(errno) => Err(InitError::sys(format!("mknod /dev/{name}"), errno)),
    }
}

fn bind_host_device(root: BorrowedFd<'_>, name: &str) -> Result<(), InitError> {
    let host = format!("/dev/{name}");
    let tree: OwnedFd = sys::open_tree_clone(mounts::cwd(), &host, false)
        .context(|| format!("binding the host's {host}"))?;
    mounts::attach(root, &host, &tree, NodeKind::File)
}
