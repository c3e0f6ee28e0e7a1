//! Test support shared by this crate's tests, the API server's tests and the
//! benchmarks: a throwaway etcd server and unique key prefixes.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::etcd::EtcdStore;

/// The etcd binary (Debian's `etcd-server`); `SKIFF_ETCD_BIN` overrides it.
const DEFAULT_ETCD_BINARY: &str = "/usr/bin/etcd";

/// How long a fresh etcd may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Start attempts: a port picked as free can be taken before etcd binds it.
const START_ATTEMPTS: usize = 3;

/// A single-member etcd on 127.0.0.1, its data on tmpfs (etcd 3.4 cannot
/// skip fsync, so a tmpfs keeps it fast). Killed, and its data removed, on
/// drop.
pub struct EtcdServer {
    child: Child,
    endpoint: String,
    /// Data and log; removed after `Drop::drop` has killed the process.
    dir: tempfile::TempDir,
}

impl EtcdServer {
    /// Starts etcd and waits until it serves requests (about 100-300 ms).
    /// Synchronous (it only blocks briefly), so it works in plain `#[test]`s
    /// as well as inside a tokio runtime.
    ///
    /// etcd is told to die with the thread that started it (so a test killed
    /// without unwinding leaves no etcd behind): start it from a thread that
    /// outlives the server, e.g. the test's own thread or `main`, not from
    /// `spawn_blocking` (whose threads exit when idle).
    pub fn start() -> anyhow::Result<EtcdServer> {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start() {
                Ok(server) => return Ok(server),
                Err(error) => failures.push(format!("{error:#}")),
            }
        }
        bail!("etcd did not start: {}", failures.join("; "))
    }

    /// `http://127.0.0.1:PORT`, for [`EtcdStore::connect`] or `--etcd`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The etcd process's id (e.g. to read its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding etcd's data and `etcd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A store on this server under a fresh [`unique_prefix`].
    pub async fn store(&self) -> anyhow::Result<EtcdStore> {
        Ok(EtcdStore::connect(&[self.endpoint()], &unique_prefix()).await?)
    }

    fn try_start() -> anyhow::Result<EtcdServer> {
        let dir = tempfile::Builder::new()
            .prefix("skiff-etcd-")
            .tempdir_in(tmpfs_dir())
            .context("creating etcd data dir")?;
        let (client_port, peer_port) = two_free_ports()?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = File::create(dir.path().join("etcd.log")).context("creating etcd log")?;
        let binary =
            std::env::var("SKIFF_ETCD_BIN").unwrap_or_else(|_| DEFAULT_ETCD_BINARY.to_owned());
        let mut command = Command::new(&binary);
        command
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--name", "default"])
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            // One member: a short election timeout makes it leader in ~0.1 s
            // instead of ~1 s.
            .args(["--heartbeat-interval", "10", "--election-timeout", "100"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // If the test process dies without running destructors (killed by a
        // test runner's timeout), take etcd with it.
        // SAFETY: prctl is async-signal-safe and touches no shared state.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("running {binary}"))?;
        let mut server = EtcdServer {
            child,
            endpoint: client_url,
            dir,
        };
        server
            .wait_ready(client_port)
            .with_context(|| format!("etcd log: {}", server.log_tail()))?;
        Ok(server)
    }

    fn wait_ready(&mut self, client_port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("etcd exited early ({status})");
            }
            if healthy(client_port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("etcd did not answer within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // Our own child, by its PID via the handle; then reap it so the data
        // dir is unused when TempDir removes it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks etcd's `/health` endpoint (served on the client port beside gRPC),
/// which reports true once there is a leader and reads succeed.
fn healthy(client_port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], client_port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
    let request = b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.contains("\"health\":\"true\"")
}

fn tmpfs_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Two distinct ports that were free a moment ago.
fn two_free_ports() -> anyhow::Result<(u16, u16)> {
    let first = TcpListener::bind("127.0.0.1:0")?;
    let second = TcpListener::bind("127.0.0.1:0")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// A key prefix no other test (in this process or another) uses, e.g.
/// `/skiff-test-1234-5-1700000000000000000/`.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "/skiff-test-{}-{}-{nanos}/",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
