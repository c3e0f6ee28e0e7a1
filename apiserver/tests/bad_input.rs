//! Bad requests get the right code and wording, and change nothing.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Runs `f`, then checks that the store's revision did not move.
async fn unchanged<F: std::future::Future<Output = (StatusCode, Value)>>(
    s: &TestServer,
    f: F,
) -> (StatusCode, Value) {
    let before = s.revision().await;
    let out = f.await;
    assert_eq!(
        s.revision().await,
        before,
        "a rejected request wrote to the store: {:?}",
        out
    );
    assert_eq!(out.1["kind"], "Status", "{:?}", out);
    out
}

#[tokio::test]
async fn malformed_bodies() {
    let s = TestServer::start(Backend::Sqlite).await;
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x\nspec:\n  replicas: 1\n";
    let (code, st) = unchanged(
        &s,
        s.send(
            Method::POST,
            DEPLOY,
            Some("application/yaml"),
            Some(yaml.as_bytes().to_vec()),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let message = st["message"].as_str().unwrap();
    assert!(message.contains("line 4"), "{message}");

    let (code, st) = unchanged(
        &s,
        s.send(
            Method::POST,
            DEPLOY,
            Some("application/json"),
            Some(b"{\"kind\":".to_vec()),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{st}");

    let (code, st) = unchanged(
        &s,
        s.send(
            Method::POST,
            DEPLOY,
            Some("text/plain"),
            Some(b"{}".to_vec()),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(st["reason"], "UnsupportedMediaType");

    s.create(CM, &configmap("a", json!({}))).await;
    let (code, st) = unchanged(
        &s,
        s.patch(
            &format!("{CM}/a"),
            "application/json",
            &json!({"data": {"x": "y"}}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("application/strategic-merge-patch+json")
    );

    // A YAML body that is fine is accepted.
    let good =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  on: \"yes\"\n";
    let (code, cm) = s
        .send(
            Method::POST,
            CM,
            Some("application/yaml"),
            Some(good.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{cm}");
    assert_eq!(cm["data"]["on"], "yes");
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let s = TestServer::start_with(Backend::Sqlite, |c| c.max_body_bytes = 2048).await;
    let big = configmap("big", json!({"k": "x".repeat(4096)}));
    let (code, st) = unchanged(&s, s.post(CM, &big)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(st["reason"], "RequestEntityTooLarge");
}

#[tokio::test]
async fn field_validation_modes() {
    let s = TestServer::start(Backend::Sqlite).await;
    let mut d = deployment("web", 1);
    d["spec"]["foo"] = json!(1);
    let (code, st) = unchanged(&s, s.post(&format!("{DEPLOY}?fieldValidation=Strict"), &d)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        st["message"],
        "strict decoding error: unknown field \"spec.foo\""
    );

    let resp = s
        .client
        .post(s.url(&format!("{DEPLOY}?fieldValidation=Warn")))
        .json(&d)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let warning = resp
        .headers()
        .get("warning")
        .expect("a Warning header")
        .to_str()
        .unwrap();
    assert_eq!(warning, "299 - \"unknown field \\\"spec.foo\\\"\"");
    let created: Value = resp.json().await.unwrap();
    assert!(created["spec"].get("foo").is_none());

    d["metadata"]["name"] = json!("quiet");
    let resp = s
        .client
        .post(s.url(&format!("{DEPLOY}?fieldValidation=Ignore")))
        .json(&d)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get("warning").is_none());
}

#[tokio::test]
async fn invalid_objects_are_422() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (code, st) = unchanged(&s, s.post(CM, &configmap("Bad_Name", json!({})))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");

    let (code, st) = unchanged(&s, s.post(DEPLOY, &deployment("neg", -1))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(st["details"]["kind"], "Deployment");
    assert_eq!(st["details"]["causes"][0]["field"], "spec.replicas");
    assert_eq!(
        st["message"],
        "Deployment.apps \"neg\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );

    let mut mismatch = deployment("mm", 1);
    mismatch["spec"]["selector"]["matchLabels"] = json!({"app": "other"});
    let (code, st) = unchanged(&s, s.post(DEPLOY, &mismatch)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = st["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"spec.template.metadata.labels"), "{st}");

    // An invalid update leaves the object as it was.
    let good = s.create(DEPLOY, &deployment("ok", 1)).await;
    let mut bad = good.clone();
    bad["spec"]["replicas"] = json!(-3);
    let (code, _) = unchanged(&s, s.put(&format!("{DEPLOY}/ok"), &bad)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = unchanged(
        &s,
        s.patch(
            &format!("{DEPLOY}/ok"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": -2}}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, now) = s.get(&format!("{DEPLOY}/ok")).await;
    assert_eq!(now, good);
}

#[tokio::test]
async fn wrong_places() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (code, st) = unchanged(
        &s,
        s.post(
            "/api/v1/namespaces/nope/configmaps",
            &configmap("a", json!({})),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(st["message"], "namespaces \"nope\" not found");

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
    let (code, _) = unchanged(&s, s.post(DEPLOY, &svc)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let mut elsewhere = configmap("a", json!({}));
    elsewhere["metadata"]["namespace"] = json!("kube-system");
    let (code, st) = unchanged(&s, s.post(CM, &elsewhere)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        st["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );

    let (code, st) = unchanged(&s, s.get("/api/v1/nosuchthings")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(st["reason"], "NotFound");
    let (code, _) = unchanged(
        &s,
        s.get("/apis/apps/v1/namespaces/default/deployments/x/bogus"),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, st) = unchanged(&s, s.put(CM, &configmap("a", json!({})))).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(st["reason"], "MethodNotAllowed");
    let (code, _) = unchanged(&s, s.send(Method::POST, "/version", None, None)).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    let (code, _) = unchanged(&s, s.get(&format!("{CM}?labelSelector=%3D%3D%3D"))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = unchanged(
        &s,
        s.patch(
            &format!("{CM}/missing"),
            "application/merge-patch+json",
            &json!({}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
