//! Create, read, update: metadata rules, conflicts, generation, the status
//! subresource, lists (selectors, pagination, all namespaces) and Tables.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_sets_identity_and_refuses_duplicates() {
    let s = TestServer::start(Backend::Sqlite).await;
    let created = s.create(CM, &configmap("a", json!({"k": "v"}))).await;
    let meta = &created["metadata"];
    assert_eq!(meta["name"], "a");
    assert_eq!(meta["namespace"], "default");
    assert_eq!(meta["uid"].as_str().unwrap().len(), 36);
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(meta["generation"], 1);
    assert_eq!(rv(&created), s.revision().await);
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["apiVersion"], "v1");

    let (code, got) = s.get(&format!("{CM}/a")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got, created);

    let (code, status) = s.post(CM, &configmap("a", json!({}))).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "configmaps \"a\" already exists", "reason": "AlreadyExists",
            "details": {"name": "a", "kind": "configmaps"}, "code": 409})
    );
    s.create(DEPLOY, &deployment("web", 1)).await;
    let (code, status) = s.post(DEPLOY, &deployment("web", 1)).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(status["message"], "deployments.apps \"web\" already exists");
    assert_eq!(status["details"]["group"], "apps");

    let (code, status) = s.get(&format!("{CM}/missing")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(status["message"], "configmaps \"missing\" not found");
}

