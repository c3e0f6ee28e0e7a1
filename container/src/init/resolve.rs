//! Opening and creating paths inside the container's root without ever
//! leaving it: every lookup is `openat2(root, path, RESOLVE_IN_ROOT)`, so a
//! symlink in the image (`/data -> /`, `/etc -> ../../../host`) resolves as
//! if the root were `/` (CVE-2021-30465, CVE-2025-31133).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{Context, Errno, InitError};
use super::sys::{self, SysResult};

/// What to create at a missing mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// The path relative to the root: `/a//b/` -> `a/b`, `/` -> `.`.
pub fn relative(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// An `O_PATH` fd for `path` inside `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str) -> SysResult<OwnedFd> {
    sys::openat2(root, &relative(path), libc::O_PATH, RESOLVE)
}

/// An `O_PATH` fd for `path` inside `root`, creating it (and its parents as
/// directories) when missing.
pub fn create_in_root(
    root: BorrowedFd<'_>,
    path: &str,
    kind: NodeKind,
) -> Result<OwnedFd, InitError> {
    match open_in_root(root, path) {
        Err(Errno(libc::ENOENT)) => {}
        other => return other.context(|| format!("opening {path} in the container root")),
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return open_in_root(root, "/").context(|| "opening the container root".to_string());
    };
    let mut dir = sys::openat2(root, ".", libc::O_PATH, RESOLVE)
        .context(|| "opening the container root".to_string())?;
    for (i, part) in parents.iter().enumerate() {
        let prefix = parts[..=i].join("/");
        dir = match sys::openat2(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, RESOLVE) {
            Ok(fd) => fd,
            Err(Errno(libc::ENOENT)) => {
                make_dir(dir.as_fd(), part).context(|| format!("creating /{prefix}"))?;
                sys::openat2(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, RESOLVE)
                    .context(|| format!("opening /{prefix} in the container root"))?
            }
            Err(errno) => {
                return Err(InitError::sys(
                    format!("opening /{prefix} in the container root"),
                    errno,
                ));
            }
        };
    }
    let created = match kind {
        NodeKind::Dir => make_dir(dir.as_fd(), last),
        NodeKind::File => match sys::create_file_at(dir.as_fd(), last, 0o644) {
            Err(Errno(libc::EEXIST)) => Ok(()),
            other => other,
        },
    };
    created.context(|| format!("creating {path} in the container root"))?;
    open_in_root(root, path).context(|| format!("opening {path} in the container root"))
}

fn make_dir(dir: BorrowedFd<'_>, name: &str) -> SysResult<()> {
    match sys::mkdirat(dir, name, 0o755) {
        Err(Errno(libc::EEXIST)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_to_the_root() {
        assert_eq!(relative("/"), ".");
        assert_eq!(relative(""), ".");
        assert_eq!(relative("/dev//shm/"), "dev/shm");
        assert_eq!(relative("etc/hosts"), "etc/hosts");
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/real", root.path().join("link")).unwrap();
        let root_fd = sys::open(root.path().to_str().unwrap(), libc::O_PATH).unwrap();

        let fd = create_in_root(root_fd.as_fd(), "/link/data/file", NodeKind::File).unwrap();
        assert_eq!(
            sys::fstat(fd.as_fd()).unwrap().st_mode & libc::S_IFMT,
            libc::S_IFREG
        );
        assert!(root.path().join("real/data/file").is_file());
    }

    #[test]
    fn symlinks_to_host_paths_never_reach_the_host() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        // An image symlink naming a host directory: inside the root it
        // dangles, so creation fails instead of writing on the host.
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.path().join("up")).unwrap();
        let root_fd = sys::open(root.path().to_str().unwrap(), libc::O_PATH).unwrap();

        let err = create_in_root(root_fd.as_fd(), "/escape/data", NodeKind::Dir).unwrap_err();
        assert_eq!(err.errno(), Some(Errno(libc::ENOENT)), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // `..` above the root stays at the root.
        create_in_root(root_fd.as_fd(), "/up/up2", NodeKind::Dir).unwrap();
        assert!(root.path().join("up2").is_dir());
    }

    #[test]
    fn existing_paths_are_opened_and_dirs_created() {
        let root = tempfile::tempdir().unwrap();
        let root_fd = sys::open(root.path().to_str().unwrap(), libc::O_PATH).unwrap();
        let fd = create_in_root(root_fd.as_fd(), "/a/b/c", NodeKind::Dir).unwrap();
        assert_eq!(
            sys::fstat(fd.as_fd()).unwrap().st_mode & libc::S_IFMT,
            libc::S_IFDIR
        );
        assert!(root.path().join("a/b/c").is_dir());
        create_in_root(root_fd.as_fd(), "/a/b/c", NodeKind::Dir).unwrap();
        assert_eq!(
            open_in_root(root_fd.as_fd(), "/missing").unwrap_err(),
            Errno(libc::ENOENT)
        );
    }
}
