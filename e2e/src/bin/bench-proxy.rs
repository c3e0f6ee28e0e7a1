//! Service proxy benchmark, inside a network namespace of its own (the
//! host's network is never touched):
//!
//! 1. nft: the time to apply one endpoint change (one endpoint replaced)
//!    to a Service with 1,000 and 10,000 endpoints, as the incremental
//!    transaction the proxy sends, and the full resync for comparison.
//! 2. API: the same change end to end: an Endpoints update written to an
//!    embedded API server until the proxy has applied it (debounce 0 here;
//!    the default adds 50 ms).
//! 3. Connection rate: sequential TCP connections (connect, read, close)
//!    from one pod to another, to the pod IP directly and through the
//!    ClusterIP, interleaved rounds; the medians and their ratio.
//!
//! Run as root: `cargo build --release -p skiff-e2e && target/release/bench-proxy
//! [--runs 15] [--connections 2000]`.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use skiff_agent::proxy::script::{self, Objects, TableSettings};
use skiff_agent::proxy::{Nft, ProxyConfig, ServicePortRules, ServiceProxy};
use skiff_agent::runtime::linux::cni::{Cni, CniConfig};
use skiff_api::core::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service};
use skiff_api::core::{ServicePort, ServiceSpec};
use skiff_api::meta::ObjectMeta;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::{Api, Client};
use skiff_container::sandbox;

const SUBNET: &str = "10.250.9.0/24";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = flag("--runs", 15);
    let connections = flag("--connections", 2000);
    match run(runs, connections) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(runs: usize, connections: usize) -> anyhow::Result<()> {
    enter_own_netns()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            for n in [1_000, 10_000] {
                bench_nft(n, runs).await?;
            }
            let server = start_embedded(|_| {}).await?;
            for n in [1_000, 10_000] {
                bench_api(&server, n, runs.min(10)).await?;
            }
            bench_connections(&server, connections).await?;
            server.server.shutdown().await;
            Ok(())
        })
}

/// Moves this (still single) thread, and so every thread and child after
/// it, into a new network namespace; refuses to go on in the host's.
fn enter_own_netns() -> anyhow::Result<()> {
    let before = fs::metadata("/proc/thread-self/ns/net")?.ino();
    // SAFETY: no other thread exists yet; affects this thread only.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        bail!(
            "unshare(CLONE_NEWNET): {} (run as root)",
            std::io::Error::last_os_error()
        );
    }
    let now = fs::metadata("/proc/thread-self/ns/net")?.ino();
    ensure!(now != before, "still in the starting network namespace");
    if let Ok(init) = fs::metadata("/proc/1/ns/net") {
        ensure!(
            now != init.ino(),
            "refusing to run in the host's network namespace"
        );
    }
    sandbox::set_loopback_up().context("bringing lo up")?;
    Ok(())
}

fn settings(table: &str) -> TableSettings {
    TableSettings {
        table: table.into(),
        service_cidr: "10.96.0.0/12".into(),
        cluster_cidr: Some("10.0.0.0/8".into()),
    }
}

fn endpoint_ip(i: usize, generation: usize) -> Ipv4Addr {
    let i = i as u32;
    Ipv4Addr::new(10, 100 + (generation % 100) as u8, (i >> 8) as u8, i as u8)
}

