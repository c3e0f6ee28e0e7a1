//! The node agent's HTTP API, on the kubelet's routes (port 10250 by
//! default): what the API server proxies `pods/log` and `pods/exec` to.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | `ok` |
//! | `GET /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&timestamps=&sinceSeconds=&sinceTime=&limitBytes=&previous=` | `text/plain`, chunked while following |
//! | `GET /exec/{ns}/{pod}/{container}?command=..&stdin=&stdout=&stderr=&tty=` | WebSocket, `v5.channel.k8s.io` or `v4.channel.k8s.io` (see [`channel`]) |
//! | `GET /stats/{ns}/{pod}/{container}` | CPU and memory use, JSON |
//!
//! One server serves every node of an engine: a single agent, or a whole
//! hollow fleet (routes find the pod on whichever node runs it). Errors
//! are Kubernetes `Status` objects, so the API server can pass them on.
//! Plain HTTP for now. With a token (`AgentConfig::server_token`) every
//! route but `/healthz` needs `Authorization: Bearer <token>` (401
//! otherwise, see [`auth`]).

// `Status` (the error every request can end in) is large; it is built only
// on the failure path, where its size does not matter.
#![allow(clippy::result_large_err)]

mod auth;
pub mod channel;
mod exec;
mod locate;
mod logs;
mod query;
mod stats;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use skiff_api::Status;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::runtime::RuntimeError;

pub use exec::ExecParams;

/// What every handler shares.
pub(crate) struct ServerState {
    /// Weak: the server must not keep a stopped agent's engine alive.
    engine: Weak<Engine>,
    stop: watch::Receiver<bool>,
    /// The bearer token every request but `/healthz` must present.
    token: Option<String>,
}

impl ServerState {
    fn engine(&self) -> Result<Arc<Engine>, Status> {
        self.engine
            .upgrade()
            .filter(|e| !e.is_shut_down())
            .ok_or_else(|| Status::service_unavailable("the node agent is shutting down"))
    }

    /// Resolves when the server stops: open streams end then.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }
}

/// A running agent HTTP server. Dropping it stops it (as
/// [`shutdown`](Self::shutdown) does, without waiting).
pub struct AgentServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AgentServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServer")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl AgentServer {
    /// Binds `addr` and serves the engine's nodes; with `token`, only to
    /// requests that present it.
    pub(crate) async fn start(
        addr: SocketAddr,
        engine: &Arc<Engine>,
        token: Option<String>,
    ) -> anyhow::Result<AgentServer> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("binding the agent's HTTP server to {addr}: {e}"))?;
        let local_addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let state = Arc::new(ServerState {
            engine: Arc::downgrade(engine),
            stop: stop_rx,
            token,
        });
        let stopped = state.stopped();
        let app = router(state);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the agent's HTTP server failed");
            }
        });
        tracing::info!(%local_addr, "agent HTTP server listening");
        Ok(AgentServer {
            local_addr,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, ends open log streams and exec sessions, and waits.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(logs::container_logs),
        )
        .route(
            "/exec/{namespace}/{pod}/{container}",
            get(exec::exec).post(exec::exec),
        )
        .route(
            "/stats/{namespace}/{pod}/{container}",
            get(stats::container_stats),
        )
        // Unmatched paths too: without the token, not even a 404.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
        .route("/healthz", get(|| async { "ok" }))
}

/// A `Status` as the response, its code as the HTTP status.
fn status_response(status: Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&status).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A runtime's failure about `container` of `pod`, as a `Status`.
fn runtime_status(e: &RuntimeError, container: &str, pod: &str) -> Status {
    match e {
        RuntimeError::NotFound(_) => Status::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is gone: {e}"
        )),
        RuntimeError::Unsupported(_) | RuntimeError::InvalidConfig(_) => {
            Status::bad_request(e.to_string())
        }
        _ => Status::internal(format!("container \"{container}\" in pod \"{pod}\": {e}")),
    }
}
