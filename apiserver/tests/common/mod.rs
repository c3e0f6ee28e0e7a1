//! A test API server on 127.0.0.1:0 with its own store (SQLite in a temp dir
//! or a throwaway etcd), and a small JSON client for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use skiff_apiserver::{RunningServer, ServerConfig};
use skiff_store::Store;
use skiff_store::sqlite::SqliteStore;
use skiff_store::testing::EtcdServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Etcd,
}

/// What a test's store lives in; dropped (etcd killed, files removed) with it.
pub enum StoreHome {
    Sqlite(tempfile::TempDir),
    Etcd(EtcdServer),
}

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub store: Arc<dyn Store>,
    pub base: String,
    pub client: reqwest::Client,
    pub home: StoreHome,
}

/// A store of the given kind, and what keeps it alive.
pub async fn new_store(backend: Backend) -> (Arc<dyn Store>, StoreHome) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("skiff.db")).expect("open sqlite");
            (Arc::new(store), StoreHome::Sqlite(dir))
        }
        Backend::Etcd => {
            let etcd = EtcdServer::start().expect("start etcd");
            let store = etcd.store().await.expect("connect etcd");
            (Arc::new(store), StoreHome::Etcd(etcd))
        }
    }
}

pub fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own; plain http still
    // wants one installed. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let (store, home) = new_store(backend).await;
        Self::start_on(store, home, tune).await
    }

    pub async fn start_on(
        store: Arc<dyn Store>,
        home: StoreHome,
        tune: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), store.clone());
        tune(&mut config);
        let server = skiff_apiserver::start(config).await.expect("start server");
        let base = format!("http://{}", server.local_addr());
        TestServer {
            server: Some(server),
            store,
            base,
            client: client(),
            home,
        }
    }

    /// Stops the server, keeping the store (for restart tests).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request; the body is sent as given with `content_type`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request");
        let code = resp.status();
        let bytes = resp.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (code, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn get_table(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(self.url(path))
            .header(
                "Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            )
            .send()
            .await
            .expect("request");
        let code = resp.status();
        (code, resp.json().await.expect("json"))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::PUT,
            path,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::PATCH,
            path,
            Some(content_type),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, options: &Value) -> (StatusCode, Value) {
        self.send(
            Method::DELETE,
            path,
            Some("application/json"),
            Some(options.to_string().into_bytes()),
        )
        .await
    }

    /// Creates and asserts 201.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let (code, v) = self.post(path, body).await;
        assert_eq!(code, StatusCode::CREATED, "create {path}: {v}");
        v
    }

    pub async fn revision(&self) -> i64 {
        self.store.current_revision().await.expect("revision")
    }

    /// Opens a watch; events are read with [`Watch::next`].
    pub async fn watch(&self, path_and_query: &str) -> Watch {
        self.watch_accept(path_and_query, "application/json").await
    }

    pub async fn watch_accept(&self, path_and_query: &str, accept: &str) -> Watch {
        let resp = self
            .client
            .get(self.url(path_and_query))
            .header("Accept", accept)
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("watch request");
        assert_eq!(resp.status(), StatusCode::OK, "watch {path_and_query}");
        Watch {
            stream: Box::pin(resp.bytes_stream()),
            buffer: Vec::new(),
        }
    }
}

pub struct Watch {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl Watch {
    /// The next event, `None` at the end of the stream or after `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).expect("event is JSON"));
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => panic!("watch stream failed: {e}"),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event (10 s at most), panicking if none comes.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a watch event")
    }

    /// True when the server ends the stream within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(_))) | Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}

pub fn configmap(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})
}

pub fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
                    "ports": [{"containerPort": 80}]}]}}}})
}

pub const CM: &str = "/api/v1/namespaces/default/configmaps";
pub const PODS: &str = "/api/v1/namespaces/default/pods";
pub const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";
pub const SVC: &str = "/api/v1/namespaces/default/services";

/// `metadata.resourceVersion` as a number.
pub fn rv(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}
