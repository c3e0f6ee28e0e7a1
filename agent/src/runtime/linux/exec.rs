//! `exec_sync` and interactive `exec`: the helper program's
//! `container-exec` run as the agent's child, with pipes or a pty.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::BoxFuture;
use skiff_container::monitor::openpty;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::process::Command;

use super::{LinuxRuntime, failed};
use crate::runtime::{
    ContainerId, ExecOutput, ExecRequest, ExecSession, RuntimeError, RuntimeResult, TerminalSize,
};

impl LinuxRuntime {
    fn exec_command(
        &self,
        id: &ContainerId,
        command: &[String],
        tty: bool,
        stdin: bool,
    ) -> RuntimeResult<Command> {
        if command.is_empty() {
            return Err(RuntimeError::InvalidConfig("exec: no command given".into()));
        }
        let record = self.container_record(id)?;
        let dir = self.shared.paths.container(&record.id).dir;
        if skiff_container::state::container_pid(&dir).is_none() {
            return Err(RuntimeError::Failed(format!(
                "container {id} is not running"
            )));
        }
        let mut cmd = Command::new(&self.shared.config.helper_program);
        cmd.arg("container-exec").arg(&dir);
        if tty {
            cmd.arg("--tty");
        }
        if stdin {
            cmd.arg("--stdin");
        }
        cmd.arg("--").args(command).kill_on_drop(true);
        Ok(cmd)
    }

    pub(super) async fn exec_sync_impl(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecOutput> {
        let mut cmd = self.exec_command(id, command, false, false)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| failed("starting container-exec", e))?;
        // kill_on_drop: a timed-out command is killed with the future.
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(ExecOutput {
                exit_code: exit_code(out.status),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Ok(Err(e)) => Err(failed("waiting for container-exec", e)),
            Err(_) => Err(RuntimeError::Failed(format!(
                "command {command:?} timed out after {timeout:?}"
            ))),
        }
    }

    pub(super) async fn exec_impl(
        &self,
        id: &ContainerId,
        request: ExecRequest,
    ) -> RuntimeResult<ExecSession> {
        let mut cmd = self.exec_command(id, &request.command, request.tty, request.stdin)?;
        if request.tty {
            return exec_on_pty(cmd, request.stdin);
        }
        cmd.stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| failed("starting container-exec", e))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::pin(s) as Pin<Box<dyn AsyncWrite + Send>>);
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::pin(s) as Pin<Box<dyn AsyncRead + Send>>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::pin(s) as Pin<Box<dyn AsyncRead + Send>>);
        Ok(ExecSession {
            stdin,
            stdout,
            stderr,
            resize: None,
            exit: exit_of(child),
        })
    }
}

/// The exec session's exit code, once `container-exec` ends.
fn exit_of(mut child: tokio::process::Child) -> BoxFuture<'static, RuntimeResult<i32>> {
    Box::pin(async move {
        let status = child
            .wait()
            .await
            .map_err(|e| failed("waiting for container-exec", e))?;
        Ok(exit_code(status))
    })
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

fn exec_on_pty(mut cmd: Command, stdin: bool) -> RuntimeResult<ExecSession> {
    let (master, slave) = openpty().map_err(|e| failed("openpty", e))?;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| failed("dup", e));
    cmd.stdin(Stdio::from(dup(&slave)?))
        .stdout(Stdio::from(dup(&slave)?))
        .stderr(Stdio::from(slave));
    let child = cmd
        .spawn()
        .map_err(|e| failed("starting container-exec", e))?;
    // Our copies of the slave are closed (moved into the command): the
    // master reads EOF (EIO) once the process and its children are gone.
    drop(cmd);
    set_nonblocking(&master).map_err(|e| failed("pty", e))?;
    let reader = PtyMaster::new(dup(&master)?).map_err(|e| failed("pty", e))?;
    let writer = if stdin {
        Some(
            Box::pin(PtyMaster::new(dup(&master)?).map_err(|e| failed("pty", e))?)
                as Pin<Box<dyn AsyncWrite + Send>>,
        )
    } else {
        None
    };
    let (resize_tx, mut resize_rx) = tokio::sync::mpsc::unbounded_channel::<TerminalSize>();
    tokio::spawn(async move {
        while let Some(size) = resize_rx.recv().await {
            if let Err(e) = set_window_size(&master, size) {
                tracing::debug!(error = %e, "resizing an exec terminal");
            }
        }
    });
    Ok(ExecSession {
        stdin: writer,
        stdout: Some(Box::pin(reader)),
        stderr: None,
        resize: Some(resize_tx),
        exit: exit_of(child),
    })
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_window_size(master: &OwnedFd, size: TerminalSize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One end of the pty's master, async over tokio's reactor.
struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    fn new(fd: OwnedFd) -> io::Result<PtyMaster> {
        Ok(PtyMaster {
            // SAFETY: the AsyncFd owns the fd, which stays open as long as it does.
            fd: unsafe {
                AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)
            }
            .map_err(io::Error::from)?,
        })
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|fd| {
                // SAFETY: reads into the caller's initialised buffer.
                let n = unsafe {
                    libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The slave side is closed: the terminal's output has ended.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            let result = guard.try_io(|fd| {
                // SAFETY: writes from the caller's buffer.
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_pty_carries_output_and_sizes() {
        let (master, slave) = openpty().unwrap();
        set_nonblocking(&master).unwrap();
        set_window_size(
            &master,
            TerminalSize {
                width: 100,
                height: 40,
            },
        )
        .unwrap();
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize.
        assert_eq!(
            unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
            0
        );
        assert_eq!((ws.ws_col, ws.ws_row), (100, 40));
        let mut writer = PtyMaster::new(master.try_clone().unwrap()).unwrap();
        writer.write_all(b"hi\n").await.unwrap();
        let mut slave_file = std::fs::File::from(slave);
        let mut got = [0u8; 3];
        std::io::Read::read_exact(&mut slave_file, &mut got).unwrap();
        assert_eq!(&got, b"hi\n");
        std::io::Write::write_all(&mut slave_file, b"out").unwrap();
        drop(slave_file);
        let mut reader = PtyMaster::new(master).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        // Echo of the input, then the output; EIO at the end reads as EOF.
        assert!(String::from_utf8_lossy(&out).ends_with("out"), "{out:?}");
    }
}
