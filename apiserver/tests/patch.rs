//! PATCH in all its forms (the strategic merge patches kubectl apply sends,
//! merge patch, JSON patch, server-side apply) and the scale subresource.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SMP: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";

fn containers(d: &Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn strategic_merge_patches_from_kubectl_apply() {
    let s = TestServer::start(Backend::Sqlite).await;
    let path = format!("{DEPLOY}/nginx-deployment");
    s.create(DEPLOY, &deployment("nginx-deployment", 2)).await;

    // replicas 2 -> 3 and a new image (kubectl-wire §9.2).
    let (code, d) = s
        .patch(&path, SMP, &json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
            "spec": {"replicas": 3, "template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"image": "nginx:1.27", "name": "nginx"}]}}}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{}\n"
    );
    assert_eq!(d["metadata"]["generation"], 2);

    // A label, Recreate strategy, an env var and a sidecar; ports dropped.
    let (code, d) = s
        .patch(&path, SMP, &json!({"metadata": {"labels": {"team": "a"}},
            "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                    "containers": [{"env": [{"name": "FOO", "value": "bar"}], "name": "nginx", "ports": null},
                        {"command": ["sleep", "3600"], "image": "busybox", "name": "sidecar"}]}}}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["metadata"]["labels"]["team"], "a");
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    assert!(
        d["spec"]["strategy"].get("rollingUpdate").is_none(),
        "{}",
        d["spec"]["strategy"]
    );
    assert_eq!(containers(&d), vec!["nginx", "sidecar"]);
    let nginx = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(nginx["env"][0]["value"], "bar");
    assert!(nginx.get("ports").is_none());

    // Remove the label, the env var and the sidecar.
    let (code, d) = s
        .patch(&path, SMP, &json!({"metadata": {"labels": null},
            "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"env": null, "name": "nginx"}, {"$patch": "delete", "name": "sidecar"}]}}}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert!(d["metadata"].get("labels").is_none());
    assert_eq!(containers(&d), vec!["nginx"]);
    assert!(
        d["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none()
    );

    // Service targetPort 80 -> 8080, merging ports by `port`.
    s.create(SVC, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx-service"},
        "spec": {"selector": {"app": "nginx"}, "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}})).await;
    let (code, svc) = s
        .patch(&format!("{SVC}/nginx-service"), SMP, &json!({"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 8080}]}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 1);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
}

#[tokio::test]
async fn merge_and_json_patches() {
    let s = TestServer::start(Backend::Sqlite).await;
    let path = format!("{CM}/a");
    let created = s
        .create(CM, &configmap("a", json!({"x": "1", "y": "2"})))
        .await;
    let (code, cm) = s
        .patch(&path, MERGE, &json!({"data": {"x": null, "z": "3"}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{cm}");
    assert_eq!(cm["data"], json!({"y": "2", "z": "3"}));

    let (code, cm) = s
        .patch(&path, JSON_PATCH, &json!([{"op": "add", "path": "/data/w", "value": "4"}, {"op": "remove", "path": "/data/y"}]))
        .await;
    assert_eq!(code, StatusCode::OK, "{cm}");
    assert_eq!(cm["data"], json!({"z": "3", "w": "4"}));

    // A failing test operation is 422 and changes nothing.
    let before = s.revision().await;
    let (code, st) = s
        .patch(&path, JSON_PATCH, &json!([{"op": "test", "path": "/data/z", "value": "nope"}, {"op": "remove", "path": "/data/z"}]))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{st}");
    assert_eq!(s.revision().await, before);

    // A patch pinned to an old resourceVersion conflicts.
    let (code, st) = s
        .patch(&path, MERGE, &json!({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"q": "1"}}))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{st}");
    // Identity cannot be patched away.
    let (code, cm) = s
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"creationTimestamp": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        cm["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let s = TestServer::start(Backend::Sqlite).await;
    let path = format!("{DEPLOY}/web?fieldManager=kubectl&fieldValidation=Strict&force=false");
    let apply = "application/apply-patch+yaml";
    let (code, d) = s.patch(&path, apply, &deployment("web", 2)).await;
    assert_eq!(code, StatusCode::CREATED, "{d}");
    assert_eq!(d["spec"]["replicas"], 2);
    let (code, d) = s.patch(&path, apply, &deployment("web", 4)).await;
    assert_eq!(code, StatusCode::OK, "{d}");
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], 2);
}

#[tokio::test]
async fn scale_subresource() {
    let s = TestServer::start(Backend::Sqlite).await;
    let d = s.create(DEPLOY, &deployment("nginx-deployment", 2)).await;
    let scale_path = format!("{DEPLOY}/nginx-deployment/scale");

    let (code, scale) = s.get(&scale_path).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["metadata"]["name"], "nginx-deployment");
    assert_eq!(scale["metadata"]["uid"], d["metadata"]["uid"]);
    assert_eq!(
        scale["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(
        scale["status"],
        json!({"replicas": 0, "selector": "app=nginx-deployment"})
    );

    // kubectl scale: merge patch, no query parameters.
    let (code, scale) = s
        .patch(&scale_path, MERGE, &json!({"spec": {"replicas": 5}}))
        .await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["spec"]["replicas"], 5);
    let (_, d) = s.get(&format!("{DEPLOY}/nginx-deployment")).await;
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);

    // kubectl scale --current-replicas: PUT with the resourceVersion kept.
    let mut put = scale.clone();
    put["spec"]["replicas"] = json!(1);
    let (code, scaled) = s.put(&scale_path, &put).await;
    assert_eq!(code, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["spec"]["replicas"], 1);
    let (code, st) = s.put(&scale_path, &put).await;
    assert_eq!(code, StatusCode::CONFLICT, "{st}");

    let before = s.revision().await;
    let (code, st) = s
        .patch(&scale_path, MERGE, &json!({"spec": {"replicas": -1}}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        st["message"],
        "Scale.autoscaling \"nginx-deployment\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    assert_eq!(st["details"]["causes"][0]["field"], "spec.replicas");
    assert_eq!(s.revision().await, before);

    let (code, _) = s.get(&format!("{DEPLOY}/missing/scale")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = s.get("/api/v1/namespaces/default/pods/x/scale").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
