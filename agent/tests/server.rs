//! The agent's HTTP API over a hollow node: logs (tail, timestamps,
//! previous, follow that ends when the container exits), exec over
//! WebSocket (v5 with stdin and its end, v4, exit codes on channel 3),
//! stats, and the Node reporting where it listens.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use skiff_agent::{Agent, AgentHandle, HollowRuntime};
use skiff_api::core::Node;
use skiff_client::Api;
use support::wire::{exec, get, http};
use support::*;

async fn serving_agent(srv: &TestServer, name: &str) -> (AgentHandle, HollowRuntime, String) {
    let rt = HollowRuntime::default();
    let mut config = agent_config(name, "10.250.0.1");
    config.server_addr = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(srv.client.clone(), config, Arc::new(rt.clone()))
        .await
        .unwrap();
    let base = format!("127.0.0.1:{}", agent.server_addr().unwrap().port());
    (agent, rt, base)
}

async fn running_pod(srv: &TestServer, name: &str, node: &str, env: &[(&str, &str)]) -> String {
    let pods = srv.pods();
    pods.create(&pod(name, node, "Never", vec![container("c", env)]))
        .await
        .unwrap();
    let p = wait_pod(&pods, name, "Running", |p| phase(p) == "Running").await;
    uid(&p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reports_the_port_it_listens_on() {
    let srv = TestServer::start().await;
    let (agent, _rt, base) = serving_agent(&srv, "n1").await;
    let node = Api::<Node>::all(srv.client.clone())
        .get("n1")
        .await
        .unwrap();
    let status = node.status.unwrap();
    let port = status
        .daemon_endpoints
        .unwrap()
        .kubelet_endpoint
        .unwrap()
        .port;
    assert_eq!(format!("127.0.0.1:{port}"), base);
    assert_eq!(status.addresses[0].type_, "InternalIP");
    assert_eq!(status.addresses[0].address, "127.0.0.1");
    assert_eq!(status.addresses[1].address, "10.250.0.1");
    assert_eq!(
        get(&format!("http://{base}/healthz")).await,
        (200, "ok".into())
    );
    agent.shutdown().await;
    // Stopped with the agent.
    assert!(
        http()
            .get(format!("http://{base}/healthz"))
            .send()
            .await
            .is_err()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_with_tail_timestamps_and_previous() {
    let srv = TestServer::start().await;
    let (agent, rt, base) = serving_agent(&srv, "n1").await;
    let first_uid = running_pod(&srv, "web", "n1", &[]).await;
    let url = |q: &str| format!("http://{base}/containerLogs/default/web/c{q}");
    let (code, text) = get(&url("")).await;
    assert_eq!(code, 200, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("hollow container c (restart 0)"),
        "{text}"
    );
    assert_eq!(lines[1], "started");
    assert_eq!(get(&url("?tailLines=1")).await.1, "started\n");
    let (_, stamped) = get(&url("?timestamps=true&tailLines=1")).await;
    let (stamp, rest) = stamped.split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamped}"
    );
    assert_eq!(rest, "started\n");
    assert_eq!(get(&url("?limitBytes=7")).await.1, "hollow ");
    // No previous instance yet.
    let (code, body) = get(&url("?previous=true")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains(r#"previous terminated container \"c\" in pod \"web\" not found"#),
        "{body}"
    );
    // Bad input names what is wrong.
    let (code, body) = get(&url("?tailLines=many")).await;
    assert_eq!(code, 400);
    assert!(body.contains("tailLines"), "{body}");
    let (code, body) = get(&format!("http://{base}/containerLogs/default/nope/c")).await;
    assert_eq!(code, 404);
    assert!(body.contains(r#"pods \"nope\" not found"#), "{body}");
    let (code, body) = get(&format!("http://{base}/containerLogs/default/web/other")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("is waiting to start: ContainerCreating"),
        "{body}"
    );
    // Stats of the running container.
    let (code, stats) = get(&format!("http://{base}/stats/default/web/c")).await;
    assert_eq!(code, 200, "{stats}");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["memory"]["workingSetBytes"], 4 << 20);
    assert_eq!(stats["podRef"]["uid"], first_uid.as_str());
    // After a crash and restart, --previous shows the crashed instance.
    let pods = srv.pods();
    pods.delete("web", &Default::default()).await.ok();
    let _ = wait_for("web gone", 15, || async {
        pods.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;
    pods.create(&pod("web", "n1", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    let p = wait_pod(&pods, "web", "Running", |p| phase(p) == "Running").await;
    assert!(rt.crash(&uid(&p), "c", 2));
    wait_pod(&pods, "web", "restarted", |p| {
        restart_count(p, "c") == 1 && phase(p) == "Running"
    })
    .await;
    let (code, prev) = get(&url("?previous=true")).await;
    assert_eq!(code, 200, "{prev}");
    assert!(prev.starts_with("hollow container c (restart 0)"), "{prev}");
    assert!(prev.ends_with("exited with code 2\n"), "{prev}");
    let (_, now) = get(&url("")).await;
    assert!(now.starts_with("hollow container c (restart 1)"), "{now}");
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_until_the_container_exits() {
    let srv = TestServer::start().await;
    let (agent, _rt, base) = serving_agent(&srv, "n1").await;
    running_pod(
        &srv,
        "job",
        "n1",
        &[("HOLLOW_RUN_FOR", "1500ms"), ("HOLLOW_EXIT_CODE", "4")],
    )
    .await;
    let started = std::time::Instant::now();
    let resp = http()
        .get(format!(
            "http://{base}/containerLogs/default/job/c?follow=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).ends_with("started\n"));
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the follow stream did not end with the container"
    );
    assert_eq!(String::from_utf8_lossy(&rest), "exited with code 4\n");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for the exit"
    );
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_with_stdin_and_exit_codes() {
    let srv = TestServer::start().await;
    let (agent, _rt, base) = serving_agent(&srv, "n1").await;
    running_pod(&srv, "web", "n1", &[]).await;
    let url = |q: &str| format!("ws://{base}/exec/default/web/c?{q}");
    // v5: stdin, its end, both outputs, the exit code.
    let script = "command=sh&command=-c&command=cat%3B+echo+oops+%3E%262%3B+exit+3&stdin=true&stdout=true&stderr=true";
    let r = exec(&url(script), "v5.channel.k8s.io", Some(b"hello\n"))
        .await
        .unwrap();
    assert_eq!(r.protocol, "v5.channel.k8s.io");
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "oops\n");
    assert_eq!(r.status, Some(Ok(3)));
    assert!(r.closed);
    // v4 when only it is offered; success is Success.
    let r = exec(
        &url("command=echo&command=hi&stdout=true"),
        "v4.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.protocol.as_str(), r.stdout.as_str(), r.status),
        ("v4.channel.k8s.io", "hi\n", Some(Ok(0)))
    );
    // The preferred one when both are.
    let r = exec(
        &url("command=hostname&stdout=true"),
        "v4.channel.k8s.io, v5.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.protocol.as_str(), r.stdout.as_str()),
        ("v5.channel.k8s.io", "web\n")
    );
    // With a tty, stderr comes on the terminal (stdout).
    let r = exec(
        &url("command=sh&command=-c&command=echo+e+%3E%262&stdout=true&tty=true"),
        "v5.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("e\r\n", ""));
    // Not a hollow builtin: 127 and why.
    let r = exec(
        &url("command=ls&stdout=true&stderr=true"),
        "v5.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, Some(Ok(127)));
    assert!(r.stderr.contains("hollow"), "{}", r.stderr);
    // A missing pod is reported on the error channel.
    let r = exec(
        &format!("ws://{base}/exec/default/nope/c?command=true&stdout=true"),
        "v5.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, Some(Err(r#"pods "nope" not found"#.to_string())));
    // Malformed requests are refused before the upgrade.
    let e = exec(&url("stdout=true"), "v5.channel.k8s.io", None)
        .await
        .unwrap_err();
    assert!(
        e.starts_with("400") && e.contains("at least 1 command"),
        "{e}"
    );
    let e = exec(&url("command=true&stdout=true"), "channel.k8s.io", None)
        .await
        .unwrap_err();
    assert!(
        e.starts_with("400") && e.contains("v5.channel.k8s.io"),
        "{e}"
    );
    let (code, body) = get(&format!(
        "http://{base}/exec/default/web/c?command=true&stdout=true"
    ))
    .await;
    assert_eq!(code, 400);
    assert!(body.contains("WebSocket"), "{body}");
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_serves_a_whole_hollow_fleet() {
    let srv = TestServer::start().await;
    let mut config = skiff_agent::FleetConfig::default().lab_profile();
    config.agent.pod_cidr_wait = Duration::from_millis(100);
    config.agent.server_addr = Some("127.0.0.1:0".parse().unwrap());
    let mut fleet = skiff_agent::start_hollow_fleet(srv.client.clone(), 3, "h-", config)
        .await
        .unwrap();
    let port = fleet.server_addr().unwrap().port();
    let nodes = Api::<Node>::all(srv.client.clone());
    for name in fleet.node_names() {
        let s = nodes.get(&name).await.unwrap().status.unwrap();
        assert_eq!(
            s.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
            i32::from(port)
        );
        assert_eq!(s.addresses[0].address, "127.0.0.1", "{name}");
    }
    running_pod(&srv, "on-h0", "h-0", &[]).await;
    running_pod(&srv, "on-h2", "h-2", &[]).await;
    for pod in ["on-h0", "on-h2"] {
        let (code, text) = get(&format!(
            "http://127.0.0.1:{port}/containerLogs/default/{pod}/c"
        ))
        .await;
        assert_eq!(code, 200, "{text}");
        assert!(text.ends_with("started\n"), "{text}");
        let r = exec(
            &format!("ws://127.0.0.1:{port}/exec/default/{pod}/c?command=hostname&stdout=true"),
            "v5.channel.k8s.io",
            None,
        )
        .await
        .unwrap();
        assert_eq!(r.stdout, format!("{pod}\n"));
    }
    // A restarted node's pods are still found.
    fleet.restart_node("h-2").await.unwrap();
    let (code, _) = get(&format!(
        "http://127.0.0.1:{port}/containerLogs/default/on-h2/c"
    ))
    .await;
    assert_eq!(code, 200);
    fleet.shutdown().await;
    assert!(
        http()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    srv.stop().await;
}