fn rules(n: usize, replaced: Option<(usize, usize)>) -> ServicePortRules {
    let mut endpoints: Vec<(Ipv4Addr, u16)> = (0..n).map(|i| (endpoint_ip(i, 0), 8080)).collect();
    if let Some((index, generation)) = replaced {
        endpoints[index] = (endpoint_ip(index, generation), 8080);
    }
    endpoints.sort();
    ServicePortRules {
        id: "bench/big/tcp/80".into(),
        protocol: "tcp",
        port: 80,
        cluster_ips: vec![Ipv4Addr::new(10, 96, 0, 100)],
        external_ips: Vec::new(),
        node_port: Some(30999),
        endpoints,
        affinity_timeout: None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn bench_nft(n: usize, runs: usize) -> anyhow::Result<()> {
    let nft = Nft::default();
    let s = settings("bench");
    let mut current = script::service_objects(&s, &rules(n, None), None);
    let full = format!(
        "{}{}",
        script::skeleton_script(&s),
        script::diff_script(&s.table, &Objects::default(), &current)
    );
    let started = Instant::now();
    nft.apply(&full).await?;
    let full_time = started.elapsed();
    let mut times = Vec::new();
    let mut compute = Vec::new();
    let mut lines = 0;
    for run in 0..runs {
        let started = Instant::now();
        let next =
            script::service_objects(&s, &rules(n, Some((run * 7 % n, run + 1))), Some(&current));
        let diff = script::diff_script(&s.table, &current, &next);
        compute.push(started.elapsed());
        nft.apply(&diff).await?;
        times.push(started.elapsed());
        lines = diff.lines().count();
        current = next;
    }
    println!(
        "nft  {n:>6} endpoints: one endpoint replaced: median {} p90 {} (of which rules + diff {}; {lines} script lines); full resync {}",
        ms(median(times.clone())),
        ms(p90(times)),
        ms(median(compute)),
        ms(full_time)
    );
    ServiceProxy::remove_table(&nft, &s.table).await?;
    Ok(())
}

fn endpoints_object(n: usize, generation: usize) -> Endpoints {
    let replaced = generation % n;
    Endpoints {
        metadata: ObjectMeta {
            name: Some(format!("big{n}")),
            ..Default::default()
        },
        subsets: vec![EndpointSubset {
            addresses: (0..n)
                .map(|i| EndpointAddress {
                    ip: endpoint_ip(i, if i == replaced { generation } else { 0 }).to_string(),
                    ..Default::default()
                })
                .collect(),
            ports: vec![EndpointPort {
                port: 8080,
                protocol: Some("TCP".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn service_object(name: &str, target: i32) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: vec![ServicePort {
                port: 80,
                target_port: Some(target.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn wait_for_transaction(
    state: &mut tokio::sync::watch::Receiver<skiff_agent::proxy::ProxyState>,
    after: u64,
    endpoints: usize,
) -> anyhow::Result<()> {
    let wait = state.wait_for(|s| s.transactions > after && s.endpoints == endpoints);
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .context("the proxy did not apply the change within 60 s")??;
    Ok(())
}

async fn bench_api(server: &EmbeddedServer, n: usize, runs: usize) -> anyhow::Result<()> {
    let client = Client::from_server(&server.url)?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let config = ProxyConfig {
        table: "bench-api".into(),
        debounce: Duration::ZERO,
        ..ProxyConfig::default()
    };
    let proxy = ServiceProxy::start(client, config).await?;
    let mut state = proxy.state();
    let name = format!("big{n}");
    services.create(&service_object(&name, 8080)).await?;
    let started = Instant::now();
    endpoints.create(&endpoints_object(n, 0)).await?;
    wait_for_transaction(&mut state, 0, n).await?;
    let first = started.elapsed();
    let mut times = Vec::new();
    for generation in 1..=runs {
        let mut object = endpoints.get(&name).await?;
        object.subsets = endpoints_object(n, generation).subsets;
        let before = state.borrow().transactions;
        let started = Instant::now();
        endpoints.replace(&name, &object).await?;
        wait_for_transaction(&mut state, before, n).await?;
        times.push(started.elapsed());
    }
    println!(
        "api  {n:>6} endpoints: Endpoints update written -> rules applied: median {} p90 {}; first sync {}",
        ms(median(times.clone())),
        ms(p90(times)),
        ms(first)
    );
    services.delete(&name, &Default::default()).await?;
    endpoints.delete(&name, &Default::default()).await?;
    proxy.shutdown().await?;
    Ok(())
}

/// Runs `f` on a new thread that joined the network namespace at `netns`.
fn in_netns<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = fs::File::open(netns).expect("netns file");
    std::thread::spawn(move || {
        // SAFETY: setns on a descriptor we own; affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

/// Two pods on a CNI bridge; removed on drop.
struct Pods {
    root: tempfile::TempDir,
    sandboxes: Vec<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl Drop for Pods {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for dir in &self.sandboxes {
            let _ = sandbox::remove(dir);
        }
    }
}

async fn bench_connections(server: &EmbeddedServer, connections: usize) -> anyhow::Result<()> {
    let mut pods = Pods {
        root: tempfile::tempdir()?,
        sandboxes: Vec::new(),
        stop: Arc::default(),
    };
    let cni = Cni::new(CniConfig {
        subnet: SUBNET.into(),
        bridge: "benchbr0".into(),
        data_dir: pods.root.path().join("ipam"),
        cache_dir: pods.root.path().join("cache"),
        ..CniConfig::default()
    })?;
    let mut netns = Vec::new();
    let mut ips = Vec::new();
    for name in ["server", "client"] {
        let dir = pods.root.path().join(name);
        pods.sandboxes.push(dir.clone());
        let paths = sandbox::create(&dir, name, false)?;
        let net = paths.net.context("a pod netns")?;
        let network = cni.add(name, &net).await?;
        let std::net::IpAddr::V4(ip) = network.ip else {
            bail!("IPv6 pod address")
        };
        netns.push(net);
        ips.push(ip);
    }
    let listener = in_netns(&netns[0], || TcpListener::bind("0.0.0.0:8080"))?;
    listener.set_nonblocking(true)?;
    let stop = pods.stop.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    let _ = conn.write_all(b"x");
                }
                Err(_) => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    });

    let client = Client::from_server(&server.url)?;
    let config = ProxyConfig {
        table: "bench-conn".into(),
        ..ProxyConfig::default()
    };
    let proxy = ServiceProxy::start(client.clone(), config).await?;
    let mut state = proxy.state();
    let svc = Api::<Service>::namespaced(client.clone(), "default")
        .create(&service_object("echo", 8080))
        .await?;
    let mut eps = endpoints_object(1, 0);
    eps.metadata.name = Some("echo".into());
    eps.subsets[0].addresses[0].ip = ips[0].to_string();
    Api::<Endpoints>::namespaced(client, "default")
        .create(&eps)
        .await?;
    let before = state.borrow().transactions;
    wait_for_transaction(&mut state, before, 1).await?;
    let cluster_ip: Ipv4Addr = svc
        .spec
        .and_then(|s| s.cluster_ip)
        .context("no ClusterIP")?
        .parse()?;

    let direct = SocketAddrV4::new(ips[0], 8080);
    let via_service = SocketAddrV4::new(cluster_ip, 80);
    let (mut direct_rates, mut service_rates) = (Vec::new(), Vec::new());
    for _round in 0..5 {
        for (target, rates) in [
            (direct, &mut direct_rates),
            (via_service, &mut service_rates),
        ] {
            let client_ns = netns[1].clone();
            let rate = tokio::task::spawn_blocking(move || {
                in_netns(&client_ns, move || connection_rate(target, connections))
            })
            .await??;
            rates.push(rate);
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, s) = (med(direct_rates), med(service_rates));
    println!(
        "conn {connections} sequential connections x 5 rounds: pod IP {d:.0}/s, ClusterIP {s:.0}/s, ratio {:.2}",
        s / d
    );
    proxy.shutdown().await?;
    cni.del("server", Some(&netns[0])).await?;
    cni.del("client", Some(&netns[1])).await?;
    drop(pods);
    Ok(())
}

/// Connections per second: connect, read the answer to its end, close.
fn connection_rate(target: SocketAddrV4, connections: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    for _ in 0..connections {
        let mut conn = TcpStream::connect_timeout(&target.into(), Duration::from_secs(2))
            .with_context(|| format!("connecting to {target}"))?;
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf)?;
        ensure!(buf == b"x", "unexpected answer from {target}");
    }
    Ok(connections as f64 / started.elapsed().as_secs_f64())
}
