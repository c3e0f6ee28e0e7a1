//! The ReplicaSet controller against a real API server: replicas kept,
//! pods replaced, orphans adopted, non-matching pods released, surplus
//! deleted cheapest first, status (with minReadySeconds on a test clock),
//! Events, and no duplicates when creating many pods at once.

mod workloads_support;

use std::time::Duration;

use serde_json::json;
use skiff_api::apps::ReplicaSet;
use skiff_api::core::Pod;
use skiff_api::meta::{ObjectMeta, OwnerReference};
use skiff_client::{DeleteParams, Patch};
use workloads_support::*;

fn owner_uid(pod: &Pod) -> Option<String> {
    pod.metadata.controller_ref().map(|r| r.uid.clone())
}

async fn active_pods(cluster: &Cluster, app: &str) -> Vec<Pod> {
    cluster
        .list_pods(app)
        .await
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

async fn wait_status(
    cluster: &Cluster,
    name: &str,
    want: impl Fn(&ReplicaSet) -> bool,
) -> ReplicaSet {
    let api = cluster.replicasets();
    eventually(&format!("status of replica set {name}"), 20, || {
        let api = api.clone();
        let want = &want;
        async move { api.get(name).await.ok().filter(|rs| want(rs)) }
    })
    .await
}

fn counts(rs: &ReplicaSet) -> (i32, i32, i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.fully_labeled_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_replicas_replaces_deleted_pods_and_reports_status() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    let created = cluster
        .replicasets()
        .create(&replicaset("web", 3))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone();
    let rs = wait_status(&cluster, "web", |rs| counts(rs) == (3, 3, 3, 3)).await;
    assert_eq!(
        rs.status.as_ref().unwrap().observed_generation,
        rs.metadata.generation
    );

    let pods = active_pods(&cluster, "web").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(
            p.metadata.name_str().starts_with("web-"),
            "{}",
            p.metadata.name_str()
        );
        let r = p.metadata.controller_ref().unwrap();
        assert_eq!(
            (
                r.kind.as_str(),
                r.api_version.as_str(),
                &Some(r.uid.clone())
            ),
            ("ReplicaSet", "apps/v1", &uid)
        );
        assert_eq!(r.block_owner_deletion, Some(true));
    }

    // A deleted pod is replaced.
    let victim = pods[0].metadata.name_str().to_string();
    cluster
        .pods()
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eventually("a replacement pod", 20, || async {
        let pods = active_pods(&cluster, "web").await;
        (pods.len() == 3 && pods.iter().all(|p| p.metadata.name_str() != victim)).then_some(())
    })
    .await;
    wait_status(&cluster, "web", |rs| counts(rs) == (3, 3, 3, 3)).await;

    // Events say what happened.
    let events = eventually("creation events", 10, || async {
        let e = cluster.events_about("web").await;
        (e.iter().filter(|(r, _)| r == "SuccessfulCreate").count() >= 4).then_some(e)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: web-")),
        "{events:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_orphans_and_releases_pods_that_stop_matching() {
    let mut cluster = Cluster::start().await;
    // An orphan that matches, there before the controller starts (so that
    // its first list holds it: otherwise it could create two pods first).
    cluster.kill_controllers().await;
    let orphan = Pod {
        api_version: None,
        kind: None,
        metadata: ObjectMeta {
            name: Some("stray".into()),
            namespace: Some(NS.into()),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        },
        spec: Some(template("web", "nginx:1.27").spec),
        status: None,
    };
    cluster.pods().create(&orphan).await.unwrap();
    cluster.start_controllers();
    let rs = cluster
        .replicasets()
        .create(&replicaset("web", 2))
        .await
        .unwrap();
    let uid = rs.metadata.uid.clone();
    eventually("the orphan adopted and one pod created", 20, || async {
        let pods = active_pods(&cluster, "web").await;
        let adopted = pods
            .iter()
            .any(|p| p.metadata.name_str() == "stray" && owner_uid(p) == uid);
        (pods.len() == 2 && adopted && pods.iter().all(|p| owner_uid(p) == uid)).then_some(())
    })
    .await;

    // Relabelled away: released (owner reference removed) and replaced.
    cluster
        .pods()
        .patch(
            "stray",
            &Patch::Merge(json!({"metadata": {"labels": {"app": "elsewhere"}}})),
        )
        .await
        .unwrap();
    eventually("the pod released", 20, || async {
        let stray = cluster.pods().get("stray").await.ok()?;
        stray.metadata.owner_references.is_empty().then_some(())
    })
    .await;
    eventually("a replacement", 20, || async {
        (active_pods(&cluster, "web").await.len() == 2).then_some(())
    })
    .await;

    // A pod controlled by someone else is left alone even if it matches.
    let mut foreign = orphan.clone();
    foreign.metadata.name = Some("foreign".into());
    foreign.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "other".into(),
        uid: "not-this-one".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }];
    cluster.pods().create(&foreign).await.unwrap();
    wait_status(&cluster, "web", |rs| {
        rs.status.as_ref().is_some_and(|s| s.replicas == 2)
    })
    .await;
    let foreign = cluster.pods().get("foreign").await.unwrap();
    assert_eq!(
        foreign.metadata.controller_ref().map(|r| r.uid.as_str()),
        Some("not-this-one")
    );
    assert_eq!(
        active_pods(&cluster, "web")
            .await
            .iter()
            .filter(|p| owner_uid(p) == uid)
            .count(),
        2
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_deletes_unready_pods_first() {
    let cluster = Cluster::start().await;
    cluster
        .replicasets()
        .create(&replicaset("web", 4))
        .await
        .unwrap();
    let pods = eventually("four pods", 20, || async {
        let pods = active_pods(&cluster, "web").await;
        (pods.len() == 4).then_some(pods)
    })
    .await;
    // Two become Ready (no kubelet here: the test reports it).
    let ready: Vec<String> = pods
        .iter()
        .take(2)
        .map(|p| p.metadata.name_str().to_string())
        .collect();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for name in &ready {
        let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
        cluster
            .pods()
            .patch_status(name, &Patch::Merge(status))
            .await
            .unwrap();
    }
    wait_status(&cluster, "web", |rs| counts(rs).2 == 2).await;
    cluster
        .replicasets()
        .patch_scale("web", &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    let left = eventually("two pods left", 20, || async {
        let pods = active_pods(&cluster, "web").await;
        (pods.len() == 2).then_some(pods)
    })
    .await;
    let mut names: Vec<String> = left
        .iter()
        .map(|p| p.metadata.name_str().to_string())
        .collect();
    names.sort();
    let mut want = ready.clone();
    want.sort();
    assert_eq!(names, want, "the ready pods stay");
    let events = eventually("deletion events", 10, || async {
        let e = cluster.events_about("web").await;
        (e.iter().filter(|(r, _)| r == "SuccessfulDelete").count() == 2).then_some(e)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(_, m)| m.starts_with("Deleted pod: web-"))
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_only_after_min_ready_seconds_on_the_test_clock() {
    let (clock, shared) = fake_clock();
    let mut cluster = Cluster::start_with_clock(shared).await;
    cluster.start_kubelet(Kubelet::default());
    let mut rs = replicaset("web", 2);
    rs.spec.min_ready_seconds = Some(30);
    cluster.replicasets().create(&rs).await.unwrap();
    wait_status(&cluster, "web", |rs| counts(rs) == (2, 2, 2, 0)).await;
    clock.advance(chrono::Duration::seconds(31));
    wait_status(&cluster, "web", |rs| counts(rs) == (2, 2, 2, 2)).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_replicas_without_a_single_extra_pod() {
    let mut cluster = Cluster::start().await;
    let (observed, _) = watch_pods(&mut cluster, "big");
    cluster
        .replicasets()
        .create(&replicaset("big", 300))
        .await
        .unwrap();
    wait_status(&cluster, "big", |rs| {
        rs.status.as_ref().is_some_and(|s| s.replicas == 300)
    })
    .await;
    // Let every watch event arrive, then count.
    eventually("the watch to see all 300", 20, || async {
        (observed.lock().unwrap().max_active >= 300).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(active_pods(&cluster, "big").await.len(), 300);
    assert_eq!(
        observed.lock().unwrap().max_active,
        300,
        "never more than asked for"
    );
    // And down to zero.
    cluster
        .replicasets()
        .patch_scale("big", &Patch::Merge(json!({"spec": {"replicas": 0}})))
        .await
        .unwrap();
    eventually("all gone", 20, || async {
        active_pods(&cluster, "big").await.is_empty().then_some(())
    })
    .await;
    wait_status(&cluster, "big", |rs| counts(rs) == (0, 0, 0, 0)).await;
    cluster.shutdown().await;
}
