//! Fault injection: injected 409s leave the store alone, watches end when
//! told to or after their random lifetime, events and responses come late.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use skiff_apiserver::{FAULT_HEADER, Faults, WriteFilter, WriteVerb};

async fn server(faults: &Arc<Faults>) -> TestServer {
    let faults = faults.clone();
    TestServer::start_with(Backend::Sqlite, move |c| c.faults = Some(faults)).await
}

#[tokio::test]
async fn the_next_writes_get_409_and_the_store_is_untouched() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.conflict_next_writes(2);
    let (code, status) = srv.post(CM, &configmap("a", json!({"k": "v"}))).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["code"], 409);
    let before = srv.revision().await;
    let (code, _) = srv
        .patch(
            &format!("{CM}/a"),
            "application/merge-patch+json",
            &json!({"data": {"k": "w"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(srv.revision().await, before, "nothing was written");
    let (code, _) = srv.get(&format!("{CM}/a")).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "reads are never faulted");
    assert_eq!(faults.conflicts_injected(), 2);
    // The budget is spent: writes go through again.
    srv.create(CM, &configmap("a", json!({"k": "v"}))).await;
    let resp = srv
        .client
        .post(srv.url(CM))
        .json(&configmap("b", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get(FAULT_HEADER).is_none());
}

#[tokio::test]
async fn injected_answers_are_marked() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.conflict_next_writes(1);
    let resp = srv
        .client
        .post(srv.url(CM))
        .json(&configmap("a", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(resp.headers()[FAULT_HEADER], "conflict");
}

#[tokio::test]
async fn filters_pick_resources_and_verbs() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    srv.create(CM, &configmap("cm", json!({}))).await;
    srv.create(PODS, &pod("p")).await;
    faults.conflict_matching(
        WriteFilter::all()
            .resource("configmaps")
            .verb(WriteVerb::Patch),
        1.0,
        None,
    );
    let merge = "application/merge-patch+json";
    let labels = json!({"metadata": {"labels": {"x": "y"}}});
    let (code, _) = srv.patch(&format!("{CM}/cm"), merge, &labels).await;
    assert_eq!(code, StatusCode::CONFLICT, "a configmap patch");
    let (code, _) = srv.patch(&format!("{PODS}/p"), merge, &labels).await;
    assert_eq!(code, StatusCode::OK, "pods are not picked");
    srv.create(CM, &configmap("other", json!({}))).await;
    let (code, _) = srv.delete(&format!("{CM}/other"), &json!({})).await;
    assert_eq!(code, StatusCode::OK, "deletes are not picked");

    // A subresource alone, everything but leases.
    faults.conflict_matching(WriteFilter::all().resource("pods/status"), 1.0, None);
    let status = json!({"status": {"phase": "Running"}});
    let (code, _) = srv.patch(&format!("{PODS}/p/status"), merge, &status).await;
    assert_eq!(code, StatusCode::CONFLICT, "pods/status");
    let (code, _) = srv.patch(&format!("{PODS}/p"), merge, &labels).await;
    assert_eq!(code, StatusCode::OK, "the pod itself");
    faults.conflict_matching(WriteFilter::all().except("configmaps"), 1.0, None);
    let (code, _) = srv.patch(&format!("{CM}/cm"), merge, &labels).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = srv.post(PODS, &pod("q")).await;
    assert_eq!(code, StatusCode::CONFLICT);
    faults.stop_conflicts();
    srv.create(PODS, &pod("q")).await;
}

#[tokio::test]
async fn a_fraction_of_writes_conflicts() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.conflict_writes(0.3);
    let mut conflicts = 0;
    for i in 0..100 {
        let (code, _) = srv
            .post(CM, &configmap(&format!("cm-{i}"), json!({})))
            .await;
        match code {
            StatusCode::CONFLICT => conflicts += 1,
            StatusCode::CREATED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(faults.conflicts_injected(), conflicts);
    assert!((10..60).contains(&conflicts), "{conflicts} of 100");
    let (_, list) = srv.get(CM).await;
    let stored = list["items"].as_array().unwrap().len() as u64;
    assert_eq!(stored, 100 - conflicts);
}

#[tokio::test]
async fn dropping_watches_ends_the_open_streams_only() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    srv.create(CM, &configmap("a", json!({}))).await;
    let mut first = srv.watch(&format!("{CM}?watch=true")).await;
    let mut second = srv.watch("/api/v1/pods?watch=true").await;
    assert_eq!(first.next().await["type"], "ADDED");
    faults.drop_watches();
    assert!(first.ends_within(Duration::from_secs(5)).await);
    assert!(second.ends_within(Duration::from_secs(5)).await);
    assert_eq!(faults.watches_dropped(), 2);
    // A watch opened afterwards lives on.
    let mut later = srv.watch(&format!("{CM}?watch=true")).await;
    assert_eq!(later.next().await["type"], "ADDED");
    srv.create(CM, &configmap("b", json!({}))).await;
    assert_eq!(later.next().await["object"]["metadata"]["name"], "b");
}

#[tokio::test]
async fn watches_end_after_their_random_lifetime() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.watch_lifetime(Some(Duration::from_millis(100)..Duration::from_millis(300)));
    let started = Instant::now();
    let mut w = srv.watch(&format!("{CM}?watch=true")).await;
    assert!(w.ends_within(Duration::from_secs(5)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    faults.watch_lifetime(None);
    let mut lasting = srv.watch(&format!("{CM}?watch=true")).await;
    assert!(!lasting.ends_within(Duration::from_millis(600)).await);
}

#[tokio::test]
async fn watch_events_arrive_late_and_in_order() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.delay_watch_events(Duration::from_millis(700));
    let rv = srv.revision().await;
    let mut w = srv
        .watch(&format!("{CM}?watch=true&resourceVersion={rv}"))
        .await;
    let sent = Instant::now();
    srv.create(CM, &configmap("a", json!({}))).await;
    srv.create(CM, &configmap("b", json!({}))).await;
    assert!(
        w.next_within(Duration::from_millis(300)).await.is_none(),
        "not yet"
    );
    assert_eq!(w.next().await["object"]["metadata"]["name"], "a");
    assert_eq!(w.next().await["object"]["metadata"]["name"], "b");
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn responses_come_late() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.delay_responses(Duration::from_millis(400));
    let started = Instant::now();
    let (code, _) = srv.send(Method::GET, CM, None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    faults.clear();
    let started = Instant::now();
    srv.get(CM).await;
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn one_kind_of_watch_lags_behind_the_others() {
    let faults = Faults::new();
    let srv = server(&faults).await;
    faults.delay_watch_events_of("configmaps", Duration::from_millis(700));
    let rv = srv.revision().await;
    let mut slow = srv
        .watch(&format!("{CM}?watch=true&resourceVersion={rv}"))
        .await;
    let mut fast = srv
        .watch(&format!("{PODS}?watch=true&resourceVersion={rv}"))
        .await;
    srv.create(CM, &configmap("first", json!({}))).await;
    srv.create(PODS, &pod("second")).await;
    // The later change is seen first.
    let pod_event = fast.next_within(Duration::from_millis(500)).await;
    assert_eq!(pod_event.unwrap()["object"]["metadata"]["name"], "second");
    assert!(slow.next_within(Duration::from_millis(100)).await.is_none());
    assert_eq!(slow.next().await["object"]["metadata"]["name"], "first");
}
