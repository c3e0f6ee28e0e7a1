//! The last steps before `execve`, shared by a container's first process
//! and `exec`: stdio, rlimits, user, capabilities, `no_new_privs`,
//! seccomp, working directory, fd hygiene.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::IntoRawFd;
use std::path::Path;

use super::Stdio;
use super::caps::{self, CapSet};
use super::error::{Context, Errno, InitError};
use super::path::find_executable;
use super::seccomp::SeccompProgram;
use super::sys;
use super::user;
use crate::spec::ProcessSpec;

/// Everything in a [`ProcessSpec`] that can be checked before touching the
/// system, so bad input fails first with a clear message.
pub struct Prepared {
    pub caps: CapSet,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub seccomp: Option<SeccompProgram>,
}

pub fn prepare(process: &ProcessSpec) -> Result<Prepared, InitError> {
    if process.args.is_empty() {
        return Err(InitError::invalid("the container's command is empty"));
    }
    if !process.cwd.starts_with('/') {
        return Err(InitError::invalid(format!(
            "working directory {:?} is not absolute",
            process.cwd
        )));
    }
    let caps = CapSet::parse(&process.capabilities)?;
    let rlimits = process
        .rlimits
        .iter()
        .map(|(name, soft, hard)| Ok((rlimit_resource(name)?, *soft, *hard)))
        .collect::<Result<_, InitError>>()?;
    let argv = process
        .args
        .iter()
        .map(|a| sys::cstring("argument", a))
        .collect::<Result<_, _>>()?;
    let env = process
        .env
        .iter()
        .map(|e| sys::cstring("environment entry", e))
        .collect::<Result<_, _>>()?;
    let seccomp = super::seccomp::seccomp_filter(process.seccomp)?;
    Ok(Prepared {
        caps,
        rlimits,
        argv,
        env,
        seccomp,
    })
}

/// The `RLIMIT_*` resource for a name (`RLIMIT_NOFILE` or `NOFILE`).
pub fn rlimit_resource(name: &str) -> Result<libc::__rlimit_resource_t, InitError> {
    let upper = name.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
    Ok(match short {
        "AS" => libc::RLIMIT_AS,
        "CORE" => libc::RLIMIT_CORE,
        "CPU" => libc::RLIMIT_CPU,
        "DATA" => libc::RLIMIT_DATA,
        "FSIZE" => libc::RLIMIT_FSIZE,
        "LOCKS" => libc::RLIMIT_LOCKS,
        "MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "NICE" => libc::RLIMIT_NICE,
        "NOFILE" => libc::RLIMIT_NOFILE,
        "NPROC" => libc::RLIMIT_NPROC,
        "RSS" => libc::RLIMIT_RSS,
        "RTPRIO" => libc::RLIMIT_RTPRIO,
        "RTTIME" => libc::RLIMIT_RTTIME,
        "SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "STACK" => libc::RLIMIT_STACK,
        _ => return Err(InitError::invalid(format!("unknown rlimit {name:?}"))),
    })
}

/// `(soft, hard)` to set: the hard limit lowered to the current one (no
/// CAP_SYS_RESOURCE here), the soft limit to the hard one.
pub fn clamp_rlimit(soft: u64, hard: u64, current_hard: u64) -> (u64, u64) {
    let hard = hard.min(current_hard);
    (soft.min(hard), hard)
}