#[tokio::test]
async fn generate_name_and_dry_run() {
    let s = TestServer::start(Backend::Sqlite).await;
    let body =
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"generateName": "gen-"}});
    let a = s.create(CM, &body).await;
    let b = s.create(CM, &body).await;
    let (na, nb) = (
        a["metadata"]["name"].as_str().unwrap(),
        b["metadata"]["name"].as_str().unwrap(),
    );
    assert!(na.starts_with("gen-") && na.len() == 9, "{na}");
    assert_ne!(na, nb);

    let before = s.revision().await;
    let (code, v) = s
        .post(&format!("{CM}?dryRun=All"), &configmap("dry", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["metadata"]["name"], "dry");
    assert_eq!(s.revision().await, before);
    assert_eq!(s.get(&format!("{CM}/dry")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn updates_need_the_current_resource_version() {
    let s = TestServer::start(Backend::Sqlite).await;
    let created = s.create(CM, &configmap("a", json!({"n": "0"}))).await;
    let mut next = created.clone();
    next["data"]["n"] = json!("1");
    let (code, updated) = s.put(&format!("{CM}/a"), &next).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert!(rv(&updated) > rv(&created));
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        updated["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );

    // The same stale body again: 409 with kube-apiserver's wording.
    let (code, status) = s.put(&format!("{CM}/a"), &next).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // No resourceVersion at all: 422.
    let mut unversioned = updated.clone();
    unversioned["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (code, status) = s.put(&format!("{CM}/a"), &unversioned).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "metadata.resourceVersion"
    );

    // Name in the body differs from the URL.
    let mut renamed = updated.clone();
    renamed["metadata"]["name"] = json!("b");
    assert_eq!(
        s.put(&format!("{CM}/a"), &renamed).await.0,
        StatusCode::BAD_REQUEST
    );

    // An update that changes nothing writes nothing.
    let before = s.revision().await;
    let (code, same) = s.put(&format!("{CM}/a"), &updated).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(rv(&same), rv(&updated));
    assert_eq!(s.revision().await, before);
}

#[tokio::test]
async fn generation_follows_the_spec_and_status_is_separate() {
    let s = TestServer::start(Backend::Sqlite).await;
    let path = format!("{DEPLOY}/web");
    let d = s.create(DEPLOY, &deployment("web", 2)).await;
    assert_eq!(d["metadata"]["generation"], 1);

    // Labels only: same generation.
    let mut labelled = d.clone();
    labelled["metadata"]["labels"] = json!({"team": "a"});
    let (code, d) = s.put(&path, &labelled).await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["metadata"]["labels"]["team"], "a");

    // Spec change: generation 2. Status in the body is ignored.
    let mut scaled = d.clone();
    scaled["spec"]["replicas"] = json!(3);
    scaled["status"] = json!({"replicas": 99});
    let (code, d) = s.put(&path, &scaled).await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(d["status"].get("replicas").is_none(), "{d}");

    // /status: only status changes, generation stays.
    let mut st = d.clone();
    st["status"] = json!({"replicas": 3, "observedGeneration": 2});
    st["spec"]["replicas"] = json!(7);
    let (code, d) = s.put(&format!("{path}/status"), &st).await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["status"]["replicas"], 3);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);

    // PATCH on /status, and GET /status returns the whole object.
    let (code, d) = s
        .patch(
            &format!("{path}/status"),
            "application/merge-patch+json",
            &json!({"status": {"readyReplicas": 3}, "spec": {"replicas": 9}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["status"]["readyReplicas"], 3);
    assert_eq!(d["spec"]["replicas"], 3);
    let (code, got) = s.get(&format!("{path}/status")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["kind"], "Deployment");
    assert_eq!(got["status"]["readyReplicas"], 3);
}

#[tokio::test]
async fn lists_filter_paginate_and_span_namespaces() {
    let s = TestServer::start(Backend::Sqlite).await;
    for i in 0..7 {
        let mut cm = configmap(&format!("cm-{i}"), json!({}));
        cm["metadata"]["labels"] = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
        s.create(CM, &cm).await;
    }
    let (code, all) = s.get(CM).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert_eq!(
        all["metadata"]["resourceVersion"],
        s.revision().await.to_string()
    );
    assert!(all["metadata"].get("continue").is_none());

    let (_, even) = s.get(&format!("{CM}?labelSelector=parity%3Deven")).await;
    assert_eq!(even["items"].as_array().unwrap().len(), 4);
    let (_, notodd) = s
        .get(&format!("{CM}?labelSelector=parity!%3Dodd,parity"))
        .await;
    assert_eq!(notodd["items"].as_array().unwrap().len(), 4);
    let (_, one) = s
        .get(&format!("{CM}?fieldSelector=metadata.name%3Dcm-3"))
        .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["items"][0]["metadata"]["name"], "cm-3");
    let (code, _) = s.get(&format!("{CM}?fieldSelector=spec.bogus%3Dx")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Pages of 3, all read at the first page's revision.
    let (_, p1) = s.get(&format!("{CM}?limit=3")).await;
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let revision = p1["metadata"]["resourceVersion"].clone();
    s.create(CM, &configmap("cm-late", json!({}))).await;
    let (_, p2) = s.get(&format!("{CM}?limit=3&continue={token}")).await;
    let token2 = p2["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, p3) = s.get(&format!("{CM}?limit=3&continue={token2}")).await;
    assert!(p3["metadata"].get("continue").is_none(), "{p3}");
    let names: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter())
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    assert_eq!(p3["metadata"]["resourceVersion"], revision);

    // Filtered pages are filled from further keys.
    let (_, odd) = s
        .get(&format!("{CM}?labelSelector=parity%3Dodd&limit=2"))
        .await;
    assert_eq!(odd["items"].as_array().unwrap().len(), 2);
    assert!(odd["metadata"]["continue"].is_string());

    // Another namespace, and the all-namespaces list.
    s.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
    )
    .await;
    s.create(
        "/api/v1/namespaces/other/configmaps",
        &configmap("x", json!({})),
    )
    .await;
    let (_, every) = s.get("/api/v1/configmaps").await;
    let namespaces: std::collections::BTreeSet<String> = every["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        namespaces.into_iter().collect::<Vec<_>>(),
        vec!["default", "other"]
    );
    let (_, pinned) = s
        .get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dother")
        .await;
    assert_eq!(pinned["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_continue_tokens_get_410() {
    let s = TestServer::start(Backend::Sqlite).await;
    for i in 0..3 {
        s.create(CM, &configmap(&format!("c{i}"), json!({}))).await;
    }
    let (_, p1) = s.get(&format!("{CM}?limit=1")).await;
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    s.create(CM, &configmap("more", json!({}))).await;
    s.create(CM, &configmap("more2", json!({}))).await;
    let now = s.revision().await;
    s.store.compact(now).await.unwrap();
    let (code, status) = s.get(&format!("{CM}?limit=1&continue={token}")).await;
    assert_eq!(code, StatusCode::GONE, "{status}");
    assert_eq!(status["reason"], "Expired");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("The provided continue parameter is too old")
    );
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create(PODS, &pod("p1")).await;
    s.create(DEPLOY, &deployment("web", 2)).await;
    s.create(
        SVC,
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    let columns = |t: &serde_json::Value| -> Vec<String> {
        t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (code, t) = s.get_table(PODS).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(t["kind"], "Table");
    assert_eq!(
        &columns(&t)[..5],
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(t["rows"][0]["cells"][0], "p1");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "default");

    let (_, t) = s.get_table(DEPLOY).await;
    assert_eq!(
        &columns(&t)[..5],
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    let (_, t) = s.get_table(&format!("{DEPLOY}/web")).await;
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);

    let mut rs = deployment("web-rs", 2);
    rs["kind"] = json!("ReplicaSet");
    s.create("/apis/apps/v1/namespaces/default/replicasets", &rs)
        .await;
    let (_, t) = s
        .get_table("/apis/apps/v1/namespaces/default/replicasets")
        .await;
    assert_eq!(
        &columns(&t)[..5],
        ["Name", "Desired", "Current", "Ready", "Age"]
    );
    s.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}),
    )
    .await;
    let (_, t) = s.get_table("/api/v1/nodes").await;
    assert_eq!(&columns(&t)[..3], ["Name", "Status", "Roles"]);
    assert_eq!(t["rows"][0]["cells"][0], "node-1");

    let (_, t) = s.get_table(SVC).await;
    assert_eq!(
        &columns(&t)[..5],
        ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)"]
    );
    assert_eq!(t["rows"][0]["cells"][4], "80/TCP");
    assert!(t["metadata"]["resourceVersion"].is_string());
}
