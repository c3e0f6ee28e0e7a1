//! Filesystems and bind mounts inside the new root, all through the new
//! mount API: a detached mount is built (`fsopen`/`fsmount` or
//! `open_tree`), given its flags, then attached with `move_mount` onto an
//! fd that was resolved inside the root (see [`super::resolve`]).

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{Context, Errno, InitError};
use super::resolve::{self, NodeKind};
use super::sys::{self, SysResult};
use crate::spec::{MountKind, MountSpec};

/// Mount options split into per-mount flags and filesystem parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsOptions {
    /// `MOUNT_ATTR_*` bits.
    pub attrs: u64,
    /// `key=value` (or a bare `key` flag) for `fsconfig`.
    pub params: Vec<(String, Option<String>)>,
}

/// Parse a mount(8)-style option string: `ro,nosuid,size=64m,mode=1777`.
pub fn parse_options(options: &str) -> FsOptions {
    let mut parsed = FsOptions::default();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let attr = match opt {
            "ro" => libc::MOUNT_ATTR_RDONLY,
            "nosuid" => libc::MOUNT_ATTR_NOSUID,
            "nodev" => libc::MOUNT_ATTR_NODEV,
            "noexec" => libc::MOUNT_ATTR_NOEXEC,
            "noatime" => libc::MOUNT_ATTR_NOATIME,
            "strictatime" => libc::MOUNT_ATTR_STRICTATIME,
            "nodiratime" => libc::MOUNT_ATTR_NODIRATIME,
            // The defaults these negate are already off.
            "rw" | "suid" | "dev" | "exec" | "relatime" | "defaults" => 0,
            _ => {
                let (key, value) = match opt.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (opt.to_string(), None),
                };
                parsed.params.push((key, value));
                continue;
            }
        };
        parsed.attrs |= attr;
    }
    parsed
}

/// A detached mount of a fresh `fstype` with `options`.
pub fn new_fs(fstype: &str, options: &FsOptions) -> Result<OwnedFd, InitError> {
    let fs = sys::fsopen(fstype).context(|| format!("fsopen({fstype})"))?;
    // What /proc/mounts shows as the source (else "none").
    sys::fsconfig_string(&fs, "source", fstype)
        .map_err(|errno| fs_error(&fs, format!("{fstype} source"), errno))?;
    for (key, value) in &options.params {
        let set = match value {
            Some(value) => sys::fsconfig_string(&fs, key, value),
            None => sys::fsconfig_flag(&fs, key),
        };
        let shown = value.as_ref().map_or(key.clone(), |v| format!("{key}={v}"));
        set.map_err(|errno| fs_error(&fs, format!("{fstype} option {shown}"), errno))?;
    }
    sys::fsconfig_create(&fs)
        .map_err(|errno| fs_error(&fs, format!("creating {fstype}"), errno))?;
    sys::fsmount(&fs, options.attrs).context(|| format!("fsmount({fstype})"))
}

/// An error with the filesystem's own explanation (the fs context log)
/// appended when it left one.
pub fn fs_error(fs: &OwnedFd, context: String, errno: Errno) -> InitError {
    let log = fs_log(fs);
    if log.is_empty() {
        InitError::sys(context, errno)
    } else {
        InitError::sys(format!("{context} [{log}]"), errno)
    }
}

fn fs_log(fs: &OwnedFd) -> String {
    let Ok(dup) = fs.try_clone() else {
        return String::new();
    };
    // Non-blocking reads of the context's message queue, one per read.
    // SAFETY: F_SETFL on our own fd.
    unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&dup),
            libc::F_SETFL,
            libc::O_NONBLOCK,
        )
    };
    let mut file = std::fs::File::from(dup);
    let mut lines = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 || lines.len() > 8 {
            break;
        }
        let line = String::from_utf8_lossy(&buf[..n]);
        // Lines start with "e ", "w " or "i " (error, warning, info).
        lines.push(line.get(2..).unwrap_or(&line).trim().to_string());
    }
    lines.join("; ")
}

/// Attach the detached mount `mount` at `dest` inside `root`, creating the
/// mount point as `kind` when missing.
pub fn attach(
    root: BorrowedFd<'_>,
    dest: &str,
    mount: &OwnedFd,
    kind: NodeKind,
) -> Result<(), InitError> {
    let target = resolve::create_in_root(root, dest, kind)?;
    sys::move_mount_onto(mount, target.as_fd()).context(|| format!("mounting on {dest}"))
}

