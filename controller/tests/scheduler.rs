//! The scheduler against an in-process API server on SQLite: Node objects
//! written by the test (no agent), pods created through the API, only the
//! informers and the scheduler running.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use skiff_api::core::{Event, Node, Pod};
use skiff_apiserver::RunningServer;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::{Api, Client, ListParams, Patch};
use skiff_controller::clock::SystemClock;
use skiff_controller::config::ControllerConfig;
use skiff_controller::context::Context;
use skiff_controller::scheduler;
use tokio::task::JoinSet;

const DEADLINE: Duration = Duration::from_secs(20);

struct Cluster {
    client: Client,
    ctx: Option<Context>,
    tasks: JoinSet<()>,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let EmbeddedServer { server, url, dir } = start_embedded(|_| {}).await.unwrap();
        let client = Client::from_server(&url).unwrap();
        Cluster {
            client,
            ctx: None,
            tasks: JoinSet::new(),
            _server: server,
            _dir: dir,
        }
    }

    /// Starts the informers and the scheduler (nothing else).
    fn start_scheduler(&mut self) -> Context {
        let ctx = Context::new(
            self.client.clone(),
            ControllerConfig::lab_profile(),
            Arc::new(SystemClock),
            "test",
        );
        scheduler::start(&ctx, &mut self.tasks);
        ctx.informers.start(&mut self.tasks);
        self.ctx = Some(ctx.clone());
        ctx
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }
}

struct NodeSpec<'a> {
    name: &'a str,
    cpu: &'a str,
    pods: &'a str,
    ready: bool,
    unschedulable: bool,
    labels: &'a [(&'a str, &'a str)],
    taints: Value,
}

fn node(name: &str) -> NodeSpec<'_> {
    NodeSpec {
        name,
        cpu: "4",
        pods: "110",
        ready: true,
        unschedulable: false,
        labels: &[],
        taints: json!([]),
    }
}

/// Creates a Node, then writes its status (allocatable, Ready) through
/// `nodes/status` as an agent would.
async fn add_node(c: &Cluster, n: NodeSpec<'_>) {
    let labels: BTreeMap<&str, &str> = n.labels.iter().copied().collect();
    let object: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "labels": labels},
        "spec": {"unschedulable": n.unschedulable, "taints": n.taints},
    }))
    .unwrap();
    c.nodes().create(&object).await.unwrap();
    let resources = json!({"cpu": n.cpu, "memory": "8Gi", "pods": n.pods});
    let status = json!({"status": {
        "capacity": resources, "allocatable": resources,
        "conditions": [{"type": "Ready", "status": if n.ready { "True" } else { "False" },
                        "reason": "KubeletReady", "message": "ready"}],
    }});
    c.nodes()
        .patch_status(n.name, &Patch::Merge(status))
        .await
        .unwrap();
}

fn pod(name: &str, extra: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if k == "container" {
                let c = s["containers"][0].as_object_mut().unwrap();
                for (ck, cv) in v.as_object().unwrap() {
                    c.insert(ck.clone(), cv.clone());
                }
            } else if k != "metadata" {
                s.insert(k.clone(), v.clone());
            }
        }
    }
    let mut metadata = json!({"name": name, "namespace": "default"});
    if let Some(m) = extra.get("metadata").and_then(Value::as_object) {
        for (k, v) in m {
            metadata[k] = v.clone();
        }
    }
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}),
    )
    .unwrap()
}

fn requests(cpu: &str, memory: &str) -> Value {
    json!({"container": {"resources": {"requests": {"cpu": cpu, "memory": memory}}}})
}

async fn create(c: &Cluster, p: Pod) {
    c.pods().create(&p).await.unwrap();
}

/// Polls `f` until it returns `Some`, or fails after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node_of(p: &Pod) -> Option<String> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
}

async fn bound_node(c: &Cluster, name: &str) -> String {
    eventually(&format!("pod {name} to be bound"), || async {
        node_of(&c.pods().get(name).await.unwrap())
    })
    .await
}

/// Waits for `PodScheduled=False` and returns its message.
async fn unschedulable_message(c: &Cluster, name: &str) -> String {
    eventually(
        &format!("pod {name} to be marked unschedulable"),
        || async {
            let p = c.pods().get(name).await.unwrap();
            let cond = p.status.as_ref()?.condition("PodScheduled")?.clone();
            (cond.status == "False").then(|| {
                assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
                cond.message.unwrap_or_default()
            })
        },
    )
    .await
}

