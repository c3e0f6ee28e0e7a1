//! Deletion: Status or object replies, graceful pod deletion, finalizers,
//! propagation policies, preconditions, namespaces emptying themselves,
//! deletecollection, and pod binding.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn bind(s: &TestServer, name: &str, node: &str) -> (StatusCode, Value) {
    s.post(
        &format!("{PODS}/{name}/binding"),
        &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}),
    )
    .await
}

#[tokio::test]
async fn immediate_deletion_answers_a_status() {
    let s = TestServer::start(Backend::Sqlite).await;
    let d = s.create(DEPLOY, &deployment("web", 1)).await;
    let (code, st) = s
        .delete(
            &format!("{DEPLOY}/web"),
            &json!({"propagationPolicy": "Background"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        st,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": "web", "group": "apps", "kind": "deployments", "uid": d["metadata"]["uid"]}, "code": 200})
    );
    assert_eq!(
        s.get(&format!("{DEPLOY}/web")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.delete(&format!("{DEPLOY}/web"), &json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    // An empty body is fine too.
    s.create(CM, &configmap("a", json!({}))).await;
    let (code, _) = s
        .send(reqwest::Method::DELETE, &format!("{CM}/a"), None, None)
        .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn pods_are_deleted_gracefully_once_bound() {
    let s = TestServer::start(Backend::Sqlite).await;
    // Unbound: deleted at once, the reply is the pod.
    s.create(PODS, &pod("unbound")).await;
    let (code, p) = s.delete(&format!("{PODS}/unbound"), &json!({})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(p["kind"], "Pod");
    assert_eq!(
        s.get(&format!("{PODS}/unbound")).await.0,
        StatusCode::NOT_FOUND
    );

    // Bound: stays with deletionTimestamp until a zero grace period removes it.
    s.create(PODS, &pod("web")).await;
    let (code, st) = bind(&s, "web", "node-1").await;
    assert_eq!(code, StatusCode::CREATED, "{st}");
    assert_eq!(st["status"], "Success");
    let (code, st) = bind(&s, "web", "node-2").await;
    assert_eq!(code, StatusCode::CONFLICT, "{st}");
    let (_, bound) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(bound["spec"]["nodeName"], "node-1");

    let (code, p) = s
        .delete(
            &format!("{PODS}/web"),
            &json!({"propagationPolicy": "Background"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{p}");
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
    let (code, still) = s.get(&format!("{PODS}/web")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(still["metadata"]["deletionGracePeriodSeconds"], 30);
    // Status updates (the agent reporting) keep it.
    let mut st = still.clone();
    st["status"]["phase"] = json!("Running");
    let (code, _) = s.put(&format!("{PODS}/web/status"), &st).await;
    assert_eq!(code, StatusCode::OK);
    // A shorter grace period shortens it; a longer one does not.
    let (_, p) = s
        .delete(&format!("{PODS}/web"), &json!({"gracePeriodSeconds": 5}))
        .await;
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 5);
    let (_, p) = s
        .delete(&format!("{PODS}/web"), &json!({"gracePeriodSeconds": 60}))
        .await;
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 5);
    // A pod being deleted cannot be bound.
    let (code, st) = bind(&s, "web", "node-2").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        st["message"].as_str().unwrap().contains("is being deleted"),
        "{st}"
    );
    // Force: gone.
    let (code, _) = s
        .delete(
            &format!("{PODS}/web"),
            &json!({"gracePeriodSeconds": 0, "propagationPolicy": "Background"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(s.get(&format!("{PODS}/web")).await.0, StatusCode::NOT_FOUND);

    // Finished pods go at once.
    s.create(PODS, &pod("done")).await;
    bind(&s, "done", "node-1").await;
    let (_, p) = s.get(&format!("{PODS}/done")).await;
    let mut finished = p.clone();
    finished["status"]["phase"] = json!("Succeeded");
    s.put(&format!("{PODS}/done/status"), &finished).await;
    s.delete(&format!("{PODS}/done"), &json!({})).await;
    assert_eq!(
        s.get(&format!("{PODS}/done")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn finalizers_keep_objects_until_removed() {
    let s = TestServer::start(Backend::Sqlite).await;
    let mut cm = configmap("held", json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    s.create(CM, &cm).await;
    let (code, p) = s.delete(&format!("{CM}/held"), &json!({})).await;
    assert_eq!(code, StatusCode::OK);
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    assert_eq!(s.get(&format!("{CM}/held")).await.0, StatusCode::OK);
    // Deleting again changes nothing.
    let before = s.revision().await;
    s.delete(&format!("{CM}/held"), &json!({})).await;
    assert_eq!(s.revision().await, before);

    let now = s.revision().await;
    let mut w = s
        .watch(&format!(
            "{CM}?watch=true&resourceVersion={now}&fieldSelector=metadata.name%3Dheld"
        ))
        .await;
    let (code, _) = s
        .patch(
            &format!("{CM}/held"),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(s.get(&format!("{CM}/held")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(w.next().await["type"], "DELETED");
}

#[tokio::test]
async fn propagation_finalizers_only_with_a_garbage_collector() {
    let without = TestServer::start(Backend::Sqlite).await;
    without.create(DEPLOY, &deployment("web", 1)).await;
    without
        .delete(
            &format!("{DEPLOY}/web"),
            &json!({"propagationPolicy": "Foreground"}),
        )
        .await;
    assert_eq!(
        without.get(&format!("{DEPLOY}/web")).await.0,
        StatusCode::NOT_FOUND
    );

    let with = TestServer::start_with(Backend::Sqlite, |c| c.garbage_collector = true).await;
    with.create(DEPLOY, &deployment("web", 1)).await;
    let (_, d) = with
        .delete(
            &format!("{DEPLOY}/web"),
            &json!({"propagationPolicy": "Foreground"}),
        )
        .await;
    assert_eq!(d["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    with.create(DEPLOY, &deployment("orphaned", 1)).await;
    let (_, d) = with
        .delete(
            &format!("{DEPLOY}/orphaned?propagationPolicy=Orphan"),
            &json!({}),
        )
        .await;
    assert_eq!(d["metadata"]["finalizers"], json!(["orphan"]));
    let (code, _) = with
        .delete(
            &format!("{DEPLOY}/orphaned"),
            &json!({"propagationPolicy": "Sideways"}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn preconditions() {
    let s = TestServer::start(Backend::Sqlite).await;
    let cm = s.create(CM, &configmap("a", json!({}))).await;
    let (code, st) = s
        .delete(
            &format!("{CM}/a"),
            &json!({"preconditions": {"uid": "not-it"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("Precondition failed: UID in precondition: not-it")
    );
    let (code, _) = s
        .delete(
            &format!("{CM}/a"),
            &json!({"preconditions": {"resourceVersion": "1"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = s
        .delete(&format!("{CM}/a"), &json!({"preconditions": {"uid": cm["metadata"]["uid"], "resourceVersion": cm["metadata"]["resourceVersion"]}}))
        .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn namespaces_delete_their_contents() {
    let s = TestServer::start(Backend::Sqlite).await;
    for protected in ["default", "kube-system", "kube-public"] {
        let (code, st) = s
            .delete(&format!("/api/v1/namespaces/{protected}"), &json!({}))
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{st}");
        assert_eq!(
            st["message"],
            format!("namespaces \"{protected}\" is forbidden: this namespace may not be deleted")
        );
    }
    let (_, list) = s.get("/api/v1/namespaces").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert_eq!(list["items"][0]["status"]["phase"], "Active");

    s.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await;
    let base = "/api/v1/namespaces/team";
    s.create(&format!("{base}/configmaps"), &configmap("a", json!({})))
        .await;
    s.create(&format!("{base}/pods"), &pod("p")).await;
    s.create(
        "/apis/apps/v1/namespaces/team/deployments",
        &deployment("web", 1),
    )
    .await;
    s.create(CM, &configmap("survivor", json!({}))).await;

    let (code, ns) = s.delete(base, &json!({})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = s.get(base).await;
        if code == StatusCode::NOT_FOUND {
            break;
        }
        // While it terminates, nothing new gets in.
        let (code, st) = s
            .post(&format!("{base}/configmaps"), &configmap("late", json!({})))
            .await;
        assert!(
            code == StatusCode::FORBIDDEN || code == StatusCode::NOT_FOUND,
            "{code} {st}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace never went away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, left) = s.get(&format!("{base}/configmaps")).await;
    assert!(left["items"].as_array().unwrap().is_empty());
    assert_eq!(s.get(&format!("{CM}/survivor")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_namespace_finalizer_holds_the_emptied_namespace() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "held", "finalizers": ["example.com/audit"]}}),
    )
    .await;
    s.create(
        "/api/v1/namespaces/held/configmaps",
        &configmap("a", json!({})),
    )
    .await;
    // spec.finalizers belongs to the server: a client cannot clear it.
    let (_, ns) = s.get("/api/v1/namespaces/held").await;
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let (code, ns) = s
        .patch(
            "/api/v1/namespaces/held",
            "application/merge-patch+json",
            &json!({"spec": {"finalizers": []}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

    s.delete("/api/v1/namespaces/held", &json!({})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ns) = s.get("/api/v1/namespaces/held").await;
        if ns["spec"]["finalizers"] == json!([]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "contents never cleared: {ns}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, left) = s.get("/api/v1/namespaces/held/configmaps").await;
    assert!(left["items"].as_array().unwrap().is_empty());
    let (code, ns) = s.get("/api/v1/namespaces/held").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Terminating");
    let (code, _) = s
        .patch(
            "/api/v1/namespaces/held",
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        s.get("/api/v1/namespaces/held").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delete_collection_by_label() {
    let s = TestServer::start(Backend::Sqlite).await;
    for (name, tier) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut cm = configmap(name, json!({}));
        cm["metadata"]["labels"] = json!({"tier": tier});
        s.create(CM, &cm).await;
    }
    let (code, gone) = s
        .delete(&format!("{CM}?labelSelector=tier%3Dx"), &json!({}))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(gone["items"].as_array().unwrap().len(), 2);
    let (_, left) = s.get(CM).await;
    let names: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["c"]);
}

#[tokio::test]
async fn logs_and_exec_explain_why_they_are_unavailable() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create(PODS, &pod("p")).await;
    // Unscheduled: no container has started.
    let (code, st) = s.get(&format!("{PODS}/p/log?container=c")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        st["message"],
        "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"
    );
    let (code, st) = s.get(&format!("{PODS}/p/log?container=nope")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(st["message"], "container nope is not valid for pod p");
    let (code, st) = s
        .get(&format!("{PODS}/p/exec?command=ls&container=c&stdout=true"))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(st["message"], "pod p does not have a host assigned");
    bind(&s, "p", "node-1").await;
    // Running on a node that reports no agent endpoint.
    let (code, _) = s
        .patch(
            &format!("{PODS}/p/status"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Running", "containerStatuses": [
                {"name": "c", "ready": true, "restartCount": 0, "image": "nginx", "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, st) = s.get(&format!("{PODS}/p/log")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("node agent of node \"node-1\""),
        "{st}"
    );
    let (code, _) = s.get(&format!("{PODS}/missing/log")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = s
        .send(
            reqwest::Method::POST,
            &format!("{PODS}/p/exec?command=ls&container=c&stdout=true"),
            None,
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}
