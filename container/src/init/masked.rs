//! Masked paths (hidden behind `/dev/null` or an empty read-only tmpfs)
//! and read-only paths. Runs after `pivot_root`, so every path is resolved
//! inside the container's root.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{Context, Errno, InitError};
use super::mounts::{FsOptions, new_fs};
use super::resolve;
use super::sys;

/// How a masked path is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// A directory: an empty read-only tmpfs over it.
    EmptyDir,
    /// Anything else: `/dev/null` bound over it.
    DevNull,
}

/// The mask for a path with this `st_mode`.
pub fn mask_for(mode: libc::mode_t) -> Mask {
    if mode & libc::S_IFMT == libc::S_IFDIR {
        Mask::EmptyDir
    } else {
        Mask::DevNull
    }
}

/// Whether a stat result is the real `/dev/null` (char 1:3), so a
/// container cannot make us bind something else over masked paths.
pub fn is_dev_null(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR
        && libc::major(st.st_rdev) == 1
        && libc::minor(st.st_rdev) == 3
}

/// Hide `paths` (missing ones are skipped).
pub fn mask_paths(root: BorrowedFd<'_>, paths: &[String]) -> Result<(), InitError> {
    if paths.is_empty() {
        return Ok(());
    }
    let null =
        resolve::open_in_root(root, "/dev/null").context(|| "opening /dev/null".to_string())?;
    let st = sys::fstat(null.as_fd()).context(|| "stat /dev/null".to_string())?;
    if !is_dev_null(&st) {
        return Err(InitError::invalid(
            "/dev/null is not the null device (char 1:3); not masking with it",
        ));
    }
    for path in paths {
        let Some(target) = existing(root, path)? else {
            continue;
        };
        let st = sys::fstat(target.as_fd()).context(|| format!("stat {path}"))?;
        let cover = match mask_for(st.st_mode) {
            Mask::DevNull => sys::open_tree_clone(null.as_fd(), "", false)
                .context(|| format!("binding /dev/null for {path}"))?,
            Mask::EmptyDir => {
                let attrs = libc::MOUNT_ATTR_RDONLY
                    | libc::MOUNT_ATTR_NOSUID
                    | libc::MOUNT_ATTR_NODEV
                    | libc::MOUNT_ATTR_NOEXEC;
                new_fs(
                    "tmpfs",
                    &FsOptions {
                        attrs,
                        params: vec![],
                    },
                )?
            }
        };
        sys::move_mount_onto(&cover, target.as_fd()).context(|| format!("masking {path}"))?;
    }
    Ok(())
}

/// Make `paths` read-only: a recursive bind onto itself, read-only.
pub fn readonly_paths(root: BorrowedFd<'_>, paths: &[String]) -> Result<(), InitError> {
    for path in paths {
        let Some(target) = existing(root, path)? else {
            continue;
        };
        let tree = sys::open_tree_clone(target.as_fd(), "", true)
            .context(|| format!("binding {path} onto itself"))?;
        sys::mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, None)
            .context(|| format!("making {path} read-only"))?;
        sys::move_mount_onto(&tree, target.as_fd())
            .context(|| format!("mounting {path} read-only"))?;
    }
    Ok(())
}

fn existing(root: BorrowedFd<'_>, path: &str) -> Result<Option<OwnedFd>, InitError> {
    match resolve::open_in_root(root, path) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno(libc::ENOENT)) => Ok(None),
        Err(errno) => Err(InitError::sys(format!("opening {path}"), errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_of(path: &str) -> libc::stat {
        sys::stat(path).unwrap()
    }

    #[test]
    fn directories_get_a_tmpfs_and_everything_else_dev_null() {
        assert_eq!(mask_for(libc::S_IFDIR | 0o555), Mask::EmptyDir);
        assert_eq!(mask_for(libc::S_IFREG | 0o400), Mask::DevNull);
        assert_eq!(mask_for(libc::S_IFCHR | 0o600), Mask::DevNull);
    }

    #[test]
    fn only_char_1_3_counts_as_dev_null() {
        assert!(is_dev_null(&stat_of("/dev/null")));
        assert!(!is_dev_null(&stat_of("/dev/zero")));
        assert!(!is_dev_null(&stat_of("/")));
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(!is_dev_null(&stat_of(file.path().to_str().unwrap())));
    }
}