async fn events_of(c: &Cluster, pod: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(c.client.clone(), "default");
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_event(c: &Cluster, pod: &str, reason: &str) -> Event {
    eventually(&format!("{reason} event of {pod}"), || async {
        events_of(c, pod, reason).await.into_iter().next()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_binds_to_ready_schedulable_nodes_only() {
    let mut c = Cluster::start().await;
    add_node(&c, node("ready")).await;
    add_node(
        &c,
        NodeSpec {
            ready: false,
            ..node("not-ready")
        },
    )
    .await;
    add_node(
        &c,
        NodeSpec {
            unschedulable: true,
            ..node("cordoned")
        },
    )
    .await;
    c.start_scheduler();
    for i in 0..6 {
        create(&c, pod(&format!("p{i}"), json!({}))).await;
    }
    for i in 0..6 {
        assert_eq!(bound_node(&c, &format!("p{i}")).await, "ready");
    }
    let bound = c.pods().get("p0").await.unwrap();
    let cond = bound
        .status
        .unwrap()
        .condition("PodScheduled")
        .cloned()
        .unwrap();
    assert_eq!(cond.status, "True");
    let event = wait_event(&c, "p0", "Scheduled").await;
    assert_eq!(
        event.message.as_deref(),
        Some("Successfully assigned default/p0 to ready")
    );
    assert_eq!(
        event.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_respects_resources_and_retries_when_a_node_is_added() {
    let mut c = Cluster::start().await;
    add_node(&c, node("small-1")).await;
    add_node(&c, node("small-2")).await;
    c.start_scheduler();
    create(&c, pod("fits", requests("3", "1Gi"))).await;
    let first = bound_node(&c, "fits").await;
    create(&c, pod("big", requests("16", "1Gi"))).await;
    let expected = "0/2 nodes are available: 2 Insufficient cpu.";
    assert_eq!(unschedulable_message(&c, "big").await, expected);
    let event = wait_event(&c, "big", "FailedScheduling").await;
    assert_eq!(event.message.as_deref(), Some(expected));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    // The second 3-cpu pod cannot share a node with the first.
    create(&c, pod("fits-2", requests("3", "1Gi"))).await;
    assert_ne!(bound_node(&c, "fits-2").await, first);
    // A third one fits nowhere until something changes.
    create(&c, pod("fits-3", requests("3", "1Gi"))).await;
    assert_eq!(unschedulable_message(&c, "fits-3").await, expected);

    // Freed resources retry parked pods: the first pod goes (at once, as
    // an agent would delete it), the last one takes its place.
    let gone = skiff_client::DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    c.pods().delete("fits", &gone).await.unwrap();
    assert_eq!(bound_node(&c, "fits-3").await, first);
    // A new node retries parked pods too.
    add_node(
        &c,
        NodeSpec {
            cpu: "32",
            ..node("big-node")
        },
    )
    .await;
    assert_eq!(bound_node(&c, "big").await, "big-node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_node_selector_affinity_and_taints() {
    let mut c = Cluster::start().await;
    add_node(
        &c,
        NodeSpec {
            labels: &[("disk", "ssd")],
            ..node("ssd")
        },
    )
    .await;
    add_node(
        &c,
        NodeSpec {
            labels: &[("pool", "gpu")],
            taints: json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
            ..node("gpu")
        },
    )
    .await;
    c.start_scheduler();
    create(
        &c,
        pod("wants-ssd", json!({"nodeSelector": {"disk": "ssd"}})),
    )
    .await;
    create(
        &c,
        pod("wants-gpu", json!({"nodeSelector": {"pool": "gpu"}})),
    )
    .await;
    create(
        &c,
        pod(
            "tolerates-gpu",
            json!({"nodeSelector": {"pool": "gpu"},
                   "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
        ),
    )
    .await;
    create(&c, pod("plain", json!({}))).await;
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}]}]}}}});
    create(&c, pod("affine", affinity)).await;
    assert_eq!(bound_node(&c, "wants-ssd").await, "ssd");
    assert_eq!(bound_node(&c, "affine").await, "ssd");
    assert_eq!(bound_node(&c, "tolerates-gpu").await, "gpu");
    // Without a toleration only the untainted node is left.
    assert_eq!(bound_node(&c, "plain").await, "ssd");
    assert_eq!(
        unschedulable_message(&c, "wants-gpu").await,
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {dedicated: gpu}."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_host_ports_do_not_clash() {
    let mut c = Cluster::start().await;
    add_node(&c, node("a")).await;
    add_node(&c, node("b")).await;
    c.start_scheduler();
    let with_port = || json!({"container": {"ports": [{"containerPort": 80, "hostPort": 8080}]}});
    create(&c, pod("web-1", with_port())).await;
    create(&c, pod("web-2", with_port())).await;
    let n1 = bound_node(&c, "web-1").await;
    let n2 = bound_node(&c, "web-2").await;
    assert_ne!(n1, n2);
    create(&c, pod("web-3", with_port())).await;
    assert_eq!(
        unschedulable_message(&c, "web-3").await,
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    );
    // Another protocol on the same port is no clash.
    create(
        &c,
        pod(
            "dns",
            json!({"container": {"ports": [{"containerPort": 53, "hostPort": 8080, "protocol": "UDP"}]}}),
        ),
    )
    .await;
    bound_node(&c, "dns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_spreads_a_replicasets_pods() {
    let mut c = Cluster::start().await;
    for name in ["n1", "n2", "n3"] {
        add_node(&c, node(name)).await;
    }
    c.start_scheduler();
    let owner = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
        "uid": "6b1f3f8e-0000-4000-8000-000000000001", "controller": true}]}});
    for i in 0..6 {
        create(&c, pod(&format!("web-abc-{i}"), owner.clone())).await;
    }
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        *per_node
            .entry(bound_node(&c, &format!("web-abc-{i}")).await)
            .or_default() += 1;
    }
    assert_eq!(
        per_node,
        BTreeMap::from([("n1".into(), 2), ("n2".into(), 2), ("n3".into(), 2)])
    );
}

