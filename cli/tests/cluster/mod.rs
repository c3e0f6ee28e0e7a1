//! A real cluster in a test's network namespace: `skiff up` (or `skiff
//! server` and `skiff agent` as separate processes) started by the test,
//! the real kubectl binaries against it, and polling helpers. Every
//! process is the test's own child, killed by its PID when dropped.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::node::{BIN, TestNode};

/// Where the versioned kubectl binaries live (`kubectl.1.27` .. `kubectl.1.33`).
pub const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// A long-running `skiff` child with its stderr in a log file.
pub struct Proc {
    pub child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn start(node: &TestNode, label: &str, args: &[String]) -> Proc {
        let log = node.dir.path().join(format!("{label}-{}.log", unique()));
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting skiff {args:?}: {e}"));
        Proc { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL (a crash), and reap it.
    pub fn crash(mut self) {
        // SAFETY: a signal to our own child, by its PID.
        unsafe { libc::kill(self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
    }

    /// SIGINT (Ctrl-C), and wait for a clean exit.
    pub fn interrupt(mut self) {
        // SAFETY: a signal to our own child, by its PID.
        unsafe { libc::kill(self.pid(), libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "exited with {status}: {}", self.log());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("did not stop on SIGINT: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill signals this child's own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The flags every real node of a test gets: its directories, cgroup
/// parent and bridge.
pub fn node_flags(node: &TestNode, name: &str) -> Vec<String> {
    vec![
        "--lab-profile".into(),
        "--root".into(),
        node.root().display().to_string(),
        "--image-root".into(),
        node.image_root().display().to_string(),
        "--cgroup-parent".into(),
        node.cgroup_parent.clone(),
        "--cni-bridge".into(),
        node.bridge.clone(),
        "--node-name".into(),
        name.into(),
    ]
}

/// One kubectl version with its own HOME (its discovery cache).
pub struct Kubectl {
    bin: PathBuf,
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(version: &str, kubeconfig: &Path) -> Kubectl {
        let bin = Path::new(KUBECTL_DIR).join(format!("kubectl.{version}"));
        assert!(bin.exists(), "{} is missing", bin.display());
        Kubectl {
            bin,
            home: tempfile::tempdir().unwrap(),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to completion within `limit` (killed by PID and the test
    /// failed otherwise), with `stdin` written then closed.
    pub fn run_input(&self, args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            // Dropped at the end of this block: kubectl sees EOF.
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).unwrap();
        }
        wait_output(child, limit)
            .unwrap_or_else(|| panic!("kubectl {args:?} did not finish within {limit:?}"))
    }

    /// Runs to completion and returns stdout; fails the test on a non-zero exit.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run_input(args, None, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn pods(&self) -> Vec<Value> {
        let list: Value = serde_json::from_str(&self.ok(&["get", "pods", "-o", "json"])).unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn pod(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["get", "pod", name, "-o", "json"])).unwrap()
    }
}

/// Waits for a child's output for at most `limit`; kills it (by PID) and
/// returns `None` when it takes longer.
pub fn wait_output(child: Child, limit: Duration) -> Option<Output> {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Some(out.expect("child output")),
        Err(_) => {
            // SAFETY: our own child, by its PID (not yet reaped: the
            // waiting thread still holds it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            None
        }
    }
}

/// Polls `f` every 200 ms until it returns `Some`; fails the test with
/// `context()` (process logs) after `limit`.
#[track_caller]
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    context: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; logs:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn is_running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && pod["metadata"]["deletionTimestamp"].is_null()
}

pub fn pod_ip(pod: &Value) -> Option<std::net::IpAddr> {
    pod["status"]["podIP"].as_str()?.parse().ok()
}

/// The first container's status.
pub fn container_status(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

pub fn restart_count(pod: &Value) -> i64 {
    container_status(pod)["restartCount"].as_i64().unwrap_or(-1)
}
