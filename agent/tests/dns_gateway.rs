//! Root test: the node DNS binds port 53 of the pod gateway before the
//! bridge carrying that address exists (IP_FREEBIND), and answers there
//! once it does, as pods see it.
//!
//! SAFETY: the test runs on a thread that first moves into a new network
//! namespace of its own (checked against the process's and PID 1's); the
//! bridge, its address and all traffic live there, and vanish with it.

mod support;

use support::netns::in_test_netns;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use skiff_agent::dns::{DNS_PORT, DnsServer, DnsServerConfig};
use skiff_api::core::{Service, ServicePort, ServiceSpec};
use skiff_api::meta::ObjectMeta;
use skiff_client::Api;
use support::TestServer;
use tokio::net::UdpSocket;

/// `ip ARGS` in the calling thread's network namespace.
fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("running ip");
    assert!(status.success(), "ip {args:?}: {status}");
}

async fn query_a(server: SocketAddr, name: &str) -> Message {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
    socket.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    assert_eq!(from, server, "the answer comes from the gateway address");
    Message::from_vec(&buf[..n]).unwrap()
}

#[test]
fn the_gateway_listener_starts_before_the_bridge_and_answers_after() {
    in_test_netns(|| async {
        let srv = TestServer::start().await;
        let services: Api<Service> = Api::namespaced(srv.client.clone(), "default");
        let web = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.50".into()),
                ports: vec![ServicePort {
                    port: 80,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let cluster_ip = services
            .create(&web)
            .await
            .unwrap()
            .spec
            .unwrap()
            .cluster_ip;

        let dns = Arc::new(
            DnsServer::start(srv.client.clone(), &DnsServerConfig::new("cluster.local")).unwrap(),
        );
        let (_cidr, cidrs) = tokio::sync::watch::channel(Some("10.250.9.0/24".to_string()));
        dns.follow_pod_gateways(cidrs, "10.88.0.0/16".into(), DNS_PORT);
        let gateway: SocketAddr = "10.250.9.1:53".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while dns.local_addrs() != vec![gateway] {
            assert!(
                Instant::now() < deadline,
                "listening on {:?}",
                dns.local_addrs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // What the CNI bridge plugin does on the first pod.
        ip(&["link", "add", "skiff0", "type", "bridge"]);
        ip(&["addr", "add", "10.250.9.1/24", "dev", "skiff0"]);
        ip(&["link", "set", "skiff0", "up"]);

        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            let answer = query_a(gateway, "web.default.svc.cluster.local.").await;
            if !answer.answers.is_empty() || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        let RData::A(a) = &answer.answers[0].data else {
            panic!("not an A record: {answer:?}");
        };
        assert_eq!(Some(a.0.to_string()), cluster_ip);
        let outside = query_a(gateway, "example.com.").await;
        assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
        dns.stop();
        srv.stop().await;
    });
}
