//! Thin wrappers over the few syscalls a sandbox needs, each error naming
//! what it was doing.

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The last OS error, prefixed with what failed (the kind is kept).
pub(super) fn os_error(what: impl std::fmt::Display) -> io::Error {
    let err = io::Error::last_os_error();
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {} contains a NUL byte", path.display()),
        )
    })
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(c_path).transpose()?;
    let target_c = c_path(target)?;
    let fstype = fstype.map(|t| CString::new(t).expect("fs type without NUL"));
    let data = data.map(|d| CString::new(d).expect("mount options without NUL"));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a live NUL-terminated string.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target_c.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(os_error(format_args!(
            "mount {} on {} (flags {flags:#x})",
            source
                .as_ref()
                .map_or("(none)".into(), |s| s.to_string_lossy().into_owned()),
            target.display()
        )))
    }
}

pub(super) fn bind_mount(source: &Path, target: &Path) -> io::Result<()> {
    mount(Some(source), target, None, libc::MS_BIND, None)
}

/// Stops mounts below `path` from propagating to (or from) other mount
/// namespaces and peers.
pub(super) fn make_private(path: &Path) -> io::Result<()> {
    mount(None, path, None, libc::MS_PRIVATE, None)
}

pub(super) fn mount_tmpfs(target: &Path, options: &str) -> io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        Some(Path::new("shm")),
        target,
        Some("tmpfs"),
        flags,
        Some(options),
    )
}

/// Lazily unmounts `path`. `Ok(false)` when nothing was mounted there.
pub(super) fn detach(path: &Path) -> io::Result<bool> {
    let target = c_path(path)?;
    // SAFETY: `target` is a live NUL-terminated string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(false),
        _ => Err(os_error(format_args!("unmount {}", path.display()))),
    }
}

/// Whether `path` is a namespace file (an nsfs mount or `/proc/*/ns/*`).
pub(super) fn is_nsfs(path: &Path) -> bool {
    let Ok(target) = c_path(path) else {
        return false;
    };
    // SAFETY: statfs only writes into the zeroed struct we own.
    let mut stat: libc::statfs = unsafe { mem::zeroed() };
    let rc = unsafe { libc::statfs(target.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type == libc::NSFS_MAGIC
}

/// `unshare(2)` for the calling thread.
pub(super) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall; affects only the calling thread for these flags.
    if unsafe { libc::unshare(flags) } == 0 {
        Ok(())
    } else {
        Err(os_error(format_args!("unshare({flags:#x})")))
    }
}

/// Sets the hostname of the calling thread's UTS namespace.
pub(super) fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } == 0 {
        Ok(())
    } else {
        Err(os_error(format_args!("sethostname({name:?})")))
    }
}

/// Brings `lo` up in the calling thread's network namespace.
pub fn set_loopback_up() -> io::Result<()> {
    // SAFETY: socket returns a new descriptor or -1.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(os_error("socket for bringing lo up"));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut request: libc::ifreq = unsafe { mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq we own.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(os_error("SIOCGIFFLAGS on lo"));
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(os_error("SIOCSIFFLAGS (up) on lo"));
        }
    }
    Ok(())
}
