//! The garbage collector against a real API server (which adds the
//! `orphan`/`foregroundDeletion` finalizers): Deployment -> ReplicaSet ->
//! Pods chains built by hand, deleted with each propagation policy the way
//! `kubectl delete --cascade=background|orphan|foreground` sends it.

mod in_process;

use in_process::*;
use serde_json::{Value, json};
use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_api::core::Pod;
use skiff_api::meta::OwnerReference;
use skiff_client::{Api, DeleteParams, PropagationPolicy};
use skiff_controller::gc;

const TEMPLATE: &str = r#"{"metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}"#;

fn owner_ref(kind: &str, name: &str, uid: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: controller.then_some(true),
        block_owner_deletion: Some(true),
    }
}

/// deploy/web -> rs/web-1 -> pods web-1-a, web-1-b (web-1-b bound to a
/// node when `bound`, so that its deletion waits for a node agent).
/// Returns the ReplicaSet.
async fn chain(c: &Cluster, bound: bool) -> ReplicaSet {
    let template: Value = serde_json::from_str(TEMPLATE).unwrap();
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }))
    .unwrap();
    let deployment = deploys.create(&d).await.unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let mut rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web-1"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }))
    .unwrap();
    let d_uid = deployment.metadata.uid.clone().unwrap();
    rs.metadata.owner_references = vec![owner_ref("Deployment", "web", &d_uid, true)];
    let replicaset = rss.create(&rs).await.unwrap();
    let rs_uid = replicaset.metadata.uid.clone().unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    for (name, node) in [("web-1-a", None), ("web-1-b", bound.then_some("n1"))] {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": node},
        }))
        .unwrap();
        p.metadata.owner_references = vec![owner_ref("ReplicaSet", "web-1", &rs_uid, true)];
        pods.create(&p).await.unwrap();
    }
    replicaset
}

fn delete_with(policy: PropagationPolicy) -> DeleteParams {
    // What kubectl sends for --cascade=background|orphan|foreground.
    DeleteParams {
        propagation_policy: Some(policy),
        ..Default::default()
    }
}

async fn exists<T: skiff_api::Object>(api: &Api<T>, name: &str) -> bool {
    api.get_opt(name).await.unwrap().is_some()
}

#[tokio::test]
async fn background_deletion_collects_the_whole_chain() {
    let c = Cluster::start(&[gc::start]).await;
    let replicaset = chain(&c, false).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // A pod with a second owner that stays: it loses only the dead reference.
    let other = pods
        .create(
            &serde_json::from_value(json!({
                "metadata": {"name": "shared"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut shared: Pod = serde_json::from_value(json!({
        "metadata": {"name": "shared-dependent"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    .unwrap();
    let rs_uid = replicaset.metadata.uid.clone().unwrap();
    shared.metadata.owner_references = vec![
        owner_ref("ReplicaSet", "web-1", &rs_uid, true),
        OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: "shared".into(),
            uid: other.metadata.uid.clone().unwrap(),
            controller: None,
            block_owner_deletion: None,
        },
    ];
    pods.create(&shared).await.unwrap();

    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deploys
        .delete("web", &delete_with(PropagationPolicy::Background))
        .await
        .unwrap();
    assert!(
        !exists(&deploys, "web").await,
        "background: the owner goes at once"
    );
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    wait_until("the ReplicaSet and its pods collected", 15, || async {
        !exists(&rss, "web-1").await
            && !exists(&pods, "web-1-a").await
            && !exists(&pods, "web-1-b").await
    })
    .await;
    let kept = wait_for("the shared pod to lose its dead owner", 15, || async {
        let p = pods.get("shared-dependent").await.unwrap();
        (p.metadata.owner_references.len() == 1).then_some(p)
    })
    .await;
    assert_eq!(kept.metadata.owner_references[0].name, "shared");
    assert!(kept.metadata.deletion_timestamp.is_none());
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_the_owner() {
    let c = Cluster::start(&[gc::start]).await;
    chain(&c, false).await;
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    deploys
        .delete("web", &delete_with(PropagationPolicy::Orphan))
        .await
        .unwrap();
    wait_until("the Deployment gone once orphaning is done", 15, || async {
        !exists(&deploys, "web").await
    })
    .await;
    let rs = rss.get("web-1").await.unwrap();
    assert!(
        rs.metadata.owner_references.is_empty(),
        "{:?}",
        rs.metadata.owner_references
    );
    assert!(rs.metadata.deletion_timestamp.is_none());
    // The ReplicaSet still owns its pods.
    for p in ["web-1-a", "web-1-b"] {
        let pod = pods.get(p).await.unwrap();
        assert_eq!(pod.metadata.owner_references[0].name, "web-1");
        assert!(pod.metadata.deletion_timestamp.is_none());
    }
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let c = Cluster::start(&[gc::start]).await;
    chain(&c, true).await;
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    deploys
        .delete("web", &delete_with(PropagationPolicy::Foreground))
        .await
        .unwrap();

    // web-1-b is bound to a node: its graceful deletion waits for an agent
    // that does not exist, and with it the ReplicaSet and the Deployment.
    wait_until(
        "the chain marked for deletion, the bound pod terminating",
        15,
        || async {
            let b = pods.get("web-1-b").await.unwrap();
            !exists(&pods, "web-1-a").await && b.metadata.deletion_timestamp.is_some()
        },
    )
    .await;
    let rs = rss.get("web-1").await.unwrap();
    assert!(rs.metadata.deletion_timestamp.is_some());
    assert!(
        rs.metadata
            .finalizers
            .contains(&gc::FOREGROUND_FINALIZER.to_string())
    );
    let d = deploys.get("web").await.unwrap();
    assert!(d.metadata.deletion_timestamp.is_some());
    assert_eq!(
        d.metadata.finalizers,
        vec![gc::FOREGROUND_FINALIZER.to_string()]
    );

    // The "agent" finishes the pod: then everything goes, bottom up.
    pods.delete(
        "web-1-b",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    wait_until("the ReplicaSet and the Deployment deleted", 15, || async {
        !exists(&rss, "web-1").await && !exists(&deploys, "web").await
    })
    .await;
}

#[tokio::test]
async fn objects_whose_owner_never_existed_are_collected() {
    let c = Cluster::start(&[gc::start]).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let mut p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stray"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }))
    .unwrap();
    p.metadata.owner_references = vec![owner_ref("ReplicaSet", "ghost", "no-such-uid", true)];
    pods.create(&p).await.unwrap();
    // An owner of a kind skiff does not serve cannot be checked: kept.
    let mut q = p.clone();
    q.metadata.name = Some("alien".into());
    q.metadata.owner_references = vec![OwnerReference {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        name: "w".into(),
        uid: "w-uid".into(),
        controller: None,
        block_owner_deletion: None,
    }];
    pods.create(&q).await.unwrap();
    wait_until("the stray pod collected", 15, || async {
        !exists(&pods, "stray").await
    })
    .await;
    assert!(exists(&pods, "alien").await);
}
