//! Thin wrappers over the system calls libc has no function for (the new
//! mount API, `openat2`, `pivot_root`, `capset`, `seccomp`), returning owned
//! fds and [`Errno`].

use std::ffi::{CString, c_long};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::error::{Errno, InitError};

pub type SysResult<T> = Result<T, Errno>;

/// A path or string as a C string; an interior NUL is bad input.
pub fn cstring(what: &str, s: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError::invalid(format!("{what} {s:?} contains a NUL byte")))
}

fn cstr(s: &str) -> SysResult<CString> {
    CString::new(s).map_err(|_| Errno(libc::EINVAL))
}

fn check(ret: c_long) -> SysResult<c_long> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn check_int(ret: libc::c_int) -> SysResult<()> {
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn owned(ret: c_long) -> SysResult<OwnedFd> {
    // SAFETY: the kernel just returned this descriptor to us alone.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn fsopen(fstype: &str) -> SysResult<OwnedFd> {
    let fstype = cstr(fstype)?;
    // SAFETY: valid C string; flags by value.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) })
}

pub fn fsconfig_string(fs: &OwnedFd, key: &str, value: &str) -> SysResult<()> {
    let (key, value) = (cstr(key)?, cstr(value)?);
    // SAFETY: valid C strings that outlive the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

pub fn fsconfig_flag(fs: &OwnedFd, key: &str) -> SysResult<()> {
    let key = cstr(key)?;
    // SAFETY: valid C string; no value for a flag.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_FLAG,
            key.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .map(drop)
}

pub fn fsconfig_create(fs: &OwnedFd) -> SysResult<()> {
    // SAFETY: no pointers.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
    .map(drop)
}

/// A detached mount of the configured filesystem with `MOUNT_ATTR_*` flags.
pub fn fsmount(fs: &OwnedFd, attrs: u64) -> SysResult<OwnedFd> {
    // SAFETY: no pointers.
    owned(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })
}

/// A detached copy of the mount tree at `path` (relative to `dir`, or `dir`
/// itself when `path` is empty).
pub fn open_tree_clone(dir: BorrowedFd<'_>, path: &str, recursive: bool) -> SysResult<OwnedFd> {
    let cpath = cstr(path)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: valid C string.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), cpath.as_ptr(), flags) })
}

/// Attach the detached (or existing) mount `from` on the object `to` refers to.
pub fn move_mount_onto(from: &OwnedFd, to: BorrowedFd<'_>) -> SysResult<()> {
    let empty = c"";
    // SAFETY: empty C strings with the EMPTY_PATH flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Change mount attributes of the mount `fd` refers to (and below it when
/// `recursive`).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    userns: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `attr` lives across the call and its size is passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// `openat2(dir, path, flags, resolve)`.
pub fn openat2(dir: BorrowedFd<'_>, path: &str, flags: i32, resolve: u64) -> SysResult<OwnedFd> {
    let cpath = cstr(path)?;
    // SAFETY: open_how is plain data; zeroed then filled.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: valid C string and struct with its size.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    })
}

/// Plain `open` of a host path.
pub fn open(path: &str, flags: i32) -> SysResult<OwnedFd> {
    let cpath = cstr(path)?;
    // SAFETY: valid C string.
    let fd = unsafe { libc::open(cpath.as_ptr(), flags | libc::O_CLOEXEC) };
    owned(fd as c_long)
}

pub fn pivot_root(new_root: &str, put_old: &str) -> SysResult<()> {
    let (new_root, put_old) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: valid C strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// Classic `mount(2)`.
pub fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> SysResult<()> {
    let source = source.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstr).transpose()?;
    let data = data.map(cstr).transpose()?;
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: valid C strings or null pointers.
    check_int(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data) as *const libc::c_void,
        )
    })
}

pub fn umount_detach(target: &str) -> SysResult<()> {
    let target = cstr(target)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
}

pub fn chdir(path: &str) -> SysResult<()> {
    let path = cstr(path)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::chdir(path.as_ptr()) })
}

pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> SysResult<libc::c_int> {
    // SAFETY: the options used here take integers only.
    let ret = unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) };
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// `fstat` of an fd (O_PATH fds work).
pub fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    // SAFETY: `st` is written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check_int(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `stat` of a host path, following symlinks.
pub fn stat(path: &str) -> SysResult<libc::stat> {
    let cpath = cstr(path)?;
    // SAFETY: valid C string; `st` is written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check_int(unsafe { libc::stat(cpath.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &str, mode: libc::mode_t) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) })
}

/// Create an empty regular file (`O_EXCL`, never following a symlink).
pub fn create_file_at(dir: BorrowedFd<'_>, name: &str, mode: libc::mode_t) -> SysResult<()> {
    let name = cstr(name)?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid C string.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as libc::c_uint) };
    owned(fd as c_long).map(drop)
}

pub fn mknodat(
    dir: BorrowedFd<'_>,
    name: &str,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) })
}

pub fn symlinkat(target: &str, dir: BorrowedFd<'_>, name: &str) -> SysResult<()> {
    let (target, name) = (cstr(target)?, cstr(name)?);
    // SAFETY: valid C strings.
    check_int(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
}

/// `fchmodat` without following a final symlink.
pub fn fchmodat(dir: BorrowedFd<'_>, name: &str, mode: libc::mode_t) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: valid C string.
    check_int(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) })
}

/// Write all of `bytes` (used for the error pipe and /proc files).
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> SysResult<()> {
    while !bytes.is_empty() {
        // SAFETY: the slice is valid for its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let errno = Errno::last();
            if errno.0 == libc::EINTR {
                continue;
            }
            return Err(errno);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Read one byte; `Ok(false)` on end of file.
pub fn read_byte(fd: BorrowedFd<'_>) -> SysResult<bool> {
    let mut byte = 0u8;
    loop {
        // SAFETY: one byte of valid memory.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        if n < 0 {
            let errno = Errno::last();
            if errno.0 == libc::EINTR {
                continue;
            }
            return Err(errno);
        }
        return Ok(n == 1);
    }
}
