//! An API server for tests and tools: an embedded SQLite store in its own
//! temp dir, on a free loopback port (the counterpart of
//! `skiff_store::testing::EtcdServer`).

use std::sync::Arc;

use anyhow::Context;
use skiff_store::sqlite::SqliteStore;

use crate::{RunningServer, ServerConfig, start};

/// A running server, its URL, and the directory its store lives in
/// (removed when dropped: keep it as long as the server).
pub struct EmbeddedServer {
    pub server: RunningServer,
    /// `http://127.0.0.1:PORT` (`https://` when TLS is forced on loopback).
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// Starts a server on SQLite in a fresh temp dir; `configure` may change
/// the config first (garbage collector, faults, ...).
pub async fn start_embedded(
    configure: impl FnOnce(&mut ServerConfig),
) -> anyhow::Result<EmbeddedServer> {
    let dir = tempfile::tempdir().context("creating the server's temp dir")?;
    let store = SqliteStore::open(&dir.path().join("state.db")).context("opening SQLite")?;
    let mut config = ServerConfig::new("127.0.0.1:0".parse()?, Arc::new(store));
    configure(&mut config);
    // A secured config with TLS on loopback serves https.
    let tls = config.security.as_ref().is_some_and(|s| s.tls_on_loopback);
    let server = start(config).await.context("starting the API server")?;
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", server.local_addr());
    Ok(EmbeddedServer { server, url, dir })
}
