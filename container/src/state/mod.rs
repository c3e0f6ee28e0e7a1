//! The on-disk record of one container, in its state directory.
//!
//! The agent writes `spec.json`; the monitor writes everything else, each
//! file whole (temporary file + rename; `exit.json` and `error` are also
//! fsynced, the pid files need not outlive a reboot):
//!
//! | file | content | written |
//! |---|---|---|
//! | `monitor.pid` | `PID STARTTIME` of the monitor | when it detaches |
//! | `container.pid` | `PID STARTTIME` of the container's init (host pid) | once it has exec'd |
//! | `started` | RFC 3339 time the container started | with `container.pid` |
//! | `exit.json` | [`ExitRecord`] | after the container exited and its output was drained |
//! | `error` | why the start failed (one line) | on a failed start |
//! | `stdin` | a FIFO the agent writes the container's stdin to | when `spec.stdin` |
//! | `monitor.log` | the monitor's own errors after it detached | when there are any |
//!
//! Pids are recorded with their start time so that a pid reused by the
//! kernel for another process is never taken for the container.

mod atomic;
mod process;

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use atomic::{write_atomic, write_durable};
pub use process::{ProcessIdentity, send_signal};

use crate::spec::{ContainerSpec, SPEC_FILE};

pub const MONITOR_PID_FILE: &str = "monitor.pid";
pub const CONTAINER_PID_FILE: &str = "container.pid";
pub const STARTED_FILE: &str = "started";
pub const EXIT_FILE: &str = "exit.json";
pub const ERROR_FILE: &str = "error";
pub const STDIN_FIFO: &str = "stdin";
pub const MONITOR_LOG_FILE: &str = "monitor.log";

/// Exit code reported when the monitor died (e.g. `kill -9`) before it
/// could record the container's exit: 128 + SIGKILL, because the monitor
/// gives the container's init SIGKILL as parent-death signal, so the
/// container dies with it. (The kernel clears that signal when the init
/// switches to a non-root user: such a container keeps running
/// unsupervised, reads as `Running` while it lives, and its end is then
/// reported the same way, its real exit code being unknowable.)
pub const LOST_EXIT_CODE: i32 = 137;

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// `spec.json` only, or a monitor still starting the container.
    Created,
    /// The container's init is alive (`pid` on the host).
    Running {
        pid: i32,
        started_at: DateTime<Utc>,
    },
    Exited(ExitRecord),
    /// The start failed; nothing of the container is left.
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The process's exit status, or 128 + signal when a signal ended it.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// Killed by SIGKILL while its cgroup had seen an OOM kill.
    pub oom_killed: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
}

pub fn read_spec(dir: &Path) -> io::Result<ContainerSpec> {
    let path = dir.join(SPEC_FILE);
    let text = fs::read(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a valid container spec: {e}", path.display()),
        )
    })
}

/// The container's state as recorded in `dir`.
///
/// `Running` only while the recorded container pid is alive with its
/// recorded start time. If the monitor died without writing `exit.json`
/// (e.g. `kill -9`), the exit is unknowable except for how it ended: the
/// container init has the monitor's death as its SIGKILL parent-death
/// signal, so this reports `Exited` with [`LOST_EXIT_CODE`] (137), signal 9,
/// `oom_killed` false, `finished_at` = when this was first noticed; that
/// record is then saved as `exit.json` so every later read agrees.
pub fn read_status(dir: &Path) -> io::Result<Status> {
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("container state directory {} does not exist", dir.display()),
        ));
    }
    if let Some(status) = recorded_end(dir)? {
        return Ok(status);
    }
    let container = read_identity(dir, CONTAINER_PID_FILE);
    if let Some(container) = container
        && container.is_alive()
    {
        return Ok(Status::Running {
            pid: container.pid,
            started_at: started_at(dir).unwrap_or_else(Utc::now),
        });
    }
    let monitor = read_identity(dir, MONITOR_PID_FILE);
    if monitor.is_some_and(|m| m.is_alive()) {
        // Starting, or the container just exited and the monitor is
        // draining its output: exit.json follows shortly.
        return Ok(match container {
            Some(c) => Status::Running {
                pid: c.pid,
                started_at: started_at(dir).unwrap_or_else(Utc::now),
            },
            None => Status::Created,
        });
    }
    // The monitor is gone: it may have written its record just before.
    if let Some(status) = recorded_end(dir)? {
        return Ok(status);
    }
    match (monitor, container) {
        (None, None) => Ok(Status::Created),
        (Some(_), None) => Ok(Status::Failed {
            message: "the monitor exited before the container started".into(),
        }),
        (_, Some(_)) => {
            let lost = ExitRecord {
                exit_code: LOST_EXIT_CODE,
                signal: Some(libc::SIGKILL),
                oom_killed: false,
                started_at: started_at(dir),
                finished_at: Utc::now(),
            };
            save_exit_once(dir, &lost)?;
            // Another reader may have saved its own record first.
            Ok(recorded_end(dir)?.unwrap_or(Status::Exited(lost)))
        }
    }
}

