//! Root test: the route keeper (host-gw) writes `podCIDR via nodeIP` for
//! every other Node on its link, follows Node changes and deletions,
//! restores a route someone deleted, turns ip_forward on when asked, and
//! never touches a route it does not own.
//!
//! SAFETY: the test runs on a thread that first moves into a new network
//! namespace of its own (checked against the process's and PID 1's); the
//! veth pair, its address and every route live there and vanish
//! with it.

mod support;

use support::netns::in_test_netns;

use std::process::Command;
use std::time::{Duration, Instant};

use skiff_agent::routes::{self, RoutesConfig, sysctl};
use skiff_api::core::{Node, NodeAddress, NodeSpec, NodeStatus};
use skiff_api::meta::ObjectMeta;
use skiff_client::{Api, DeleteParams};
use support::TestServer;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn owned_routes() -> Vec<String> {
    let json = ip(&["-j", "-4", "route", "show", "proto", "66"]);
    let mut routes: Vec<String> = routes::parse_routes(&json)
        .unwrap()
        .into_iter()
        .map(|r| {
            format!(
                "{} via {}",
                r.dst,
                r.via.map(|v| v.to_string()).unwrap_or_default()
            )
        })
        .collect();
    routes.sort();
    routes
}

async fn wait_routes(want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = owned_routes();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "routes {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node(name: &str, cidr: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(cidr.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create_node(api: &Api<Node>, name: &str, cidr: &str, internal_ip: &str) {
    let created = api.create(&node(name, cidr)).await.unwrap();
    set_ip(api, created, internal_ip).await;
}

async fn set_ip(api: &Api<Node>, mut n: Node, internal_ip: &str) {
    n.status = Some(NodeStatus {
        addresses: vec![NodeAddress {
            type_: "InternalIP".into(),
            address: internal_ip.into(),
        }],
        ..Default::default()
    });
    let name = n.metadata.name.clone().unwrap();
    api.replace_status(&name, &n).await.unwrap();
}

#[test]
fn routes_follow_the_nodes_and_only_ours_are_touched() {
    in_test_netns(|| async {
        // A veth pair (no dummy driver everywhere): lab0 is "the link".
        ip(&[
            "link", "add", "lab0", "type", "veth", "peer", "name", "lab1",
        ]);
        ip(&["addr", "add", "10.250.0.1/24", "dev", "lab0"]);
        ip(&["link", "set", "lab1", "up"]);
        ip(&["link", "set", "lab0", "up"]);
        // Someone else's route, on the same link: it must stay.
        ip(&[
            "route",
            "add",
            "10.99.0.0/24",
            "via",
            "10.250.0.9",
            "dev",
            "lab0",
        ]);
        assert!(
            !sysctl::ip_forward().unwrap(),
            "a new netns forwards nothing"
        );

        let server = TestServer::start().await;
        let api: Api<Node> = Api::all(server.client.clone());
        create_node(&api, "node1", "10.244.0.0/24", "10.250.0.1").await;
        create_node(&api, "node2", "10.244.1.0/24", "10.250.0.2").await;
        create_node(&api, "node3", "10.244.2.0/24", "10.250.0.3").await;
        // Off the link: no route (a gateway there would be unreachable).
        create_node(&api, "far", "10.244.3.0/24", "192.168.77.7").await;

        assert!(routes::start(server.client.clone(), "node1", RoutesConfig::new("nope0")).is_err());
        let mut config = RoutesConfig::new("lab0");
        config.enable_ip_forward = true;
        config.resync_interval = Duration::from_millis(200);
        let keeper = routes::start(server.client.clone(), "node1", config).unwrap();
        assert!(sysctl::ip_forward().unwrap(), "asked to forward");
        wait_routes(&[
            "10.244.1.0/24 via 10.250.0.2",
            "10.244.2.0/24 via 10.250.0.3",
        ])
        .await;

        // A node that moves, one that goes away, one that comes.
        let n2 = api.get("node2").await.unwrap();
        set_ip(&api, n2, "10.250.0.22").await;
        api.delete("node3", &DeleteParams::default()).await.unwrap();
        create_node(&api, "node4", "10.244.4.0/24", "10.250.0.4").await;
        wait_routes(&[
            "10.244.1.0/24 via 10.250.0.22",
            "10.244.4.0/24 via 10.250.0.4",
        ])
        .await;

        // A route deleted behind its back comes back with the resync.
        ip(&["route", "del", "10.244.4.0/24", "proto", "66"]);
        wait_routes(&[
            "10.244.1.0/24 via 10.250.0.22",
            "10.244.4.0/24 via 10.250.0.4",
        ])
        .await;

        let foreign = ip(&["route", "show", "10.99.0.0/24"]);
        assert!(foreign.contains("via 10.250.0.9"), "{foreign}");
        // Stopping the keeper leaves the routes (pods keep talking meanwhile).
        drop(keeper);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(owned_routes().len(), 2);
        server.stop().await;
    });
}
