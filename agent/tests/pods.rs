//! Pods bound to a hollow node run, restart, finish and go away as the
//! kubelet would make them.

mod support;

use std::sync::Arc;
use std::time::Duration;

use skiff_agent::{Agent, AgentHandle, HollowRuntime, Runtime};
use skiff_api::core::{Event, Pod, ResourceRequirements};
use skiff_api::quantity::Quantity;
use skiff_client::{Api, DeleteParams, ListParams};
use support::*;

async fn hollow_agent(srv: &TestServer, name: &str) -> (AgentHandle, HollowRuntime) {
    let rt = HollowRuntime::default();
    let agent = Agent::start(
        srv.client.clone(),
        agent_config(name, "10.250.0.1"),
        Arc::new(rt.clone()),
    )
    .await
    .unwrap();
    (agent, rt)
}

fn condition(p: &Pod, type_: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.condition(type_))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_runs_and_is_ready() {
    let srv = TestServer::start().await;
    let (agent, rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    let mut web = container("web", &[]);
    web.resources = ResourceRequirements {
        requests: [("cpu".to_string(), Quantity::new("100m"))].into(),
        ..Default::default()
    };
    let created = pods
        .create(&pod(
            "web",
            "n1",
            "Always",
            vec![web, container("sidecar", &[])],
        ))
        .await
        .unwrap();
    assert_eq!(phase(&created), "Pending");
    let p = wait_pod(&pods, "web", "Running and Ready", |p| {
        phase(p) == "Running" && is_ready(p)
    })
    .await;
    let s = p.status.as_ref().unwrap();
    for t in [
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodReadyToStartContainers",
    ] {
        assert_eq!(condition(&p, t), "True", "{t}");
    }
    assert_eq!(s.container_statuses.len(), 2);
    for cs in &s.container_statuses {
        assert!(cs.ready, "{}", cs.name);
        assert_eq!(cs.started, Some(true));
        assert_eq!(cs.restart_count, 0);
        assert_eq!(cs.image, "nginx:1.27");
        assert!(cs.image_id.starts_with("nginx:1.27@"), "{}", cs.image_id);
        assert!(cs.container_id.as_deref().unwrap().starts_with("hollow://"));
        assert!(
            cs.state
                .as_ref()
                .unwrap()
                .running
                .as_ref()
                .unwrap()
                .started_at
                .is_some()
        );
    }
    let ip = s.pod_ip.as_deref().unwrap();
    assert!(ip.starts_with("10.200.0."), "{ip}");
    assert_eq!(s.pod_ips[0].ip, ip);
    assert_eq!(s.host_ip.as_deref(), Some("10.250.0.1"));
    assert!(s.start_time.is_some());
    assert_eq!(s.qos_class.as_deref(), Some("Burstable"));
    assert_eq!(rt.running_containers(), 2);
    // The kubelet's events, as `describe pod` shows them.
    let events: Api<Event> = Api::namespaced(srv.client.clone(), "default");
    let lp = ListParams::default().fields("involvedObject.name=web");
    let reasons = wait_for("the pod's events", 10, || async {
        let list = events.list(&lp).await.unwrap().items;
        let reasons: Vec<String> = list.iter().filter_map(|e| e.reason.clone()).collect();
        (reasons.iter().filter(|r| *r == "Started").count() == 2).then_some(list)
    })
    .await;
    for e in &reasons {
        assert_eq!(
            e.source.as_ref().unwrap().component.as_deref(),
            Some("kubelet")
        );
        assert_eq!(e.source.as_ref().unwrap().host.as_deref(), Some("n1"));
    }
    let messages: Vec<_> = reasons.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        messages.contains(&"Created container web".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Container image \"nginx:1.27\" already present on machine".to_string())
    );
    let rv = pods.get("web").await.unwrap().metadata.resource_version;
    // Nothing more to write: the status stays as it is.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pods.get("web").await.unwrap().metadata.resource_version, rv);

    // Readiness follows the runtime.
    assert!(rt.set_ready(&uid(&p), "sidecar", false));
    let p = wait_pod(&pods, "web", "not ready", |p| !is_ready(p)).await;
    assert_eq!(phase(&p), "Running");
    let ready = p.status.as_ref().unwrap().condition("Ready").unwrap();
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [sidecar]")
    );
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_restart_policies() {
    let srv = TestServer::start().await;
    let (agent, rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    for (name, policy) in [
        ("never", "Never"),
        ("never-fails", "Never"),
        ("onfailure", "OnFailure"),
        ("onfailure-ok", "OnFailure"),
    ] {
        pods.create(&pod(name, "n1", policy, vec![container("c", &[])]))
            .await
            .unwrap();
    }
    for name in ["never", "never-fails", "onfailure", "onfailure-ok"] {
        wait_pod(&pods, name, "Running", |p| {
            phase(p) == "Running" && is_ready(p)
        })
        .await;
    }
    let uid_of = |name: &'static str| {
        let pods = pods.clone();
        async move { uid(&pods.get(name).await.unwrap()) }
    };

    // Never + exit 0: Succeeded.
    assert!(rt.exit(&uid_of("never").await, "c", 0));
    let p = wait_pod(&pods, "never", "Succeeded", |p| phase(p) == "Succeeded").await;
    let cs = &p.status.as_ref().unwrap().container_statuses[0];
    let term = cs.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert!(term.finished_at.is_some() && term.container_id.is_some());
    assert_eq!(cs.restart_count, 0);
    assert!(!cs.ready);
    assert_eq!(
        p.status
            .as_ref()
            .unwrap()
            .condition("Ready")
            .unwrap()
            .reason
            .as_deref(),
        Some("PodCompleted")
    );

    // Never + exit 1: Failed, not restarted.
    assert!(rt.crash(&uid_of("never-fails").await, "c", 1));
    let p = wait_pod(&pods, "never-fails", "Failed", |p| phase(p) == "Failed").await;
    assert_eq!(restart_count(&p, "c"), 0);

    // OnFailure + exit 1: restarted, Running again.
    assert!(rt.exit(&uid_of("onfailure").await, "c", 1));
    let p = wait_pod(&pods, "onfailure", "a restart", |p| {
        restart_count(p, "c") == 1 && is_ready(p)
    })
    .await;
    assert_eq!(phase(&p), "Running");
    let last = p.status.as_ref().unwrap().container_statuses[0]
        .last_state
        .clone()
        .unwrap();
    assert_eq!(last.terminated.unwrap().exit_code, 1);

    // OnFailure + exit 0: Succeeded, not restarted.
    assert!(rt.exit(&uid_of("onfailure-ok").await, "c", 0));
    let p = wait_pod(&pods, "onfailure-ok", "Succeeded", |p| {
        phase(p) == "Succeeded"
    })
    .await;
    assert_eq!(restart_count(&p, "c"), 0);
    // A finished pod gives its IP back but keeps reporting it.
    assert!(p.status.as_ref().unwrap().pod_ip.is_some());
    assert!(!rt.runtime_is_running(&uid(&p)).await);
    agent.shutdown().await;
    srv.stop().await;
}

