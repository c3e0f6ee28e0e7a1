//! The container's stdio: pipes (or a pty) whose far ends the monitor
//! keeps, and the `stdin` FIFO in the state directory that the agent writes
//! the container's input to.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::sys::{self, Context};
use crate::init::Stdio;
use crate::logs::Stream;
use crate::state::STDIN_FIFO;

/// The monitor's side.
pub struct MonitorSide {
    /// Output to copy into the log (one pty master counts as stdout).
    pub outputs: Vec<(OwnedFd, Stream)>,
    pub stdin: Option<StdinRelay>,
}

/// Copies what the agent writes into the FIFO to the container's stdin.
pub struct StdinRelay {
    pub fifo_path: PathBuf,
    /// The FIFO, read end, non-blocking.
    pub fifo: OwnedFd,
    /// The container's stdin (pipe write end or pty master copy).
    pub target: OwnedFd,
    /// Close the container's stdin after the first writer goes away.
    pub once: bool,
}

/// Both sides; the container's is handed to the init after the clone.
pub struct ContainerStdio {
    pub monitor: MonitorSide,
    pub container: Stdio,
}

pub fn create(
    state_dir: &Path,
    tty: bool,
    stdin: bool,
    stdin_once: bool,
) -> Result<ContainerStdio, String> {
    let fifo = if stdin {
        Some(open_stdin_fifo(state_dir)?)
    } else {
        None
    };
    if tty {
        let (master, slave) = sys::openpty().context(|| "opening a pty".into())?;
        // The terminal is stdin too even without `stdin` (as `docker run
        // -t`): reads then wait, as on a terminal nobody types on.
        let container_stdin = slave.try_clone().context(|| "duplicating the pty".into())?;
        let stdin = fifo
            .map(|(fifo_path, fifo)| -> Result<StdinRelay, String> {
                Ok(StdinRelay {
                    fifo_path,
                    fifo,
                    target: master
                        .try_clone()
                        .context(|| "duplicating the pty".into())?,
                    once: stdin_once,
                })
            })
            .transpose()?;
        sys::set_nonblocking(master.as_fd(), true).context(|| "pty".into())?;
        let stdout = slave.try_clone().context(|| "duplicating the pty".into())?;
        return Ok(ContainerStdio {
            monitor: MonitorSide {
                outputs: vec![(master, Stream::Stdout)],
                stdin,
            },
            container: Stdio {
                stdin: container_stdin,
                stdout,
                stderr: slave,
                tty: true,
            },
        });
    }
    let (stdout_r, stdout_w) = sys::pipe().context(|| "creating the stdout pipe".into())?;
    let (stderr_r, stderr_w) = sys::pipe().context(|| "creating the stderr pipe".into())?;
    for fd in [&stdout_r, &stderr_r] {
        sys::set_nonblocking(fd.as_fd(), true).context(|| "output pipe".into())?;
    }
    let (container_stdin, stdin) = match fifo {
        Some((fifo_path, fifo)) => {
            let (r, w) = sys::pipe().context(|| "creating the stdin pipe".into())?;
            sys::set_nonblocking(w.as_fd(), true).context(|| "stdin pipe".into())?;
            let relay = StdinRelay {
                fifo_path,
                fifo,
                target: w,
                once: stdin_once,
            };
            (r, Some(relay))
        }
        None => (
            sys::dev_null(libc::O_RDONLY).context(|| "opening /dev/null".into())?,
            None,
        ),
    };
    Ok(ContainerStdio {
        monitor: MonitorSide {
            outputs: vec![(stdout_r, Stream::Stdout), (stderr_r, Stream::Stderr)],
            stdin,
        },
        container: Stdio {
            stdin: container_stdin,
            stdout: stdout_w,
            stderr: stderr_w,
            tty: false,
        },
    })
}

/// A fresh FIFO opened for reading without waiting for a writer.
fn open_stdin_fifo(state_dir: &Path) -> Result<(PathBuf, OwnedFd), String> {
    let path = state_dir.join(STDIN_FIFO);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing the old {}: {e}", path.display()));
        }
        _ => {}
    }
    sys::mkfifo(&path, 0o600).context(|| format!("creating the FIFO {}", path.display()))?;
    let fd = reopen_fifo(&path)?;
    Ok((path, fd))
}

pub fn reopen_fifo(path: &Path) -> Result<OwnedFd, String> {
    sys::open(path, libc::O_RDONLY | libc::O_NONBLOCK)
        .context(|| format!("opening the FIFO {}", path.display()))
}
