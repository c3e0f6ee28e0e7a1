//! The API server's side of `pods/log` and `pods/exec`: requests to the
//! node agent's HTTP API (`/containerLogs/...`, `/exec/...`, see
//! `skiff_agent::server`), streamed through. Plain HTTP to the agent for
//! now (TLS comes with the cluster's certificates); a secured server
//! authenticates every request with its proxy token (see [`credential`]).

mod container_status;
mod credential;
mod exec;
mod logs;
mod relay;
pub mod spdy;
mod url;

use skiff_api::Status;

pub use container_status::check_log_status;
pub use credential::AgentCredential;
pub use exec::{EXEC_PROTOCOLS, exec};
pub use logs::logs;

/// The upgrade a `pods/exec` request offered.
pub enum ClientUpgrade {
    /// kubectl 1.30+: `Upgrade: websocket`.
    WebSocket(axum::extract::ws::WebSocketUpgrade),
    /// kubectl 1.29 and older (and 1.30+'s fallback): `Upgrade: SPDY/3.1`.
    Spdy(hyper::upgrade::OnUpgrade),
}

/// Where a pod's log or exec request has to go.
#[derive(Debug, Clone)]
pub struct AgentTarget {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// Empty while the pod is not scheduled.
    pub node: String,
    /// `host:port` of the node agent, when the Node reports one.
    pub endpoint: Option<String>,
    /// Sent to the agent as `Authorization: Bearer` (a secured server's).
    pub credential: Option<AgentCredential>,
}

impl AgentTarget {
    /// The agent's endpoint (callers checked that there is one).
    fn endpoint(&self) -> Result<&str, Status> {
        self.endpoint
            .as_deref()
            .ok_or_else(|| self.unreachable("this request"))
    }

    /// The answer when the node's agent cannot be reached.
    pub fn unreachable(&self, what: &str) -> Status {
        let at = self
            .endpoint
            .as_deref()
            .map(|e| format!(" at {e}"))
            .unwrap_or_default();
        Status::bad_request(format!(
            "{what} for pod \"{}\" are not available: the node agent of node \"{}\"{at} is not reachable",
            self.pod, self.node
        ))
    }

    /// The answer when connecting to the agent failed.
    fn dial_failed(&self, url: &str, error: impl std::fmt::Display) -> Status {
        Status::service_unavailable(format!(
            "the node agent of node \"{}\" did not answer: {url}: {error}",
            self.node
        ))
    }
}

/// Why an agent answered 401: it wants another credential than the one
/// this server sent. Said as such, not passed on as a 401 (which kubectl
/// would read as the user not being logged in).
pub(crate) const CREDENTIAL_REFUSED: &str = "the node agent refused the API server's proxy token \
     (401 Unauthorized): restart the agent so that it joins again and takes the server's current \
     one (an agent started with an admin kubeconfig requires none)";

/// An error and its causes: `error sending request: ...: Connection refused`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
