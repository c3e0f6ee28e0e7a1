//! The node's cluster DNS against a real API server: queries over UDP and
//! TCP to a server on 127.0.0.1 (never anywhere else), answers that follow
//! Service and Endpoints changes, and immediate failures for names outside
//! the cluster.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use skiff_agent::dns::{DnsServer, DnsServerConfig};
use skiff_agent::{Agent, HollowRuntime};
use skiff_api::core::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Namespace, Service, ServicePort,
    ServiceSpec,
};
use skiff_api::meta::ObjectMeta;
use skiff_client::{Api, Client, DeleteParams};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(10);

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        ..Default::default()
    }
}

fn service(ns: &str, name: &str, cluster_ip: Option<&str>) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            cluster_ip: cluster_ip.map(Into::into),
            selector: [("app".to_string(), name.to_string())].into(),
            ports: vec![ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                port: 80,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn endpoints(ns: &str, name: &str, ready: &[String], not_ready: &[&str]) -> Endpoints {
    let address = |ip: &str| EndpointAddress {
        ip: ip.into(),
        ..Default::default()
    };
    Endpoints {
        metadata: meta(ns, name),
        subsets: vec![EndpointSubset {
            addresses: ready.iter().map(|ip| address(ip)).collect(),
            not_ready_addresses: not_ready.iter().map(|ip| address(ip)).collect(),
            ports: vec![EndpointPort {
                name: Some("http".into()),
                port: 8080,
                protocol: Some("TCP".into()),
                ..Default::default()
            }],
        }],
        ..Default::default()
    }
}

fn request(name: &str, rtype: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(hickory_proto::op::Query::query(
        Name::from_ascii(name).unwrap(),
        rtype,
    ));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

async fn udp_query(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    udp_exchange(server, &request(name, rtype, false)).await
}

async fn udp_exchange(server: SocketAddr, packet: &[u8]) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("the DNS server answers within 5 s")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(
        answer.metadata.id,
        u16::from_be_bytes([packet[0], packet[1]])
    );
    answer
}

async fn tcp_query(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let packet = request(name, rtype, false);
    let mut stream = TcpStream::connect(server).await.unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    stream.write_all(&framed).await.unwrap();
    let len = tokio::time::timeout(Duration::from_secs(5), stream.read_u16())
        .await
        .expect("the DNS server answers over TCP within 5 s")
        .unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn ips(answer: &Message) -> Vec<IpAddr> {
    addresses(&answer.answers)
}

fn addresses(records: &[Record]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A DNS server for `cluster.local` on a free loopback port.
async fn dns_server(client: &Client, upstreams: Vec<SocketAddr>) -> (DnsServer, SocketAddr) {
    let mut config = DnsServerConfig::new("cluster.local");
    config.upstreams = upstreams;
    config.upstream_timeout = Duration::from_millis(500);
    let server = DnsServer::start(client.clone(), &config).unwrap();
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).unwrap();
    tokio::time::timeout(WAIT, server.wait_synced())
        .await
        .expect("the DNS caches sync");
    (server, addr)
}

/// Polls `query` until `done` holds for its answer.
async fn wait_answer(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    what: &str,
    done: impl Fn(&Message) -> bool,
) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = udp_query(addr, name, rtype).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {what}; last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_resolve_to_cluster_ips_and_headless_endpoints() {
    let srv = TestServer::start().await;
    let services: Api<Service> = Api::namespaced(srv.client.clone(), "default");
    let web = services
        .create(&service("default", "web", None))
        .await
        .unwrap();
    let web_ip = ip(web
        .spec
        .unwrap()
        .cluster_ip
        .as_deref()
        .expect("a ClusterIP"));
    services
        .create(&service("default", "db", Some("None")))
        .await
        .unwrap();
    let eps: Api<Endpoints> = Api::namespaced(srv.client.clone(), "default");
    let ready = vec!["10.250.1.5".to_string(), "10.250.2.6".to_string()];
    eps.create(&endpoints("default", "db", &ready, &["10.250.1.9"]))
        .await
        .unwrap();
    let (_dns, addr) = dns_server(&srv.client, Vec::new()).await;

    let a = wait_answer(
        addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        "the ClusterIP",
        |m| !m.answers.is_empty(),
    )
    .await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authoritative);
    assert_eq!(ips(&a), vec![web_ip]);
    assert_eq!(
        a.answers[0].name.to_ascii(),
        "web.default.svc.cluster.local."
    );

    // Names are case-insensitive; the question's spelling comes back.
    let upper = udp_query(addr, "WEB.Default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(ips(&upper), vec![web_ip]);
    assert_eq!(
        upper.answers[0].name.to_ascii(),
        "WEB.Default.svc.cluster.local."
    );

    // An existing name without IPv6: NOERROR and no records (not NXDOMAIN,
    // which would make resolvers give up on the A answer).
    let aaaa = udp_query(addr, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());

    let headless = wait_answer(
        addr,
        "db.default.svc.cluster.local.",
        RecordType::A,
        "both endpoints",
        |m| m.answers.len() == 2,
    )
    .await;
    assert_eq!(ips(&headless), vec![ip("10.250.1.5"), ip("10.250.2.6")]);

    let srv_answer = udp_query(
        addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    let RData::SRV(record) = &srv_answer.answers[0].data else {
        panic!("not an SRV record: {srv_answer:?}");
    };
    assert_eq!(record.port, 80);
    assert_eq!(record.target.to_ascii(), "web.default.svc.cluster.local.");
    assert_eq!(addresses(&srv_answer.additionals), vec![web_ip]);

    let pod = udp_query(addr, "10-250-1-7.default.pod.cluster.local.", RecordType::A).await;
    assert_eq!(ips(&pod), vec![ip("10.250.1.7")]);

    for unknown in [
        "nope.default.svc.cluster.local.",
        "web.nope.svc.cluster.local.",
        "10-250-1-9.db.default.svc.cluster.local.",
        "whatever.cluster.local.",
    ] {
        let nx = udp_query(addr, unknown, RecordType::A).await;
        assert_eq!(
            nx.metadata.response_code,
            ResponseCode::NXDomain,
            "{unknown}"
        );
        assert!(nx.metadata.authoritative);
        assert_eq!(nx.authorities.len(), 1, "an SOA for negative caching");
        assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_service_and_endpoint_changes() {
    let srv = TestServer::start().await;
    let (_dns, addr) = dns_server(&srv.client, Vec::new()).await;
    let name = "api.shop.svc.cluster.local.";
    let nx = udp_query(addr, name, RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);

    let namespaces: Api<Namespace> = Api::all(srv.client.clone());
    let shop = Namespace {
        metadata: ObjectMeta {
            name: Some("shop".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces.create(&shop).await.unwrap();
    let services: Api<Service> = Api::namespaced(srv.client.clone(), "shop");
    services
        .create(&service("shop", "api", Some("None")))
        .await
        .unwrap();
    let eps: Api<Endpoints> = Api::namespaced(srv.client.clone(), "shop");
    eps.create(&endpoints("shop", "api", &["10.250.1.10".into()], &[]))
        .await
        .unwrap();
    let first = wait_answer(addr, name, RecordType::A, "the first endpoint", |m| {
        ips(m) == vec![ip("10.250.1.10")]
    })
    .await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);

    let mut grown = eps.get("api").await.unwrap();
    grown.subsets = endpoints(
        "shop",
        "api",
        &["10.250.1.10".into(), "10.250.3.4".into()],
        &[],
    )
    .subsets;
    eps.replace("api", &grown).await.unwrap();
    wait_answer(addr, name, RecordType::A, "the new endpoint", |m| {
        ips(m) == vec![ip("10.250.1.10"), ip("10.250.3.4")]
    })
    .await;

    services
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    wait_answer(addr, name, RecordType::A, "NXDOMAIN once deleted", |m| {
        m.metadata.response_code == ResponseCode::NXDomain
    })
    .await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_cluster_fail_at_once_without_upstreams() {
    let srv = TestServer::start().await;
    let (_dns, addr) = dns_server(&srv.client, Vec::new()).await;
    for name in [
        "example.com.",
        "nginx.",
        "web.default.svc.cluster.local.example.com.",
    ] {
        let started = Instant::now();
        let answer = udp_query(addr, name, RecordType::A).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        // Not ours: no authority claimed, no SOA.
        assert!(!answer.metadata.recursion_available && !answer.metadata.authoritative);
        assert!(answer.authorities.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    // Garbage gets FORMERR with its id, not silence.
    let garbage = [0x12, 0x34, 0xff, 0xff, 0xff];
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&garbage, addr).await.unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let formerr = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(formerr.metadata.id, 0x1234);
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
    srv.stop().await;
}

/// A stand-in upstream on loopback that answers every A query with 192.0.2.7.
async fn fake_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let query = Message::from_vec(&buf[..n]).unwrap();
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.recursion_available = true;
            answer.add_queries(query.queries.iter().cloned());
            answer.add_answer(Record::from_rdata(
                query.queries[0].name().clone(),
                60,
                RData::A(hickory_proto::rr::rdata::A("192.0.2.7".parse().unwrap())),
            ));
            let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_get_outside_names_and_a_silent_one_gives_servfail() {
    let srv = TestServer::start().await;
    let services: Api<Service> = Api::namespaced(srv.client.clone(), "default");
    let web = services
        .create(&service("default", "web", None))
        .await
        .unwrap();
    let web_ip = ip(web.spec.unwrap().cluster_ip.as_deref().unwrap());

    let (upstream, task) = fake_upstream().await;
    let (_dns, addr) = dns_server(&srv.client, vec![upstream]).await;
    let outside = udp_query(addr, "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ips(&outside), vec![ip("192.0.2.7")]);
    // Cluster names are still answered here, not forwarded.
    let web = wait_answer(
        addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        "the ClusterIP",
        |m| !m.answers.is_empty(),
    )
    .await;
    assert_eq!(ips(&web), vec![web_ip]);
    task.abort();

    // An upstream that never answers (a bound socket nobody reads): SERVFAIL
    // after the 500 ms timeout, not a hang.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (_dns2, addr2) = dns_server(&srv.client, vec![silent.local_addr().unwrap()]).await;
    let started = Instant::now();
    let failed = udp_query(addr2, "example.com.", RecordType::A).await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_what_udp_must_truncate() {
    let srv = TestServer::start().await;
    let services: Api<Service> = Api::namespaced(srv.client.clone(), "default");
    services
        .create(&service("default", "big", Some("None")))
        .await
        .unwrap();
    let many: Vec<String> = (1..=60).map(|i| format!("10.250.4.{i}")).collect();
    let eps: Api<Endpoints> = Api::namespaced(srv.client.clone(), "default");
    eps.create(&endpoints("default", "big", &many, &[]))
        .await
        .unwrap();
    let (_dns, addr) = dns_server(&srv.client, Vec::new()).await;
    let name = "big.default.svc.cluster.local.";

    // 60 A records do not fit 512 bytes: TC set, for a retry over TCP.
    let udp = wait_answer(addr, name, RecordType::A, "a truncated answer", |m| {
        m.metadata.truncation
    })
    .await;
    assert!(udp.answers.is_empty());
    // With EDNS (1232 bytes) they fit.
    let edns = udp_exchange(addr, &request(name, RecordType::A, true)).await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 60);

    let tcp = tcp_query(addr, name, RecordType::A).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
    let outside = tcp_query(addr, "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_its_dns_and_stops_it_on_shutdown() {
    let srv = TestServer::start().await;
    let services: Api<Service> = Api::namespaced(srv.client.clone(), "default");
    let web = services
        .create(&service("default", "web", None))
        .await
        .unwrap();
    let web_ip = ip(web.spec.unwrap().cluster_ip.as_deref().unwrap());

    let mut config = agent_config("n1", "10.250.0.1");
    let mut dns = DnsServerConfig::new("cluster.local");
    dns.listen = Some("127.0.0.1:0".parse().unwrap());
    config.dns = Some(dns);
    let agent = Agent::start(
        srv.client.clone(),
        config,
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap();
    let addrs = agent.dns_addrs();
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    let addr = addrs[0];
    let answer = wait_answer(
        addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        "the ClusterIP",
        |m| !m.answers.is_empty(),
    )
    .await;
    assert_eq!(ips(&answer), vec![web_ip]);

    agent.shutdown().await;
    // The port is closed: the query is refused by the kernel or unanswered.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(addr).await.unwrap();
    socket
        .send(&request(
            "web.default.svc.cluster.local.",
            RecordType::A,
            false,
        ))
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let after = tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await;
    assert!(
        !matches!(after, Ok(Ok(_))),
        "answered after shutdown: {after:?}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_listeners_follow_the_pod_cidr_before_the_bridge_exists() {
    let srv = TestServer::start().await;
    let config = DnsServerConfig::new("cluster.local");
    let server = Arc::new(DnsServer::start(srv.client.clone(), &config).unwrap());
    // A free port, so the test needs no root; nothing is sent there: these
    // gateway addresses exist on no interface (IP_FREEBIND binds anyway).
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (cidr, cidrs) = tokio::sync::watch::channel(None);
    server.follow_pod_gateways(cidrs, "10.231.0.0/24".into(), port);
    let wait_addrs = |want: Vec<SocketAddr>| {
        let server = server.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            while server.local_addrs() != want {
                assert!(
                    Instant::now() < deadline,
                    "{:?} != {want:?}",
                    server.local_addrs()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let fallback: SocketAddr = format!("10.231.0.1:{port}").parse().unwrap();
    wait_addrs(vec![fallback]).await;
    cidr.send_replace(Some("10.231.7.0/24".into()));
    let assigned: SocketAddr = format!("10.231.7.1:{port}").parse().unwrap();
    wait_addrs(vec![fallback, assigned]).await;
    server.stop();
    assert!(server.local_addrs().is_empty());
    srv.stop().await;
}