/// A fresh procfs at `/proc`.
pub fn mount_proc(root: BorrowedFd<'_>) -> Result<(), InitError> {
    let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_NODEV;
    let proc = new_fs(
        "proc",
        &FsOptions {
            attrs,
            params: vec![],
        },
    )
    .map_err(|e| prefix("mounting /proc", e))?;
    attach(root, "/proc", &proc, NodeKind::Dir)
}

/// `/sys`, read-only: a fresh sysfs when the pod has its own network
/// namespace (a sysfs shows the mounter's netns), else (or if that is
/// refused, e.g. in a user namespace) a read-only recursive bind of the
/// host's.
pub fn mount_sys(root: BorrowedFd<'_>, own_netns: bool) -> Result<(), InitError> {
    let attrs = libc::MOUNT_ATTR_RDONLY
        | libc::MOUNT_ATTR_NOSUID
        | libc::MOUNT_ATTR_NOEXEC
        | libc::MOUNT_ATTR_NODEV;
    if own_netns
        && let Ok(sysfs) = new_fs(
            "sysfs",
            &FsOptions {
                attrs,
                params: vec![],
            },
        )
    {
        return attach(root, "/sys", &sysfs, NodeKind::Dir);
    }
    let tree = sys::open_tree_clone(cwd(), "/sys", true)
        .context(|| "cloning the host's /sys".to_string())?;
    sys::mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, None)
        .context(|| "making the /sys bind read-only".to_string())?;
    attach(root, "/sys", &tree, NodeKind::Dir)
}

/// The spec's mounts, in order.
pub fn mount_all(root: BorrowedFd<'_>, mounts: &[MountSpec]) -> Result<(), InitError> {
    for mount in mounts {
        mount_one(root, mount).map_err(|e| prefix(&format!("mount {}", mount.destination), e))?;
    }
    Ok(())
}

fn mount_one(root: BorrowedFd<'_>, mount: &MountSpec) -> Result<(), InitError> {
    if !mount.destination.starts_with('/') {
        return Err(InitError::invalid(
            "the destination must be an absolute path",
        ));
    }
    match &mount.kind {
        MountKind::Bind { source } => {
            let source = source.to_str().ok_or_else(|| {
                InitError::invalid(format!("bind source {source:?} is not UTF-8"))
            })?;
            let st = sys::stat(source).context(|| format!("bind source {source}"))?;
            let kind = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                NodeKind::Dir
            } else {
                NodeKind::File
            };
            let tree = sys::open_tree_clone(cwd(), source, true)
                .context(|| format!("binding {source}"))?;
            if mount.readonly {
                sys::mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, None)
                    .context(|| format!("making the bind of {source} read-only"))?;
            }
            attach(root, &mount.destination, &tree, kind)
        }
        MountKind::Tmpfs { options } => {
            let mut opts = parse_options(options);
            opts.attrs |= libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
            if mount.readonly {
                opts.attrs |= libc::MOUNT_ATTR_RDONLY;
            }
            let tmpfs = new_fs("tmpfs", &opts)?;
            attach(root, &mount.destination, &tmpfs, NodeKind::Dir)
        }
    }
}

/// `AT_FDCWD` as a borrowed fd, for host paths.
pub fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid dirfd value for every *at call and is
    // never closed.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Prefix an error's context with the step it belongs to.
pub fn prefix(step: &str, err: InitError) -> InitError {
    match err {
        InitError::Sys { context, errno } => InitError::sys(format!("{step}: {context}"), errno),
        InitError::Invalid(msg) => InitError::invalid(format!("{step}: {msg}")),
    }
}

/// An `O_PATH` fd of a host directory.
pub fn open_dir(path: &str) -> SysResult<OwnedFd> {
    sys::open(path, libc::O_PATH | libc::O_DIRECTORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_params() {
        let opts = parse_options("ro, nosuid,size=64m,mode=1777,rw,huge");
        assert_eq!(
            opts.attrs,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID
        );
        assert_eq!(
            opts.params,
            vec![
                ("size".to_string(), Some("64m".to_string())),
                ("mode".to_string(), Some("1777".to_string())),
                ("huge".to_string(), None),
            ]
        );
        assert_eq!(parse_options(""), FsOptions::default());
    }

    #[test]
    fn step_prefixes_keep_the_errno() {
        let err = prefix(
            "mount /data",
            InitError::sys("binding /x", Errno(libc::ENOENT)),
        );
        assert_eq!(
            err.to_string(),
            "mount /data: binding /x: ENOENT (No such file or directory)"
        );
    }
}