/// Put the given fds on 0, 1 and 2 (they may already be any of those, or
/// all the same pty), and make the terminal the controlling one.
pub fn setup_stdio(stdio: Stdio) -> Result<(), InitError> {
    let raw = [
        stdio.stdin.into_raw_fd(),
        stdio.stdout.into_raw_fd(),
        stdio.stderr.into_raw_fd(),
    ];
    // First copy above 2, so dup2 onto 0..2 cannot clobber a source.
    let mut high = [0; 3];
    for (i, fd) in raw.iter().enumerate() {
        // SAFETY: fcntl on an fd we own.
        high[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
        if high[i] < 0 {
            return Err(InitError::sys("duplicating stdio", Errno::last()));
        }
    }
    let mut originals = raw.to_vec();
    originals.sort_unstable();
    originals.dedup();
    for fd in originals {
        // SAFETY: the fds were handed to us; copies exist above.
        unsafe { libc::close(fd) };
    }
    for (target, fd) in high.iter().enumerate() {
        // SAFETY: dup2 onto 0..2; the copy is closed after.
        if unsafe { libc::dup2(*fd, target as libc::c_int) } < 0 {
            return Err(InitError::sys(
                format!("dup2 onto fd {target}"),
                Errno::last(),
            ));
        }
    }
    let mut copies = high.to_vec();
    copies.sort_unstable();
    copies.dedup();
    for fd in copies {
        // SAFETY: our own copies.
        unsafe { libc::close(fd) };
    }
    if stdio.tty {
        // SAFETY: no pointers.
        if unsafe { libc::setsid() } < 0 {
            return Err(InitError::sys("setsid", Errno::last()));
        }
        // The pty slave is stdout whatever stdin is (a caller may hand
        // /dev/null or a pipe as stdin to a terminal session).
        // SAFETY: isatty takes plain fds.
        let terminal = (0..=2)
            .find(|fd| unsafe { libc::isatty(*fd) } == 1)
            .ok_or_else(|| InitError::invalid("a terminal was asked for but no stdio is one"))?;
        // SAFETY: `terminal` is the pty slave.
        if unsafe { libc::ioctl(terminal, libc::TIOCSCTTY, 0) } < 0 {
            return Err(InitError::sys(
                "making the terminal the controlling tty (TIOCSCTTY)",
                Errno::last(),
            ));
        }
    }
    Ok(())
}

/// Apply the process hardening and `execve`. Runs with `/` already being
/// the container's root. Returns only on failure.
pub fn finish(process: &ProcessSpec, prepared: &Prepared) -> Result<Infallible, InitError> {
    // SAFETY: umask has no failure mode.
    unsafe { libc::umask(0o022) };
    if let Some(adj) = process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| InitError::invalid(format!("setting oom_score_adj to {adj}: {e}")))?;
    }
    set_rlimits(&prepared.rlimits)?;
    let user = user::resolve_in_container(&process.user)?;

    let known = caps::limit_bounding_set(prepared.caps)?;
    // Without no_new_privs a filter needs CAP_SYS_ADMIN, which the user
    // switch may take away: install it now. It allows the calls below.
    let seccomp_early = !process.no_new_privileges;
    if seccomp_early && let Some(filter) = &prepared.seccomp {
        filter.install()?;
    }
    user::switch_to(&user)?;
    caps::set_process_caps(CapSet(prepared.caps.0 & known.0))?;
    if process.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).context(|| "setting no_new_privs".to_string())?;
    }

    sys::chdir(&process.cwd)
        .context(|| format!("chdir to the working directory {}", process.cwd))?;
    let exe = find_executable(&process.args[0], &process.env, Path::new("/"))?;
    let exe_c = sys::cstring("executable", &exe)?;

    // Every inherited fd above 2 closes on exec (the error pipe already
    // does, so its closing tells the monitor the exec succeeded).
    // SAFETY: no pointers.
    if unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) } < 0 {
        return Err(InitError::sys("close_range", Errno::last()));
    }
    if !seccomp_early && let Some(filter) = &prepared.seccomp {
        filter.install()?;
    }

    let mut argv: Vec<*const libc::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = prepared.env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of C strings that outlive the call.
    unsafe { libc::execve(exe_c.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(InitError::sys(format!("exec {exe}"), Errno::last()))
}

fn set_rlimits(rlimits: &[(libc::__rlimit_resource_t, u64, u64)]) -> Result<(), InitError> {
    for &(resource, soft, hard) in rlimits {
        // SAFETY: getrlimit/setrlimit with a valid struct.
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(resource, &mut current) } < 0 {
            return Err(InitError::sys(
                format!("getrlimit({resource})"),
                Errno::last(),
            ));
        }
        let (soft, hard) = clamp_rlimit(soft, hard, current.rlim_max);
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(resource, &limit) } < 0 {
            return Err(InitError::sys(
                format!("setrlimit({resource}, {soft}, {hard})"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_names_resolve_and_unknown_ones_fail() {
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE").unwrap(),
            libc::RLIMIT_NOFILE
        );
        assert_eq!(rlimit_resource("nproc").unwrap(), libc::RLIMIT_NPROC);
        assert_eq!(
            rlimit_resource("RLIMIT_FILES").unwrap_err().to_string(),
            "unknown rlimit \"RLIMIT_FILES\""
        );
    }

    #[test]
    fn hard_limits_are_lowered_to_the_current_one() {
        assert_eq!(
            clamp_rlimit(1_048_576, 1_048_576, 524_288),
            (524_288, 524_288)
        );
        assert_eq!(clamp_rlimit(1024, 4096, 1_048_576), (1024, 4096));
        assert_eq!(
            clamp_rlimit(u64::MAX, u64::MAX, u64::MAX),
            (u64::MAX, u64::MAX)
        );
    }
}
