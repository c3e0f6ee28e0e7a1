//! The Deployment controller against a real API server, with a fake
//! kubelet standing in for nodes: scaling, rolling updates within
//! maxSurge/maxUnavailable (checked at every pod watch event), Recreate
//! without overlap, rollback, revision history, a controller killed
//! mid-rollout, a storm of conflicting writes, the status `kubectl rollout
//! status` reads, and the progress deadline with automatic rollback on a
//! test clock.

mod workloads_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use skiff_api::apps::Deployment;
use skiff_client::Patch;
use skiff_controller::deployment::{RollbackError, rollback};
use workloads_support::*;

const REVISION: &str = "deployment.kubernetes.io/revision";

fn cond<'a>(d: &'a Deployment, type_: &str) -> Option<&'a skiff_api::apps::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

async fn active_count(cluster: &Cluster, app: &str) -> usize {
    cluster
        .list_pods(app)
        .await
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .count()
}

async fn wait_pods(cluster: &Cluster, app: &str, n: usize) {
    eventually(&format!("{n} pods of {app}"), 20, || async {
        (active_count(cluster, app).await == n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_2_10_0_3_with_a_status_kubectl_accepts() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    cluster
        .deployments()
        .create(&deployment("web", 2, "nginx:1.27"))
        .await
        .unwrap();
    let d = wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    wait_pods(&cluster, "web", 2).await;

    // One ReplicaSet, named and labelled by the template hash.
    let rss = cluster.list_replicasets("web").await;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs.metadata.labels["pod-template-hash"].clone();
    assert_eq!(rs.metadata.name_str(), format!("web-{hash}"));
    assert_eq!(
        rs.spec.selector.as_ref().unwrap().match_labels["pod-template-hash"],
        hash
    );
    assert_eq!(rs.spec.template.metadata.labels["pod-template-hash"], hash);
    assert_eq!(
        rs.metadata.controller_ref().map(|r| r.uid.clone()),
        d.metadata.uid
    );
    assert_eq!(rs.metadata.annotations[REVISION], "1");
    assert_eq!(
        rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"],
        "2"
    );
    assert_eq!(
        rs.metadata.annotations["deployment.kubernetes.io/max-replicas"],
        "3"
    );
    assert!(
        cluster
            .list_pods("web")
            .await
            .iter()
            .all(|p| p.metadata.labels["pod-template-hash"] == hash)
    );

    // Status as kubectl reads it, and as the real controller writes it.
    let s = d.status.clone().unwrap();
    assert_eq!(s.observed_generation, d.metadata.generation);
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(s.unavailable_replicas, None);
    assert_eq!(d.metadata.annotations[REVISION], "1");
    let available = cond(&d, "Available").unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment has minimum availability.")
    );
    let progressing = cond(&d, "Progressing").unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("True", Some("NewReplicaSetAvailable"))
    );
    assert_eq!(
        progressing.message.clone().unwrap(),
        format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
    );
    assert!(progressing.last_update_time.is_some() && progressing.last_transition_time.is_some());

    for n in [10, 0, 3] {
        cluster.scale("web", n).await;
        wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
        wait_pods(&cluster, "web", n as usize).await;
    }
    assert_eq!(
        cluster.list_replicasets("web").await.len(),
        1,
        "scaling makes no new ReplicaSet"
    );
    let events = cluster.events_about("web").await;
    for want in [
        format!("Scaled up replica set web-{hash} to 2"),
        format!("Scaled up replica set web-{hash} to 10 from 2"),
        format!("Scaled down replica set web-{hash} to 0 from 10"),
        format!("Scaled up replica set web-{hash} to 3 from 0"),
    ] {
        assert!(
            events
                .iter()
                .any(|(r, m)| r == "ScalingReplicaSet" && *m == want),
            "{want:?} in {events:?}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailability() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    let mut d = deployment("web", 10, "nginx:1.27");
    rolling(&mut d, 3, 2);
    cluster.deployments().create(&d).await.unwrap();
    wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    wait_pods(&cluster, "web", 10).await;

    let (observed, armed) = watch_pods(&mut cluster, "web");
    eventually("the watch to see 10 ready pods", 10, || async {
        (observed.lock().unwrap().max_active == 10).then_some(())
    })
    .await;
    armed.store(true, Ordering::SeqCst);
    cluster.set_image("web", "nginx:1.28").await;
    let d = wait_rolled_out(&cluster, "web", "nginx:1.28", 30).await;
    wait_pods(&cluster, "web", 10).await;

    let o = observed.lock().unwrap().clone();
    eprintln!("rolling update observed: {o:?}");
    assert!(
        o.max_active <= 13,
        "more than replicas + maxSurge pods: {o:?}"
    );
    assert!(
        o.min_available.is_some_and(|m| m >= 8),
        "fewer than replicas - maxUnavailable available: {o:?}"
    );
    assert!(o.events > 20, "the watch saw the rollout: {o:?}");

    let rss = cluster.list_replicasets("web").await;
    assert_eq!(rss.len(), 2);
    let (old, new) = (&rss[0], &rss[1]);
    assert_eq!(
        (
            old.metadata.annotations[REVISION].as_str(),
            old.spec.replicas
        ),
        ("1", Some(0))
    );
    assert_eq!(
        (
            new.metadata.annotations[REVISION].as_str(),
            new.spec.replicas
        ),
        ("2", Some(10))
    );
    assert_eq!(d.metadata.annotations[REVISION], "2");
    let new_hash = &new.metadata.labels["pod-template-hash"];
    assert!(
        cluster
            .list_pods("web")
            .await
            .iter()
            .all(|p| &p.metadata.labels["pod-template-hash"] == new_hash)
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_old_and_new_pods_together() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet {
        deletion_delay: Duration::from_millis(300),
        ..Kubelet::default()
    });
    let mut d = deployment("web", 3, "nginx:1.27");
    d.spec.strategy.type_ = Some("Recreate".into());
    cluster.deployments().create(&d).await.unwrap();
    wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    wait_pods(&cluster, "web", 3).await;
    let (observed, _) = watch_pods(&mut cluster, "web");
    cluster.set_image("web", "nginx:1.28").await;
    wait_rolled_out(&cluster, "web", "nginx:1.28", 30).await;
    wait_pods(&cluster, "web", 3).await;
    let o = observed.lock().unwrap().clone();
    assert_eq!(o.overlaps, 0, "old and new pods overlapped: {o:?}");
    assert!(o.events > 6, "{o:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_template() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    cluster
        .deployments()
        .create(&deployment("web", 3, "nginx:1.27"))
        .await
        .unwrap();
    wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    let err = rollback(&cluster.client, NS, "web", None)
        .await
        .unwrap_err();
    assert!(matches!(err, RollbackError::NoHistory(_)));
    assert_eq!(
        err.to_string(),
        "no rollout history found for deployment \"web\""
    );

    cluster.set_image("web", "nginx:1.28").await;
    wait_rolled_out(&cluster, "web", "nginx:1.28", 20).await;
    let first = cluster.list_replicasets("web").await[0].clone();
    assert_eq!(
        rollback(&cluster.client, NS, "web", Some(7))
            .await
            .unwrap_err()
            .to_string(),
        "unable to find specified revision 7 in history"
    );
    assert_eq!(
        rollback(&cluster.client, NS, "web", None).await.unwrap(),
        "rolled back"
    );
    let d = wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    assert!(
        !d.spec
            .template
            .metadata
            .labels
            .contains_key("pod-template-hash")
    );
    wait_pods(&cluster, "web", 3).await;

    // The first ReplicaSet is back, under a new revision.
    let rss = cluster.list_replicasets("web").await;
    assert_eq!(rss.len(), 2);
    let back = rss
        .iter()
        .find(|rs| rs.metadata.uid == first.metadata.uid)
        .unwrap();
    assert_eq!(back.spec.replicas, Some(3));
    assert_eq!(back.metadata.annotations[REVISION], "3");
    assert_eq!(
        back.metadata.annotations["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(d.metadata.annotations[REVISION], "3");
    // Undoing to the template it already has is skipped.
    assert_eq!(
        rollback(&cluster.client, NS, "web", Some(3)).await.unwrap(),
        "skipped rollback (current template already matches revision 3)"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_to_the_limit() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    let mut d = deployment("web", 1, "nginx:1");
    d.spec.revision_history_limit = Some(2);
    cluster.deployments().create(&d).await.unwrap();
    for v in 1..=5 {
        let image = format!("nginx:{v}");
        if v > 1 {
            cluster.set_image("web", &image).await;
        }
        wait_rolled_out(&cluster, "web", &image, 20).await;
    }
    let rss = eventually("two old replica sets kept", 20, || async {
        let rss = cluster.list_replicasets("web").await;
        (rss.len() == 3).then_some(rss)
    })
    .await;
    let revisions: Vec<&str> = rss
        .iter()
        .map(|rs| rs.metadata.annotations[REVISION].as_str())
        .collect();
    assert_eq!(revisions, ["3", "4", "5"]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_survives_a_controller_restart_without_extra_pods() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet {
        // Slow pods keep the rollout going long enough to interrupt it.
        ready_delay: Duration::from_millis(200),
        deletion_delay: Duration::from_millis(100),
        ..Kubelet::default()
    });
    let mut d = deployment("web", 10, "nginx:1.27");
    rolling(&mut d, 3, 2);
    cluster.deployments().create(&d).await.unwrap();
    wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    let (observed, _) = watch_pods(&mut cluster, "web");
    cluster.set_image("web", "nginx:1.28").await;
    eventually("the rollout under way", 20, || async {
        let d = cluster.deployments().get("web").await.ok()?;
        let updated = d.status?.updated_replicas.unwrap_or(0);
        (updated > 0 && updated < 10).then_some(())
    })
    .await;
    cluster.kill_controllers().await;
    cluster.start_controllers();
    wait_rolled_out(&cluster, "web", "nginx:1.28", 30).await;
    wait_pods(&cluster, "web", 10).await;
    assert_eq!(cluster.list_replicasets("web").await.len(), 2);
    let o = observed.lock().unwrap().clone();
    assert!(o.max_active <= 13, "{o:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_writes_do_not_change_the_end_state() {
    let mut cluster = Cluster::start().await;
    cluster.start_kubelet(Kubelet::default());
    let mut d = deployment("web", 6, "nginx:1.27");
    rolling(&mut d, 2, 1);
    cluster.deployments().create(&d).await.unwrap();
    wait_rolled_out(&cluster, "web", "nginx:1.27", 20).await;
    // Someone else keeps changing the Deployment and its ReplicaSets, so
    // that the controller's pinned writes keep meeting 409s.
    let (client, stop) = (
        cluster.client.clone(),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let storm_stop = stop.clone();
    cluster.spawn(async move {
        let deployments: skiff_client::Api<Deployment> =
            skiff_client::Api::namespaced(client.clone(), NS);
        let replicasets: skiff_client::Api<skiff_api::apps::ReplicaSet> =
            skiff_client::Api::namespaced(client, NS);
        let mut n = 0u64;
        while !storm_stop.load(Ordering::SeqCst) {
            n += 1;
            let bump = Patch::Merge(json!({"metadata": {"labels": {"storm": n.to_string()}}}));
            let _ = deployments.patch("web", &bump).await;
            if let Ok(list) = replicasets.list(&Default::default()).await {
                for rs in list.items {
                    let _ = replicasets.patch(rs.metadata.name_str(), &bump).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    cluster.set_image("web", "nginx:1.28").await;
    cluster.scale("web", 8).await;
    wait_rolled_out(&cluster, "web", "nginx:1.28", 40).await;
    stop.store(true, Ordering::SeqCst);
    wait_pods(&cluster, "web", 8).await;
    let rss = cluster.list_replicasets("web").await;
    assert_eq!(
        rss.iter()
            .map(|rs| rs.spec.replicas.unwrap_or(0))
            .collect::<Vec<_>>(),
        [0, 8]
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_reported_and_auto_rollback() {
    let (clock, shared) = fake_clock();
    let mut cluster = Cluster::start_with_clock(shared).await;
    // Pods of a "broken" image never become ready.
    cluster.start_kubelet(Kubelet {
        ready: Arc::new(|p| {
            p.spec
                .as_ref()
                .is_some_and(|s| s.containers[0].image.as_deref() != Some("broken"))
        }),
        ..Kubelet::default()
    });
    for (name, auto) in [("auto", true), ("manual", false)] {
        let mut d = deployment(name, 3, "nginx:1.27");
        rolling(&mut d, 1, 0);
        d.spec.progress_deadline_seconds = Some(60);
        if auto {
            d.metadata
                .annotations
                .insert("skiff.dev/auto-rollback".into(), "true".into());
        }
        cluster.deployments().create(&d).await.unwrap();
        wait_rolled_out(&cluster, name, "nginx:1.27", 20).await;
        cluster.set_image(name, "broken").await;
    }
    for name in ["auto", "manual"] {
        eventually("a broken pod", 20, || async {
            let d = cluster.deployments().get(name).await.ok()?;
            (d.status?.updated_replicas == Some(1)).then_some(())
        })
        .await;
    }
    clock.advance(chrono::Duration::seconds(61));

    // Without the annotation: reported, nothing more.
    let d = eventually("the deadline reported", 20, || async {
        let d = cluster.deployments().get("manual").await.ok()?;
        (cond(&d, "Progressing")?.reason.as_deref() == Some("ProgressDeadlineExceeded"))
            .then_some(d)
    })
    .await;
    let p = cond(&d, "Progressing").unwrap();
    assert_eq!(p.status, "False");
    let rss = cluster.list_replicasets("manual").await;
    assert_eq!(
        p.message.clone().unwrap(),
        format!(
            "ReplicaSet {:?} has timed out progressing.",
            rss[1].metadata.name_str()
        )
    );
    assert_eq!(image_of(&d.spec.template), "broken");

    // With it: rolled back to the revision that worked, once.
    let d = wait_rolled_out(&cluster, "auto", "nginx:1.27", 20).await;
    assert_eq!(d.metadata.annotations["skiff.dev/auto-rollback-from"], "2");
    assert_eq!(d.metadata.annotations[REVISION], "3");
    assert_eq!(
        cond(&d, "Progressing").unwrap().reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    wait_pods(&cluster, "auto", 3).await;
    let events = cluster.events_about("auto").await;
    let rollbacks: Vec<_> = events.iter().filter(|(r, _)| r == "AutoRollback").collect();
    assert_eq!(rollbacks.len(), 1, "{events:?}");
    assert_eq!(
        rollbacks[0].1,
        "Rolled back to revision 1 after progress deadline exceeded"
    );
    let rss = cluster.list_replicasets("auto").await;
    let broken = rss
        .iter()
        .find(|rs| image_of(&rs.spec.template) == "broken")
        .unwrap();
    assert_eq!(broken.spec.replicas, Some(0));
    cluster.shutdown().await;
}
