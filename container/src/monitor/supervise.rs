//! The monitor's loop once the container runs: copy its output into the
//! log, relay stdin, wait for its exit, clean up and record the exit.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::log_sink::LogSink;
use super::start::Running;
use super::stdin_relay::StdinState;
use super::sys::{self, Context};
use crate::logs::Stream;
use crate::state::{self, ExitRecord};

/// How long an unterminated line waits for its newline before it is
/// written as a partial record.
const PARTIAL_FLUSH_AFTER: Duration = Duration::from_secs(1);
/// How long output is still drained after the container's processes are
/// gone (a writer outside the cgroup could hold a pipe open forever).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Runs until the container has exited and its exit is recorded.
/// Problems that do not stop the container are passed to `log_error`.
pub fn supervise(
    state_dir: &Path,
    mut running: Running,
    log_error: &dyn Fn(&str),
) -> Result<(), String> {
    let mut writer = LogSink::open(&running.spec.log, log_error);
    let mut outputs: Vec<(OwnedFd, Stream)> = std::mem::take(&mut running.io.outputs);
    let mut stdin = running.io.stdin.take().map(StdinState::new);
    let mut exit: Option<ExitRecord> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if exit.is_some() && outputs.is_empty() {
            break;
        }
        if drain_deadline.is_some_and(|d| Instant::now() >= d) {
            log_error("output still open after the container's processes ended; stopped reading");
            break;
        }
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut roles: Vec<Role> = Vec::new();
        if exit.is_none() {
            fds.push(pollfd(running.pidfd.as_raw_fd(), libc::POLLIN));
            roles.push(Role::Exit);
        }
        for (i, (fd, _)) in outputs.iter().enumerate() {
            fds.push(pollfd(fd.as_raw_fd(), libc::POLLIN));
            roles.push(Role::Output(i));
        }
        if exit.is_none()
            && let Some(relay) = &stdin
        {
            if relay.pending.is_empty() {
                fds.push(pollfd(relay.relay.fifo.as_raw_fd(), libc::POLLIN));
                roles.push(Role::StdinIn);
            } else {
                fds.push(pollfd(relay.relay.target.as_raw_fd(), libc::POLLOUT));
                roles.push(Role::StdinOut);
            }
        }
        let timeout = match drain_deadline {
            Some(deadline) => {
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as i32
                    + 1
            }
            None if writer.has_partial() => PARTIAL_FLUSH_AFTER.as_millis() as i32,
            None => -1,
        };
        let ready = sys::poll(&mut fds, timeout).context(|| "waiting for the container".into())?;
        if ready == 0 {
            writer.flush_partial(log_error);
            continue;
        }
        let mut closed_outputs = Vec::new();
        for (pfd, role) in fds.iter().zip(&roles) {
            if pfd.revents == 0 {
                continue;
            }
            match *role {
                Role::Exit => {
                    exit = Some(reap(&running, log_error)?);
                    stdin = None;
                    drain_deadline = Some(Instant::now() + DRAIN_LIMIT);
                }
                Role::Output(i) => {
                    let (fd, stream) = &outputs[i];
                    match sys::read_some(fd.as_fd(), &mut buf) {
                        Ok(0) => closed_outputs.push(i),
                        Ok(n) => writer.write(*stream, &buf[..n], log_error),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            log_error(&format!("reading the container's {}: {e}", stream.as_str()));
                            closed_outputs.push(i);
                        }
                    }
                }
                Role::StdinIn | Role::StdinOut => {
                    if let Some(relay) = &mut stdin
                        && !relay.step(pfd.revents, &mut buf, log_error)
                    {
                        stdin = None;
                    }
                }
            }
        }
        for i in closed_outputs.into_iter().rev() {
            outputs.remove(i);
        }
    }
    writer.finish(log_error);
    let record = exit.ok_or("the loop ended before the container exited")?;
    let path = &running.spec.cgroup.path;
    if let Err(e) = running.cgroups.remove(path) {
        log_error(&format!("removing cgroup {path}: {e}"));
    }
    state::record_exit(state_dir, &record).context(|| "recording the exit".into())
}

/// Reaps the container's init and kills whatever is left in its cgroup
/// (their pipe ends close, so the drain that follows ends). The pid
/// namespace died with its init, so usually only an exec helper is left.
fn reap(running: &Running, log_error: &dyn Fn(&str)) -> Result<ExitRecord, String> {
    let status = sys::wait_child(running.pid).context(|| "waiting for the container".into())?;
    let finished_at = Utc::now();
    let path = &running.spec.cgroup.path;
    let oom_killed = status.signal == Some(libc::SIGKILL)
        && running.cgroups.oom_kills(path).is_ok_and(|kills| kills > 0);
    let empty = running.cgroups.pids(path).is_ok_and(|pids| pids.is_empty());
    if !empty && let Err(e) = running.cgroups.kill_all(path) {
        log_error(&format!("killing what is left in the cgroup: {e}"));
    }
    Ok(ExitRecord {
        exit_code: status.code,
        signal: status.signal,
        oom_killed,
        started_at: Some(running.started_at),
        finished_at,
    })
}

#[derive(Clone, Copy)]
enum Role {
    Exit,
    Output(usize),
    StdinIn,
    StdinOut,
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
