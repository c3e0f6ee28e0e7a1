//! Root tests: pod networks from the real CNI plugins.
//!
//! SAFETY: the bridge plugin makes a bridge and turns `ip_forward` on in the
//! network namespace it runs in. Every test therefore runs on a thread that
//! first moves into a new network namespace of its own (checked against
//! PID 1's before anything else happens); the plugins are children of that
//! thread and inherit it. The namespace disappears when the thread ends.
//! Pod namespaces are sandboxes in a tempdir, removed by a guard.

mod support;

use support::netns::in_test_netns;

use std::collections::HashSet;
use std::ffi::CStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use skiff_agent::runtime::linux::cni::{Cni, CniConfig, CniError, PodNetwork};
use skiff_container::sandbox::{self, SandboxPaths};

const SUBNET: &str = "10.250.1.0/24";

/// A tempdir with the CNI state and the pod sandboxes; the sandboxes are
/// removed (namespaces unpinned) when it drops, even on failure.
struct Lab {
    root: tempfile::TempDir,
    sandboxes: Vec<PathBuf>,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            root: tempfile::tempdir().unwrap(),
            sandboxes: Vec::new(),
        }
    }

    fn config(&self) -> CniConfig {
        CniConfig {
            subnet: SUBNET.into(),
            data_dir: self.root.path().join("ipam"),
            cache_dir: self.root.path().join("cache"),
            ..CniConfig::default()
        }
    }

    fn sandbox(&mut self, name: &str) -> SandboxPaths {
        let dir = self.root.path().join("sandboxes").join(name);
        self.sandboxes.push(dir.clone());
        sandbox::create(&dir, name, false).unwrap()
    }

    fn ip_file(&self, ip: IpAddr) -> PathBuf {
        self.root.path().join("ipam/skiff").join(ip.to_string())
    }

    fn cache_file(&self, id: &str) -> PathBuf {
        self.root.path().join("cache").join(format!("{id}.json"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for dir in &self.sandboxes {
            let _ = sandbox::remove(dir);
        }
    }
}

/// Runs `f` on a new thread that joined the network namespace at `netns`.
fn in_netns<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = fs::File::open(netns).unwrap();
    thread::spawn(move || {
        // SAFETY: setns on a descriptor we own; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

/// `(interface, IPv4 address)` pairs of the calling thread's namespace.
fn ipv4_addresses() -> Vec<(String, IpAddr)> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates the list, freed below.
    assert_eq!(unsafe { libc::getifaddrs(&mut list) }, 0);
    let mut found = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` walks the list getifaddrs returned.
        let entry = unsafe { &*cursor };
        let addr = entry.ifa_addr;
        // SAFETY: the family says which sockaddr it is.
        if !addr.is_null() && i32::from(unsafe { (*addr).sa_family }) == libc::AF_INET {
            let sin = unsafe { &*(addr as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            let name = unsafe { CStr::from_ptr(entry.ifa_name) };
            found.push((name.to_string_lossy().into_owned(), IpAddr::V4(ip)));
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: frees the list getifaddrs made.
    unsafe { libc::freeifaddrs(list) };
    found
}

fn interfaces_here() -> Vec<String> {
    fs::read_to_string("/proc/thread-self/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

fn in_subnet(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [10, 250, 1])
}

/// A TCP round trip from pod `client` to pod `server`'s address; returns the
/// source address the server saw.
fn tcp_round_trip(server: &Path, server_ip: IpAddr, client: &Path) -> IpAddr {
    let (port_tx, port_rx) = mpsc::channel();
    let server = {
        let netns = server.to_path_buf();
        thread::spawn(move || {
            in_netns(&netns, move || {
                let listener = TcpListener::bind((server_ip, 0)).unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let (mut stream, peer) = listener.accept().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut buf = [0u8; 4];
                stream.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");
                stream.write_all(b"pong").unwrap();
                peer.ip()
            })
        })
    };
    let port = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    in_netns(client, move || {
        let target = SocketAddr::new(server_ip, port);
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connecting to {target}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    });
    server.join().unwrap()
}

#[test]
fn two_pods_get_addresses_talk_and_are_released() {
    in_test_netns(|| async {
        let mut lab = Lab::new();
        let cni = Cni::new(lab.config()).unwrap();
        let a = lab.sandbox("pod-a");
        let b = lab.sandbox("pod-b");
        let (net_a, net_b) = (a.net.clone().unwrap(), b.net.clone().unwrap());

        let pod_a: PodNetwork = cni.add("pod-a", &net_a).await.unwrap();
        let pod_b = cni.add("pod-b", &net_b).await.unwrap();
        assert_ne!(pod_a.ip, pod_b.ip);
        for pod in [&pod_a, &pod_b] {
            assert!(in_subnet(pod.ip), "{} outside {SUBNET}", pod.ip);
            assert_eq!(pod.gateway, Some("10.250.1.1".parse().unwrap()));
            assert_eq!(pod.interface, "eth0");
        }
        // Adding again through the same namespace changes nothing.
        assert_eq!(cni.add("pod-a", &net_a).await.unwrap(), pod_a);

        let a_addrs = in_netns(&net_a, ipv4_addresses);
        assert!(a_addrs.contains(&("eth0".into(), pod_a.ip)), "{a_addrs:?}");
        assert!(a_addrs.contains(&("lo".into(), "127.0.0.1".parse().unwrap())));
        // The bridge is in the test's namespace, as the node's would be.
        assert!(interfaces_here().contains(&"cbr0".to_string()));
        assert!(lab.ip_file(pod_a.ip).exists() && lab.ip_file(pod_b.ip).exists());
        assert!(lab.cache_file("pod-a").exists());

        // Pod to pod over the bridge, source address kept.
        let seen = tcp_round_trip(&net_a, pod_a.ip, &net_b);
        assert_eq!(seen, pod_b.ip);

        cni.del("pod-a", Some(&net_a)).await.unwrap();
        assert!(
            !lab.ip_file(pod_a.ip).exists(),
            "pod-a's address not released"
        );
        assert!(!lab.cache_file("pod-a").exists());
        let a_after = in_netns(&net_a, ipv4_addresses);
        assert!(!a_after.iter().any(|(i, _)| i == "eth0"), "{a_after:?}");
        // DEL is idempotent.
        cni.del("pod-a", Some(&net_a)).await.unwrap();

        let released = cni.gc(&HashSet::new()).await.unwrap();
        assert_eq!(released, vec![pod_b.ip]);
        assert!(!lab.ip_file(pod_b.ip).exists());
        assert!(!lab.cache_file("pod-b").exists());
        assert_eq!(cni.gc(&HashSet::new()).await.unwrap(), Vec::<IpAddr>::new());
    });
}

#[test]
fn gc_keeps_live_pods_and_del_works_after_the_namespace_is_gone() {
    in_test_netns(|| async {
        let mut lab = Lab::new();
        let cni = Cni::new(lab.config()).unwrap();
        let c = lab.sandbox("pod-c");
        let d = lab.sandbox("pod-d");
        let pod_c = cni.add("pod-c", c.net.as_ref().unwrap()).await.unwrap();
        let pod_d = cni.add("pod-d", d.net.as_ref().unwrap()).await.unwrap();

        let live: HashSet<String> = ["pod-c".to_string(), "pod-d".to_string()].into();
        assert_eq!(cni.gc(&live).await.unwrap(), Vec::<IpAddr>::new());
        assert!(lab.ip_file(pod_c.ip).exists() && lab.ip_file(pod_d.ip).exists());

        // The sandbox goes first (an agent crash between the two steps).
        sandbox::remove(&c.dir).unwrap();
        cni.del("pod-c", c.net.as_deref()).await.unwrap();
        assert!(!lab.ip_file(pod_c.ip).exists());
        cni.del("pod-c", None).await.unwrap();

        sandbox::remove(&d.dir).unwrap();
        cni.del("pod-d", None).await.unwrap();
        assert!(!lab.ip_file(pod_d.ip).exists());
    });
}

#[test]
fn plugin_errors_are_reported_and_nothing_leaks() {
    in_test_netns(|| async {
        let lab = Lab::new();
        let cni = Cni::new(lab.config()).unwrap();

        let not_a_netns = lab.root.path().join("plain-file");
        fs::write(&not_a_netns, "").unwrap();
        let err = cni.add("pod-x", &not_a_netns).await.unwrap_err();
        assert!(matches!(err, CniError::Plugin { .. }), "{err:?}");
        assert!(
            err.to_string().contains("CNI plugin `loopback` ADD failed"),
            "{err}"
        );
        assert!(!lab.cache_file("pod-x").exists());

        let err = cni
            .add("pod-y", &lab.root.path().join("missing"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = cni.add("../etc", &not_a_netns).await.unwrap_err();
        assert!(err.to_string().contains("sandbox id"), "{err}");

        assert_eq!(cni.gc(&HashSet::new()).await.unwrap(), Vec::<IpAddr>::new());
    });
}
