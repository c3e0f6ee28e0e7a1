//! etcd-specific behaviour beyond the shared conformance suite.

use std::net::TcpListener;
use std::time::Duration;

use futures::StreamExt;
use skiff_store::etcd::EtcdStore;
use skiff_store::testing::{EtcdServer, unique_prefix};
use skiff_store::{ListOptions, Store, StoreError};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn prefixes_isolate_stores_sharing_one_etcd() {
    let server = EtcdServer::start().unwrap();
    let one = server.store().await.unwrap();
    let two = server.store().await.unwrap();
    assert_ne!(one.prefix(), two.prefix());

    one.create("/k/a", b"one".to_vec()).await.unwrap();
    two.create("/k/a", b"two".to_vec()).await.unwrap();
    two.create("/k/b", b"two".to_vec()).await.unwrap();

    let listed = one.list("/k/", &ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = listed.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/k/a"]);
    assert_eq!(listed.items[0].value, b"one");
    assert_eq!(one.count("").await.unwrap(), 1);
    assert_eq!(two.count("").await.unwrap(), 2);
    let everything = two.list("", &ListOptions::default()).await.unwrap();
    assert_eq!(everything.items.len(), 2);
    assert!(everything.items.iter().all(|kv| kv.key.starts_with("/k/")));
}

#[tokio::test]
async fn another_client_discovers_the_compaction() {
    let server = EtcdServer::start().unwrap();
    let prefix = unique_prefix();
    let compactor = EtcdStore::connect(&[server.endpoint()], &prefix)
        .await
        .unwrap();
    let mut rev = compactor.create("/a", b"0".to_vec()).await.unwrap();
    let first = rev;
    for i in 1..10 {
        rev = compactor
            .update("/a", i.to_string().into_bytes(), rev)
            .await
            .unwrap();
    }
    let compact_at = rev - 2;
    compactor.compact(compact_at).await.unwrap();

    // A client that did not compact learns of it from etcd.
    let other = EtcdStore::connect(&[server.endpoint()], &prefix)
        .await
        .unwrap();
    assert_eq!(other.compacted_revision().await.unwrap(), compact_at);

    let fresh = EtcdStore::connect(&[server.endpoint()], &prefix)
        .await
        .unwrap();
    let old = ListOptions {
        revision: Some(first),
        ..Default::default()
    };
    match fresh.list("/", &old).await.unwrap_err() {
        StoreError::Compacted {
            requested,
            compacted,
        } => assert_eq!((requested, compacted), (first, compact_at)),
        other => panic!("{other:?}"),
    }

    // etcd itself refuses the watch (this client knew nothing beforehand):
    // the refusal arrives as the stream's first item.
    let fresh = EtcdStore::connect(&[server.endpoint()], &prefix)
        .await
        .unwrap();
    let error = match fresh.watch("/", first).await {
        Err(error) => error,
        Ok(mut stream) => tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err(),
    };
    match error {
        StoreError::Compacted { compacted, .. } => assert_eq!(compacted, compact_at),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_watch_ends_with_an_error_when_etcd_goes_away() {
    let server = EtcdServer::start().unwrap();
    let store = server.store().await.unwrap();
    let rev = store.create("/a", vec![]).await.unwrap();
    let mut watch = store.watch("/", rev).await.unwrap();
    drop(server);
    let item = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the watch noticed nothing");
    assert!(
        matches!(item, Some(Err(StoreError::Unavailable(_))) | None),
        "{item:?}"
    );
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    match EtcdStore::connect(&[endpoint], "/x/").await {
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[tokio::test]
async fn an_empty_prefix_spans_the_whole_keyspace() {
    let server = EtcdServer::start().unwrap();
    let store = EtcdStore::connect(&[server.endpoint()], "").await.unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("", start).await.unwrap();
    let rev = store.create("/a", b"a".to_vec()).await.unwrap();
    store.create("b", b"b".to_vec()).await.unwrap();
    let listed = store.list("", &ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = listed.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a", "b"]);
    assert_eq!(store.count("").await.unwrap(), 2);
    let event = tokio::time::timeout(WAIT, watch.next()).await.unwrap();
    assert_eq!(event.unwrap().unwrap().kv.mod_revision, rev);
    store.compact(rev).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), rev);
}

#[test]
fn etcd_server_needs_no_runtime_and_cleans_up_after_itself() {
    let server = EtcdServer::start().unwrap();
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    assert!(dir.join("etcd.log").exists());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!dir.exists());
}
