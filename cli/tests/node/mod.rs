//! Real containers in tests, safely: each test runs in a network namespace
//! of its own (the host's network is never touched), with its own state
//! directory, image store, cgroup parent and CNI bridge, all removed by a
//! guard even when the test fails.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use skiff_agent::runtime::linux::{LinuxRuntime, LinuxRuntimeConfig};
use skiff_container::cgroups::Cgroups;

pub const BIN: &str = env!("CARGO_BIN_EXE_skiff");

/// Moves the calling thread (and the threads and processes it starts
/// later) into a new network namespace with `lo` up, and checks that it
/// left the host's.
pub fn enter_private_netns() {
    let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    // SAFETY: unshare affects only this thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    skiff_container::sandbox::set_loopback_up().expect("setting lo up in the test's netns");
    let ours = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    assert_ne!(
        ours, before,
        "the test must not run in the host's network namespace"
    );
    // PID 1's may be unreadable (a container); when it is readable, compare too.
    if let Ok(host) = std::fs::read_link("/proc/1/ns/net") {
        assert_ne!(
            ours, host,
            "the test must not run in the host's network namespace"
        );
    }
}

/// A multi-threaded tokio runtime whose threads are all in the caller's
/// (private) network namespace.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One test's node: its directories and names, cleaned up on drop.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub cgroup_parent: String,
    pub bridge: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestNode {
    /// Directories, names, and the busybox image imported into the store.
    pub fn new() -> TestNode {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("skiff-node-test")
            .tempdir()
            .unwrap();
        let node = TestNode {
            dir,
            cgroup_parent: format!("skiff-test-{}-{n}", std::process::id()),
            bridge: format!("skt{n}"),
        };
        node.import_busybox();
        node
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    pub fn image_root(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    pub fn cni_ipam_dir(&self) -> PathBuf {
        self.root().join("cni").join("ipam")
    }

    pub fn config(&self) -> LinuxRuntimeConfig {
        let mut c = LinuxRuntimeConfig::new(self.root(), self.image_root());
        c.helper_program = PathBuf::from(BIN);
        c.cgroup_parent = self.cgroup_parent.clone();
        c.network.bridge = self.bridge.clone();
        c
    }

    pub async fn runtime(&self) -> LinuxRuntime {
        LinuxRuntime::open(self.config())
            .await
            .expect("opening the runtime")
    }

    fn import_busybox(&self) {
        let oci = self.dir.path().join("busybox-oci");
        let script = format!(
            "{}/../image/scripts/make-busybox-oci.sh",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&oci)
            .output()
            .expect("running make-busybox-oci.sh");
        assert!(
            out.status.success(),
            "make-busybox-oci.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let store = skiff_image::ImageStore::open(&self.image_root()).unwrap();
        store.import(&oci, None).expect("importing busybox");
    }

    /// Cgroup directories left under the test's parent (none expected
    /// after every pod is removed).
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let cgroups = Cgroups::detect().unwrap();
        let mut left = Vec::new();
        for dir in cgroups.dirs(&self.cgroup_parent).unwrap() {
            walk_dirs(&dir, &mut left);
        }
        left
    }

    /// Mount points under the test's directory.
    pub fn leftover_mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }

    /// host-local IP files left in the CNI data directory.
    pub fn leftover_ips(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let Ok(networks) = std::fs::read_dir(self.cni_ipam_dir()) else {
            return files;
        };
        for net in networks.flatten() {
            for f in std::fs::read_dir(net.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.parse::<std::net::IpAddr>().is_ok() {
                    files.push(f.path());
                }
            }
        }
        files
    }
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
            walk_dirs(&e.path(), out);
        }
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect()
}

impl Drop for TestNode {
    /// Whatever the test left: every process and cgroup under the parent,
    /// every mount under the test's directory.
    fn drop(&mut self) {
        if let Ok(cgroups) = Cgroups::detect()
            && cgroups.exists(&self.cgroup_parent)
            && let Err(e) = cgroups.remove(&self.cgroup_parent)
        {
            eprintln!("cleanup: removing cgroup {}: {e}", self.cgroup_parent);
        }
        // Give killed monitors a moment to finish.
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..4 {
            let mut mounts = mounts_under(self.dir.path());
            if mounts.is_empty() {
                break;
            }
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let c = std::ffi::CString::new(m.clone()).unwrap();
                // SAFETY: a plain lazy unmount of a path string.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// `GET /` on `ip:port` from the test's network namespace.
pub fn http_get(ip: std::net::IpAddr, port: u16) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::new(ip, port);
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
