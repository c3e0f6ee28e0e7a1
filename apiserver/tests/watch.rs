//! Watches: resuming from a resourceVersion with nothing missed or
//! repeated, selectors (objects entering and leaving them), 410 after
//! compaction on both stores, timeoutSeconds, bookmarks, Table events.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

async fn take(w: &mut Watch, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(w.next().await);
    }
    out
}

async fn resumes_without_gaps_or_duplicates(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut rvs = Vec::new();
    for i in 1..=100 {
        let cm = s
            .create(CM, &configmap(&format!("cm-{i:03}"), json!({})))
            .await;
        rvs.push(rv(&cm));
    }
    // From the 50th object's revision: exactly 51..=100, in order.
    let mut w = s
        .watch(&format!("{CM}?watch=true&resourceVersion={}", rvs[49]))
        .await;
    let events = take(&mut w, 50).await;
    assert!(events.iter().all(|e| e["type"] == "ADDED"));
    assert_eq!(
        names(&events),
        (51..=100).map(|i| format!("cm-{i:03}")).collect::<Vec<_>>()
    );
    // Then live events.
    s.create(CM, &configmap("live", json!({}))).await;
    let live = w.next().await;
    assert_eq!(
        (
            live["type"].as_str(),
            live["object"]["metadata"]["name"].as_str().unwrap()
        ),
        (Some("ADDED"), "live")
    );
    assert!(
        w.next_within(Duration::from_millis(300)).await.is_none(),
        "duplicate events"
    );

    // A second watcher from an older point now that the cache is running.
    let mut w2 = s
        .watch(&format!("{CM}?watch=1&resourceVersion={}", rvs[97]))
        .await;
    let events = take(&mut w2, 3).await;
    assert_eq!(names(&events), vec!["cm-099", "cm-100", "live"]);
    // Modified and deleted reach both.
    let (_, cm) = s.get(&format!("{CM}/live")).await;
    let mut changed = cm.clone();
    changed["data"] = json!({"a": "b"});
    s.put(&format!("{CM}/live"), &changed).await;
    s.delete(&format!("{CM}/live"), &json!({})).await;
    for w in [&mut w, &mut w2] {
        let m = w.next().await;
        assert_eq!(m["type"], "MODIFIED");
        assert_eq!(m["object"]["data"]["a"], "b");
        let d = w.next().await;
        assert_eq!(d["type"], "DELETED");
        assert!(rv(&d["object"]) > rv(&m["object"]));
    }
}

#[tokio::test]
async fn sqlite_resumes_without_gaps_or_duplicates() {
    resumes_without_gaps_or_duplicates(Backend::Sqlite).await;
}

#[tokio::test]
async fn etcd_resumes_without_gaps_or_duplicates() {
    resumes_without_gaps_or_duplicates(Backend::Etcd).await;
}

#[tokio::test]
async fn watching_one_object_by_its_path() {
    let s = TestServer::start(Backend::Sqlite).await;
    let now = s.revision().await;
    let mut w = s
        .watch(&format!("{CM}/b?watch=true&resourceVersion={now}"))
        .await;
    s.create(CM, &configmap("a", json!({}))).await;
    s.create(CM, &configmap("b", json!({}))).await;
    assert_eq!(names(&[w.next().await]), vec!["b"]);
}

#[tokio::test]
async fn no_resource_version_starts_with_the_current_objects() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.create(CM, &configmap("a", json!({}))).await;
    s.create(CM, &configmap("b", json!({}))).await;
    let mut w = s.watch(&format!("{CM}?watch=true")).await;
    let events = take(&mut w, 2).await;
    assert_eq!(names(&events), vec!["a", "b"]);
    assert!(events.iter().all(|e| e["type"] == "ADDED"));
    s.create(CM, &configmap("c", json!({}))).await;
    assert_eq!(names(&[w.next().await]), vec!["c"]);
}

