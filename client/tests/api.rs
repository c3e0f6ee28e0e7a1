//! The client against a real in-process API server (SQLite store in a temp dir).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use skiff_api::core::ConfigMap;
use skiff_api::meta::ObjectMeta;
use skiff_apiserver::RunningServer;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::{
    Api, Client, DeleteOutcome, DeleteParams, DynamicApi, Error, Kubeconfig, ListParams, Patch,
    WatchEvent,
};

struct TestServer {
    server: Option<RunningServer>,
    client: Client,
    dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        let EmbeddedServer { server, url, dir } = start_embedded(|_| {}).await.unwrap();
        let client = Client::from_server(&url).unwrap();
        TestServer {
            server: Some(server),
            client,
            dir,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

fn config_map(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

#[tokio::test]
async fn typed_crud_round_trip() {
    let ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");

    let created = api
        .create(&config_map("cm", &[], &[("a", "1")]))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert!(created.metadata.uid.is_some());
    let rv1 = created.metadata.resource_version.clone().unwrap();

    let got = api.get("cm").await.unwrap();
    assert_eq!(got.data["a"], "1");

    let mut changed = got.clone();
    changed.data.insert("b".into(), "2".into());
    let replaced = api.replace("cm", &changed).await.unwrap();
    assert_eq!(replaced.data["b"], "2");
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );

    // The first version's resourceVersion is stale now: 409 Conflict.
    let err = api.replace("cm", &got).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");

    let patched = api
        .patch("cm", &Patch::Merge(json!({"data": {"a": null, "c": "3"}})))
        .await
        .unwrap();
    assert_eq!(
        patched.data.keys().cloned().collect::<Vec<_>>(),
        vec!["b", "c"]
    );
    let patched = api
        .patch(
            "cm",
            &Patch::Json(json!([{"op": "add", "path": "/data/d", "value": "4"}])),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["d"], "4");
    let patched = api
        .patch("cm", &Patch::Strategic(json!({"data": {"e": "5"}})))
        .await
        .unwrap();
    assert_eq!(patched.data["e"], "5");

    let dup = api.create(&config_map("cm", &[], &[])).await.unwrap_err();
    assert!(dup.is_already_exists(), "{dup:?}");

    match api.delete("cm", &DeleteParams::background()).await.unwrap() {
        DeleteOutcome::Gone(s) => assert_eq!(s.status, "Success"),
        DeleteOutcome::Object(o) => assert_eq!(o.metadata.name.as_deref(), Some("cm")),
    }
    assert!(api.get_opt("cm").await.unwrap().is_none());
    ts.stop().await;
}

#[tokio::test]
async fn errors_decode_into_status() {
    let ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    match api.get("missing").await.unwrap_err() {
        Error::Api(s) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.reason, "NotFound");
            assert_eq!(s.message, "configmaps \"missing\" not found");
        }
        other => panic!("expected a Status, got {other:?}"),
    }

    let deployments =
        DynamicApi::namespaced(ts.client.clone(), &skiff_api::apps::DEPLOYMENTS, "default");
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "x"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    match deployments.create(&bad).await.unwrap_err() {
        Error::Api(s) => {
            assert_eq!(s.code, 422);
            let details = s.details.expect("details");
            assert_eq!(details.kind, "Deployment");
            assert_eq!(details.causes[0].field, "spec.replicas");
        }
        other => panic!("expected a Status, got {other:?}"),
    }

    // Nothing listens on this port: a transport error that says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Client::from_server(&format!("http://127.0.0.1:{port}")).unwrap();
    match dead.version().await.unwrap_err() {
        Error::Transport {
            connect, server, ..
        } => {
            assert!(connect);
            assert_eq!(server, format!("127.0.0.1:{port}"));
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    ts.stop().await;
}

#[tokio::test]
async fn lists_with_selectors_and_pages() {
    let ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web"), ("d", "cache")] {
        api.create(&config_map(name, &[("tier", tier)], &[]))
            .await
            .unwrap();
    }
    let names = |l: &skiff_client::ObjectList<ConfigMap>| {
        l.items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    let web = api
        .list(&ListParams::default().labels("tier=web"))
        .await
        .unwrap();
    assert_eq!(names(&web), vec!["a", "c"]);
    let not_web = api
        .list(&ListParams::default().labels("tier!=web"))
        .await
        .unwrap();
    assert_eq!(names(&not_web), vec!["b", "d"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(names(&by_name), vec!["b"]);

    // One item per page: list_all follows the continue tokens.
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert!(first.metadata.continue_.is_some());
    let all = api.list_all(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(names(&all), vec!["a", "b", "c", "d"]);
    assert!(!all.resource_version().is_empty());

    // Every namespace.
    let everywhere: Api<ConfigMap> = Api::all(ts.client.clone());
    assert!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
            >= 4
    );

    // Server-side printing.
    let table = api
        .dynamic()
        .list_table(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().unwrap().len(), 4);
    ts.stop().await;
}

#[tokio::test]
async fn watch_sees_changes_after_the_list() {
    let ts = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(ts.client.clone(), "default");
    api.create(&config_map("before", &[], &[])).await.unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let mut events = api
        .watch(&ListParams::default(), list.resource_version())
        .await
        .unwrap();

    api.create(&config_map("w", &[], &[("k", "1")]))
        .await
        .unwrap();
    api.patch("w", &Patch::Merge(json!({"data": {"k": "2"}})))
        .await
        .unwrap();
    api.delete("w", &DeleteParams::background()).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event within 10s")
            .expect("the stream stays open")
            .unwrap();
        if let WatchEvent::Bookmark { .. } = ev {
            continue;
        }
        let name = ev.object().and_then(|o| o.metadata.name.clone()).unwrap();
        let k = ev.object().and_then(|o| o.data.get("k").cloned());
        seen.push((ev.type_name(), name, k));
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "w".to_string(), Some("1".to_string())),
            ("MODIFIED", "w".to_string(), Some("2".to_string())),
            ("DELETED", "w".to_string(), Some("2".to_string())),
        ]
    );

    // A watch restricted to one name sees only that object.
    let mut only = api
        .watch(
            &ListParams::default().fields("metadata.name=x"),
            &api.list(&ListParams::default())
                .await
                .unwrap()
                .metadata
                .resource_version
                .unwrap(),
        )
        .await
        .unwrap();
    api.create(&config_map("y", &[], &[])).await.unwrap();
    api.create(&config_map("x", &[], &[])).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), only.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.object().unwrap().metadata.name.as_deref(), Some("x"));
    ts.stop().await;
}

#[tokio::test]
async fn a_written_kubeconfig_connects() {
    let ts = TestServer::start().await;
    let path = ts.dir.path().join("kubeconfig");
    Kubeconfig::single(ts.client.server(), None, None)
        .write(&path)
        .unwrap();
    let config = skiff_client::load_config(Some(&path), None).unwrap();
    let client = Client::new(config).unwrap();
    let version: Value = client.version().await.unwrap();
    assert_eq!(version["major"], "1");
    assert_eq!(client.default_namespace(), "default");
    let missing = skiff_client::load_config(Some(&ts.dir.path().join("nope")), None).unwrap_err();
    assert!(
        missing.to_string().contains("no such file or directory"),
        "{missing}"
    );
    ts.stop().await;
}
