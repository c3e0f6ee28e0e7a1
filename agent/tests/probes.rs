//! Liveness, readiness and startup probes on a hollow node: readiness gates
//! Ready, a failing liveness (or startup) probe restarts the container, a
//! startup probe holds liveness back. httpGet and tcpSocket probes point at
//! servers of this test on 127.0.0.1 (`host:`); exec probes are scripted by
//! the hollow runtime's `HOLLOW_EXEC_*` knobs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use skiff_agent::{Agent, AgentHandle, HollowRuntime};
use skiff_api::core::{
    Container, Event, ExecAction, GrpcAction, HttpGetAction, Pod, Probe, TcpSocketAction,
};
use skiff_api::intstr::IntOrString;
use skiff_client::{Api, ListParams};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn hollow_agent(srv: &TestServer) -> AgentHandle {
    Agent::start(
        srv.client.clone(),
        agent_config("n1", "10.250.0.1"),
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap()
}

/// An HTTP server on 127.0.0.1 answering every request with `status`.
async fn status_server(status: Arc<AtomicU16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let code = status.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf).await;
                let reply =
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    port
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Every second, decided on the first failure unless `failures` says more.
fn every_second(mut p: Probe, failures: i32) -> Probe {
    p.period_seconds = Some(1);
    p.failure_threshold = Some(failures);
    p
}

fn http_probe(port: u16) -> Probe {
    Probe {
        http_get: Some(HttpGetAction {
            path: Some("/ready".into()),
            port: IntOrString::Int(port.into()),
            host: Some("127.0.0.1".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn exec_probe() -> Probe {
    Probe {
        exec: Some(ExecAction {
            // Any command: the hollow runtime's `HOLLOW_EXEC_*` knobs decide.
            command: vec!["true".into()],
        }),
        ..Default::default()
    }
}

fn tcp_probe(port: u16) -> Probe {
    Probe {
        tcp_socket: Some(TcpSocketAction {
            port: IntOrString::Int(port.into()),
            host: Some("127.0.0.1".into()),
        }),
        ..Default::default()
    }
}

fn status_of<'a>(p: &'a Pod, name: &str) -> &'a skiff_api::core::ContainerStatus {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.iter().find(|c| c.name == name))
        .expect("a container status")
}

fn condition(p: &Pod, type_: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.condition(type_))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// Waits for an Event on pod `name` with `reason` whose message starts with `prefix`.
async fn event(srv: &TestServer, name: &str, reason: &str, prefix: &str) -> Event {
    let events: Api<Event> = Api::namespaced(srv.client.clone(), "default");
    let lp = ListParams::default().fields(&format!("involvedObject.name={name},reason={reason}"));
    wait_for(
        &format!("a {reason} event on {name}: {prefix}"),
        15,
        || async {
            events
                .list(&lp)
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| e.message.as_deref().is_some_and(|m| m.starts_with(prefix)))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_gate_ready() {
    let srv = TestServer::start().await;
    let agent = hollow_agent(&srv).await;
    let pods = srv.pods();
    let status = Arc::new(AtomicU16::new(500));
    let port = status_server(status.clone()).await;
    let mut web = container("web", &[]);
    web.readiness_probe = Some(every_second(http_probe(port), 1));
    let mut grpc = container("grpc", &[]);
    grpc.readiness_probe = Some(Probe {
        grpc: Some(GrpcAction {
            port: 9090,
            service: None,
        }),
        ..Default::default()
    });
    pods.create(&pod("web", "n1", "Always", vec![web]))
        .await
        .unwrap();
    pods.create(&pod("grpc", "n1", "Always", vec![grpc]))
        .await
        .unwrap();

    // Running, but unready while the probe fails.
    let p = wait_pod(&pods, "web", "Running", |p| phase(p) == "Running").await;
    assert!(!status_of(&p, "web").ready);
    assert_eq!(status_of(&p, "web").started, Some(true));
    event(
        &srv,
        "web",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 500",
    )
    .await;
    let p = pods.get("web").await.unwrap();
    assert!(!is_ready(&p));
    assert_eq!(condition(&p, "ContainersReady"), "False");
    let ready = p.status.as_ref().unwrap().condition("Ready").unwrap();
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [web]")
    );

    // It passes: Ready.
    status.store(200, Ordering::SeqCst);
    let p = wait_pod(&pods, "web", "Ready", is_ready).await;
    assert!(status_of(&p, "web").ready);
    assert_eq!(condition(&p, "ContainersReady"), "True");

    // It fails again: NotReady, and nothing restarts.
    status.store(503, Ordering::SeqCst);
    let p = wait_pod(&pods, "web", "NotReady", |p| !is_ready(p)).await;
    assert!(!status_of(&p, "web").ready);
    assert_eq!(phase(&p), "Running");
    assert_eq!(restart_count(&p, "web"), 0);

    // gRPC probes are not run: said so, and the container is never ready.
    event(
        &srv,
        "grpc",
        "Unhealthy",
        "Readiness probe errored: gRPC probes are not supported",
    )
    .await;
    let p = pods.get("grpc").await.unwrap();
    assert_eq!(phase(&p), "Running");
    assert!(!is_ready(&p));
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probes_restart_the_container() {
    let srv = TestServer::start().await;
    let agent = hollow_agent(&srv).await;
    let pods = srv.pods();
    // The exec probe passes for a second, then fails.
    let sick = |name: &str| {
        let mut c = container(name, &[("HOLLOW_EXEC_FAIL_AFTER", "1s")]);
        c.liveness_probe = Some(every_second(exec_probe(), 2));
        c
    };
    // OnFailure: restarted although the stopped container exits 0.
    pods.create(&pod("restarts", "n1", "OnFailure", vec![sick("c")]))
        .await
        .unwrap();
    pods.create(&pod("never", "n1", "Never", vec![sick("c")]))
        .await
        .unwrap();
    let p = wait_pod(&pods, "restarts", "Running", |p| phase(p) == "Running").await;
    let first_id = status_of(&p, "c").container_id.clone().unwrap();
    assert_eq!(restart_count(&p, "c"), 0);

    let p = wait_pod(&pods, "restarts", "a restart", |p| {
        restart_count(p, "c") >= 1 && status_of(p, "c").state.as_ref().unwrap().running.is_some()
    })
    .await;
    assert_eq!(phase(&p), "Running");
    let cs = status_of(&p, "c");
    assert_ne!(cs.container_id.as_deref(), Some(first_id.as_str()));
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.container_id.as_deref(), Some(first_id.as_str()));
    let unhealthy = event(
        &srv,
        "restarts",
        "Unhealthy",
        "Liveness probe failed: hollow exec: exit code 1",
    )
    .await;
    assert_eq!(unhealthy.type_.as_deref(), Some("Warning"));
    let killing = event(
        &srv,
        "restarts",
        "Killing",
        "Container c failed liveness probe, will be restarted",
    )
    .await;
    assert_eq!(killing.type_.as_deref(), Some("Normal"));
    assert_eq!(
        killing.involved_object.field_path.as_deref(),
        Some("spec.containers{c}")
    );

    // Never: stopped, not restarted.
    event(
        &srv,
        "never",
        "Killing",
        "Container c failed liveness probe",
    )
    .await;
    let p = wait_pod(&pods, "never", "the container stopped", |p| {
        status_of(p, "c")
            .state
            .as_ref()
            .unwrap()
            .terminated
            .is_some()
    })
    .await;
    assert_eq!(restart_count(&p, "c"), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(restart_count(&pods.get("never").await.unwrap(), "c"), 0);
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_probes_hold_liveness_back() {
    let srv = TestServer::start().await;
    let agent = hollow_agent(&srv).await;
    let pods = srv.pods();
    // Starts (its exec probe passes) after 3s; its liveness probe would
    // fail at once: nothing listens on its port.
    let mut slow = container("c", &[("HOLLOW_EXEC_SUCCEED_AFTER", "3s")]);
    slow.startup_probe = Some(every_second(exec_probe(), 10));
    slow.liveness_probe = Some(every_second(tcp_probe(closed_port().await), 1));
    // Never starts: its startup probe fails past the threshold.
    let mut stuck = container("c", &[("HOLLOW_EXEC_EXIT_CODE", "2")]);
    stuck.startup_probe = Some(every_second(exec_probe(), 2));
    pods.create(&pod("slow", "n1", "Always", vec![slow]))
        .await
        .unwrap();
    pods.create(&pod("stuck", "n1", "Always", vec![stuck]))
        .await
        .unwrap();

    let p = wait_pod(&pods, "slow", "Running", |p| phase(p) == "Running").await;
    let running_at = Instant::now();
    assert_eq!(status_of(&p, "c").started, Some(false));
    assert!(!status_of(&p, "c").ready);
    event(
        &srv,
        "slow",
        "Unhealthy",
        "Startup probe failed: hollow exec: exit code 1",
    )
    .await;
    // Liveness waits for the startup probe: no kill in the first seconds.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(running_at.elapsed())).await;
    let p = pods.get("slow").await.unwrap();
    assert_eq!(restart_count(&p, "c"), 0);
    assert_eq!(status_of(&p, "c").started, Some(false));
    // Started at 3s, then liveness fails and restarts it.
    let p = wait_pod(&pods, "slow", "a restart", |p| restart_count(p, "c") >= 1).await;
    assert!(
        running_at.elapsed() >= Duration::from_millis(1500),
        "killed {:?} after it ran",
        running_at.elapsed()
    );
    assert_eq!(phase(&p), "Running");
    event(
        &srv,
        "slow",
        "Unhealthy",
        "Liveness probe failed: dial tcp 127.0.0.1:",
    )
    .await;
    event(
        &srv,
        "slow",
        "Killing",
        "Container c failed liveness probe, will be restarted",
    )
    .await;

    // A startup probe failing past its threshold restarts the container too.
    let p = wait_pod(&pods, "stuck", "a restart", |p| restart_count(p, "c") >= 1).await;
    assert_eq!(phase(&p), "Running");
    event(
        &srv,
        "stuck",
        "Killing",
        "Container c failed startup probe, will be restarted",
    )
    .await;
    agent.shutdown().await;
    srv.stop().await;
}

/// Containers without probes are not touched: Ready at once, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_without_probes_are_ready_when_running() {
    let srv = TestServer::start().await;
    let agent = hollow_agent(&srv).await;
    let pods = srv.pods();
    let plain: Container = container("plain", &[("HOLLOW_EXEC_EXIT_CODE", "1")]);
    pods.create(&pod("plain", "n1", "Always", vec![plain]))
        .await
        .unwrap();
    let p = wait_pod(&pods, "plain", "Ready", is_ready).await;
    assert_eq!(status_of(&p, "plain").started, Some(true));
    agent.shutdown().await;
    srv.stop().await;
}

/// A hostNetwork pod's probes without a `host` go to the node's IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_pods_are_probed_on_the_node_ip() {
    let srv = TestServer::start().await;
    let agent = Agent::start(
        srv.client.clone(),
        agent_config("n1", "127.0.0.1"),
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap();
    let pods = srv.pods();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probe = every_second(tcp_probe(port), 1);
    probe.tcp_socket.as_mut().unwrap().host = None;
    let mut web = container("web", &[]);
    web.readiness_probe = Some(probe);
    let mut p = pod("hostnet", "n1", "Always", vec![web]);
    p.spec.as_mut().unwrap().host_network = Some(true);
    pods.create(&p).await.unwrap();
    let p = wait_pod(&pods, "hostnet", "Ready", is_ready).await;
    assert_eq!(
        p.status.as_ref().unwrap().pod_ip.as_deref(),
        Some("127.0.0.1")
    );
    // Nothing listens any more: NotReady.
    drop(listener);
    wait_pod(&pods, "hostnet", "NotReady", |p| !is_ready(p)).await;
    event(
        &srv,
        "hostnet",
        "Unhealthy",
        &format!("Readiness probe failed: dial tcp 127.0.0.1:{port}: connect: "),
    )
    .await;
    agent.shutdown().await;
    srv.stop().await;
}

/// A sidecar's startup probe holds the app containers back until it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_start_the_app_once_their_startup_probe_passes() {
    let srv = TestServer::start().await;
    let agent = hollow_agent(&srv).await;
    let pods = srv.pods();
    let mut sidecar = container("proxy", &[("HOLLOW_EXEC_SUCCEED_AFTER", "2s")]);
    sidecar.restart_policy = Some("Always".into());
    sidecar.startup_probe = Some(every_second(exec_probe(), 10));
    let mut p = pod("meshed", "n1", "Always", vec![container("app", &[])]);
    p.spec.as_mut().unwrap().init_containers = vec![sidecar];
    pods.create(&p).await.unwrap();
    let p = wait_pod(&pods, "meshed", "the sidecar running", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.init_container_statuses
                .first()
                .is_some_and(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
        })
    })
    .await;
    let running_at = Instant::now();
    let sidecar = &p.status.as_ref().unwrap().init_container_statuses[0];
    assert_eq!(sidecar.started, Some(false));
    assert_eq!(phase(&p), "Pending");
    let p = wait_pod(&pods, "meshed", "Running and Ready", |p| {
        phase(p) == "Running" && is_ready(p)
    })
    .await;
    assert!(
        running_at.elapsed() >= Duration::from_millis(1200),
        "the app started {:?} after the sidecar",
        running_at.elapsed()
    );
    let s = p.status.as_ref().unwrap();
    assert_eq!(s.init_container_statuses[0].started, Some(true));
    assert_eq!(condition(&p, "Initialized"), "True");
    agent.shutdown().await;
    srv.stop().await;
}