#[tokio::test]
async fn selectors_filter_and_report_transitions() {
    let s = TestServer::start(Backend::Sqlite).await;
    let start = s.revision().await;
    let mut by_label = s
        .watch(&format!(
            "{CM}?watch=true&resourceVersion={start}&labelSelector=tier%3Dfront"
        ))
        .await;
    let mut by_name = s
        .watch(&format!(
            "{CM}?watch=true&resourceVersion={start}&fieldSelector=metadata.name%3Db"
        ))
        .await;
    let mut a = configmap("a", json!({}));
    a["metadata"]["labels"] = json!({"tier": "back"});
    let a = s.create(CM, &a).await;
    let mut b = configmap("b", json!({}));
    b["metadata"]["labels"] = json!({"tier": "front"});
    s.create(CM, &b).await;

    // a moves into the selector (ADDED), then out of it (DELETED).
    let mut a2 = a.clone();
    a2["metadata"]["labels"]["tier"] = json!("front");
    let (_, a2) = s.put(&format!("{CM}/a"), &a2).await;
    let mut a3 = a2.clone();
    a3["metadata"]["labels"]["tier"] = json!("back");
    s.put(&format!("{CM}/a"), &a3).await;

    let events = take(&mut by_label, 3).await;
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ADDED".into(), "b".into()),
            ("ADDED".into(), "a".into()),
            ("DELETED".into(), "a".into())
        ]
    );
    assert!(
        by_label
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    let only_b = by_name.next().await;
    assert_eq!(only_b["object"]["metadata"]["name"], "b");
    assert!(
        by_name
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );

    // Namespaced watches see only their namespace; -A sees all.
    s.create(
        "/api/v1/namespaces",
        &json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "other"}}),
    )
    .await;
    let now = s.revision().await;
    let mut all = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={now}"
        ))
        .await;
    let mut mine = s
        .watch(&format!("{CM}?watch=true&resourceVersion={now}"))
        .await;
    s.create(
        "/api/v1/namespaces/other/configmaps",
        &configmap("x", json!({})),
    )
    .await;
    s.create(CM, &configmap("y", json!({}))).await;
    assert_eq!(names(&take(&mut all, 2).await), vec!["x", "y"]);
    assert_eq!(names(&[mine.next().await]), vec!["y"]);
}

async fn expired_after_compaction(backend: Backend) {
    let s = TestServer::start(backend).await;
    let first = s.create(CM, &configmap("a", json!({}))).await;
    for i in 0..5 {
        s.create(CM, &configmap(&format!("b{i}"), json!({}))).await;
    }
    // The cache starts now, after the history being asked for.
    let mut warm = s.watch(&format!("{CM}?watch=true")).await;
    take(&mut warm, 6).await;
    let now = s.revision().await;
    s.store.compact(now).await.unwrap();
    let mut w = s
        .watch(&format!("{CM}?watch=true&resourceVersion={}", rv(&first)))
        .await;
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    let message = e["object"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("too old resource version: {} (", rv(&first))),
        "{message}"
    );
    assert!(
        w.ends_within(Duration::from_secs(5)).await,
        "the stream ends after the ERROR event"
    );

    // From a revision still in the cache, the watch works.
    let mut ok = s
        .watch(&format!("{CM}?watch=true&resourceVersion={now}"))
        .await;
    s.create(CM, &configmap("c", json!({}))).await;
    assert_eq!(ok.next().await["type"], "ADDED");
}

#[tokio::test]
async fn sqlite_watch_from_compacted_revision_is_410() {
    expired_after_compaction(Backend::Sqlite).await;
}

#[tokio::test]
async fn etcd_watch_from_compacted_revision_is_410() {
    expired_after_compaction(Backend::Etcd).await;
}

