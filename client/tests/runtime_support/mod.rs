//! Shared by the `runtime_*` tests: a real API server over SQLite in a temp
//! dir, which can be stopped and started again on the same port and store.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use skiff_api::core::ConfigMap;
use skiff_api::meta::ObjectMeta;
use skiff_apiserver::{RunningServer, ServerConfig};
use skiff_client::Client;
use skiff_store::Store;
use skiff_store::sqlite::SqliteStore;

pub struct TestServer {
    server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub client: Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let server = serve(store.clone(), "127.0.0.1:0".parse().unwrap()).await;
        let addr = server.local_addr();
        TestServer {
            server: Some(server),
            addr,
            store,
            client: client_for(addr),
            _dir: dir,
        }
    }

    /// Stops serving: open watches end, new connections are refused.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Serves again on the same address, over the same store (a fresh
    /// watch cache, as after an API server restart).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.server = Some(serve(self.store.clone(), self.addr).await);
    }

    /// A second API server over the same store, on another port.
    pub async fn sibling(&self) -> RunningServer {
        serve(self.store.clone(), "127.0.0.1:0".parse().unwrap()).await
    }
}

async fn serve(store: Arc<dyn Store>, listen: SocketAddr) -> RunningServer {
    // The port may take a moment to be free again after a stop.
    for _ in 0..50 {
        match skiff_apiserver::start(ServerConfig::new(listen, store.clone())).await {
            Ok(s) => return s,
            Err(e) if format!("{e:#}").contains("in use") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("starting the API server: {e:#}"),
        }
    }
    panic!("{listen} stayed in use");
}

pub fn client_for(addr: SocketAddr) -> Client {
    Client::from_server(&format!("http://{addr}")).unwrap()
}

pub fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

/// Waits (up to 10 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next item of `stream`, within 15 s.
pub async fn next_within<S: futures::Stream + Unpin>(stream: &mut S) -> S::Item {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(15), stream.next())
        .await
        .expect("no event within 15 s")
        .expect("the stream ended")
}