/// The monitor's pid, if it is still running.
pub fn monitor_pid(dir: &Path) -> Option<i32> {
    live_pid(dir, MONITOR_PID_FILE)
}

/// The container init's host pid, if it is still running.
pub fn container_pid(dir: &Path) -> Option<i32> {
    live_pid(dir, CONTAINER_PID_FILE)
}

/// Sends `signal` to the container's init through a pidfd opened on the
/// verified process.
pub fn signal_container(dir: &Path, signal: i32) -> io::Result<()> {
    let identity = read_identity(dir, CONTAINER_PID_FILE).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no container process recorded in {}", dir.display()),
        )
    })?;
    let pidfd = identity.open_pidfd().map_err(|e| {
        io::Error::new(e.kind(), format!("container process {}: {e}", identity.pid))
    })?;
    send_signal(&pidfd, signal)
}

/// When the container started, from `started`.
pub fn started_at(dir: &Path) -> Option<DateTime<Utc>> {
    let text = fs::read_to_string(dir.join(STARTED_FILE)).ok()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn read_identity(dir: &Path, file: &str) -> Option<ProcessIdentity> {
    let text = fs::read_to_string(dir.join(file)).ok()?;
    ProcessIdentity::parse_record(&text)
}

pub fn record_identity(dir: &Path, file: &str, identity: ProcessIdentity) -> io::Result<()> {
    write_atomic(&dir.join(file), identity.to_record().as_bytes())
}

pub fn record_started(dir: &Path, at: DateTime<Utc>) -> io::Result<()> {
    write_atomic(
        &dir.join(STARTED_FILE),
        format!("{}\n", at.to_rfc3339()).as_bytes(),
    )
}

pub fn record_exit(dir: &Path, record: &ExitRecord) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    write_durable(&dir.join(EXIT_FILE), &json)
}

pub fn record_error(dir: &Path, message: &str) -> io::Result<()> {
    write_durable(&dir.join(ERROR_FILE), format!("{message}\n").as_bytes())
}

fn live_pid(dir: &Path, file: &str) -> Option<i32> {
    read_identity(dir, file)
        .filter(|identity| identity.is_alive())
        .map(|identity| identity.pid)
}

fn recorded_end(dir: &Path) -> io::Result<Option<Status>> {
    let exit_path = dir.join(EXIT_FILE);
    match fs::read(&exit_path) {
        Ok(bytes) => {
            let record = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not an exit record: {e}", exit_path.display()),
                )
            })?;
            return Ok(Some(Status::Exited(record)));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match fs::read_to_string(dir.join(ERROR_FILE)) {
        Ok(text) => Ok(Some(Status::Failed {
            message: text.trim_end().to_string(),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `exit.json` unless one exists (a hard link fails if it does).
fn save_exit_once(dir: &Path, record: &ExitRecord) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".exit.json.lost{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        match fs::hard_link(&tmp, dir.join(EXIT_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests;
