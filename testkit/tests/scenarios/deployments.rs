//! Deployments on hollow nodes: scaling, rolling updates within their
//! bounds, Recreate, rollback (by hand and automatic), self-healing, and a
//! controller killed mid-rollout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use skiff_api::apps::Deployment;
use skiff_api::core::Pod;
use skiff_client::{DeleteParams, Patch};
use skiff_controller::deployment::rollback;
use skiff_testkit::objects::{deployment, deployment_image, is_active, is_finished, template_hash};

use crate::support::*;

/// `maxSurge`/`maxUnavailable` as numbers.
fn rolling(d: &mut Deployment, surge: i32, unavailable: i32) {
    d.spec.strategy = serde_json::from_value(json!({"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_2_to_10_to_0_to_3() {
    let c = cluster(3).await;
    create_deployment(&c, &deployment("web", 2, "nginx:1.27")).await;
    wait_settled(&c, "web", 2).await;
    for n in [10, 0, 3] {
        scale(&c, "web", n).await;
        let pods = wait_settled(&c, "web", n as usize).await;
        let d = wait_status(&c, "web", n).await;
        assert!(skiff_testkit::objects::rolled_out(&d));
        // Scaling never makes a second ReplicaSet.
        let hashes: BTreeSet<&str> = pods.iter().map(template_hash).collect();
        assert!(hashes.len() <= 1);
        assert_eq!(replicasets_of(&c, "web").await.len(), 1);
    }
}

/// The bounds a rolling update of 10 replicas with maxSurge 3 and
/// maxUnavailable 2 keeps, checked at every pod watch event:
/// - at most 13 pods that are not terminating (pods being deleted do not
///   count, as in Kubernetes' own accounting of the surge);
/// - at least 8 available pods: Ready and not terminating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailability() {
    let c = cluster(3).await;
    let mut d = deployment("web", 10, "nginx:1.26");
    rolling(&mut d, 3, 2);
    create_deployment(&c, &d).await;
    wait_settled(&c, "web", 10).await;

    let extremes = Arc::new(Mutex::new((0usize, usize::MAX)));
    let seen = extremes.clone();
    let watch = c
        .watch_pods(NS, "app=web", move |pods| {
            let (active, available) = (pods.active(), pods.available());
            let mut s = seen.lock().unwrap();
            s.0 = s.0.max(active);
            s.1 = s.1.min(available);
            if active > 13 {
                return Err(format!("{active} pods (not terminating), more than 10 + 3"));
            }
            if available < 8 {
                return Err(format!("{available} available pods, fewer than 10 - 2"));
            }
            Ok(())
        })
        .await
        .unwrap();
    set_image(&c, "web", "nginx:1.27").await;
    c.wait_rolled_out_with(NS, "web", "nginx:1.27", CONVERGE)
        .await
        .unwrap();
    let pods = wait_settled(&c, "web", 10).await;
    let new_hash = template_hash(&pods[0]).to_string();
    watch
        .settle(CONVERGE, |s| {
            s.len() == 10 && s.pods().all(|p| template_hash(p) == new_hash)
        })
        .await
        .unwrap();
    watch.verify().unwrap();
    let (max_active, min_available) = *extremes.lock().unwrap();
    // The checks saw the rollout itself, not just its ends.
    assert!(watch.events() >= 40, "{} events", watch.events());
    assert!(
        max_active > 10,
        "the surge was used: at most {max_active} pods"
    );
    assert!(
        min_available < 10,
        "old pods went before all new ones: {min_available}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_two_templates_at_once() {
    let c = cluster(3).await;
    let mut d = deployment("web", 4, "nginx:1.26");
    d.spec.strategy.type_ = Some("Recreate".into());
    create_deployment(&c, &d).await;
    wait_settled(&c, "web", 4).await;

    let templates_seen = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = templates_seen.clone();
    // Any pod that is not finished counts, terminating ones included: the
    // new template starts only once the old pods are gone.
    let watch = c
        .watch_pods(NS, "app=web", move |pods| {
            let live: BTreeSet<String> = pods
                .pods()
                .filter(|p| !is_finished(p))
                .map(|p| template_hash(p).to_string())
                .collect();
            seen.lock().unwrap().extend(live.iter().cloned());
            if live.len() > 1 {
                return Err(format!("pods of templates {live:?} at once"));
            }
            Ok(())
        })
        .await
        .unwrap();
    set_image(&c, "web", "nginx:1.27").await;
    c.wait_rolled_out_with(NS, "web", "nginx:1.27", CONVERGE)
        .await
        .unwrap();
    let pods = wait_settled(&c, "web", 4).await;
    let new_hash = template_hash(&pods[0]).to_string();
    watch
        .settle(CONVERGE, |s| {
            s.len() == 4 && s.pods().all(|p| template_hash(p) == new_hash)
        })
        .await
        .unwrap();
    watch.verify().unwrap();
    assert_eq!(
        templates_seen.lock().unwrap().len(),
        2,
        "both templates ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_template() {
    let c = cluster(2).await;
    create_deployment(&c, &deployment("web", 3, "nginx:1.26")).await;
    let first = wait_settled(&c, "web", 3).await;
    let old_hash = template_hash(&first[0]).to_string();
    set_image(&c, "web", "nginx:1.27").await;
    c.wait_rolled_out_with(NS, "web", "nginx:1.27", CONVERGE)
        .await
        .unwrap();
    let second = wait_settled(&c, "web", 3).await;
    assert_ne!(template_hash(&second[0]), old_hash);

    let outcome = rollback(c.client(), NS, "web", None).await.unwrap();
    assert_eq!(outcome, "rolled back");
    let d = c
        .wait_rolled_out_with(NS, "web", "nginx:1.26", CONVERGE)
        .await
        .unwrap();
    let pods = wait_settled(&c, "web", 3).await;
    assert!(pods.iter().all(|p| template_hash(p) == old_hash));
    // The old ReplicaSet came back, as the newest revision.
    let rss = replicasets_of(&c, "web").await;
    assert_eq!(rss.len(), 2);
    let restored = rss
        .iter()
        .find(|rs| rs.metadata.labels.get("pod-template-hash") == Some(&old_hash))
        .unwrap();
    let revision = |a: &BTreeMap<String, String>| {
        a.get("deployment.kubernetes.io/revision")
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(revision(&restored.metadata.annotations), "3");
    assert_eq!(revision(&d.metadata.annotations), "3");
    assert_eq!(deployment_image(&d), "nginx:1.26");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_is_replaced() {
    let c = cluster(2).await;
    create_deployment(&c, &deployment("web", 3, "nginx:1.27")).await;
    let pods = wait_settled(&c, "web", 3).await;
    let victim = pods[0].metadata.name_str().to_string();
    c.api::<Pod>(NS)
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    c.wait_until(CONVERGE, "a replacement pod", || async {
        let pods = pods_of(&c, "web").await;
        pods.len() == 3
            && pods.iter().all(skiff_testkit::objects::is_available)
            && pods.iter().all(|p| p.metadata.name_str() != victim)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_past_its_deadline_rolls_back_by_itself() {
    let c = cluster(2).await;
    let mut d = deployment("web", 3, "nginx:1.26");
    d.metadata
        .annotations
        .insert("skiff.dev/auto-rollback".into(), "true".into());
    create_deployment(&c, &d).await;
    c.wait_rolled_out(NS, "web", CONVERGE).await.unwrap();
    let first = wait_settled(&c, "web", 3).await;
    let good_hash = template_hash(&first[0]).to_string();
    // The controller marks a ReplicaSet that rolled out completely: only
    // such a one is a rollback target.
    c.wait_until(CONVERGE, "the first ReplicaSet marked complete", || async {
        replicasets_of(&c, "web").await.iter().any(|rs| {
            rs.metadata.annotations.get("skiff.dev/rollout-complete") == Some(&"true".into())
        })
    })
    .await
    .unwrap();

    // A new template whose pods run but never become ready, and a short deadline.
    let patch = Patch::Strategic(json!({"spec": {
        "progressDeadlineSeconds": 2,
        "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27",
            "env": [{"name": "HOLLOW_NEVER_READY", "value": "true"}]}]}},
    }}));
    deployments(&c).patch("web", &patch).await.unwrap();

    let d = c
        .wait_for(CONVERGE, "the automatic rollback", || async {
            let d = deployments(&c).get("web").await.ok()?;
            let back = d.metadata.annotations.get("skiff.dev/auto-rollback-from")
                == Some(&"2".to_string());
            (back && deployment_image(&d) == "nginx:1.26").then_some(d)
        })
        .await
        .unwrap();
    assert!(
        d.spec.template.spec.containers[0].env.is_empty(),
        "the old template, env and all"
    );
    c.wait_rolled_out_with(NS, "web", "nginx:1.26", CONVERGE)
        .await
        .unwrap();
    let pods = wait_settled(&c, "web", 3).await;
    assert!(pods.iter().all(|p| template_hash(p) == good_hash));
    let events = events_about(&c, "web").await;
    assert!(
        events.iter().any(|(reason, _, _)| reason == "AutoRollback"),
        "{events:?}"
    );
}

/// Pods of a rollout that take a second to become ready, so that the
/// controllers can be killed while it is under way.
fn slow_ready(d: &mut Deployment) {
    d.spec.template.spec.containers[0].env = serde_json::from_value(json!([
        {"name": "HOLLOW_READY_AFTER", "value": "700ms"}
    ]))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_interrupted_by_a_controller_crash_completes_after_restart() {
    let mut c = cluster(3).await;
    let mut d = deployment("web", 6, "nginx:1.26");
    rolling(&mut d, 2, 0);
    slow_ready(&mut d);
    create_deployment(&c, &d).await;
    let first = wait_settled(&c, "web", 6).await;
    let old_hash = template_hash(&first[0]).to_string();

    let watch = c
        .watch_pods(NS, "app=web", |pods| match pods.active() {
            n if n <= 8 => Ok(()),
            n => Err(format!("{n} pods, more than 6 + maxSurge 2")),
        })
        .await
        .unwrap();
    set_image(&c, "web", "nginx:1.27").await;
    c.wait_until(CONVERGE, "the rollout under way", || async {
        let pods = pods_of(&c, "web").await;
        let new = pods
            .iter()
            .filter(|p| is_active(p) && template_hash(p) != old_hash)
            .count();
        let old = pods.iter().filter(|p| template_hash(p) == old_hash).count();
        new >= 1 && old >= 4
    })
    .await
    .unwrap();
    c.kill_controllers().await;
    // While they are down nothing moves on; the pods started keep going.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = pods_of(&c, "web").await;
    assert!(
        during.iter().any(|p| template_hash(p) == old_hash),
        "the rollout stopped with the controllers"
    );
    c.restart_controllers().await;
    c.wait_rolled_out_with(NS, "web", "nginx:1.27", CONVERGE)
        .await
        .unwrap();
    let pods = wait_settled(&c, "web", 6).await;
    assert!(pods.iter().all(|p| template_hash(p) != old_hash));
    watch.settle(CONVERGE, |s| s.len() == 6).await.unwrap();
    watch.verify().unwrap();
}