/// Not a timing assertion: prints pods/s. 200 nodes of exactly 10 pods
/// each take 2,000 pods, so only exact accounting binds every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_throughput_2000_pods_on_200_nodes() {
    const NODES: usize = 200;
    const PODS: usize = 2000;
    let mut c = Cluster::start().await;
    let c_ref = &c;
    futures::stream::iter(0..NODES)
        .for_each_concurrent(16, |i| async move {
            let name = format!("node-{i:03}");
            add_node(
                c_ref,
                NodeSpec {
                    pods: "10",
                    ..node(&name)
                },
            )
            .await;
        })
        .await;
    let owner = |rs: usize| {
        json!({"metadata": {"ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{rs}"),
            "uid": format!("6b1f3f8e-0000-4000-8000-{rs:012}"), "controller": true}]},
            "container": {"resources": {"requests": {"cpu": "300m", "memory": "64Mi"}}}})
    };
    futures::stream::iter(0..PODS)
        .for_each_concurrent(16, |i| async move {
            create(c_ref, pod(&format!("load-{i:04}"), owner(i % 4))).await;
        })
        .await;

    let began = Instant::now();
    let ctx = c.start_scheduler();
    let cache = ctx.informers.pods.cache.clone();
    cache.wait_synced().await;
    let synced = began.elapsed();
    let deadline = Duration::from_secs(120);
    loop {
        let bound = cache.list().iter().filter(|p| node_of(p).is_some()).count();
        if bound == PODS {
            break;
        }
        assert!(
            began.elapsed() < deadline,
            "only {bound} of {PODS} pods bound after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = began.elapsed();
    let scheduling = total - synced;
    println!(
        "scheduler throughput: {PODS} pods onto {NODES} nodes in {:.2}s after sync = {:.0} pods/s (bound as seen by the informer; {:.2}s incl. the initial list)",
        scheduling.as_secs_f64(),
        PODS as f64 / scheduling.as_secs_f64(),
        total.as_secs_f64()
    );

    // Correctness, from the API server itself.
    let pods = c
        .pods()
        .list_all(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), PODS);
    let mut per_node: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for p in &pods {
        let n = node_of(p).unwrap_or_else(|| panic!("{} unbound", p.metadata.name_str()));
        let e = per_node.entry(n).or_default();
        e.0 += 1;
        e.1 += 300;
    }
    assert_eq!(per_node.len(), NODES, "every node is used");
    for (n, (count, cpu)) in &per_node {
        assert!(
            *count <= 10 && *cpu <= 4000,
            "{n} is over capacity: {count} pods, {cpu}m"
        );
    }
    drop(c.ctx.take());
    c.tasks.shutdown().await;
}
