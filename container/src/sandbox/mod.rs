//! A pod's sandbox without a pause process: its network, IPC and UTS
//! namespaces, each pinned by a bind mount of `/proc/thread-self/ns/*` onto
//! a file in the pod's sandbox directory (as `ip netns add` does), plus the
//! pod's shared `/dev/shm` tmpfs.
//!
//! The namespaces are made by a short-lived thread that `unshare`s and then
//! exits: namespaces belong to threads, so the calling (tokio) process stays
//! where it is. Containers join the pins by path (see
//! [`crate::spec::NamespacesSpec`]).

mod mountinfo;
mod sys;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;

pub use sys::set_loopback_up;

/// File names inside a sandbox directory.
pub const NET_PIN: &str = "net";
pub const IPC_PIN: &str = "ipc";
pub const UTS_PIN: &str = "uts";
pub const SHM_DIR: &str = "shm";

/// The pod's `/dev/shm`: what Docker and containerd give a pod.
const SHM_OPTIONS: &str = "mode=1777,size=64m";

/// Longest hostname the kernel takes (`HOST_NAME_MAX`).
const MAX_HOSTNAME: usize = 64;

/// Where a sandbox's pinned namespaces and `/dev/shm` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPaths {
    pub dir: PathBuf,
    /// `None` for a hostNetwork pod.
    pub net: Option<PathBuf>,
    pub ipc: PathBuf,
    pub uts: PathBuf,
    pub shm: PathBuf,
}

impl SandboxPaths {
    fn in_dir(dir: &Path, with_net: bool) -> SandboxPaths {
        SandboxPaths {
            dir: dir.to_path_buf(),
            net: with_net.then(|| dir.join(NET_PIN)),
            ipc: dir.join(IPC_PIN),
            uts: dir.join(UTS_PIN),
            shm: dir.join(SHM_DIR),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Net,
    Ipc,
    Uts,
}

impl Namespace {
    fn clone_flag(self) -> libc::c_int {
        match self {
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Uts => libc::CLONE_NEWUTS,
        }
    }

    /// Name under `/proc/thread-self/ns/` and of the pin file.
    fn name(self) -> &'static str {
        match self {
            Namespace::Net => NET_PIN,
            Namespace::Ipc => IPC_PIN,
            Namespace::Uts => UTS_PIN,
        }
    }
}

/// Creates the sandbox in `dir` (made if missing): new network (unless
/// `host_network`), IPC and UTS namespaces pinned in `dir`, `hostname` set
/// in the UTS namespace, `lo` up in the network namespace, and a tmpfs for
/// `/dev/shm` at `dir/shm` (64 MiB, mode 1777).
///
/// Idempotent: pins and mounts already in place are kept (the hostname is
/// set only when the UTS namespace is made), missing ones are made.
pub fn create(dir: &Path, hostname: &str, host_network: bool) -> io::Result<SandboxPaths> {
    validate_hostname(hostname)?;
    fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    let dir = dir.canonicalize()?;
    let paths = SandboxPaths::in_dir(&dir, !host_network);

    make_private_mount(&dir)?;
    let missing: Vec<Namespace> = [
        (!host_network).then_some(Namespace::Net),
        Some(Namespace::Ipc),
        Some(Namespace::Uts),
    ]
    .into_iter()
    .flatten()
    .filter(|ns| !sys::is_nsfs(&dir.join(ns.name())))
    .collect();
    if !missing.is_empty() {
        pin_new_namespaces(&dir, missing, hostname)?;
    }
    mount_shm(&paths.shm)?;
    Ok(paths)
}

/// The sandbox in `dir` if its IPC and UTS pins and `/dev/shm` are in place
/// (after an agent restart); `net` is `Some` when its network pin is.
pub fn open(dir: &Path) -> Option<SandboxPaths> {
    let dir = dir.canonicalize().ok()?;
    let has_net = sys::is_nsfs(&dir.join(NET_PIN));
    let paths = SandboxPaths::in_dir(&dir, has_net);
    let complete = sys::is_nsfs(&paths.ipc)
        && sys::is_nsfs(&paths.uts)
        && mountinfo::is_mount_point(&paths.shm).unwrap_or(false);
    complete.then_some(paths)
}

/// Unmounts every pin, the shm and the directory's own bind mount, then
/// removes `dir`. A missing `dir` is fine.
pub fn remove(dir: &Path) -> io::Result<()> {
    let dir = match dir.canonicalize() {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // Stacked mounts show up one layer per pass; a few passes clear any.
    for _ in 0..8 {
        let mounts = mountinfo::mounts_under(&dir)?;
        if mounts.is_empty() {
            break;
        }
        for mount in mounts {
            sys::detach(&mount.mount_point)?;
        }
    }
    let left = mountinfo::mounts_under(&dir)?;
    if let Some(mount) = left.first() {
        return Err(io::Error::other(format!(
            "sandbox {}: {} ({}) is still mounted after unmounting",
            dir.display(),
            mount.mount_point.display(),
            mount.fs_type
        )));
    }
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
            e.kind(),
            format!("removing {}: {e}", dir.display()),
        )),
        _ => Ok(()),
    }
}

