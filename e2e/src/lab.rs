//! A `skiff lab` for whole-cluster scenarios and benchmarks (root): each lab
//! has a unique name and its own directory in a tempdir, and `lab down` runs
//! on Drop even when the test failed. Everything network-shaped lives in the
//! lab's namespaces; the host only sees the loopback relay.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::skiff_bin;

static LABS: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    pub name: String,
    pub nodes: u32,
    tmp: tempfile::TempDir,
    /// How long `lab up` took (until every node was Ready).
    pub up_time: Duration,
}

impl Lab {
    /// `skiff lab up --nodes N` with a unique name; panics (after tearing
    /// down) if it fails.
    pub fn up(nodes: u32) -> Lab {
        let mut lab = Lab {
            name: format!(
                "e2e{}x{}",
                std::process::id(),
                LABS.fetch_add(1, Ordering::SeqCst)
            ),
            nodes,
            tmp: tempfile::Builder::new()
                .prefix("skiff-e2e-lab")
                .tempdir()
                .expect("lab tempdir"),
            up_time: Duration::ZERO,
        };
        let kubeconfig = lab.kubeconfig().to_string_lossy().into_owned();
        let started = Instant::now();
        lab.ok(
            "up",
            &[
                "--nodes",
                &nodes.to_string(),
                "--timeout",
                "60",
                "--write-kubeconfig",
                &kubeconfig,
            ],
        );
        lab.up_time = started.elapsed();
        lab
    }

    /// A scratch directory that lives as long as the lab.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    fn base(&self) -> PathBuf {
        self.tmp.path().join("labs")
    }

    /// `<dir>/<name>`: the lab's own files (logs, node state).
    pub fn dir(&self) -> PathBuf {
        self.base().join(&self.name)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.tmp.path().join("kubeconfig")
    }

    fn command(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(skiff_bin());
        cmd.args(["lab", sub, "--name", &self.name, "--dir"])
            .arg(self.base())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `skiff lab SUB --name N --dir D ARGS...`
    pub fn run(&self, sub: &str, args: &[&str]) -> Output {
        self.command(sub, args).output().expect("run skiff lab")
    }

    /// Like [`Lab::run`], panicking with its output (and the lab's log tails) on failure.
    #[track_caller]
    pub fn ok(&self, sub: &str, args: &[&str]) -> String {
        let out = self.run(sub, args);
        assert!(
            out.status.success(),
            "skiff lab {sub} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tails()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `skiff lab exec NODE -- ARGV...`
    pub fn exec(&self, node: &str, argv: &[&str]) -> Output {
        let mut args = vec![node, "--"];
        args.extend_from_slice(argv);
        self.run("exec", &args)
    }

    /// Starts `skiff lab exec NODE -- ARGV...` in the background (stdout piped).
    pub fn spawn_exec(&self, node: &str, argv: &[&str]) -> Child {
        let mut args = vec![node, "--"];
        args.extend_from_slice(argv);
        self.command("exec", &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn skiff lab exec")
    }

    /// One HTTP/1.0 GET of `/` from NODE's netns (the host's bash, so no
    /// image is involved): the response, or None when it failed.
    pub fn http_get(&self, node: &str, addr: &str, port: u16) -> Option<String> {
        let script = http_get_script(addr, port);
        let out = self.exec(node, &["timeout", "3", "bash", "-c", &script]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Loads an image (OCI layout) into the lab's registry.
    pub fn load(&self, image: &Path) -> String {
        self.ok("load", &[image.to_str().expect("utf-8 path")])
    }

    /// The last lines of every lab log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            text += &format!("--- {}\n", entry.path().display());
            text += &lines[lines.len().saturating_sub(20)..].join("\n");
            text += "\n";
        }
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.dir().exists() {
            let out = self.run("down", &[]);
            if !out.status.success() {
                eprintln!(
                    "cleanup: skiff lab down {}: {}",
                    self.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// bash: GET / from ADDR:PORT over /dev/tcp, printing the response.
pub fn http_get_script(addr: &str, port: u16) -> String {
    format!("exec 3<>/dev/tcp/{addr}/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3")
}

/// Builds the Debian nginx image layout under `dir` (its .debs cached in
/// `$SKIFF_DEB_CACHE`, default `~/.cache/skiff/debs`: offline once warm).
pub fn build_nginx_image(dir: &Path) -> PathBuf {
    let out = dir.join("nginx-oci");
    let script = crate::workspace_root().join("image/scripts/make-nginx-oci.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(&out);
    if let Ok(cache) = std::env::var("SKIFF_DEB_CACHE") {
        cmd.env("DEB_CACHE", cache);
    }
    let done = cmd.output().expect("running make-nginx-oci.sh");
    assert!(
        done.status.success(),
        "make-nginx-oci.sh failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// Builds the busybox httpd image layout under `dir`, named `reference`.
pub fn build_busybox_image(dir: &Path, reference: &str) -> PathBuf {
    let out = dir.join("busybox-oci");
    let script = crate::workspace_root().join("image/scripts/make-busybox-oci.sh");
    let done = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .arg(reference)
        .output()
        .expect("running make-busybox-oci.sh");
    assert!(
        done.status.success(),
        "make-busybox-oci.sh failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}
