//! What runs inside the freshly cloned container child before `execve`.
//!
//! [`container_main`] is the whole sequence for a container's first
//! process, in the child the monitor cloned (new pid and mount namespaces,
//! already in the pod's network, IPC and UTS namespaces):
//!
//! 1. stdio onto 0/1/2, not dumpable (so `/proc/<pid>/exe`, the host
//!    binary, is unreachable until exec), wait for the monitor's go byte;
//! 2. `/` rprivate, the overlay root (`rootfs`), `/proc`, `/sys`
//!    (`mounts`), `/dev` (`dev`), the spec's mounts, all resolved
//!    inside the new root without following symlinks out of it;
//! 3. `pivot_root` (`pivot`), masked and read-only paths (`masked`),
//!    the working directory, a read-only root when asked, the hostname;
//! 4. `process`: rlimits, user (`user`), capabilities (`caps`),
//!    `no_new_privs`, fds closed on exec, seccomp (`seccomp`), `argv[0]`
//!    looked up in the container's `PATH` (`path`), `execve`.
//!
//! A failure writes one line (`mounting /proc: EPERM (...)`) to the error
//! pipe and exits 1; a successful `execve` closes that pipe.
//! [`exec_process`] is step 4 alone, for `exec` into a running container.
//!
//! With a user namespace (`namespaces.user`), the monitor first calls
//! [`prepare_idmapped_root`] in its own private mount namespace, clones
//! with `CLONE_NEWUSER`, writes the maps, then sends the go byte; the
//! child becomes the namespace's root before mounting.

mod caps;
mod dev;
mod error;
mod idmap;
mod masked;
mod mounts;
mod path;
mod pivot;
mod process;
mod resolve;
mod rootfs;
mod seccomp;
mod sys;
mod user;

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

pub use caps::{CAPABILITY_NAMES, CapSet};
pub use error::{Errno, InitError};
pub use idmap::prepare_idmapped_root;
pub use path::DEFAULT_PATH;
pub use seccomp::{SeccompProgram, seccomp_filter};

use crate::spec::{ContainerSpec, ProcessSpec};

/// The container process's standard streams.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// true: stdin/out/err are one pty slave; `setsid` + `TIOCSCTTY`.
    pub tty: bool,
}

/// The two pipes between the monitor and the child.
#[derive(Debug)]
pub struct InitPipes {
    /// Read end: the parent writes one byte when the child may go on
    /// (cgroup joined, uid/gid maps written). EOF = abort.
    pub go: OwnedFd,
    /// Write end, O_CLOEXEC: on failure the child writes a one-line error
    /// and exits 1; a successful `execve` closes it (EOF = success).
    pub error: OwnedFd,
}

/// Runs in the cloned child (new pid + mount namespaces, already in the
/// pod's net/ipc/uts). Never returns.
pub fn container_main(spec: &ContainerSpec, stdio: Stdio, pipes: InitPipes) -> ! {
    let error = lift(pipes.error);
    let result = start_container(spec, stdio, pipes.go);
    fail(&error, result)
}

/// For `exec` into a running container: the caller has already setns'd
/// into the container's namespaces (mount namespace included, so `/` is
/// the container's root). Applies the process hardening and `execve`s.
/// Never returns; errors go to `error` as in [`container_main`].
pub fn exec_process(process: &ProcessSpec, stdio: Stdio, error: OwnedFd) -> ! {
    let error = lift(error);
    let result = (|| {
        not_dumpable()?;
        let prepared = process::prepare(process)?;
        process::setup_stdio(stdio)?;
        process::finish(process, &prepared)
    })();
    fail(&error, result)
}

