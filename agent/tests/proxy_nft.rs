//! Root tests: the service proxy's nftables rules, end to end.
//!
//! SAFETY: every test runs on a thread that first moves into a new network
//! namespace of its own (checked against the process's and PID 1's), where
//! the CNI bridge plugin makes the "node" bridge and the proxy its table.
//! Pod namespaces are sandboxes in a tempdir, removed by a guard; the test
//! namespace disappears when its thread ends. No rule touches the host.

mod support;

use support::netns::in_test_netns;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use skiff_agent::proxy::{ProxyConfig, ServiceProxy};
use skiff_agent::runtime::linux::cni::{Cni, CniConfig};
use skiff_agent::{Agent, HollowConfig, HollowRuntime};
use skiff_api::core::{
    ClientIpConfig, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort,
    ServiceSpec, SessionAffinityConfig,
};
use skiff_api::meta::ObjectMeta;
use skiff_client::{Api, Client, DeleteParams};
use skiff_container::sandbox;
use support::TestServer;

const SUBNET: &str = "10.250.7.0/24";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 250, 7, 1);

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

#[derive(Clone)]
struct TestPod {
    name: String,
    netns: PathBuf,
    ip: Ipv4Addr,
}

/// Pods on the test node's bridge; their sandboxes are removed and their
/// servers stopped when it drops, even on failure.
struct Pods {
    root: tempfile::TempDir,
    cni: Cni,
    sandboxes: Vec<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl Pods {
    fn new() -> Pods {
        let root = tempfile::tempdir().unwrap();
        let cni = Cni::new(CniConfig {
            subnet: SUBNET.into(),
            bridge: "pxbr0".into(),
            data_dir: root.path().join("ipam"),
            cache_dir: root.path().join("cache"),
            ..CniConfig::default()
        })
        .unwrap();
        Pods {
            root,
            cni,
            sandboxes: Vec::new(),
            stop: Arc::default(),
        }
    }

    /// A pod answering its name on TCP and UDP `port`.
    async fn pod(&mut self, name: &str, port: u16) -> TestPod {
        let dir = self.root.path().join("sandboxes").join(name);
        self.sandboxes.push(dir.clone());
        let paths = sandbox::create(&dir, name, false).unwrap();
        let netns = paths.net.unwrap();
        let network = self.cni.add(name, &netns).await.unwrap();
        let std::net::IpAddr::V4(ip) = network.ip else {
            panic!("IPv6 pod address {}", network.ip)
        };
        let pod = TestPod {
            name: name.into(),
            netns,
            ip,
        };
        serve(&pod, port, self.stop.clone());
        pod
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for dir in &self.sandboxes {
            let _ = sandbox::remove(dir);
        }
    }
}

/// Answers the pod's name to every TCP connection and UDP datagram on `port`.
fn serve(pod: &TestPod, port: u16, stop: Arc<AtomicBool>) {
    let (tcp, udp) = in_netns(&pod.netns, move || {
        let tcp = TcpListener::bind(("0.0.0.0", port)).unwrap();
        let udp = UdpSocket::bind(("0.0.0.0", port)).unwrap();
        (tcp, udp)
    });
    tcp.set_nonblocking(true).unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let (name, stop_udp) = (pod.name.clone(), stop.clone());
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match tcp.accept() {
                Ok((mut conn, _)) => {
                    let _ = conn.write_all(name.as_bytes());
                }
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    let name = pod.name.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 64];
        while !stop_udp.load(Ordering::Relaxed) {
            if let Ok((_, from)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(name.as_bytes(), from);
            }
        }
    });
}

/// Connects from `from`'s netns and reads what the server says.
async fn tcp_request(from: &TestPod, to: SocketAddrV4) -> std::io::Result<String> {
    let netns = from.netns.clone();
    tokio::task::spawn_blocking(move || {
        in_netns(&netns, move || {
            let mut conn = TcpStream::connect_timeout(&to.into(), Duration::from_secs(2))?;
            conn.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut answer = String::new();
            conn.read_to_string(&mut answer)?;
            Ok(answer)
        })
    })
    .await
    .unwrap()
}

