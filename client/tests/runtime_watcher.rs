//! The watcher against a real API server: order of events, resuming after
//! a watch ends, re-listing after 410 Gone, riding out a server restart.

mod runtime_support;

use futures::StreamExt;
use serde_json::Value;
use skiff_api::core::{CONFIGMAPS, ConfigMap};
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, DeleteParams, DynamicApi, ListParams};

use runtime_support::{TestServer, config_map, next_within};

fn names(objects: &[ConfigMap]) -> Vec<String> {
    let mut n: Vec<_> = objects
        .iter()
        .map(|o| o.metadata.name_str().to_string())
        .collect();
    n.sort();
    n
}

/// A short description of an event, to compare sequences.
fn describe(event: &Event<ConfigMap>) -> String {
    match event {
        Event::Restarted(all) => format!("restarted {}", names(all).join(",")),
        Event::Applied(o) => format!(
            "applied {} {}",
            o.metadata.name_str(),
            o.data.get("v").map(String::as_str).unwrap_or("-")
        ),
        Event::Deleted(o) => format!("deleted {}", o.metadata.name_str()),
    }
}

#[tokio::test]
async fn sees_create_update_delete_in_order() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    api.create(&config_map("before", &[("v", "0")]))
        .await
        .unwrap();

    // Small pages: the first list comes in several.
    for i in 0..5 {
        api.create(&config_map(&format!("page-{i}"), &[]))
            .await
            .unwrap();
    }
    let mut w = Box::pin(watcher(api.clone(), ListParams::default().limit(2)));
    match next_within(&mut w).await.unwrap() {
        Event::Restarted(all) => assert_eq!(all.len(), 6, "{:?}", names(&all)),
        other => panic!("expected the list first, got {}", describe(&other)),
    }

    let created = api.create(&config_map("x", &[("v", "1")])).await.unwrap();
    let mut changed = created.clone();
    changed.data.insert("v".into(), "2".into());
    api.replace("x", &changed).await.unwrap();
    api.delete("x", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next_within(&mut w).await.unwrap()));
    }
    assert_eq!(seen, vec!["applied x 1", "applied x 2", "deleted x"]);
    ts.stop().await;
}

#[tokio::test]
async fn resumes_where_an_ended_watch_left_off() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    // The server ends each watch after a second; changes span several.
    let mut w = Box::pin(watcher(api.clone(), ListParams::default().timeout(1)));
    assert!(matches!(next_within(&mut w).await, Ok(Event::Restarted(l)) if l.is_empty()));
    for i in 0..6 {
        api.create(&config_map(&format!("cm-{i}"), &[("v", &i.to_string())]))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(describe(&next_within(&mut w).await.unwrap()));
    }
    let expected: Vec<String> = (0..6).map(|i| format!("applied cm-{i} {i}")).collect();
    // Each exactly once, in order, and no re-list in between.
    assert_eq!(seen, expected);
    ts.stop().await;
}

#[tokio::test]
async fn relists_after_gone_and_survives_a_restart() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    api.create(&config_map("a", &[])).await.unwrap();
    let mut w = Box::pin(watcher(api.clone(), ListParams::default()));
    assert_eq!(describe(&next_within(&mut w).await.unwrap()), "restarted a");
    api.create(&config_map("b", &[])).await.unwrap();
    assert_eq!(describe(&next_within(&mut w).await.unwrap()), "applied b -");

    // The server goes away; meanwhile, through another server on the same
    // store, objects change and the history of those changes is compacted.
    ts.stop().await;
    let sibling = ts.sibling().await;
    let other: Api<ConfigMap> =
        Api::namespaced(runtime_support::client_for(sibling.local_addr()), "default");
    other.create(&config_map("c", &[])).await.unwrap();
    other.delete("a", &DeleteParams::default()).await.unwrap();
    let now = ts.store.current_revision().await.unwrap();
    ts.store.compact(now).await.unwrap();
    sibling.shutdown().await;

    // Transport errors come through as items; the stream goes on.
    let first_error = next_within(&mut w).await;
    assert!(
        first_error.is_err(),
        "expected an error while the server is down"
    );

    // Back on the same port with a fresh watch cache: resuming from the old
    // resourceVersion gets 410, and the watcher lists again.
    ts.restart().await;
    let restarted = loop {
        match next_within(&mut w).await {
            Err(_) => continue,
            Ok(event) => break describe(&event),
        }
    };
    assert_eq!(restarted, "restarted b,c");

    // And it watches on from the new list.
    api.create(&config_map("d", &[])).await.unwrap();
    assert_eq!(describe(&next_within(&mut w).await.unwrap()), "applied d -");
    ts.stop().await;
}

#[tokio::test]
async fn works_over_json_values_too() {
    let mut ts = TestServer::start().await;
    let dynamic = DynamicApi::namespaced(ts.client.clone(), &CONFIGMAPS, "default");
    let mut w = Box::pin(watcher(dynamic.clone(), ListParams::default()));
    assert!(matches!(next_within(&mut w).await, Ok(Event::Restarted(l)) if l.is_empty()));
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    api.create(&config_map("v", &[])).await.unwrap();
    match next_within(&mut w).await.unwrap() {
        Event::Applied(v) => {
            assert_eq!(
                v.pointer("/metadata/name").and_then(Value::as_str),
                Some("v")
            );
            assert_eq!(v["kind"], "ConfigMap");
        }
        other => panic!("unexpected {other:?}"),
    }
    // The stream is Send: it can be drained on another task.
    let drained = tokio::spawn(async move { w.next().await.is_some() });
    api.delete("v", &DeleteParams::default()).await.unwrap();
    assert!(drained.await.unwrap());
    ts.stop().await;
}
