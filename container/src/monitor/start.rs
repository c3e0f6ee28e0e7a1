//! Starting the container: cgroup, the pod's namespaces, the clone, and
//! the hand-shake with the init (go byte, then EOF or an error line).

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::self_join::join_self_v1;
use super::stdio::{self, MonitorSide};
use super::sys::{self, Cloned, Context};
use crate::cgroups::{CgroupVersion, Cgroups};
use crate::init::{self, InitPipes};
use crate::spec::{ContainerSpec, IdMapping};

/// A container whose process has exec'd.
pub struct Running {
    pub spec: ContainerSpec,
    pub cgroups: Cgroups,
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub io: MonitorSide,
    pub started_at: DateTime<Utc>,
}

/// Starts the container described by `spec`; on failure nothing is left
/// (the process is killed and reaped, the cgroup removed).
pub fn start(state_dir: &Path, spec: ContainerSpec) -> Result<Running, String> {
    let cgroups = Cgroups::detect().context(|| "detecting cgroups".into())?;
    let path = spec.cgroup.path.clone();
    cgroups
        .create(&path, &spec.cgroup.resources)
        .context(|| format!("creating cgroup {path}"))?;
    match clone_container(state_dir, &spec, &cgroups) {
        Ok((pid, pidfd, io)) => Ok(Running {
            spec,
            cgroups,
            pid,
            pidfd,
            io,
            started_at: Utc::now(),
        }),
        Err(e) => {
            if let Err(remove) = cgroups.remove(&path) {
                return Err(format!("{e} (and removing cgroup {path}: {remove})"));
            }
            Err(e)
        }
    }
}

/// Kills and reaps a started container and removes its cgroup, after a
/// failure that keeps it from being supervised; returns the message.
pub fn abandon(running: Running, message: String) -> String {
    let _ = sys::pidfd_kill(&running.pidfd);
    let _ = sys::wait_child(running.pid);
    match running.cgroups.remove(&running.spec.cgroup.path) {
        Ok(()) => message,
        Err(e) => format!(
            "{message} (and removing cgroup {}: {e})",
            running.spec.cgroup.path
        ),
    }
}

fn clone_container(
    state_dir: &Path,
    spec: &ContainerSpec,
    cgroups: &Cgroups,
) -> Result<(i32, OwnedFd, MonitorSide), String> {
    join_pod_namespaces(spec)?;
    if let Some(seconds) = spec.namespaces.time_offset_seconds {
        enter_time_namespace(seconds)?;
    }
    let io = stdio::create(state_dir, spec.process.tty, spec.stdin, spec.stdin_once)?;
    let (go_read, go_write) = sys::pipe().context(|| "creating the go pipe".into())?;
    let (error_read, error_write) = sys::pipe().context(|| "creating the error pipe".into())?;
    let cgroup_fd = cgroups
        .dir_fd(&spec.cgroup.path)
        .context(|| format!("opening cgroup {}", spec.cgroup.path))?;
    // v1 without a user namespace: the child moves itself (fast path);
    // else the parent moves it before the go byte.
    let self_join = if cgroups.version() == CgroupVersion::V1 && spec.namespaces.user.is_none() {
        Some(
            cgroups
                .dirs(&spec.cgroup.path)
                .context(|| format!("cgroup {}", spec.cgroup.path))?,
        )
    } else {
        None
    };
    let flags = clone_flags(spec, cgroups.version() == CgroupVersion::V2);
    let own_mounts = enter_idmapped_mounts(spec)?;
    let cloned = sys::clone3(flags, cgroup_fd.as_ref().map(|fd| fd.as_fd()))
        .context(|| "cloning the container process".into());
    // Back to our own mount namespace at once (the idmapped mounts stay
    // with the clone): state files are written through plain mounts.
    let returned = match &own_mounts {
        Some(original) if matches!(cloned, Ok(Cloned::Parent { .. }) | Err(_)) => {
            sys::setns(original.as_fd(), libc::CLONE_NEWNS)
                .context(|| "returning to the monitor's mount namespace".into())
        }
        _ => Ok(()),
    };
    let cloned = cloned?;
    let (pid, pidfd) = match cloned {
        Cloned::Child => {
            // Only the init's ends stay open here; the monitor's copies
            // would keep its pipes from ever reaching EOF.
            drop((io.monitor, go_write, error_read, cgroup_fd, own_mounts));
            let _ = sys::set_parent_death_signal(libc::SIGKILL);
            sys::default_signal(libc::SIGHUP);
            sys::default_signal(libc::SIGPIPE);
            if let Some(dirs) = &self_join
                && let Err(e) = join_self_v1(dirs)
            {
                let _ = sys::write_some(error_write.as_fd(), format!("{e}\n").as_bytes());
                // SAFETY: leaving the cloned child; the monitor reads the line.
                unsafe { libc::_exit(1) }
            }
            let pipes = InitPipes {
                go: go_read,
                error: error_write,
            };
            let container = io.container;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                init::container_main(spec, container, pipes)
            }));
            // SAFETY: leaving the cloned child without running the
            // monitor's code any further.
            unsafe { libc::_exit(127) }
        }
        Cloned::Parent { child, pidfd } => (child, pidfd),
    };
    drop((io.container, go_read, error_write, cgroup_fd));
    // If the child died early, its own reason beats our broken pipe.
    let released =
        returned.and_then(|()| release_child(spec, cgroups, self_join.is_none(), pid, go_write));
    let outcome = match (released, init_outcome(error_read)) {
        (Ok(()), outcome) => outcome,
        (Err(e), Ok(())) => Err(e),
        (Err(_), Err(reason)) => Err(reason),
    };
    if let Err(e) = outcome {
        let _ = sys::pidfd_kill(&pidfd);
        let _ = sys::wait_child(pid);
        return Err(e);
    }
    Ok((pid, pidfd, io.monitor))
}

