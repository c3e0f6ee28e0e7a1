//! Small safe wrappers over the system calls the monitor and the exec
//! helper use (pipes, fork/clone3, setns, poll, wait), with errors that
//! name the step.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Attaches what was being done to an error: `"opening X: ..."`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a descriptor the kernel just returned to us alone.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

pub fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: fcntl on a valid fd.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) }).map(drop)
}

pub fn dev_null(flags: libc::c_int) -> io::Result<OwnedFd> {
    open(Path::new("/dev/null"), flags)
}

pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: valid C string.
    let fd = check(unsafe { libc::open(c_path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    Ok(owned(fd))
}

pub fn mkfifo(path: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: valid C string.
    check(unsafe { libc::mkfifo(c_path.as_ptr(), mode) }).map(drop)
}

/// Makes `target` (0, 1 or 2) a copy of `fd`.
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on valid descriptors.
    check(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// A new close-on-exec copy of `fd`.
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we were given.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    Ok(owned(new))
}

/// A pseudo-terminal: (master, slave), both close-on-exec.
pub fn openpty() -> io::Result<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; no name, termios or winsize.
    check(unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    })?;
    let (master, slave) = (owned(master), owned(slave));
    for fd in [&master, &slave] {
        // SAFETY: valid fd.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((master, slave))
}

pub enum Forked {
    Parent { child: i32 },
    Child,
}

/// `fork(2)`. Only for single-threaded processes (the monitor and the exec
/// helper are).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the caller is single-threaded, so the child's copy of every
    // lock and allocator state is consistent.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent { child: pid }
    })
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub enum Cloned {
    Parent { child: i32, pidfd: OwnedFd },
    Child,
}

/// `clone3` fork-style (no new stack: the child continues here on a copy
/// of ours), with namespace `flags`, SIGCHLD on exit and a pidfd for the
/// child; `cgroup` (v2) starts the child directly in that cgroup.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(cgroup) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: a valid clone_args of the size passed; without CLONE_VM and
    // with no stack the child gets a private copy of this address space,
    // like fork. The caller is single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if ret == 0 {
        Cloned::Child
    } else {
        Cloned::Parent {
            child: ret as i32,
            pidfd: owned(pidfd),
        }
    })
}

/// Joins the namespace `fd` refers to.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: setns on a valid fd.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// `/` and everything below it rprivate: mounts made here from now on
/// stay in this mount namespace.
pub fn make_mounts_private() -> io::Result<()> {
    // SAFETY: valid C string; null source, type and data.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })
    .map(drop)
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setsid() }).map(drop)
}

pub fn ignore_signal(signal: libc::c_int) {
    // SAFETY: installing SIG_IGN is always sound.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
}

pub fn default_signal(signal: libc::c_int) {
    // SAFETY: installing SIG_DFL is always sound.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
}

/// The parent-death signal of the calling process.
pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

/// How a child ended, as the kubelet reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit status, or 128 + signal.
    pub code: i32,
    pub signal: Option<i32>,
}

/// Waits for `pid` (our child) to end.
pub fn wait_child(pid: i32) -> io::Result<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid with an out-pointer to an int.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        ExitStatus {
            code: 128 + signal,
            signal: Some(signal),
        }
    } else {
        ExitStatus {
            code: libc::WEXITSTATUS(status),
            signal: None,
        }
    })
}

/// `poll(2)`, retried on EINTR; `timeout_ms` -1 waits forever.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid slice of pollfd.
        let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads into `buf` once; `Ok(0)` is end of file (and EIO from a pty
/// whose other side is closed counts as that).
pub fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: reading into a valid buffer of the given length.
        let ret = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EIO) => return Ok(0),
            _ => return Err(err),
        }
    }
}

/// Writes once; returns how much was taken.
pub fn write_some(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: writing from a valid buffer of the given length.
        let ret = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads a pipe until every writer has closed it.
pub fn read_to_end(fd: OwnedFd) -> io::Result<Vec<u8>> {
    let mut file = File::from(fd);
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

pub fn write_all(fd: OwnedFd, data: &[u8]) -> io::Result<()> {
    File::from(fd).write_all(data)
}

/// SIGKILL through a pidfd.
pub fn pidfd_kill(pidfd: &OwnedFd) -> io::Result<()> {
    crate::state::send_signal(pidfd, libc::SIGKILL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// The cgroup2 mount of this host: the unified hierarchy of a hybrid
    /// host, or the root of a pure v2 one.
    fn cgroup2_root() -> std::path::PathBuf {
        const CGROUP2_MAGIC: i64 = 0x6367_7270;
        for candidate in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
            let c_path = std::ffi::CString::new(candidate).unwrap();
            // SAFETY: statfs into a zeroed struct with a valid C string.
            let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
            if unsafe { libc::statfs(c_path.as_ptr(), &mut fs) } == 0
                && fs.f_type as i64 == CGROUP2_MAGIC
            {
                return candidate.into();
            }
        }
        panic!("no cgroup2 hierarchy mounted");
    }

    #[test]
    fn clone3_starts_the_child_in_the_given_cgroup() {
        let name = format!("skiff-test-{}-clone3", std::process::id());
        struct RemoveOnDrop(std::path::PathBuf);
        impl Drop for RemoveOnDrop {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let dir = RemoveOnDrop(cgroup2_root().join(&name));
        std::fs::create_dir(&dir.0).unwrap();
        let cgroup = open(&dir.0, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
        let (hold_read, hold_write) = pipe().unwrap();
        let child = match clone3(0, Some(cgroup.as_fd())).unwrap() {
            Cloned::Child => {
                // Async-signal-safe only (the test process has threads):
                // wait for the parent to look, then leave.
                let mut byte = [0u8; 1];
                // SAFETY: close our copy of the write end (else no EOF),
                // read into a local buffer, then _exit.
                unsafe {
                    libc::close(hold_write.as_raw_fd());
                    libc::read(hold_read.as_raw_fd(), byte.as_mut_ptr().cast(), 1);
                    libc::_exit(0)
                }
            }
            Cloned::Parent { child, pidfd } => {
                drop(pidfd);
                child
            }
        };
        drop(hold_read);
        let membership = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
        drop(hold_write);
        let status = wait_child(child).unwrap();
        assert!(
            membership.lines().any(|l| l == format!("0::/{name}")),
            "{membership}"
        );
        assert_eq!(status.code, 0);
    }

    #[test]
    fn exit_status_reports_signals_as_128_plus() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = wait_child(child.id() as i32).unwrap();
        assert_eq!(
            status,
            ExitStatus {
                code: 137,
                signal: Some(9)
            }
        );
        // Already reaped by wait_child.
        assert!(child.try_wait().is_err());
    }
}
