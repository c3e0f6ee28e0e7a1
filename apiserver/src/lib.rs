//! skiff-apiserver: the Kubernetes API over HTTP, per `DESIGN.md` and
//! `kubectl-wire.md`. REST handlers over one [`Store`], a watch cache that
//! shares one store watch per kind among all clients, discovery, OpenAPI and
//! metrics.
//!
//! Listeners are plain HTTP, or TLS with bearer-token authentication when
//! [`ServerConfig::security`] is set (see [`auth`] and [`tls`]).

// `Status` (the error every request can end in) is large; it is built only
// on the failure path, where its size does not matter.
#![allow(clippy::result_large_err)]

mod allocators;
pub mod auth;
mod body;
mod continue_token;
mod discovery;
mod errors;
mod faults;
mod filter;
mod handlers;
mod health;
mod kinds;
mod metrics;
mod namespaces;
mod negotiate;
mod openapi;
mod proxy;
mod query;
mod registry;
mod routes;
mod state;
pub mod testing;
pub mod tls;
mod value;
mod version;
mod watch_cache;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use skiff_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::allocators::Allocators;
use crate::errors::{ApiError, method_not_allowed};
use crate::metrics::{InstrumentedStore, Metrics};
use crate::registry::Registry;
use crate::state::{AppState, Settings};
use crate::watch_cache::{CacheSettings, WatchCache};

pub use crate::auth::{Identity, Security};
pub use crate::faults::{FAULT_HEADER, Faults, WriteFilter, WriteVerb};
pub use crate::tls::ServerTls;

/// How the API server runs.
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// More addresses to serve the same API on (a lab's namespace address
    /// beside loopback, ...).
    pub extra_listen: Vec<SocketAddr>,
    /// TLS and tokens. `None`: every listener is plain HTTP and
    /// unauthenticated (tests, loopback-only servers). `Some`: listeners on
    /// non-loopback addresses (and on loopback with `tls_on_loopback`)
    /// serve TLS and require a token; plain loopback listeners stay open.
    pub security: Option<Security>,
    pub store: Arc<dyn Store>,
    /// Service cluster IPs come from here (IPv4).
    pub service_cidr: String,
    /// NodePort Services get ports from this inclusive range.
    pub node_port_range: (u16, u16),
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    pub compaction_interval: Duration,
    /// Store history kept by compaction (for watches resuming from a revision).
    pub compaction_keep_revisions: i64,
    /// Whether a garbage collector runs: only then do `Orphan` and
    /// `Foreground` deletions add the `orphan`/`foregroundDeletion`
    /// finalizers (without one they would never be removed).
    pub garbage_collector: bool,
    /// Fault injection for tests (see [`Faults`]); `None` in production.
    pub faults: Option<Arc<Faults>>,
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, store: Arc<dyn Store>) -> ServerConfig {
        ServerConfig {
            listen,
            extra_listen: Vec::new(),
            security: None,
            store,
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: (30000, 32767),
            max_body_bytes: 3 * 1024 * 1024,
            compaction_interval: Duration::from_secs(60),
            compaction_keep_revisions: 10_000,
            garbage_collector: false,
            faults: None,
        }
    }
}

/// A started server. Dropping it stops the server too (as [`shutdown`]
/// does, without waiting).
///
/// [`shutdown`]: RunningServer::shutdown
pub struct RunningServer {
    local_addr: SocketAddr,
    local_addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    compactor: AbortOnDrop,
}

/// A background task that ends with its owner.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RunningServer {
    /// The address it listens on (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every address it listens on, `listen` first, then `extra_listen`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Stops accepting, ends open watches, finishes in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        drop(self.compactor);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "API server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "API server task failed"),
        }
    }

    /// Runs until the server stops.
    pub async fn wait(self) -> anyhow::Result<()> {
        let RunningServer {
            shutdown,
            server,
            compactor,
            ..
        } = self;
        let result = server.await;
        drop(compactor);
        // Held until here: dropping it is what tells everything to stop.
        drop(shutdown);
        result
            .context("API server task failed")?
            .context("serving HTTP")
    }
}

