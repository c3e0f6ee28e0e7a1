//! Network namespaces through iproute2, always addressed by name (`ip -n`)
//! so nothing here can touch the host's own network; and running code or
//! processes inside one (`setns` on a dedicated thread, or in the child
//! before exec).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::errors::{CliError, CliResult};

/// `ip ARGS`, failing with what it printed.
pub fn ip(args: &[&str]) -> CliResult {
    let out = Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| CliError::msg(format!("running ip (install iproute2): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(CliError::msg(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub fn exists(name: &str) -> bool {
    super::layout::Layout::netns_path(name).exists()
}

pub fn add(name: &str) -> CliResult {
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])
}

pub fn delete(name: &str) -> CliResult {
    if !exists(name) {
        return Ok(());
    }
    ip(&["netns", "delete", name])
}

/// Names under /run/netns starting with `prefix`.
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// The namespace's inode (what `/proc/PID/ns/net` of its members shows).
pub fn inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(super::layout::Layout::netns_path(name))
        .ok()
        .map(|m| m.ino())
}

/// Opens `/run/netns/NAME` for `setns`.
pub fn open(name: &str) -> CliResult<File> {
    let path = super::layout::Layout::netns_path(name);
    File::open(&path).map_err(|e| {
        CliError::msg(format!(
            "opening network namespace {} ({e}): is the lab up?",
            path.display()
        ))
    })
}

/// Moves the calling thread into the namespace `fd` refers to.
pub fn enter(fd: &File) -> std::io::Result<()> {
    // SAFETY: setns on an open nsfs fd; affects only this thread.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread that first joins network namespace `name`:
/// the sockets it opens live there (and keep living there).
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> CliResult<T> + Send + 'static,
) -> CliResult<T> {
    let fd = open(name)?;
    let name = name.to_string();
    std::thread::spawn(move || {
        enter(&fd).map_err(|e| CliError::msg(format!("joining netns {name}: {e}")))?;
        f()
    })
    .join()
    .map_err(|_| CliError::msg("a thread working in a lab netns panicked"))?
}

/// `net.ipv4.ip_forward=1` inside namespace `name` (the host's stays as is).
pub fn enable_forwarding(name: &str) -> CliResult {
    let ns = name.to_string();
    run_in(name, move || {
        skiff_agent::routes::sysctl::enable_ip_forward()
            .map_err(|e| CliError::msg(format!("enabling ip_forward in {ns}: {e}")))
    })
}
