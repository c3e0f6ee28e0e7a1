//! Discovery, /version, OpenAPI, health and metrics endpoints.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn legacy_discovery_even_for_aggregated_accept() {
    let s = TestServer::start(Backend::Sqlite).await;
    let resp = s
        .client
        .get(s.url("/api?timeout=32s"))
        .header("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let api: Value = resp.json().await.unwrap();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));

    let (_, apis) = s.get("/apis").await;
    assert_eq!(apis["kind"], "APIGroupList");
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in ["apps", "batch", "coordination.k8s.io"] {
        assert!(groups.contains(&g), "{groups:?}");
    }
    assert_eq!(apis["groups"][0]["preferredVersion"]["version"], "v1");

    let (_, core) = s.get("/api/v1").await;
    assert_eq!(core["groupVersion"], "v1");
    let find = |list: &Value, name: &str| -> Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let pods = find(&core, "pods");
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert_eq!(find(&core, "services")["shortNames"], json!(["svc"]));
    assert_eq!(find(&core, "nodes")["namespaced"], false);
    assert_eq!(
        find(&core, "pods/status")["verbs"],
        json!(["get", "patch", "update"])
    );
    assert_eq!(find(&core, "pods/exec")["kind"], "PodExecOptions");

    let (_, apps) = s.get("/apis/apps/v1").await;
    assert_eq!(find(&apps, "deployments")["shortNames"], json!(["deploy"]));
    assert_eq!(find(&apps, "replicasets")["shortNames"], json!(["rs"]));
    let scale = find(&apps, "deployments/scale");
    assert_eq!(
        (
            scale["group"].as_str(),
            scale["version"].as_str(),
            scale["kind"].as_str()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );

    let (code, group) = s.get("/apis/apps").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(group["kind"], "APIGroup");
}

#[tokio::test]
async fn version_and_openapi() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (_, v) = s.get("/version?timeout=5s").await;
    assert_eq!(
        (
            v["major"].as_str(),
            v["minor"].as_str(),
            v["gitVersion"].as_str()
        ),
        (Some("1"), Some("32"), Some("v1.32.0"))
    );
    assert_eq!(v["compiler"], "rustc");

    let resp = s
        .client
        .get(s.url("/openapi/v2?timeout=32s"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    assert!(resp.bytes().await.unwrap().is_empty());

    let (_, index) = s.get("/openapi/v3").await;
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let (code, doc) = s.get(&url).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.0");
    let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        op["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert!(
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let (code, _) = s.get("/openapi/v3/apis/nope/v1").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_and_metrics() {
    let s = TestServer::start(Backend::Sqlite).await;
    for path in ["/healthz", "/livez", "/readyz"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
    s.get(PODS).await;
    s.get(&format!("{PODS}/missing")).await;
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("apiserver_request_total{verb=\"LIST\",resource=\"pods\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("apiserver_request_total{verb=\"GET\",resource=\"pods\",code=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("apiserver_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("etcd_request_duration_seconds_count{operation=\"list\"}"),
        "{text}"
    );
}
