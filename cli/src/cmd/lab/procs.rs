//! The lab's processes: started detached (own session, logs to files) in a
//! lab netns, stopped by PID after checking it is still the same process,
//! and the sweep that finds whatever the lab's processes left behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netns;
use super::state::LabProcess;
use crate::errors::{CliError, CliResult};

/// `/proc/PID/stat`: (state, start time), or None when there is no such process.
fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall; the rest starts at field 3.
    let start: u64 = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// Still the process we started, and not a zombie.
pub fn alive(p: &LabProcess) -> bool {
    matches!(stat(p.pid), Some((state, t)) if t == p.start_time && state != 'Z')
}

/// Starts `program ARGS` in netns `ns`, in a session of its own, stdout and
/// stderr appended to `log`. `keep_fd`: a descriptor the child gets as fd 3.
pub fn spawn(
    role: &str,
    program: &Path,
    args: &[String],
    ns: &str,
    log: PathBuf,
    keep_fd: Option<i32>,
) -> CliResult<LabProcess> {
    let ns_file = netns::open(ns)?;
    let ns_fd = std::os::fd::AsRawFd::as_raw_fd(&ns_file);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| CliError::msg(format!("opening {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| CliError::msg(format!("opening {}: {e}", log.display())))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: only async-signal-safe calls (setns, setsid, dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = keep_fd {
                if fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| CliError::msg(format!("starting {role} ({}): {e}", program.display())))?;
    drop(ns_file);
    let pid = child.id() as i32;
    // The child is not waited for here: `lab up` exits and init reaps it.
    std::mem::forget(child);
    let start_time = start_time(pid)
        .ok_or_else(|| CliError::msg(format!("{role} exited at once; see {}", log.display())))?;
    Ok(LabProcess {
        role: role.to_string(),
        pid,
        start_time,
        netns: ns.to_string(),
        log,
        program: program.to_path_buf(),
        args: args.to_vec(),
    })
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a PID checked just before to be ours.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Reaps `pid` if it is our child (a failed `up` started it); harmless otherwise.
fn reap(pid: i32) {
    // SAFETY: waitpid with WNOHANG on one PID.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
    }
}

/// SIGTERM, up to `grace` for them to end, then SIGKILL.
pub fn stop(procs: &[LabProcess], grace: Duration) {
    let live: Vec<&LabProcess> = procs.iter().filter(|p| alive(p)).collect();
    for p in &live {
        signal(p.pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && live.iter().any(|p| alive(p)) {
        live.iter().for_each(|p| reap(p.pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in live.iter().filter(|p| alive(p)) {
        signal(p.pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && live.iter().any(|p| alive(p)) {
        live.iter().for_each(|p| reap(p.pid));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes that belong to the lab although no state names them: a path
/// under `dir` among their arguments (container monitors, agents), or a
/// network namespace of the lab (`ns_inodes`). Never this process or its
/// ancestors.
pub fn leftovers(dir: &Path, ns_inodes: &[u64]) -> Vec<(i32, String)> {
    use std::os::unix::fs::MetadataExt;
    let me = std::process::id() as i32;
    let ancestors = ancestors(me);
    let dir = dir.to_string_lossy().into_owned();
    let under = |arg: &str| {
        let value = arg.split_once('=').map_or(arg, |(_, v)| v);
        value == dir || value.starts_with(&format!("{dir}/"))
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me || ancestors.contains(&pid) || matches!(stat(pid), Some(('Z', _)) | None) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let in_ns = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .is_ok_and(|m| ns_inodes.contains(&m.ino()));
        if in_ns || args.iter().any(|a| under(a)) {
            found.push((pid, args.join(" ").trim().to_string()));
        }
    }
    found
}

fn ancestors(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut cur = pid;
    for _ in 0..64 {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{cur}/stat")) else {
            break;
        };
        let Some(ppid) = text
            .rfind(')')
            .and_then(|i| text[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            break;
        };
        if ppid <= 1 {
            break;
        }
        out.push(ppid);
        cur = ppid;
    }
    out
}

/// SIGKILLs the [`leftovers`] until none is left (or a few seconds passed);
/// returns those still there.
pub fn sweep(dir: &Path, ns_inodes: &[u64]) -> Vec<(i32, String)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers(dir, ns_inodes);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        for (pid, _) in &left {
            signal(*pid, libc::SIGKILL);
            reap(*pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_never_a_leftover() {
        let me = std::process::id() as i32;
        let p = LabProcess {
            role: "me".into(),
            pid: me,
            start_time: start_time(me).unwrap(),
            netns: String::new(),
            log: PathBuf::new(),
            program: PathBuf::new(),
            args: Vec::new(),
        };
        assert!(alive(&p));
        let other = LabProcess {
            start_time: p.start_time + 1,
            ..p.clone()
        };
        assert!(!alive(&other), "a different start time is another process");
        let exe = std::env::current_exe().unwrap();
        let left = leftovers(exe.parent().unwrap(), &[]);
        assert!(left.iter().all(|(pid, _)| *pid != me));
    }

    #[test]
    fn a_child_with_the_dir_in_its_arguments_is_found_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        std::fs::write(&marker, "").unwrap();
        let mut child = Command::new("tail").arg("-f").arg(&marker).spawn().unwrap();
        let pid = child.id() as i32;
        // Until the child has exec'd, its command line is still ours.
        let mut found = Vec::new();
        for _ in 0..200 {
            found = leftovers(dir.path(), &[]);
            if found.iter().any(|(p, _)| *p == pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(found.iter().any(|(p, _)| *p == pid), "{found:?}");
        assert!(sweep(dir.path(), &[]).is_empty());
        // The sweep reaped it (it is our child).
        let _ = child.wait();
        assert!(stat(pid).is_none(), "pid {pid} is still there");
    }
}
