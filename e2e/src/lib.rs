//! The e2e harness: starts the built `skiff` binary as a real server process
//! (each cluster with its own port and state directory), and runs the real
//! kubectl binaries against it with their own HOME (kubectl caches discovery
//! there). Everything started is stopped on Drop, by PID.

pub mod kubectl;
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