async fn udp_request(from: &TestPod, to: SocketAddrV4) -> std::io::Result<String> {
    let netns = from.netns.clone();
    tokio::task::spawn_blocking(move || {
        in_netns(&netns, move || {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.set_read_timeout(Some(Duration::from_millis(500)))?;
            socket.send_to(b"who", to)?;
            let mut buf = [0u8; 64];
            let n = socket.recv(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        })
    })
    .await
    .unwrap()
}

/// Polls `check` until it returns `Some`, for at most 10 s.
async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> Fut) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names answering `n` requests to `to`.
async fn answers(from: &TestPod, to: SocketAddrV4, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        seen.push(
            tcp_request(from, to)
                .await
                .unwrap_or_else(|e| format!("error: {e}")),
        );
    }
    seen
}

fn nft_table(table: &str) -> Option<String> {
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn proxy_config(table: &str) -> ProxyConfig {
    ProxyConfig {
        table: table.into(),
        cluster_cidr: Some(SUBNET.into()),
        ..ProxyConfig::default()
    }
}

fn service(name: &str, type_: &str, ports: &[(&str, &str, i32, i32)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            ports: ports
                .iter()
                .map(|(port_name, protocol, port, target)| ServicePort {
                    name: Some(port_name.to_string()),
                    protocol: Some(protocol.to_string()),
                    port: *port,
                    target_port: Some((*target).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn endpoints(name: &str, pods: &[&TestPod], ports: &[(&str, &str, i32)]) -> Endpoints {
    Endpoints {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        subsets: vec![EndpointSubset {
            addresses: pods
                .iter()
                .map(|p| EndpointAddress {
                    ip: p.ip.to_string(),
                    ..Default::default()
                })
                .collect(),
            ports: ports
                .iter()
                .map(|(n, proto, port)| EndpointPort {
                    name: Some(n.to_string()),
                    protocol: Some(proto.to_string()),
                    port: *port,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

struct Apis {
    services: Api<Service>,
    endpoints: Api<Endpoints>,
}

impl Apis {
    fn new(client: &Client) -> Apis {
        Apis {
            services: Api::namespaced(client.clone(), "default"),
            endpoints: Api::namespaced(client.clone(), "default"),
        }
    }

    /// Creates the Service and its Endpoints; returns its ClusterIP and NodePorts.
    async fn create(&self, svc: Service, eps: Endpoints) -> (Ipv4Addr, Vec<i32>) {
        let created = self.services.create(&svc).await.unwrap();
        self.endpoints.create(&eps).await.unwrap();
        let spec = created.spec.unwrap();
        let ip = spec.cluster_ip.unwrap().parse().unwrap();
        (ip, spec.ports.iter().filter_map(|p| p.node_port).collect())
    }

    async fn set_endpoints(&self, eps: Endpoints) {
        let name = eps.metadata.name.clone().unwrap();
        let mut current = self.endpoints.get(&name).await.unwrap();
        current.subsets = eps.subsets;
        self.endpoints.replace(&name, &current).await.unwrap();
    }
}

fn count(seen: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for s in seen {
        *m.entry(s.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn cluster_ips_and_node_ports_balance_follow_endpoints_and_reject_the_rest() {
    in_test_netns(|| async {
        let server = TestServer::start().await;
        let apis = Apis::new(&server.client);
        let mut pods = Pods::new();
        let a = pods.pod("pod-a", 8080).await;
        let b = pods.pod("pod-b", 8080).await;
        let client = pods.pod("client", 8080).await;
        let proxy = ServiceProxy::start(server.client.clone(), proxy_config("skiff-test"))
            .await
            .unwrap();

        let http = [("http", "TCP", 80, 8080)];
        let (web_ip, node_ports) = apis
            .create(
                service("web", "NodePort", &http),
                endpoints("web", &[&a, &b], &[("http", "TCP", 8080)]),
            )
            .await;
        let web = SocketAddrV4::new(web_ip, 80);
        eventually("the ClusterIP to answer", || async {
            tcp_request(&client, web).await.ok()
        })
        .await;

        // Random balancing: both endpoints answer over 50 connections.
        let seen = answers(&client, web, 50).await;
        let counts = count(&seen);
        assert_eq!(
            counts.keys().copied().collect::<Vec<_>>(),
            ["pod-a", "pod-b"],
            "{counts:?}"
        );

        // NodePort on the node's address (the bridge gateway here).
        let node_port = SocketAddrV4::new(GATEWAY, node_ports[0] as u16);
        let via_node = tcp_request(&client, node_port).await.unwrap();
        assert!(via_node == "pod-a" || via_node == "pod-b", "{via_node}");

        // From the node itself (nat-output, filter-output), once it has a
        // route for the service range (as lab nodes get one).
        let status = std::process::Command::new("ip")
            .args(["route", "add", "10.96.0.0/12", "dev", "pxbr0"])
            .status()
            .unwrap();
        assert!(status.success(), "ip route add in the test netns");
        let from_node = tokio::task::spawn_blocking(move || {
            let mut conn = TcpStream::connect_timeout(&web.into(), Duration::from_secs(2))?;
            let mut answer = String::new();
            conn.read_to_string(&mut answer)?;
            let refused = TcpStream::connect_timeout(
                &SocketAddrV4::new(web_ip, 81).into(),
                Duration::from_secs(2),
            );
            Ok::<_, std::io::Error>((answer, refused.map(|_| ()).map_err(|e| e.kind())))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(
            from_node.0 == "pod-a" || from_node.0 == "pod-b",
            "{from_node:?}"
        );
        assert_eq!(from_node.1, Err(std::io::ErrorKind::ConnectionRefused));

        // An unmatched port of the ClusterIP, and an unallocated ClusterIP:
        // refused at once, not left to time out.
        for target in [
            SocketAddrV4::new(web_ip, 81),
            SocketAddrV4::new(Ipv4Addr::from(u32::from(web_ip) ^ 1), 80),
        ] {
            let started = Instant::now();
            let err = tcp_request(&client, target).await.unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{target}: {err}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{target}: slow");
        }

        // A Service without ready endpoints (one not ready): refused
        // quickly, on its ClusterIP and NodePort.
        let mut not_ready = endpoints("empty", &[&b], &[("http", "TCP", 8080)]);
        let subset = &mut not_ready.subsets[0];
        subset.not_ready_addresses = std::mem::take(&mut subset.addresses);
        let (empty_ip, empty_ports) = apis
            .create(service("empty", "NodePort", &http), not_ready)
            .await;
        let empty_np = SocketAddrV4::new(GATEWAY, empty_ports[0] as u16);
        eventually("the empty Service to be programmed", || async {
            nft_table("skiff-test").filter(|t| t.contains("svc-default/empty/tcp/80"))
        })
        .await;
        for target in [SocketAddrV4::new(empty_ip, 80), empty_np] {
            let started = Instant::now();
            let err = tcp_request(&client, target).await.unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{target}: {err}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{target}: slow");
        }

        // Removing an endpoint stops traffic to it.
        apis.set_endpoints(endpoints("web", &[&b], &[("http", "TCP", 8080)]))
            .await;
        eventually("pod-a to leave the Service", || async {
            nft_table("skiff-test").filter(|t| !t.contains(&format!("dnat to {}:8080", a.ip)))
        })
        .await;
        let seen = answers(&client, web, 20).await;
        assert!(seen.iter().all(|s| s == "pod-b"), "{seen:?}");

        // Deleting the Service removes its chains and map elements.
        apis.services
            .delete("web", &DeleteParams::default())
            .await
            .unwrap();
        let table = eventually("web's chains to go", || async {
            nft_table("skiff-test").filter(|t| !t.contains("default/web/"))
        })
        .await;
        assert!(!table.contains(&web_ip.to_string()), "{table}");
        let err = tcp_request(&client, web).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

        let state = proxy.state().borrow().clone();
        assert!(state.transactions >= 4, "{state:?}");
        assert_eq!(state.last_error, None);
        proxy.shutdown().await.unwrap();
        assert_eq!(nft_table("skiff-test"), None, "shutdown removes the table");
        drop(pods);
        server.stop().await;
    });
}

#[test]
fn affinity_sticks_hairpin_works_and_udp_is_served() {
    in_test_netns(|| async {
        let server = TestServer::start().await;
        let apis = Apis::new(&server.client);
        let mut pods = Pods::new();
        let a = pods.pod("pod-a", 8080).await;
        let b = pods.pod("pod-b", 8080).await;
        let client = pods.pod("client", 8080).await;
        let proxy = ServiceProxy::start(server.client.clone(), proxy_config("skiff-aff"))
            .await
            .unwrap();

        let mut sticky = service("sticky", "ClusterIP", &[("http", "TCP", 80, 8080)]);
        let spec = sticky.spec.as_mut().unwrap();
        spec.session_affinity = Some("ClientIP".into());
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIpConfig {
                timeout_seconds: Some(600),
            }),
        });
        let (sticky_ip, _) = apis
            .create(
                sticky,
                endpoints("sticky", &[&a, &b], &[("http", "TCP", 8080)]),
            )
            .await;
        let to = SocketAddrV4::new(sticky_ip, 80);
        let first = eventually("the sticky Service to answer", || async {
            tcp_request(&client, to).await.ok()
        })
        .await;
        let seen = answers(&client, to, 30).await;
        assert!(seen.iter().all(|s| *s == first), "affinity broke: {seen:?}");

        // Hairpin: pod-a reaches itself through a Service.
        let (self_ip, _) = apis
            .create(
                service("self", "ClusterIP", &[("http", "TCP", 80, 8080)]),
                endpoints("self", &[&a], &[("http", "TCP", 8080)]),
            )
            .await;
        let hairpin = eventually("pod-a to reach itself", || async {
            tcp_request(&a, SocketAddrV4::new(self_ip, 80)).await.ok()
        })
        .await;
        assert_eq!(hairpin, "pod-a");

        // UDP, balanced over both endpoints.
        let (dns_ip, _) = apis
            .create(
                service("dns", "ClusterIP", &[("dns", "UDP", 53, 8080)]),
                endpoints("dns", &[&a, &b], &[("dns", "UDP", 8080)]),
            )
            .await;
        let dns = SocketAddrV4::new(dns_ip, 53);
        eventually("the UDP Service to answer", || async {
            udp_request(&client, dns).await.ok()
        })
        .await;
        // Each request from a new source port is a new flow.
        let mut seen = HashSet::new();
        for _ in 0..40 {
            if let Ok(name) = udp_request(&client, dns).await {
                seen.insert(name);
            }
        }
        assert_eq!(seen.len(), 2, "{seen:?}");

        // Two Services wanting the same external IP and port: the first
        // keeps it (no failed transaction), the second gets it once the
        // first is gone.
        let shared_ip = |mut svc: Service| {
            svc.spec.as_mut().unwrap().external_ips = vec![GATEWAY.to_string()];
            svc
        };
        let http = [("http", "TCP", 8000, 8080)];
        apis.create(
            shared_ip(service("first", "ClusterIP", &http)),
            endpoints("first", &[&a], &[("http", "TCP", 8080)]),
        )
        .await;
        let external = SocketAddrV4::new(GATEWAY, 8000);
        eventually("the external IP to answer", || async {
            tcp_request(&client, external).await.ok()
        })
        .await;
        apis.create(
            shared_ip(service("second", "ClusterIP", &http)),
            endpoints("second", &[&b], &[("http", "TCP", 8080)]),
        )
        .await;
        eventually("the second Service to be programmed", || async {
            nft_table("skiff-aff").filter(|t| t.contains("svc-default/second/tcp/8000"))
        })
        .await;
        let seen = answers(&client, external, 10).await;
        assert!(seen.iter().all(|s| s == "pod-a"), "{seen:?}");
        assert_eq!(proxy.state().borrow().last_error, None);
        apis.services
            .delete("first", &DeleteParams::default())
            .await
            .unwrap();
        eventually(
            "the second Service to take the external IP over",
            || async {
                tcp_request(&client, external)
                    .await
                    .ok()
                    .filter(|s| s == "pod-b")
            },
        )
        .await;

        proxy.shutdown().await.unwrap();
        assert_eq!(nft_table("skiff-aff"), None);
        drop(pods);
        server.stop().await;
    });
}

#[test]
fn the_agent_runs_the_proxy_and_its_shutdown_removes_the_table() {
    in_test_netns(|| async {
        let server = TestServer::start().await;
        let mut config = support::agent_config("proxy-node", "10.250.7.1");
        config.proxy = Some(proxy_config("skiff-agent"));
        let runtime = Arc::new(HollowRuntime::new(HollowConfig::default()));
        let agent = Agent::start(server.client.clone(), config, runtime)
            .await
            .unwrap();
        let table = nft_table("skiff-agent").expect("the agent made its table");
        assert!(table.contains("chain nat-prerouting"), "{table}");
        let state = agent.proxy_state().expect("a proxy runs");
        eventually("the first sync", || {
            let done = state.borrow().transactions >= 1;
            async move { done.then_some(()) }
        })
        .await;
        // A foreign table is left alone.
        let status = std::process::Command::new("nft")
            .args(["add", "table", "ip", "someone-else"])
            .status()
            .unwrap();
        assert!(status.success());
        agent.shutdown().await;
        assert_eq!(
            nft_table("skiff-agent"),
            None,
            "shutdown removes the proxy's table"
        );
        assert!(nft_table("someone-else").is_some(), "other tables stay");
        server.stop().await;
    });
}