/// With a user namespace the container's root must be idmapped, which
/// only a process privileged on the host can do (see
/// [`init::prepare_idmapped_root`]): the monitor makes those mounts in a
/// private mount namespace that the clone copies, and returns the fd of
/// its own namespace to go back to right after the clone.
fn enter_idmapped_mounts(spec: &ContainerSpec) -> Result<Option<OwnedFd>, String> {
    let Some(mapping) = spec.namespaces.user else {
        return Ok(None);
    };
    let original = sys::open(Path::new("/proc/self/ns/mnt"), libc::O_RDONLY)
        .context(|| "opening the monitor's mount namespace".into())?;
    let prepared = sys::unshare(libc::CLONE_NEWNS)
        .context(|| "creating a mount namespace for the idmapped root".into())
        .and_then(|()| sys::make_mounts_private().context(|| "making / rprivate".into()))
        .and_then(|()| {
            init::prepare_idmapped_root(&spec.rootfs, mapping).map_err(|e| e.to_string())
        });
    match prepared {
        Ok(()) => Ok(Some(original)),
        Err(e) => {
            let _ = sys::setns(original.as_fd(), libc::CLONE_NEWNS);
            Err(e)
        }
    }
}

fn clone_flags(spec: &ContainerSpec, cgroup_v2: bool) -> u64 {
    let ns = &spec.namespaces;
    let mut flags = libc::CLONE_NEWPID | libc::CLONE_NEWNS;
    if ns.uts.is_none() {
        flags |= libc::CLONE_NEWUTS;
    }
    if ns.ipc.is_none() {
        flags |= libc::CLONE_NEWIPC;
    }
    if ns.user.is_some() {
        flags |= libc::CLONE_NEWUSER;
    }
    if cgroup_v2 && ns.cgroup {
        flags |= libc::CLONE_NEWCGROUP;
    }
    // net: `None` is the node's network, which the monitor is already in.
    flags as u64
}

/// The pod's pinned namespaces, joined by the monitor itself so the clone
/// inherits them (the monitor is single-threaded, so setns is allowed).
fn join_pod_namespaces(spec: &ContainerSpec) -> Result<(), String> {
    let ns = &spec.namespaces;
    let wanted = [
        (&ns.net, libc::CLONE_NEWNET, "network"),
        (&ns.ipc, libc::CLONE_NEWIPC, "IPC"),
        (&ns.uts, libc::CLONE_NEWUTS, "UTS"),
    ];
    for (path, nstype, what) in wanted {
        if let Some(path) = path {
            let fd = sys::open(path, libc::O_RDONLY)
                .context(|| format!("opening the pod's {what} namespace {}", path.display()))?;
            sys::setns(fd.as_fd(), nstype)
                .context(|| format!("joining the pod's {what} namespace {}", path.display()))?;
        }
    }
    Ok(())
}

/// A new time namespace for the container, clocks shifted by `seconds`;
/// offsets must be written before any process is in it.
fn enter_time_namespace(seconds: i64) -> Result<(), String> {
    sys::unshare(libc::CLONE_NEWTIME).context(|| "creating a time namespace".into())?;
    fs::write(
        "/proc/self/timens_offsets",
        format!("monotonic {seconds} 0\nboottime {seconds} 0\n"),
    )
    .context(|| format!("setting time namespace offsets of {seconds} s"))
}

/// Everything the init waits for: cgroup membership (v1, unless the
/// child moved itself), id maps, then the go byte.
fn release_child(
    spec: &ContainerSpec,
    cgroups: &Cgroups,
    move_child: bool,
    pid: i32,
    go: OwnedFd,
) -> Result<(), String> {
    if move_child && cgroups.version() == CgroupVersion::V1 {
        cgroups
            .add_process(&spec.cgroup.path, pid)
            .context(|| format!("moving the container into cgroup {}", spec.cgroup.path))?;
    }
    if let Some(mapping) = spec.namespaces.user {
        write_id_maps(pid, mapping)?;
    }
    sys::write_all(go, b"1").context(|| "releasing the container process".into())
}

fn write_id_maps(pid: i32, mapping: IdMapping) -> Result<(), String> {
    let line = format!("0 {} {}\n", mapping.host_id, mapping.size);
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, &line).context(|| format!("writing {path} ({})", line.trim()))?;
    }
    Ok(())
}

/// EOF with nothing read: the process exec'd. Else its one-line reason.
fn init_outcome(error_read: OwnedFd) -> Result<(), String> {
    let text = sys::read_to_end(error_read).context(|| "reading the error pipe".into())?;
    if text.is_empty() {
        return Ok(());
    }
    Err(String::from_utf8_lossy(&text).trim_end().to_string())
}
