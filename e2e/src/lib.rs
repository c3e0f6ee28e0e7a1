//! The e2e harness: starts the built `skiff` binary as a real server process
//! (each cluster with its own port and state directory), and runs the real
//! kubectl binaries against it with their own HOME (kubectl caches discovery
//! there). Everything started is stopped on Drop, by PID.

pub mod agent;
pub mod controller;
pub mod kubectl;
pub mod lab;
pub mod metrics;
pub mod podwatch;
pub mod procstat;
pub mod server;

use std::path::PathBuf;

/// The workspace root (manifests live under it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// A seed manifest by file name (`nginx-deployment.yaml`).
pub fn manifest(name: &str) -> PathBuf {
    workspace_root().join("manifests").join(name)
}

/// The `skiff` binary built beside the running test (`target/debug/skiff`),
/// or `$SKIFF_BIN`. `cargo nextest run --workspace` builds it first.
pub fn skiff_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SKIFF_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/test-hash -> target/debug/skiff
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("skiff");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p skiff` (or set SKIFF_BIN)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs the `skiff` CLI with `kubeconfig` to completion: (exit code, stdout, stderr).
pub fn skiff(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(skiff_bin())
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run skiff");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `check` every 100 ms until it is true or `limit` passes.
pub fn eventually(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    check()
}
