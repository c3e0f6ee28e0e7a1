//! A `skiff server` child process with its own port and data directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{free_port, skiff_bin};

/// Which store the server keeps its objects in.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// The embedded SQLite store in the data directory.
    Sqlite,
    /// An etcd at this endpoint, under its own key prefix.
    Etcd { endpoint: String, prefix: String },
}

pub struct Server {
    child: Child,
    /// Kept so the directory is removed when the server goes.
    _dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub base_url: String,
    /// What it was started with, for [`Server::restart`].
    command: Command,
}

impl Server {
    pub fn start(store: StoreChoice) -> anyhow::Result<Server> {
        Server::start_with(store, &[])
    }

    /// Starts with extra `skiff server` flags (e.g. `--lab-profile`).
    pub fn start_with(store: StoreChoice, extra: &[&str]) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-").tempdir()?;
        let data_dir = dir.path().join("data");
        let kubeconfig = dir.path().join("kubeconfig");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(skiff_bin());
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(&listen)
            .arg("--write-kubeconfig")
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("server.log"),
            )?));
        cmd.args(extra);
        if let StoreChoice::Etcd { endpoint, prefix } = &store {
            cmd.arg("--etcd")
                .arg(endpoint)
                .arg("--etcd-prefix")
                .arg(prefix);
        }
        let child = cmd.spawn().context("starting skiff server")?;
        let mut server = Server {
            child,
            _dir: dir,
            data_dir,
            kubeconfig,
            base_url: format!("http://{listen}"),
            command: cmd,
        };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    /// The server's own log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (SIGKILL, by PID: a crash, nothing flushed on the
    /// way out) and starts it again with the same flags, data directory,
    /// store and port; returns once it is ready. Its log goes on in the
    /// same file.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self._dir.path().join("server.log"))?;
        self.command.stderr(Stdio::from(log));
        self.child = self.command.spawn().context("restarting skiff server")?;
        self.wait_ready(Duration::from_secs(30))
    }

    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let addr = self.base_url.trim_start_matches("http://").to_string();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!("skiff server exited early ({status}):\n{}", self.log());
            }
            if readyz(&addr) && self.kubeconfig.exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("skiff server not ready after {limit:?}:\n{}", self.log())
    }
}

/// `GET /readyz` over a plain socket, so the harness needs no runtime.
fn readyz(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