trait RunningCheck {
    async fn runtime_is_running(&self, uid: &str) -> bool;
}

impl RunningCheck for HollowRuntime {
    /// Whether the pod's sandbox is up.
    async fn runtime_is_running(&self, uid: &str) -> bool {
        self.sandbox_status(uid)
            .await
            .unwrap()
            .is_some_and(|s| s.is_ready())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_back_off_between_restarts() {
    let srv = TestServer::start().await;
    let (agent, _rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    // Exits with 1 as soon as it starts, every time.
    pods.create(&pod(
        "crasher",
        "n1",
        "Always",
        vec![container("c", &[("HOLLOW_EXIT_CODE", "1")])],
    ))
    .await
    .unwrap();
    let p = wait_pod(&pods, "crasher", "CrashLoopBackOff", |p| {
        waiting_reason(p, "c").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    assert_eq!(phase(&p), "Running");
    let first = restart_count(&p, "c");
    assert!(first >= 1, "the first restart is immediate: {first}");
    let cs = &p.status.as_ref().unwrap().container_statuses[0];
    let msg = cs
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        msg.starts_with("back-off 1s restarting failed container=c pod=crasher_default(")
            || msg.starts_with("back-off 2s restarting failed container=c pod=crasher_default("),
        "{msg}"
    );
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(!is_ready(&p));
    let events: Api<Event> = Api::namespaced(srv.client.clone(), "default");
    let lp = ListParams::default().fields("involvedObject.name=crasher,reason=BackOff");
    let backoff = wait_for("a BackOff event", 10, || async {
        events.list(&lp).await.unwrap().items.into_iter().next()
    })
    .await;
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
    assert!(
        backoff
            .message
            .unwrap()
            .starts_with("Back-off restarting failed container c in pod crasher_default(")
    );
    // The back-off ends, it restarts, crashes, and backs off again.
    let p = wait_pod(&pods, "crasher", "another restart", |p| {
        restart_count(p, "c") > first
            && waiting_reason(p, "c").as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    assert_eq!(phase(&p), "Running");
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_first_and_in_order() {
    let srv = TestServer::start().await;
    let (agent, rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    let mut p = pod("with-init", "n1", "Always", vec![container("app", &[])]);
    p.spec.as_mut().unwrap().init_containers = vec![
        container("fetch", &[("HOLLOW_RUN_FOR", "200ms")]),
        container("migrate", &[("HOLLOW_EXIT_CODE", "0")]),
    ];
    pods.create(&p).await.unwrap();
    let p = wait_pod(&pods, "with-init", "initializing", |p| {
        phase(p) == "Pending"
            && p.status
                .as_ref()
                .is_some_and(|s| !s.init_container_statuses.is_empty())
    })
    .await;
    assert_eq!(condition(&p, "Initialized"), "False");
    let p = wait_pod(&pods, "with-init", "Running", |p| {
        phase(p) == "Running" && is_ready(p)
    })
    .await;
    let s = p.status.as_ref().unwrap();
    assert_eq!(condition(&p, "Initialized"), "True");
    for cs in &s.init_container_statuses {
        let t = cs.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(t.exit_code, 0, "{}", cs.name);
    }
    let fetch = rt.container(&uid(&p), "fetch").unwrap();
    let migrate = rt.container(&uid(&p), "migrate").unwrap();
    let app = rt.container(&uid(&p), "app").unwrap();
    assert!(fetch.created_at <= migrate.created_at && migrate.created_at <= app.created_at);
    assert!(app.state.is_running());
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_back_off() {
    let srv = TestServer::start().await;
    let (agent, _rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    let mut c = container("c", &[]);
    c.image = Some("nginx:doesnotexist".into());
    pods.create(&pod("bad-image", "n1", "Always", vec![c]))
        .await
        .unwrap();
    let p = wait_pod(&pods, "bad-image", "ErrImagePull", |p| {
        waiting_reason(p, "c").as_deref() == Some("ErrImagePull")
    })
    .await;
    assert_eq!(phase(&p), "Pending");
    wait_pod(&pods, "bad-image", "ImagePullBackOff", |p| {
        waiting_reason(p, "c").as_deref() == Some("ImagePullBackOff")
    })
    .await;
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_pods_stop_within_their_grace_period_then_go() {
    let srv = TestServer::start().await;
    let (agent, rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    pods.create(&pod("quick", "n1", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    pods.create(&pod(
        "stubborn",
        "n1",
        "Always",
        vec![container("c", &[("HOLLOW_IGNORE_SIGTERM", "true")])],
    ))
    .await
    .unwrap();
    for name in ["quick", "stubborn"] {
        wait_pod(&pods, name, "Running", is_ready).await;
    }
    let stubborn_uid = uid(&pods.get("stubborn").await.unwrap());

    // Default grace period (30 s): a container that honours SIGTERM is gone at once.
    pods.delete("quick", &DeleteParams::background())
        .await
        .unwrap();
    wait_for("quick to go", 10, || async {
        pods.get_opt("quick").await.unwrap().is_none().then_some(())
    })
    .await;

    // One that ignores SIGTERM takes its whole (2 s) grace period.
    let grace = DeleteParams {
        grace_period_seconds: Some(2),
        ..DeleteParams::background()
    };
    pods.delete("stubborn", &grace).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let still = pods.get("stubborn").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    wait_for("stubborn to go", 10, || async {
        pods.get_opt("stubborn")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(rt.sandbox_count(), 0);
    assert!(rt.containers_of(&stubborn_uid).is_empty());
    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_adopts_what_runs() {
    let srv = TestServer::start().await;
    let rt = HollowRuntime::default();
    let runtime: Arc<dyn Runtime> = Arc::new(rt.clone());
    let first = Agent::start(
        srv.client.clone(),
        agent_config("n1", "10.250.0.1"),
        runtime.clone(),
    )
    .await
    .unwrap();
    let pods = srv.pods();
    pods.create(&pod("keeper", "n1", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    pods.create(&pod("goner", "n1", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    let keeper = wait_pod(&pods, "keeper", "Running", is_ready).await;
    wait_pod(&pods, "goner", "Running", is_ready).await;
    // The first one crashes once: a restart count to keep.
    assert!(rt.exit(&uid(&keeper), "c", 3));
    let keeper = wait_pod(&pods, "keeper", "a restart", |p| {
        restart_count(p, "c") == 1 && is_ready(p)
    })
    .await;
    let before = keeper.status.clone().unwrap().container_statuses[0].clone();
    first.shutdown().await;

    // While no agent runs, one pod is force-deleted.
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    pods.delete("goner", &force).await.unwrap();
    assert!(pods.get_opt("goner").await.unwrap().is_none());
    assert_eq!(rt.sandbox_count(), 2);

    let second = Agent::start(
        srv.client.clone(),
        agent_config("n1", "10.250.0.1"),
        runtime,
    )
    .await
    .unwrap();
    wait_for("the orphan to be removed", 10, || async {
        (rt.sandbox_count() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keeper = pods.get("keeper").await.unwrap();
    let after = &keeper.status.as_ref().unwrap().container_statuses[0];
    assert_eq!(after.restart_count, 1);
    assert_eq!(
        after.container_id, before.container_id,
        "the same container"
    );
    assert_eq!(after.state, before.state);
    assert!(is_ready(&keeper));
    // The new agent hears the runtime: a crash is restarted.
    assert!(rt.exit(&uid(&keeper), "c", 1));
    wait_pod(&pods, "keeper", "a second restart", |p| {
        restart_count(p, "c") == 2 && is_ready(p)
    })
    .await;
    second.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadlines_fail_the_pod() {
    let srv = TestServer::start().await;
    let (agent, rt) = hollow_agent(&srv, "n1").await;
    let pods = srv.pods();
    let mut p = pod("deadline", "n1", "Always", vec![container("c", &[])]);
    p.spec.as_mut().unwrap().active_deadline_seconds = Some(1);
    pods.create(&p).await.unwrap();
    let p = wait_pod(&pods, "deadline", "Failed", |p| phase(p) == "Failed").await;
    let s = p.status.as_ref().unwrap();
    assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(rt.running_containers(), 0);
    agent.shutdown().await;
    srv.stop().await;
}
