//! Creates check their namespace against the namespaces' watch cache: no
//! store read for a known namespace, a store read on a miss (so a namespace
//! created a moment ago works and a missing one is still 404), 403 while it
//! terminates, and the same over one etcd shared by two API servers.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn configmaps(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

/// Store `get`s so far, from the server's own metrics.
async fn store_gets(s: &TestServer) -> u64 {
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix("etcd_request_duration_seconds_count{operation=\"get\"} "))
        .map(|n| n.trim().parse().expect("a count"))
        .unwrap_or(0)
}

/// Deletes `ns` and waits until it is gone from the store.
async fn delete_namespace(s: &TestServer, ns: &str) {
    let (code, st) = s
        .delete(&format!("/api/v1/namespaces/{ns}"), &json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{st}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.get(&format!("/api/v1/namespaces/{ns}")).await.0 != StatusCode::NOT_FOUND {
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace {ns} never went away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_right_after_the_namespace(backend: Backend) {
    let s = TestServer::start(backend).await;
    for i in 0..20 {
        let ns = format!("fresh-{i}");
        s.create("/api/v1/namespaces", &namespace(&ns)).await;
        // No delay: the cache may not have the namespace yet.
        s.create(&configmaps(&ns), &configmap("a", json!({}))).await;
    }
}

#[tokio::test]
async fn a_create_right_after_its_namespace_works_sqlite() {
    create_right_after_the_namespace(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_create_right_after_its_namespace_works_etcd() {
    create_right_after_the_namespace(Backend::Etcd).await;
}

#[tokio::test]
async fn a_missing_namespace_is_still_404() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (code, st) = s
        .post(&configmaps("nowhere"), &configmap("a", json!({})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{st}");
    assert_eq!(st["message"], "namespaces \"nowhere\" not found");
    // Asked twice: a miss is not remembered as an answer.
    let (code, _) = s
        .post(&configmaps("nowhere"), &configmap("a", json!({})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_terminating_namespace_is_403() {
    let s = TestServer::start(Backend::Sqlite).await;
    // A metadata finalizer keeps the namespace terminating after it is emptied.
    s.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "closing", "finalizers": ["example.com/hold"]}}),
    )
    .await;
    s.create(&configmaps("closing"), &configmap("a", json!({})))
        .await;
    s.delete("/api/v1/namespaces/closing", &json!({})).await;
    // Right away, and after the cleanup has finished and been cached.
    for wait in [Duration::ZERO, Duration::from_secs(1)] {
        tokio::time::sleep(wait).await;
        let (code, st) = s
            .post(&configmaps("closing"), &configmap("late", json!({})))
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{st}");
        assert_eq!(
            st["message"],
            "configmaps \"late\" is forbidden: unable to create new content in namespace closing because it is being terminated"
        );
    }
}

#[tokio::test]
async fn a_namespace_deleted_then_recreated_takes_creates() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create("/api/v1/namespaces", &namespace("again")).await;
    s.create(&configmaps("again"), &configmap("old", json!({})))
        .await;
    delete_namespace(&s, "again").await;
    let (code, _) = s
        .post(&configmaps("again"), &configmap("between", json!({})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    s.create("/api/v1/namespaces", &namespace("again")).await;
    s.create(&configmaps("again"), &configmap("new", json!({})))
        .await;
    let (_, list) = s.get(&configmaps("again")).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["new"]);
}

#[tokio::test]
async fn creates_into_a_known_namespace_do_not_read_it_from_the_store() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create("/api/v1/namespaces", &namespace("busy")).await;
    // Let the cache catch up with the new namespace.
    s.create(&configmaps("busy"), &configmap("first", json!({})))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = store_gets(&s).await;
    for i in 0..100 {
        s.create(&configmaps("busy"), &configmap(&format!("c{i}"), json!({})))
            .await;
    }
    let after = store_gets(&s).await;
    assert_eq!(after - before, 0, "store gets during 100 creates");
}

#[tokio::test]
async fn two_servers_on_one_etcd_agree_on_namespaces() {
    let a = TestServer::start(Backend::Etcd).await;
    // One store client shared, but each server keeps its own watch cache
    // fed by its own store watch.
    let second = a.store.clone();
    // B's store lives in A's etcd; its own home is an unused temp dir.
    let b = TestServer::start_on(
        second,
        StoreHome::Sqlite(tempfile::tempdir().expect("temp dir")),
        |_| {},
    )
    .await;

    a.create("/api/v1/namespaces", &namespace("shared")).await;
    // Created on A, used on B at once.
    b.create(&configmaps("shared"), &configmap("from-b", json!({})))
        .await;
    // Warm B's cache, then delete on A: B refuses once it has seen that.
    b.create(&configmaps("shared"), &configmap("again", json!({})))
        .await;
    delete_namespace(&a, "shared").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let (code, st) = b
            .post(
                &configmaps("shared"),
                &configmap(&format!("late-{attempt}"), json!({})),
            )
            .await;
        if code == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B still accepts creates into a deleted namespace: {code} {st}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
