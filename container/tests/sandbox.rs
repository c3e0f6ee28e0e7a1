//! Root tests: a pod sandbox's pinned namespaces and `/dev/shm`.
//!
//! Each sandbox lives in its own tempdir and is removed at the end, even on
//! failure (the guard below).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;

use skiff_container::sandbox::{self, SandboxPaths};

/// Removes the sandbox (mounts and directory) when dropped.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = sandbox::remove(&self.0);
    }
}

fn new_sandbox_dir() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pod");
    (root, dir)
}

/// Runs `f` on a fresh thread that has joined the namespace at `pin`.
fn in_namespace<T: Send + 'static>(
    pin: &Path,
    nstype: libc::c_int,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let file = fs::File::open(pin).unwrap();
    thread::spawn(move || {
        // SAFETY: setns on a descriptor we own; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), nstype) };
        assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

fn interfaces_of_this_thread() -> Vec<String> {
    let text = fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    text.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

fn lo_is_up_in_this_thread() -> bool {
    // SAFETY: a datagram socket only used for one ioctl, closed on drop.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(socket >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `socket` is a fresh descriptor nobody else owns.
    let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(socket) };
    // SAFETY: ifreq is plain data; SIOCGIFFLAGS fills the one we own.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    request.ifr_name[0] = b'l' as libc::c_char;
    request.ifr_name[1] = b'o' as libc::c_char;
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    assert_eq!(rc, 0, "SIOCGIFFLAGS: {}", io::Error::last_os_error());
    // SAFETY: SIOCGIFFLAGS wrote the flags member.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    flags & libc::IFF_UP as libc::c_short != 0
}

fn hostname_of_this_thread() -> String {
    let mut buf = [0u8; 65];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|b| *b == 0).unwrap();
    String::from_utf8(buf[..end].to_vec()).unwrap()
}

fn mount_points_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn fs_type_of(path: &Path) -> String {
    let path = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(path.as_str()))
        .filter_map(|l| l.split(" - ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .next_back()
        .unwrap_or_else(|| panic!("{path} is not a mount point"))
        .to_string()
}

fn ns_inode(path: &Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

#[test]
fn create_pins_namespaces_and_remove_clears_everything() {
    let (_root, dir) = new_sandbox_dir();
    let _guard = Guard(dir.clone());

    let paths: SandboxPaths = sandbox::create(&dir, "web-0", false).unwrap();
    let net = paths.net.clone().expect("a pod network namespace");
    assert_eq!(fs_type_of(&net), "nsfs");
    assert_eq!(fs_type_of(&paths.ipc), "nsfs");
    assert_eq!(fs_type_of(&paths.uts), "nsfs");
    assert_eq!(fs_type_of(&paths.shm), "tmpfs");

    // New namespaces, not this process's.
    assert_ne!(ns_inode(&net), ns_inode(Path::new("/proc/self/ns/net")));
    assert_ne!(
        ns_inode(&paths.ipc),
        ns_inode(Path::new("/proc/self/ns/ipc"))
    );
    assert_ne!(
        ns_inode(&paths.uts),
        ns_inode(Path::new("/proc/self/ns/uts"))
    );

    let (interfaces, lo_up) = in_namespace(&net, libc::CLONE_NEWNET, || {
        (interfaces_of_this_thread(), lo_is_up_in_this_thread())
    });
    assert_eq!(interfaces, vec!["lo".to_string()]);
    assert!(lo_up, "lo is down in the pod network namespace");
    // The check itself can fail: a bare new network namespace has lo down.
    let bare_lo_up = thread::spawn(|| {
        // SAFETY: affects only this short-lived thread.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        lo_is_up_in_this_thread()
    })
    .join()
    .unwrap();
    assert!(!bare_lo_up);

    let hostname = in_namespace(&paths.uts, libc::CLONE_NEWUTS, hostname_of_this_thread);
    assert_eq!(hostname, "web-0");
    assert_ne!(
        hostname_of_this_thread(),
        "web-0",
        "the host's hostname changed"
    );

    let shm = fs::metadata(&paths.shm).unwrap();
    assert_eq!(shm.mode() & 0o7777, 0o1777);

    sandbox::remove(&dir).unwrap();
    assert_eq!(mount_points_under(&dir), Vec::<String>::new());
    assert!(!dir.exists());
    // Removing again is fine.
    sandbox::remove(&dir).unwrap();
}

#[test]
fn create_is_idempotent_and_open_finds_the_sandbox() {
    let (_root, dir) = new_sandbox_dir();
    let _guard = Guard(dir.clone());
    assert_eq!(sandbox::open(&dir), None);

    let first = sandbox::create(&dir, "db-1", false).unwrap();
    let net_inode = ns_inode(first.net.as_ref().unwrap());
    let mounts = mount_points_under(&first.dir).len();

    let second = sandbox::create(&dir, "db-1", false).unwrap();
    assert_eq!(second, first);
    assert_eq!(ns_inode(second.net.as_ref().unwrap()), net_inode);
    assert_eq!(
        mount_points_under(&first.dir).len(),
        mounts,
        "mounts stacked"
    );

    assert_eq!(sandbox::open(&dir), Some(first.clone()));

    sandbox::remove(&dir).unwrap();
    assert_eq!(sandbox::open(&dir), None);
    assert_eq!(mount_points_under(&first.dir), Vec::<String>::new());
}

#[test]
fn host_network_sandbox_has_no_network_pin() {
    let (_root, dir) = new_sandbox_dir();
    let _guard = Guard(dir.clone());

    let paths = sandbox::create(&dir, "node-agent", true).unwrap();
    assert_eq!(paths.net, None);
    assert!(!paths.dir.join(sandbox::NET_PIN).exists());
    assert_eq!(fs_type_of(&paths.ipc), "nsfs");
    assert_eq!(sandbox::open(&dir).unwrap().net, None);

    sandbox::remove(&dir).unwrap();
    assert!(!dir.exists());
}

#[test]
fn bad_hostname_is_refused_before_anything_is_made() {
    let (_root, dir) = new_sandbox_dir();
    let err = sandbox::create(&dir, "", false).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("hostname"), "{err}");
    assert!(!dir.exists());
}
