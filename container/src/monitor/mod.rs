//! `skiff container-monitor STATE_DIR`: the per-container supervisor.
//!
//! Contract with the agent, which starts it with stdio on `/dev/null` and
//! waits for it: it exits 0 once the container's process has exec'd (the
//! state then says `Running`, or already `Exited` for very short
//! programs), or 1 with a one-line reason on stderr when the start failed
//! (nothing is then left: no process, no cgroup; the reason is also in the
//! state directory's `error` file).
//!
//! To outlive the agent it forks: the child calls `setsid` and becomes the
//! long-lived monitor (SIGHUP and SIGPIPE ignored, stdio on `/dev/null`,
//! its own later errors appended to `monitor.log` in the state directory);
//! the parent only relays "started" or the error and exits.
//!
//! A state directory is started at most once: the monitor holds a lock
//! on it while it lives and refuses a directory whose container already
//! started (see `claim`).

mod claim;
mod log_sink;
pub(crate) mod self_join;
mod start;
mod stdin_relay;
mod stdio;
mod supervise;
pub(crate) mod sys;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use chrono::Utc;

use crate::state::{self, MONITOR_LOG_FILE, MONITOR_PID_FILE, ProcessIdentity};
use sys::{Context, Forked};

/// Opens a pseudo-terminal pair, both ends close-on-exec; the agent uses it
/// for `exec --tty` sessions.
pub use sys::openpty;

/// Body of `skiff container-monitor STATE_DIR`; returns the exit code of
/// the process the agent started.
pub fn run(state_dir: &Path) -> i32 {
    // The monitor leaves the agent's working directory (it would pin it).
    let state_dir = match std::path::absolute(state_dir) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("container monitor: {}: {e}", state_dir.display());
            return 1;
        }
    };
    let state_dir = state_dir.as_path();
    // Held (inherited over the fork) by the monitor for its whole life.
    let _claim = match claim::claim(state_dir) {
        Ok(lock) => lock,
        Err(message) => {
            eprintln!("{message}");
            return 1;
        }
    };
    let (report_read, report_write) = match sys::pipe() {
        Ok(pipe) => pipe,
        Err(e) => {
            eprintln!("container monitor: creating a pipe: {e}");
            return 1;
        }
    };
    match sys::fork() {
        Err(e) => {
            eprintln!("container monitor: fork: {e}");
            1
        }
        Ok(Forked::Child) => {
            drop(report_read);
            let code = monitor_main(state_dir, report_write);
            std::process::exit(code)
        }
        Ok(Forked::Parent { .. }) => {
            drop(report_write);
            relay_report(report_read)
        }
    }
}

/// The parent's side: wait for the monitor's first word.
fn relay_report(report_read: OwnedFd) -> i32 {
    let report = match sys::read_to_end(report_read) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            eprintln!("container monitor: reading its report: {e}");
            return 1;
        }
    };
    if report.trim_end() == STARTED {
        return 0;
    }
    match report.strip_prefix(ERROR_PREFIX) {
        Some(reason) => eprintln!("{}", reason.trim_end()),
        None => eprintln!("container monitor: exited before it reported the start"),
    }
    1
}

const STARTED: &str = "started";
const ERROR_PREFIX: &str = "error: ";

/// The long-lived monitor: start, report, supervise.
fn monitor_main(state_dir: &Path, report: OwnedFd) -> i32 {
    if let Err(e) = detach(state_dir) {
        let message = format!("container monitor: {e}");
        let _ = state::record_error(state_dir, &message);
        let _ = sys::write_all(report, format!("{ERROR_PREFIX}{message}\n").as_bytes());
        return 1;
    }
    let log_error = |message: &str| append_monitor_log(state_dir, message);
    let running = state::read_spec(state_dir)
        .map_err(|e| e.to_string())
        .and_then(|spec| start::start(state_dir, spec))
        .and_then(|running| match record_running(state_dir, &running) {
            Ok(()) => Ok(running),
            Err(e) => Err(start::abandon(running, e)),
        });
    let running = match running {
        Ok(running) => running,
        Err(message) => {
            let message = one_line(&message);
            if let Err(e) = state::record_error(state_dir, &message) {
                log_error(&format!("recording the start error: {e}"));
            }
            log_error(&format!("start failed: {message}"));
            let _ = sys::write_all(report, format!("{ERROR_PREFIX}{message}\n").as_bytes());
            return 1;
        }
    };
    if let Err(e) = sys::write_all(report, format!("{STARTED}\n").as_bytes()) {
        log_error(&format!("reporting the start: {e}"));
    }
    match supervise::supervise(state_dir, running, &log_error) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&e);
            1
        }
    }
}

/// New session, signals the agent's terminal could send ignored, stdio on
/// `/dev/null`, and our own identity recorded.
fn detach(state_dir: &Path) -> Result<(), String> {
    sys::setsid().context(|| "setsid".into())?;
    std::env::set_current_dir("/").context(|| "chdir /".into())?;
    sys::ignore_signal(libc::SIGHUP);
    sys::ignore_signal(libc::SIGPIPE);
    let null = sys::dev_null(libc::O_RDWR).context(|| "opening /dev/null".into())?;
    for target in 0..=2 {
        sys::dup_onto(null.as_fd(), target).context(|| "redirecting stdio to /dev/null".into())?;
    }
    let me = ProcessIdentity::of(std::process::id() as i32)
        .context(|| "reading own /proc entry".into())?;
    state::record_identity(state_dir, MONITOR_PID_FILE, me)
        .context(|| "recording the monitor's pid".into())
}

fn record_running(state_dir: &Path, running: &start::Running) -> Result<(), String> {
    let identity = ProcessIdentity::of(running.pid)
        .context(|| "reading the container's /proc entry".into())?;
    state::record_started(state_dir, running.started_at)
        .context(|| "recording the start time".into())?;
    state::record_identity(state_dir, state::CONTAINER_PID_FILE, identity)
        .context(|| "recording the container's pid".into())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn append_monitor_log(state_dir: &Path, message: &str) {
    let line = format!("{} {}\n", Utc::now().to_rfc3339(), message);
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join(MONITOR_LOG_FILE))
    {
        let _ = file.write_all(line.as_bytes());
    }
}
