//! `pods/log` and `pods/exec` through the API server to a hollow node's
//! agent: the proxy finds the node's endpoint, streams logs (follow too),
//! relays exec frames both ways, and answers what the pod's status
//! already says (not started, unscheduled, missing, completed).

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use skiff_agent::{Agent, AgentHandle, HollowRuntime};
use support::wire::{exec, get, http};
use support::*;

async fn serving_agent(srv: &TestServer, name: &str) -> AgentHandle {
    let mut config = agent_config(name, "10.250.0.1");
    config.server_addr = Some("127.0.0.1:0".parse().unwrap());
    Agent::start(
        srv.client.clone(),
        config,
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_exec_through_the_api_server() {
    let srv = TestServer::start().await;
    let agent = serving_agent(&srv, "n1").await;
    let pods = srv.pods();
    pods.create(&pod("web", "n1", "Never", vec![container("c", &[])]))
        .await
        .unwrap();
    pods.create(&pod(
        "job",
        "n1",
        "Never",
        vec![container("c", &[("HOLLOW_RUN_FOR", "1s")])],
    ))
    .await
    .unwrap();
    wait_pod(&pods, "web", "Running", |p| phase(p) == "Running").await;
    wait_pod(&pods, "job", "Running", |p| phase(p) == "Running").await;
    let api = srv.client.server().to_string();
    let log = |pod: &str, q: &str| format!("{api}/api/v1/namespaces/default/pods/{pod}/log{q}");

    let (code, text) = get(&log("web", "?container=c&tailLines=1")).await;
    assert_eq!((code, text.as_str()), (200, "started\n"));
    // The only container needs no name.
    let (code, text) = get(&log("web", "")).await;
    assert_eq!(code, 200);
    assert!(text.starts_with("hollow container c"), "{text}");

    // Follow keeps streaming until the container exits.
    let resp = http().get(log("job", "?follow=true")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut all = String::new();
    let mut body = resp.bytes_stream();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            all.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await
    .expect("the followed log ends when the container exits");
    assert!(all.ends_with("started\nexited with code 0\n"), "{all}");

    // Exec: kubectl's request, relayed to the agent and back.
    let ws = api.replacen("http://", "ws://", 1);
    let url = format!(
        "{ws}/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=cat%3B+exit+5&container=c&stdin=true&stdout=true&stderr=true"
    );
    let r = exec(&url, "v5.channel.k8s.io", Some(b"through the proxy"))
        .await
        .unwrap();
    assert_eq!(r.protocol, "v5.channel.k8s.io");
    assert_eq!(r.stdout, "through the proxy");
    assert_eq!(r.status, Some(Ok(5)));
    assert!(r.closed);
    let r = exec(
        &format!(
            "{ws}/api/v1/namespaces/default/pods/web/exec?command=echo&command=v4&stdout=true"
        ),
        "v4.channel.k8s.io",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.protocol.as_str(), r.stdout.as_str(), r.status),
        ("v4.channel.k8s.io", "v4\n", Some(Ok(0)))
    );
    // SPDY (kubectl <= 1.29, and kubectl's fallback) needs the v4 stream
    // protocol offered (kubectl's own runs are in the e2e tests).
    let resp = http()
        .post(format!(
            "{api}/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true"
        ))
        .header("Connection", "Upgrade")
        .header("Upgrade", "SPDY/3.1")
        .header("X-Stream-Protocol-Version", "v2.channel.k8s.io")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("v4.channel.k8s.io") && body.contains("offered: [v2.channel.k8s.io]"),
        "{body}"
    );
    // No upgrade at all.
    let resp = http()
        .post(format!(
            "{api}/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("exec needs an upgrade"), "{body}");
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_pod_status_answers() {
    let srv = TestServer::start().await;
    let agent = serving_agent(&srv, "n1").await;
    let pods = srv.pods();
    let api = srv.client.server().to_string();
    let log = |pod: &str, q: &str| format!("{api}/api/v1/namespaces/default/pods/{pod}/log{q}");
    // Missing pod.
    let (code, body) = get(&log("nope", "")).await;
    assert_eq!(code, 404);
    assert!(body.contains(r#"pods \"nope\" not found"#), "{body}");
    // Not scheduled: waiting to start, in kubectl's words.
    pods.create(&pod("pending", "", "Never", vec![container("c", &[])]))
        .await
        .unwrap();
    let (code, body) = get(&log("pending", "")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains(
            r#"container \"c\" in pod \"pending\" is waiting to start: ContainerCreating"#
        ),
        "{body}"
    );
    // Several containers: one must be named.
    pods.create(&pod(
        "two",
        "n1",
        "Never",
        vec![container("a", &[]), container("b", &[])],
    ))
    .await
    .unwrap();
    let (code, body) = get(&log("two", "")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("a container name must be specified for pod two, choose one of: [a b]"),
        "{body}"
    );
    let (code, body) = get(&log("two", "?container=zz")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("container zz is not valid for pod two"),
        "{body}"
    );
    wait_pod(&pods, "two", "Running", |p| phase(p) == "Running").await;
    let (code, body) = get(&log("two", "?container=b&previous=true")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains(r#"previous terminated container \"b\" in pod \"two\" not found"#),
        "{body}"
    );
    // A completed pod cannot be exec'd into.
    pods.create(&pod(
        "done",
        "n1",
        "Never",
        vec![container("c", &[("HOLLOW_EXIT_CODE", "0")])],
    ))
    .await
    .unwrap();
    wait_pod(&pods, "done", "Succeeded", |p| phase(p) == "Succeeded").await;
    let ws = api.replacen("http://", "ws://", 1);
    let e = exec(
        &format!("{ws}/api/v1/namespaces/default/pods/done/exec?command=true&stdout=true"),
        "v5.channel.k8s.io",
        None,
    )
    .await
    .unwrap_err();
    assert!(
        e.starts_with("400") && e.contains("current phase is Succeeded"),
        "{e}"
    );
    // Its logs are still there.
    let (code, body) = get(&log("done", "")).await;
    assert_eq!(code, 200);
    assert!(body.ends_with("exited with code 0\n"), "{body}");
    agent.shutdown().await;
    // The agent is gone: the proxy says it cannot reach it.
    let (code, body) = get(&log("two", "?container=a")).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("node agent of node \\\"n1\\\" did not answer"),
        "{body}"
    );
    srv.stop().await;
}