fn validate_hostname(hostname: &str) -> io::Result<()> {
    if hostname.is_empty() || hostname.len() > MAX_HOSTNAME || hostname.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid pod hostname {hostname:?}: must be 1 to {MAX_HOSTNAME} bytes without NUL"
            ),
        ));
    }
    Ok(())
}

/// Makes `dir` a private mount (a bind mount of itself if it is not a mount
/// point yet), so the nsfs pins below it do not propagate to other mount
/// namespaces, where they would keep the namespaces alive.
fn make_private_mount(dir: &Path) -> io::Result<()> {
    if !mountinfo::is_mount_point(dir)? {
        sys::bind_mount(dir, dir)?;
    }
    sys::make_private(dir)
}

/// Unshares `namespaces` in a throwaway thread and pins each onto its file
/// in `dir`; the thread then ends and the pins keep the namespaces alive.
fn pin_new_namespaces(dir: &Path, namespaces: Vec<Namespace>, hostname: &str) -> io::Result<()> {
    let dir = dir.to_path_buf();
    let hostname = hostname.to_string();
    let worker =
        thread::Builder::new()
            .name("skiff-sandbox".into())
            .spawn(move || -> io::Result<()> {
                let flags = namespaces.iter().fold(0, |f, ns| f | ns.clone_flag());
                sys::unshare(flags)?;
                if namespaces.contains(&Namespace::Uts) {
                    sys::set_hostname(&hostname)?;
                }
                if namespaces.contains(&Namespace::Net) {
                    sys::set_loopback_up()?;
                }
                for ns in namespaces {
                    let pin = dir.join(ns.name());
                    fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&pin)
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("creating pin {}: {e}", pin.display()))
                        })?;
                    let source = Path::new("/proc/thread-self/ns").join(ns.name());
                    sys::bind_mount(&source, &pin)?;
                }
                Ok(())
            })?;
    worker
        .join()
        .map_err(|_| io::Error::other("the sandbox namespace thread panicked"))?
}

fn mount_shm(shm: &Path) -> io::Result<()> {
    fs::create_dir_all(shm)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", shm.display())))?;
    if mountinfo::is_mount_point(shm)? {
        return Ok(());
    }
    sys::mount_tmpfs(shm, SHM_OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_is_checked() {
        assert!(validate_hostname("web-0").is_ok());
        let err = validate_hostname("").unwrap_err();
        assert!(err.to_string().contains("invalid pod hostname"), "{err}");
        assert!(validate_hostname(&"a".repeat(65)).is_err());
        assert!(validate_hostname("a\0b").is_err());
    }

    #[test]
    fn paths_follow_the_directory() {
        let paths = SandboxPaths::in_dir(Path::new("/s/p"), false);
        assert_eq!(paths.net, None);
        assert_eq!(paths.ipc, Path::new("/s/p/ipc"));
        assert_eq!(paths.shm, Path::new("/s/p/shm"));
        let paths = SandboxPaths::in_dir(Path::new("/s/p"), true);
        assert_eq!(paths.net.as_deref(), Some(Path::new("/s/p/net")));
    }
}