/// Binds, creates the default namespaces, starts the watch cache and the
/// compactor, and serves.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(
        config.store.clone(),
        metrics.clone(),
    ));
    let allocators = Allocators::new(&config.service_cidr, config.node_port_range)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let registry = Registry::new(
        store.clone(),
        allocators,
        config.garbage_collector,
        shutdown_rx.clone(),
    );
    namespaces::ensure_defaults(&registry)
        .await
        .map_err(|s| anyhow::anyhow!("creating the default namespaces: {}", s.message))?;
    namespaces::resume_terminating(&registry)
        .await
        .map_err(|s| anyhow::anyhow!("resuming namespace deletion: {}", s.message))?;

    let mut listeners = Vec::new();
    for addr in std::iter::once(config.listen).chain(config.extra_listen.iter().copied()) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        listeners.push(listener);
    }
    let local_addr = listeners[0].local_addr()?;
    let watch_cache = WatchCache::new(store.clone(), CacheSettings::default(), shutdown_rx.clone());
    // Creates check their namespace against the namespaces' watch cache.
    let namespace_view = watch_cache
        .kind(&skiff_api::core::NAMESPACES)
        .await
        .map_err(|s| anyhow::anyhow!("starting the namespace cache: {}", s.message))?;
    registry.set_namespace_view(namespace_view);
    let state = Arc::new(AppState {
        watch_cache,
        registry,
        metrics: metrics.clone(),
        settings: Settings {
            server_address: local_addr.to_string(),
            max_body_bytes: config.max_body_bytes,
            bookmark_interval: Duration::from_secs(10),
        },
        shutdown: shutdown_rx.clone(),
        faults: config.faults.clone(),
        auth: config
            .security
            .as_ref()
            .map(|s| Arc::new(auth::Authenticator::new(s, store.clone()))),
        agent_credential: config
            .security
            .as_ref()
            .map(|s| proxy::AgentCredential::new(&s.proxy_token)),
    });
    let compactor = AbortOnDrop(skiff_store::compactor::spawn_compactor(
        store.clone(),
        config.compaction_interval,
        config.compaction_keep_revisions,
    ));
    let app = router(state);
    let mut serving = Vec::new();
    let mut local_addrs = Vec::new();
    for listener in listeners {
        let addr = listener.local_addr()?;
        local_addrs.push(addr);
        let tls = config
            .security
            .as_ref()
            .filter(|s| s.tls_on_loopback || !addr.ip().is_loopback());
        let (mode, scheme) = match tls {
            Some(_) => (auth::ListenerMode::Authenticated, "https"),
            None => (auth::ListenerMode::Open, "http"),
        };
        let app = app.clone().layer(axum::Extension(mode));
        let shutdown = shutdown_rx.clone();
        serving.push(match tls {
            Some(s) => {
                let tls = tls::TlsListener::new(listener, s.tls.config.clone())?;
                tokio::spawn(serve(tls, app, shutdown))
            }
            None => tokio::spawn(serve(listener, app, shutdown)),
        });
        tracing::info!(address = %addr, scheme, "API server listening");
    }
    let server = tokio::spawn(async move {
        for result in futures::future::join_all(serving).await {
            result.map_err(std::io::Error::other)??;
        }
        Ok(())
    });
    Ok(RunningServer {
        local_addr,
        local_addrs,
        shutdown: shutdown_tx,
        server,
        compactor,
    })
}

/// Every route. Resource paths are parsed by [`routes`] from the resource
/// table, so they all go to one dispatcher.
fn router(state: Arc<AppState>) -> Router {
    let metrics = state.metrics.clone();
    let authenticator = state.auth.clone();
    let faults = state.faults.clone();
    let router = Router::new()
        .route("/version", get(version::version))
        .route("/healthz", get(health::live))
        .route("/livez", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*path}", get(openapi::v3_document))
        .route(auth::join::CACERTS_PATH, get(auth::join::cacerts))
        .route(auth::join::JOIN_PATH, axum::routing::post(auth::join::join))
        .fallback(handlers::dispatch)
        .method_not_allowed_fallback(|| async { ApiError(method_not_allowed()) })
        .with_state(state);
    // Only a test server pays for fault injection.
    let router = match faults {
        Some(f) => router.layer(axum::middleware::from_fn_with_state(f, faults::inject)),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            authenticator,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Serves HTTP/1.1 and HTTP/2 until `shutdown` turns true.
async fn serve<L>(
    listener: L,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
