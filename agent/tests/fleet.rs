//! Hundreds of hollow nodes in one process.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use skiff_agent::{FleetConfig, NODE_LEASE_NAMESPACE, start_hollow_fleet};
use skiff_api::coordination::Lease;
use skiff_api::core::Node;
use skiff_client::{Api, ListParams};
use support::*;

fn fleet_config() -> FleetConfig {
    let mut c = FleetConfig::default().lab_profile();
    // No controller gives podCIDRs here: do not wait for them.
    c.agent.pod_cidr_wait = Duration::from_millis(100);
    c
}

/// Counts the bytes allocated and not yet freed, to tell the agent's own
/// memory from the in-process API server's.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_nodes_run_a_thousand_pods() {
    const NODES: usize = 200;
    const PODS: usize = 1000;
    let srv = TestServer::start().await;
    let (rss_before, heap_before) = (rss_bytes(), live_heap());
    let t0 = Instant::now();
    let fleet = start_hollow_fleet(srv.client.clone(), NODES, "hollow-", fleet_config())
        .await
        .unwrap();
    let registered_in = t0.elapsed();
    let (rss_nodes, heap_nodes) = (rss_bytes(), live_heap());
    assert_eq!(fleet.len(), NODES);

    let nodes: Api<Node> = Api::all(srv.client.clone());
    let all = nodes.list_all(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), NODES);
    assert!(all.items.iter().all(|n| {
        n.status
            .as_ref()
            .and_then(|s| s.condition("Ready"))
            .is_some_and(|c| c.status == "True")
    }));
    let leases: Api<Lease> = Api::namespaced(srv.client.clone(), NODE_LEASE_NAMESPACE);
    wait_for("every lease", 20, || async {
        let n = leases
            .list_all(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        (n == NODES).then_some(())
    })
    .await;

    // A watch sees each pod become Running and Ready.
    let pods = srv.pods();
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = pods.watch(&ListParams::default(), &rv).await.unwrap();
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watcher = tokio::spawn({
        let created = created.clone();
        async move {
            let mut ready_after: HashMap<String, Duration> = HashMap::new();
            let mut writes: HashMap<String, usize> = HashMap::new();
            let mut writes_to_ready = Vec::new();
            while ready_after.len() < PODS {
                let Some(Ok(ev)) = events.next().await else {
                    break;
                };
                let modified = ev.type_name() == "MODIFIED";
                let Some(p) = ev.object() else { continue };
                let name = p.metadata.name_str().to_string();
                if modified {
                    *writes.entry(name.clone()).or_default() += 1;
                }
                if phase(p) == "Running" && is_ready(p) && !ready_after.contains_key(&name) {
                    let at = created.lock().unwrap().get(&name).map(Instant::elapsed);
                    writes_to_ready.push(writes.get(&name).copied().unwrap_or_default());
                    ready_after.insert(name, at.unwrap_or_default());
                }
            }
            (Instant::now(), ready_after, writes_to_ready)
        }
    });

    let t1 = Instant::now();
    futures::stream::iter(0..PODS)
        .map(|i| {
            let (pods, created) = (pods.clone(), created.clone());
            async move {
                let name = format!("p-{i}");
                let p = pod(
                    &name,
                    &format!("hollow-{}", i % NODES),
                    "Always",
                    vec![container("c", &[])],
                );
                created.lock().unwrap().insert(name, Instant::now());
                pods.create(&p).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let created_in = t1.elapsed();
    let (done_at, ready_after, writes_to_ready) =
        tokio::time::timeout(Duration::from_secs(120), watcher)
            .await
            .expect("every pod Running and Ready within 120 s")
            .unwrap();
    assert_eq!(ready_after.len(), PODS, "the watch ended early");
    // Hollow containers start at once: one status write takes a pod from
    // Pending to Running and Ready.
    assert!(
        writes_to_ready.iter().all(|w| *w == 1),
        "{writes_to_ready:?}"
    );
    let all_ready_in = done_at - t1;
    let (rss_pods, heap_pods) = (rss_bytes(), live_heap());

    // Distinct pod IPs, and the runtimes run exactly these pods.
    let list = pods.list_all(&ListParams::default()).await.unwrap();
    let ips: std::collections::HashSet<_> = list
        .items
        .iter()
        .map(|p| p.status.as_ref().unwrap().pod_ip.clone().unwrap())
        .collect();
    assert_eq!(ips.len(), PODS);
    let running: usize = fleet
        .nodes()
        .iter()
        .map(|n| n.runtime().running_containers())
        .sum();
    assert_eq!(running, PODS);
    drop(list);

    // What the agent itself holds: freed when the fleet goes.
    fleet.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let heap_after_fleet = live_heap();

    let mut latencies: Vec<Duration> = ready_after.into_values().collect();
    latencies.sort();
    let mib = |b: f64| b / (1 << 20) as f64;
    println!(
        "fleet: {NODES} hollow nodes registered in {:.2}s; {PODS} pods created in {:.2}s (32 at a time), \
         all Running+Ready (seen by a watch) {:.2}s after the first create: {:.0} pods/s; \
         create->Ready p50 {:.0} ms, p99 {:.0} ms (debug build, API server in the same process)",
        registered_in.as_secs_f64(),
        created_in.as_secs_f64(),
        all_ready_in.as_secs_f64(),
        PODS as f64 / all_ready_in.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    println!(
        "memory: RSS {:.1} MiB before, +{:.1} MiB with {NODES} nodes, +{:.1} MiB more with {PODS} pods \
         (server and agent together); live heap +{:.1} MiB with the nodes ({:.1} KiB/node), \
         +{:.1} MiB with the pods; the agent's share, freed by stopping the fleet: {:.1} MiB \
         ({:.1} KiB per node and its 5 pods)",
        mib(rss_before as f64),
        mib(rss_nodes.saturating_sub(rss_before) as f64),
        mib(rss_pods.saturating_sub(rss_nodes) as f64),
        mib(heap_nodes.saturating_sub(heap_before) as f64),
        heap_nodes.saturating_sub(heap_before) as f64 / 1024.0 / NODES as f64,
        mib(heap_pods.saturating_sub(heap_nodes) as f64),
        mib(heap_pods.saturating_sub(heap_after_fleet) as f64),
        heap_pods.saturating_sub(heap_after_fleet) as f64 / 1024.0 / NODES as f64,
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_nodes_can_be_paused_crashed_stopped_and_restarted() {
    let srv = TestServer::start().await;
    let mut fleet = start_hollow_fleet(srv.client.clone(), 3, "h-", fleet_config())
        .await
        .unwrap();
    assert_eq!(fleet.node_names(), vec!["h-0", "h-1", "h-2"]);
    let pods = srv.pods();
    pods.create(&pod("on-h1", "h-1", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    let p = wait_pod(&pods, "on-h1", "Running", is_ready).await;

    // Crash through the fleet.
    assert!(fleet.runtime_for(&p).unwrap().crash(&uid(&p), "c", 2));
    wait_pod(&pods, "on-h1", "a restart", |p| {
        restart_count(p, "c") == 1 && is_ready(p)
    })
    .await;

    // One node's heartbeat stops; the others keep renewing.
    let leases: Api<Lease> = Api::namespaced(srv.client.clone(), NODE_LEASE_NAMESPACE);
    let renew = |name: &'static str| {
        let leases = leases.clone();
        async move {
            leases
                .get(name)
                .await
                .unwrap()
                .spec
                .unwrap()
                .renew_time
                .unwrap()
        }
    };
    fleet.handle("h-2").unwrap().pause_heartbeat();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (paused, other) = (renew("h-2").await, renew("h-0").await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(renew("h-2").await, paused);
    assert!(renew("h-0").await > other);
    fleet.handle("h-2").unwrap().resume_heartbeat();
    wait_for("h-2 renewing again", 10, || async {
        (renew("h-2").await > paused).then_some(())
    })
    .await;

    // Stop h-1's agent: its containers keep running; a restarted one adopts them.
    let before = pods.get("on-h1").await.unwrap();
    assert!(fleet.stop_node("h-1").await);
    assert!(!fleet.node("h-1").unwrap().is_running());
    assert_eq!(fleet.runtime("h-1").unwrap().running_containers(), 1);
    fleet.restart_node("h-1").await.unwrap();
    assert!(fleet.node("h-1").unwrap().is_running());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = pods.get("on-h1").await.unwrap();
    assert_eq!(
        after.status.as_ref().unwrap().container_statuses,
        before.status.as_ref().unwrap().container_statuses
    );

    // Nodes can join later.
    let added = fleet.add_nodes(2).await.unwrap();
    assert_eq!(added, vec!["h-3", "h-4"]);
    pods.create(&pod("on-h4", "h-4", "Always", vec![container("c", &[])]))
        .await
        .unwrap();
    wait_pod(&pods, "on-h4", "Running on a new node", is_ready).await;
    fleet.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hollow_node_costs_little_memory() {
    const NODES: usize = 200;
    let srv = TestServer::start().await;
    let fleet = start_hollow_fleet(srv.client.clone(), NODES, "m-", fleet_config())
        .await
        .unwrap();
    // Every Lease created and the watches quiet.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let with_fleet = live_heap();
    fleet.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_node = with_fleet.saturating_sub(live_heap()) / NODES;
    println!(
        "memory: the agent holds {:.1} KiB per hollow node without pods \
         (its state, runtime, Node in the informer cache, queues)",
        per_node as f64 / 1024.0
    );
    assert!(per_node < 64 * 1024, "{per_node} bytes per hollow node");
    srv.stop().await;
}
