//! No container is started twice: before anything else the monitor takes
//! an exclusive lock on `monitor.lock` in the state directory (kept until
//! it exits) and refuses a directory whose container already started.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::spec::SPEC_FILE;
use crate::state::{self, CONTAINER_PID_FILE, ERROR_FILE, EXIT_FILE, MONITOR_PID_FILE};

pub const LOCK_FILE: &str = "monitor.lock";

pub fn claim(state_dir: &Path) -> Result<OwnedFd, String> {
    let dir = state_dir.display();
    if !state_dir.join(SPEC_FILE).is_file() {
        return Err(format!("container monitor: no {SPEC_FILE} in {dir}"));
    }
    let lock_path = state_dir.join(LOCK_FILE);
    let lock: OwnedFd = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("container monitor: opening {}: {e}", lock_path.display()))?
        .into();
    // SAFETY: flock on a valid fd.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder =
            state::monitor_pid(state_dir).map_or_else(String::new, |pid| format!(" (pid {pid})"));
        return Err(format!(
            "container monitor: {dir} already has a monitor{holder}"
        ));
    }
    for file in [CONTAINER_PID_FILE, EXIT_FILE, ERROR_FILE, MONITOR_PID_FILE] {
        if state_dir.join(file).exists() {
            return Err(format!(
                "container monitor: the container in {dir} was already started once ({file} exists); \
                 a new start needs a fresh state directory"
            ));
        }
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_directory_without_spec_or_already_used() {
        let dir = tempfile::tempdir().unwrap();
        let err = claim(dir.path()).unwrap_err();
        assert!(err.contains("no spec.json"), "{err}");
        std::fs::write(dir.path().join(SPEC_FILE), "{}").unwrap();
        let held = claim(dir.path()).unwrap();
        let err = claim(dir.path()).unwrap_err();
        assert!(err.contains("already has a monitor"), "{err}");
        drop(held);
        std::fs::write(dir.path().join(EXIT_FILE), "{}").unwrap();
        let err = claim(dir.path()).unwrap_err();
        assert!(
            err.contains("already started once (exit.json exists)"),
            "{err}"
        );
    }
}
