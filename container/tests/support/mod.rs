//! Shared set-up for tests that run real containers through the monitor:
//! a busybox root layer, a network namespace and a cgroup parent of the
//! test's own (removed on drop, also on failure), and a spec to start.

#![allow(dead_code)] // each test file uses its own part

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use skiff_container::cgroups::Cgroups;
use skiff_container::spec::*;
use skiff_container::state::{self, ExitRecord, Status};

pub const HELPER: &str = env!("CARGO_BIN_EXE_skiff-container-helper");

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A network namespace of the test's own, so containers never get the
/// host's network.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("skifftest");
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        Netns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// `skiff-test-<pid>-<n>`: every container cgroup of a test lives below.
pub struct CgroupParent {
    pub path: String,
    pub cgroups: Cgroups,
}

impl CgroupParent {
    pub fn new() -> CgroupParent {
        CgroupParent {
            path: unique("skiff-test"),
            cgroups: Cgroups::detect().expect("detecting cgroups"),
        }
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let _ = self.cgroups.kill_all(&self.path);
        if let Err(e) = self.cgroups.remove(&self.path) {
            eprintln!("cleanup: removing cgroup {}: {e}", self.path);
        }
    }
}

/// A busybox root: `bin/busybox` plus one relative symlink per applet,
/// `/etc/passwd`, `/etc/group` and a marker file only this layer has.
pub fn busybox_layer(dir: &Path) -> PathBuf {
    let layer = dir.join("layer");
    let bin = layer.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(layer.join("etc")).unwrap();
    fs::copy("/usr/bin/busybox", bin.join("busybox")).unwrap();
    let list = run_ok(Command::new("/usr/bin/busybox").arg("--list"));
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    fs::write(
        layer.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs::write(layer.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    fs::write(layer.join("etc/skiff-marker"), "only-in-the-layer\n").unwrap();
    layer
}

/// One container's state directory, root and spec.
pub struct TestContainer {
    pub dir: tempfile::TempDir,
    pub spec: ContainerSpec,
    pub netns: Netns,
    pub cgroup: CgroupParent,
}

impl TestContainer {
    pub fn new(args: &[&str]) -> TestContainer {
        let dir = tempfile::tempdir().unwrap();
        let layer = busybox_layer(dir.path());
        let state_dir = dir.path().join("state");
        for sub in ["state", "upper", "work", "merged", "logs"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let netns = Netns::new();
        let cgroup = CgroupParent::new();
        let spec = ContainerSpec {
            id: "c1".into(),
            rootfs: RootfsSpec {
                layers: vec![layer],
                upper_dir: dir.path().join("upper"),
                work_dir: dir.path().join("work"),
                merged_dir: dir.path().join("merged"),
                readonly: false,
            },
            process: ProcessSpec {
                args: args.iter().map(|a| a.to_string()).collect(),
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                user: UserSpec::default(),
                tty: false,
                capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
                no_new_privileges: true,
                seccomp: SeccompMode::RuntimeDefault,
                rlimits: vec![("RLIMIT_NOFILE".into(), 1024, 1024)],
                oom_score_adj: None,
                stop_signal: libc::SIGTERM,
            },
            namespaces: NamespacesSpec {
                net: Some(netns.path()),
                hostname: Some("testbox".into()),
                ..Default::default()
            },
            mounts: Vec::new(),
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            cgroup: CgroupSpec {
                path: format!("{}/c1", cgroup.path),
                resources: CgroupResources::default(),
            },
            log: LogSpec::at(dir.path().join("logs/0.log")),
            stdin: false,
            stdin_once: false,
        };
        assert!(state_dir.is_dir());
        TestContainer {
            dir,
            spec,
            netns,
            cgroup,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes spec.json and runs the monitor; returns the starter's output.
    pub fn start(&self) -> Output {
        fs::write(
            self.state_dir().join(SPEC_FILE),
            serde_json::to_vec_pretty(&self.spec).unwrap(),
        )
        .unwrap();
        Command::new(HELPER)
            .arg("container-monitor")
            .arg(self.state_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    }

    pub fn start_ok(&self) {
        let out = self.start();
        assert!(
            out.status.success(),
            "monitor failed to start the container: {}\nmonitor.log: {}",
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(self.state_dir().join("monitor.log")).unwrap_or_default()
        );
    }

    pub fn status(&self) -> Status {
        state::read_status(&self.state_dir()).unwrap()
    }

    /// Waits (up to `limit`) for the exit record.
    pub fn wait_exit(&self, limit: Duration) -> ExitRecord {
        let deadline = Instant::now() + limit;
        loop {
            match self.status() {
                Status::Exited(record) => return record,
                Status::Failed { message } => panic!("container failed: {message}"),
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "container still {other:?} after {limit:?}; monitor.log: {}",
                        fs::read_to_string(self.state_dir().join("monitor.log"))
                            .unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    pub fn cgroup_exists(&self) -> bool {
        self.cgroup.cgroups.exists(&self.spec.cgroup.path)
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        // Never leave a container behind, whatever the test did.
        let _ = state::signal_container(&self.state_dir(), libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while state::monitor_pid(&self.state_dir()).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub fn run_ok(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
