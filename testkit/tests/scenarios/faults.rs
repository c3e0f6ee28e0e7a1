//! The same workload with and without faults reaches the same end state:
//! 409 storms and dropped watches cost time, never correctness.

use std::time::Duration;

use skiff_api::apps::ReplicaSet;
use skiff_api::core::Pod;
use skiff_client::DeleteParams;
use skiff_testkit::Cluster;
use skiff_testkit::objects::{deployment, image_of, is_available};

use crate::support::*;

/// What the workload leaves behind, in a form that compares.
#[derive(Debug, PartialEq)]
struct EndState {
    /// (image, ready) of every pod.
    pods: Vec<(String, bool)>,
    /// (image, spec.replicas, status.replicas) of every ReplicaSet.
    replicasets: Vec<(String, i32, i32)>,
    /// (updated, ready, available) replicas of the Deployment.
    deployment: (i32, i32, i32),
}

fn expected() -> EndState {
    EndState {
        pods: vec![("nginx:1.27".to_string(), true); 6],
        replicasets: vec![
            ("nginx:1.26".to_string(), 0, 0),
            ("nginx:1.27".to_string(), 6, 6),
        ],
        deployment: (6, 6, 6),
    }
}

/// Create 4 replicas, roll out a new image, scale to 6 meanwhile, lose a
/// pod; then wait for the dust to settle.
///
/// Checked at every ReplicaSet event: the ReplicaSets never ask for more
/// than 6 + 2 (25% surge) pods in all. That is the Deployment controller's
/// promise (as in Kubernetes, the surge bounds the ReplicaSets' sizes);
/// pods can briefly outnumber it while an old ReplicaSet's controller is
/// still deleting the pods its shrinking asked for, all the more when a
/// scale lands mid-rollout and writes fail.
async fn workload(c: &Cluster) -> EndState {
    let watch = c
        .watch_objects::<ReplicaSet>(NS, "app=web", |rss| {
            let asked: i32 = rss.objects().map(|rs| rs.spec.replicas.unwrap_or(1)).sum();
            if asked <= 8 {
                return Ok(());
            }
            let sizes: Vec<(String, Option<i32>)> = rss
                .objects()
                .map(|rs| (rs.metadata.name_str().to_string(), rs.spec.replicas))
                .collect();
            Err(format!(
                "ReplicaSets ask for {asked} pods, more than 6 + 2: {sizes:?}"
            ))
        })
        .await
        .unwrap();
    // Pods ready 200 ms after they start: the rollout takes a few seconds,
    // long enough for the faults to hit it mid-way.
    let mut d = deployment("web", 4, "nginx:1.26");
    d.spec.template.spec.containers[0].env = serde_json::from_value(serde_json::json!([
        {"name": "HOLLOW_READY_AFTER", "value": "200ms"}
    ]))
    .unwrap();
    create_deployment(c, &d).await;
    wait_settled(c, "web", 4).await;
    set_image(c, "web", "nginx:1.27").await;
    scale(c, "web", 6).await;
    let victim = pods_of(c, "web").await[0].metadata.name_str().to_string();
    let (pods_api, params) = (c.api::<Pod>(NS), DeleteParams::default());
    retry_conflicts("delete a pod", || pods_api.delete(&victim, &params)).await;
    let d = c
        .wait_rolled_out_with(NS, "web", "nginx:1.27", Duration::from_secs(60))
        .await
        .unwrap();
    let pods = wait_settled(c, "web", 6).await;
    watch
        .settle(CONVERGE, |s| {
            s.objects()
                .map(|rs| rs.spec.replicas.unwrap_or(1))
                .sum::<i32>()
                == 6
        })
        .await
        .unwrap();
    watch.verify().unwrap();

    let mut replicasets: Vec<(String, i32, i32)> = replicasets_of(c, "web")
        .await
        .iter()
        .map(|rs| {
            let image = rs.spec.template.spec.containers[0]
                .image
                .clone()
                .unwrap_or_default();
            let status = rs.status.as_ref().map_or(0, |s| s.replicas);
            (image, rs.spec.replicas.unwrap_or(1), status)
        })
        .collect();
    replicasets.sort();
    let s = d.status.unwrap_or_default();
    EndState {
        pods: pods
            .iter()
            .map(|p| (image_of(p).to_string(), is_available(p)))
            .collect(),
        replicasets,
        deployment: (
            s.updated_replicas.unwrap_or(0),
            s.ready_replicas.unwrap_or(0),
            s.available_replicas.unwrap_or(0),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults() {
    let c = cluster(3).await;
    assert_eq!(workload(&c).await, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_409s_reaches_the_same_end_state() {
    let c = cluster(3).await;
    // Every kind of write, from everyone: controllers, scheduler, agents
    // (Leases and pod status included), and this test.
    c.faults().conflict_writes(0.3);
    let end = workload(&c).await;
    assert_eq!(end, expected());
    let injected = c.faults().conflicts_injected();
    assert!(injected >= 20, "only {injected} conflicts injected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_reach_the_same_end_state() {
    let c = cluster(3).await;
    // Every watch (informers, node agents, the checker) ends after 0.1 to
    // 0.6 s and is resumed by its client from its last resourceVersion.
    c.faults()
        .watch_lifetime(Some(Duration::from_millis(100)..Duration::from_millis(600)));
    c.faults().drop_watches();
    let end = workload(&c).await;
    assert_eq!(end, expected());
    let dropped = c.faults().watches_dropped();
    assert!(dropped >= 30, "only {dropped} watches dropped");
}
