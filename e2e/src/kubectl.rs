//! Running the real kubectl binaries against a test server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the versioned kubectl binaries live on this machine.
const SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// A kubectl binary with its own HOME (its discovery cache) and kubeconfig.
pub struct Kubectl {
    bin: PathBuf,
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

/// What one kubectl run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with everything kubectl said unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "kubectl failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless kubectl failed.
    #[track_caller]
    pub fn failed(self) -> Run {
        assert_ne!(
            self.code, 0,
            "kubectl should have failed\nstdout:\n{}",
            self.stdout
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Kubectl {
    /// `version` is `"1.27"`..`"1.33"` for a versioned binary, or
    /// `"dispatcher"` for `/usr/bin/kubectl` (which picks one by the
    /// server's minor version).
    pub fn new(version: &str, kubeconfig: &Path) -> Kubectl {
        let bin = if version == "dispatcher" {
            PathBuf::from("/usr/bin/kubectl")
        } else {
            Path::new(SDK_BIN).join(format!("kubectl.{version}"))
        };
        assert!(bin.exists(), "{} is missing", bin.display());
        Kubectl {
            bin,
            home: tempfile::Builder::new()
                .prefix("skiff-kubectl-")
                .tempdir()
                .expect("temp HOME"),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs kubectl to completion (with a time limit, so a hang fails the test).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(out) => Run::from(out.expect("kubectl output")),
            Err(_) => {
                // Our own child, by PID.
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("kubectl {args:?} did not finish within 60 s");
            }
        }
    }

    /// Starts a long-running kubectl (`get -w`) whose stdout lines arrive on
    /// the returned channel.
    pub fn spawn_lines(&self, args: &[&str]) -> (Background, mpsc::Receiver<String>) {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn kubectl");
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (Background { child }, rx)
    }
}

/// A kubectl process killed (by PID) when dropped.
pub struct Background {
    child: Child,
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a line containing `needle`, giving up after `limit`.
pub fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Some(line),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}
