//! host-local's allocation files, read and released directly for garbage
//! collection: `<dataDir>/<network>/<ip>` holds the container id (then
//! `\r\n` and the interface name in newer plugins); `lock` is the flock
//! host-local itself takes around every change.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Allocation {
    pub ip: IpAddr,
    pub container_id: String,
}

/// Every address allocated in `network_dir` (missing dir: none).
pub(super) fn allocations(network_dir: &Path) -> io::Result<Vec<Allocation>> {
    let entries = match fs::read_dir(network_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context(e, "listing", network_dir)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| context(e, "listing", network_dir))?;
        let Some(ip) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue; // `lock`, `last_reserved_ip.0`
        };
        if let Some(container_id) = owner(&entry.path())? {
            found.push(Allocation { ip, container_id });
        }
    }
    found.sort_by_key(|a| a.ip);
    Ok(found)
}

/// Releases each of `stale` whose file still names the same container,
/// holding host-local's lock so no plugin allocates meanwhile. Returns the
/// addresses released.
pub(super) fn release(network_dir: &Path, stale: &[Allocation]) -> io::Result<Vec<IpAddr>> {
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    let _lock = Lock::take(network_dir)?;
    let mut released = Vec::new();
    for allocation in stale {
        let file = network_dir.join(allocation.ip.to_string());
        if owner(&file)?.as_deref() != Some(allocation.container_id.as_str()) {
            continue; // released meanwhile, or handed to another pod
        }
        match fs::remove_file(&file) {
            Ok(()) => released.push(allocation.ip),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context(e, "removing", &file)),
        }
    }
    Ok(released)
}

/// The container id in an allocation file; `None` if it is gone.
fn owner(file: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(file) {
        Ok(text) => Ok(Some(
            text.lines().next().unwrap_or_default().trim().to_string(),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(context(e, "reading", file)),
    }
}

/// host-local's exclusive flock on `<network_dir>/lock`, held until drop.
struct Lock {
    _file: fs::File,
}

impl Lock {
    fn take(network_dir: &Path) -> io::Result<Lock> {
        let path: PathBuf = network_dir.join("lock");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| context(e, "opening", &path))?;
        // SAFETY: flock on a descriptor we own; released when it closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(context(io::Error::last_os_error(), "locking", &path));
        }
        Ok(Lock { _file: file })
    }
}

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_both_file_formats_and_skips_bookkeeping_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("10.250.1.2"), "pod-a\r\neth0").unwrap();
        fs::write(dir.path().join("10.250.1.3"), "pod-b").unwrap();
        fs::write(dir.path().join("last_reserved_ip.0"), "10.250.1.3").unwrap();
        fs::write(dir.path().join("lock"), "").unwrap();
        assert_eq!(
            allocations(dir.path()).unwrap(),
            vec![
                Allocation {
                    ip: ip("10.250.1.2"),
                    container_id: "pod-a".into()
                },
                Allocation {
                    ip: ip("10.250.1.3"),
                    container_id: "pod-b".into()
                },
            ]
        );
        assert_eq!(allocations(&dir.path().join("missing")).unwrap(), vec![]);
    }

    #[test]
    fn release_removes_only_files_still_owned_by_the_stale_container() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("10.250.1.2"), "pod-a\r\neth0").unwrap();
        // Re-allocated to a live pod since the scan.
        fs::write(dir.path().join("10.250.1.3"), "pod-c\r\neth0").unwrap();
        let stale = vec![
            Allocation {
                ip: ip("10.250.1.2"),
                container_id: "pod-a".into(),
            },
            Allocation {
                ip: ip("10.250.1.3"),
                container_id: "pod-b".into(),
            },
            Allocation {
                ip: ip("10.250.1.4"),
                container_id: "pod-d".into(),
            },
        ];
        assert_eq!(release(dir.path(), &stale).unwrap(), vec![ip("10.250.1.2")]);
        assert!(!dir.path().join("10.250.1.2").exists());
        assert!(dir.path().join("10.250.1.3").exists());
    }
}
