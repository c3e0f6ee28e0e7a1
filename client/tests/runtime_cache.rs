//! The cache (informer) against a real API server: it syncs, follows
//! changes, keeps its indexes current.

mod runtime_support;

use std::sync::Arc;

use futures::StreamExt;
use skiff_api::core::ConfigMap;
use skiff_api::meta::OwnerReference;
use skiff_client::runtime::{BY_OWNER_UID, informer, owner_uids};
use skiff_client::{Api, DeleteParams, ListParams};

use runtime_support::{TestServer, config_map, eventually};

#[tokio::test]
async fn syncs_then_follows_changes() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let mut owned = config_map("owned", &[("v", "1")]);
    owned.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web".into(),
        uid: "rs-uid-1".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }];
    api.create(&owned).await.unwrap();
    api.create(&config_map("plain", &[])).await.unwrap();

    let (cache, events) = informer(api.clone(), ListParams::default());
    cache.add_index(BY_OWNER_UID, owner_uids);
    assert!(!cache.is_synced());
    let driver = tokio::spawn(events.for_each(|_| async {}));
    tokio::time::timeout(std::time::Duration::from_secs(10), cache.wait_synced())
        .await
        .expect("the cache never synced");
    assert_eq!(cache.keys(), vec!["default/owned", "default/plain"]);
    let by_owner = cache.by_index(BY_OWNER_UID, "rs-uid-1");
    assert_eq!(by_owner.len(), 1);
    assert_eq!(by_owner[0].metadata.name_str(), "owned");

    // Updates replace the cached object; readers holding the old one keep it.
    let before = cache.get("default/owned").unwrap();
    let mut changed = (*before).clone();
    changed.data.insert("v".into(), "2".into());
    changed.metadata.owner_references.clear();
    api.replace("owned", &changed).await.unwrap();
    eventually("the update in the cache", || {
        let c = cache.clone();
        async move { c.get("default/owned").is_some_and(|o| o.data["v"] == "2") }
    })
    .await;
    assert_eq!(before.data["v"], "1");
    assert!(cache.by_index(BY_OWNER_UID, "rs-uid-1").is_empty());

    api.create(&config_map("new", &[])).await.unwrap();
    api.delete("plain", &DeleteParams::default()).await.unwrap();
    eventually("create and delete in the cache", || {
        let c = cache.clone();
        async move { c.keys() == vec!["default/new", "default/owned"] }
    })
    .await;
    assert_eq!(cache.list_namespace("default").len(), 2);
    assert!(cache.list_namespace("kube-system").is_empty());

    driver.abort();
    ts.stop().await;
}

#[tokio::test]
async fn many_readers_share_one_cache() {
    let mut ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    let (cache, events) = informer(api.clone(), ListParams::default());
    let driver = tokio::spawn(events.for_each(|_| async {}));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move {
                c.wait_synced().await;
                eventually("all ten objects", || {
                    let c = c.clone();
                    async move { c.len() == 10 }
                })
                .await;
                c.list()
            })
        })
        .collect();
    for i in 0..10 {
        api.create(&config_map(&format!("cm-{i}"), &[]))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for r in readers {
        seen.push(r.await.unwrap());
    }
    // Every reader got the very same objects, not copies.
    for other in &seen[1..] {
        assert!(seen[0].iter().zip(other).all(|(a, b)| Arc::ptr_eq(a, b)));
    }
    driver.abort();
    ts.stop().await;
}