fn start_container(
    spec: &ContainerSpec,
    stdio: Stdio,
    go: OwnedFd,
) -> Result<Infallible, InitError> {
    not_dumpable()?;
    let prepared = process::prepare(&spec.process)?;
    let tty = stdio.tty;
    process::setup_stdio(stdio)?;
    if !tty {
        // A session of its own, as PID 1 of the container (a tty already did).
        // SAFETY: no pointers.
        unsafe { libc::setsid() };
    }
    match sys::read_byte(go.as_fd()) {
        Ok(true) => drop(go),
        Ok(false) => {
            return Err(InitError::invalid(
                "aborted: the monitor closed the go pipe",
            ));
        }
        Err(errno) => return Err(InitError::sys("waiting for the monitor", errno)),
    }

    if spec.namespaces.user.is_some() {
        // Writing the maps does not change our ids: become the namespace's
        // root (host `host_id`) so the mounts are made, and overlay's
        // copy-ups done, as that user.
        user::switch_to(&user::ResolvedUser {
            uid: 0,
            gid: 0,
            groups: vec![],
        })
        .map_err(|e| mounts::prefix("becoming root of the user namespace", e))?;
    }
    pivot::make_root_private()?;
    rootfs::mount_overlay(&spec.rootfs, spec.namespaces.user.is_some())
        .map_err(|e| mounts::prefix("mounting the root overlay", e))?;
    let merged = spec
        .rootfs
        .merged_dir
        .to_str()
        .ok_or_else(|| InitError::invalid("merged_dir is not UTF-8"))?;
    let root =
        mounts::open_dir(merged).map_err(|e| InitError::sys(format!("opening {merged}"), e))?;
    mounts::mount_proc(root.as_fd())?;
    mounts::mount_sys(root.as_fd(), spec.namespaces.net.is_some())?;
    let spec_shm = spec
        .mounts
        .iter()
        .any(|m| resolve::relative(&m.destination) == "dev/shm");
    dev::setup_dev(root.as_fd(), spec_shm, spec.namespaces.user.is_some())?;
    mounts::mount_all(root.as_fd(), &spec.mounts)?;
    resolve::create_in_root(root.as_fd(), &spec.process.cwd, resolve::NodeKind::Dir)
        .map_err(|e| mounts::prefix("creating the working directory", e))?;
    drop(root);

    pivot::pivot_into(merged)?;
    let root = mounts::open_dir("/").map_err(|e| InitError::sys("opening the new root", e))?;
    masked::mask_paths(root.as_fd(), &spec.masked_paths)?;
    masked::readonly_paths(root.as_fd(), &spec.readonly_paths)?;
    drop(root);
    if spec.rootfs.readonly {
        pivot::make_root_readonly()?;
    }
    if spec.namespaces.uts.is_none()
        && let Some(hostname) = &spec.namespaces.hostname
    {
        // SAFETY: pointer and length of a live string.
        if unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) } < 0 {
            return Err(InitError::sys(
                format!("sethostname({hostname})"),
                Errno::last(),
            ));
        }
    }
    process::finish(&spec.process, &prepared)
}

/// Not dumpable until exec: `/proc/<pid>/exe` (the host's binary) and our
/// memory stay out of reach of processes in the container. `execve`
/// resets it.
fn not_dumpable() -> Result<(), InitError> {
    sys::prctl(libc::PR_SET_DUMPABLE, 0)
        .map(drop)
        .map_err(|e| InitError::sys("prctl(PR_SET_DUMPABLE, 0)", e))
}

/// Move the error pipe above 2 (close-on-exec), so stdio set-up cannot
/// overwrite it; keeps the original if that fails.
fn lift(fd: OwnedFd) -> OwnedFd {
    // SAFETY: fcntl on an fd we own.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return fd;
    }
    // SAFETY: the kernel just gave us this fd.
    unsafe { OwnedFd::from_raw_fd(copy) }
}

fn fail(error: &OwnedFd, result: Result<Infallible, InitError>) -> ! {
    let Err(err) = result;
    let line = format!("{}\n", err.to_string().replace('\n', " "));
    let _ = sys::write_all(error.as_fd(), line.as_bytes());
    // _exit: no destructors or atexit handlers of the process we were
    // cloned from.
    // SAFETY: terminates the process.
    unsafe { libc::_exit(1) }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Running a closure in a forked child with a private mount namespace.

    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};

    /// Fork; the child unshares its mount namespace, makes `/` rprivate and
    /// runs `f`. Returns `f`'s result as the parent sees it.
    pub fn in_child_mount_ns(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only runs `f` and exits with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: our fd.
            unsafe { libc::close(fds[0]) };
            let result = (|| {
                // SAFETY: no pointers.
                if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                    return Err(format!("unshare: {}", std::io::Error::last_os_error()));
                }
                super::pivot::make_root_private().map_err(|e| e.to_string())?;
                f()
            })();
            let msg = result.err().unwrap_or_default();
            // SAFETY: writing our own buffer, then exiting.
            unsafe {
                libc::write(fds[1], msg.as_ptr().cast(), msg.len());
                libc::_exit(if msg.is_empty() { 0 } else { 1 });
            }
        }
        // SAFETY: our fd.
        unsafe { libc::close(fds[1]) };
        // SAFETY: our read end.
        let mut reader = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        let mut msg = String::new();
        reader.read_to_string(&mut msg).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else if msg.is_empty() {
            Err(format!("child failed with status {status:#x}"))
        } else {
            Err(msg)
        }
    }
}
