//! `skiff container-exec STATE_DIR [--tty] [--stdin] -- CMD...`: a process
//! joining a running container (its namespaces and cgroup, the same
//! hardening as the container's own process), run by the agent as its
//! child with piped stdio or a pty.
//!
//! Exit code: the command's (128 + signal when a signal ended it); 126 when
//! the container could not be joined or the command not started, 127 when
//! the command does not exist.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::cgroups::{CgroupVersion, Cgroups};
use crate::init::{self, Stdio};
use crate::monitor::self_join::join_self_v1;
use crate::monitor::sys::{self, Context, Forked};
use crate::spec::ContainerSpec;
use crate::state::{self, CONTAINER_PID_FILE, ProcessIdentity};

pub const EXIT_CANNOT_RUN: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// Body of `skiff container-exec`.
pub fn run(state_dir: &Path, tty: bool, stdin: bool, command: &[String]) -> i32 {
    match exec(state_dir, tty, stdin, command) {
        Ok(code) => code,
        Err(Failure { message, code }) => {
            eprintln!("{message}");
            code
        }
    }
}

struct Failure {
    message: String,
    code: i32,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            code: EXIT_CANNOT_RUN,
        }
    }
}

fn exec(state_dir: &Path, tty: bool, stdin: bool, command: &[String]) -> Result<i32, Failure> {
    if command.is_empty() {
        return Err("container exec: no command given".to_string().into());
    }
    let spec = state::read_spec(state_dir).map_err(|e| e.to_string())?;
    let cgroups = Cgroups::detect().context(|| "detecting cgroups".into())?;
    let container = state::read_identity(state_dir, CONTAINER_PID_FILE)
        .filter(|c| c.is_alive())
        .ok_or_else(|| format!("container {} is not running", spec.id))?;
    let namespaces = open_namespaces(&spec, &cgroups, container)?;
    // Nothing in the container may ptrace us or read our memory while we
    // still hold host resources.
    sys::set_dumpable(false).context(|| "prctl(PR_SET_DUMPABLE)".into())?;
    join_cgroup(&cgroups, &spec.cgroup.path)?;
    for (name, nstype, fd) in &namespaces {
        sys::setns(fd.as_fd(), *nstype)
            .context(|| format!("joining the container's {name} namespace"))?;
    }
    drop(namespaces);
    let mut process = spec.process.clone();
    process.args = command.to_vec();
    process.tty = tty;
    let stdio = inherited_stdio(tty, stdin)?;
    let (error_read, error_write) = sys::pipe().context(|| "creating the error pipe".into())?;
    let child = match sys::fork().context(|| "fork".into())? {
        Forked::Child => {
            drop(error_read);
            let _ = sys::set_parent_death_signal(libc::SIGKILL);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                init::exec_process(&process, stdio, error_write)
            }));
            // SAFETY: leave the child without running our code further.
            unsafe { libc::_exit(EXIT_CANNOT_RUN) }
        }
        Forked::Parent { child } => child,
    };
    drop((stdio, error_write));
    let error = sys::read_to_end(error_read).context(|| "reading the error pipe".into())?;
    let status = sys::wait_child(child).context(|| "waiting for the command".into())?;
    if !error.is_empty() {
        let message = String::from_utf8_lossy(&error).trim_end().to_string();
        let code = if message.contains("ENOENT") || message.contains("not found") {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_RUN
        };
        return Err(Failure { message, code });
    }
    Ok(status.code)
}

/// The container's namespaces, opened before joining any (each join
/// changes what `/proc` shows), in the order they are joined: everything
/// owned by the host's user namespace while we still are root there,
/// `mnt` late (it changes our root), the container's user namespace last.
fn open_namespaces(
    spec: &ContainerSpec,
    cgroups: &Cgroups,
    container: ProcessIdentity,
) -> Result<Vec<(&'static str, libc::c_int, OwnedFd)>, String> {
    let ns = &spec.namespaces;
    let wanted = [
        ("ipc", libc::CLONE_NEWIPC, true),
        ("uts", libc::CLONE_NEWUTS, true),
        ("net", libc::CLONE_NEWNET, true),
        (
            "cgroup",
            libc::CLONE_NEWCGROUP,
            ns.cgroup && cgroups.version() == CgroupVersion::V2,
        ),
        (
            "time",
            libc::CLONE_NEWTIME,
            ns.time_offset_seconds.is_some(),
        ),
        ("pid", libc::CLONE_NEWPID, true),
        ("mnt", libc::CLONE_NEWNS, true),
        ("user", libc::CLONE_NEWUSER, ns.user.is_some()),
    ];
    let mut opened = Vec::new();
    for (name, nstype, needed) in wanted {
        if !needed {
            continue;
        }
        let path = format!("/proc/{}/ns/{name}", container.pid);
        let fd =
            sys::open(Path::new(&path), libc::O_RDONLY).context(|| format!("opening {path}"))?;
        opened.push((name, nstype, fd));
    }
    // The pid could have been reused between reading it and opening.
    if !container.is_alive() {
        return Err(format!("container {} exited while joining it", spec.id));
    }
    Ok(opened)
}

/// The container's cgroup, joined while still in the host's namespaces
/// (v1: the cheap self-move; we are single-threaded).
fn join_cgroup(cgroups: &Cgroups, path: &str) -> Result<(), String> {
    let joined = match cgroups.version() {
        CgroupVersion::V1 => cgroups
            .dirs(path)
            .map_err(|e| e.to_string())
            .and_then(|dirs| join_self_v1(&dirs).map_err(|e| e.to_string())),
        CgroupVersion::V2 => cgroups
            .add_process(path, std::process::id() as i32)
            .map_err(|e| e.to_string()),
    };
    joined.map_err(|e| format!("joining cgroup {path}: {e}"))
}

/// The agent's pipes or pty, as given to us on 0, 1 and 2. A terminal is
/// always stdin too (it becomes the controlling terminal through fd 0).
fn inherited_stdio(tty: bool, stdin: bool) -> Result<Stdio, String> {
    let stdin = if stdin || tty {
        sys::dup(0)
    } else {
        sys::dev_null(libc::O_RDONLY)
    }
    .context(|| "setting up stdin".into())?;
    Ok(Stdio {
        stdin,
        stdout: sys::dup(1).context(|| "duplicating stdout".into())?,
        stderr: sys::dup(2).context(|| "duplicating stderr".into())?,
        tty,
    })
}