#[tokio::test]
async fn old_but_uncompacted_revisions_come_from_the_store() {
    let s = TestServer::start(Backend::Sqlite).await;
    let a = s.create(CM, &configmap("a", json!({}))).await;
    let mut labelled = configmap("b", json!({}));
    labelled["metadata"]["labels"] = json!({"x": "y"});
    s.create(CM, &labelled).await;
    s.create(CM, &configmap("c", json!({}))).await;
    // Start the cache after these writes, then ask for history before it.
    let mut warm = s.watch(&format!("{CM}?watch=true")).await;
    take(&mut warm, 3).await;
    let mut w = s
        .watch(&format!("{CM}?watch=true&resourceVersion={}", rv(&a)))
        .await;
    assert_eq!(names(&take(&mut w, 2).await), vec!["b", "c"]);
    s.create(CM, &configmap("d", json!({}))).await;
    assert_eq!(names(&[w.next().await]), vec!["d"]);
    let mut sel = s
        .watch(&format!(
            "{CM}?watch=true&labelSelector=x%3Dy&resourceVersion={}",
            rv(&a) - 1
        ))
        .await;
    assert_eq!(names(&[sel.next().await]), vec!["b"]);
}

#[tokio::test]
async fn timeout_ends_the_stream_and_bookmarks_are_sent_when_asked() {
    let s = TestServer::start(Backend::Sqlite).await;
    let cm = s.create(CM, &configmap("a", json!({}))).await;
    let started = std::time::Instant::now();
    let mut w = s
        .watch(&format!(
            "{CM}?watch=true&resourceVersion={}&timeoutSeconds=3&allowWatchBookmarks=true",
            rv(&cm)
        ))
        .await;
    let bookmark = w.next().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert!(rv(&bookmark["object"]) >= rv(&cm));
    assert!(w.ends_within(Duration::from_secs(10)).await);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // Without bookmarks asked for, none come; without a timeout the stream stays.
    let mut quiet = s
        .watch(&format!(
            "{CM}?watch=true&resourceVersion={}&timeoutSeconds=2",
            rv(&cm)
        ))
        .await;
    assert!(quiet.next_within(Duration::from_secs(3)).await.is_none());
    let mut open = s
        .watch(&format!("{CM}?watch=true&resourceVersion={}", rv(&cm)))
        .await;
    assert!(!open.ends_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn table_watch_events_carry_one_row() {
    let s = TestServer::start(Backend::Sqlite).await;
    let now = s.revision().await;
    let mut w = s
        .watch_accept(
            &format!("{PODS}?watch=true&resourceVersion={now}"),
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .await;
    s.create(PODS, &pod("p")).await;
    let e = w.next().await;
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["kind"], "Table");
    assert_eq!(e["object"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(e["object"]["rows"][0]["cells"][0], "p");
}

#[tokio::test]
async fn watchers_are_counted_in_metrics() {
    let s = TestServer::start(Backend::Sqlite).await;
    let _w = s.watch(&format!("{PODS}?watch=true")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
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
        text.contains("apiserver_registered_watchers{resource=\"pods\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_ends_open_watches() {
    let mut s = TestServer::start(Backend::Sqlite).await;
    let mut w = s.watch(&format!("{CM}?watch=true")).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("shutdown waits for no watch");
    assert!(w.ends_within(Duration::from_secs(5)).await);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn one_store_watch_serves_every_client() {
    let s = TestServer::start(Backend::Sqlite).await;
    let mut watches = Vec::new();
    for i in 0..10 {
        let query = if i % 2 == 0 {
            "watch=true"
        } else {
            "watch=true&labelSelector=a%3Db"
        };
        watches.push(s.watch(&format!("{CM}?{query}")).await);
    }
    let mut cm = configmap("shared", json!({}));
    cm["metadata"]["labels"] = json!({"a": "b"});
    s.create(CM, &cm).await;
    for w in &mut watches {
        assert_eq!(w.next().await["object"]["metadata"]["name"], "shared");
    }
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // One store watch for the configmaps of all ten clients, and the
    // namespaces' one that the server keeps from start.
    assert!(
        text.contains("etcd_request_duration_seconds_count{operation=\"watch\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("apiserver_registered_watchers{resource=\"configmaps\"} 10"),
        "{text}"
    );
}
