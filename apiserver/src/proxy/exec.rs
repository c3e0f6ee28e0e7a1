//! `GET .../pods/{name}/exec` with a WebSocket upgrade: kubectl's socket
//! is accepted with the subprotocol it offered (v5, else v4), a socket to
//! the agent's `/exec/...` is opened with that same subprotocol, and
//! frames are relayed both ways unchanged (see [`super::relay`]).

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use skiff_api::Status;

use super::AgentTarget;
use super::relay;
use super::url::agent_url;
use crate::query::Query;
use crate::state::AppState;

/// The remote-command subprotocols relayed, best first.
pub const EXEC_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// The exec options the agent understands.
const EXEC_PARAMETERS: [&str; 5] = ["command", "stdin", "stdout", "stderr", "tty"];

pub fn exec(
    state: &Arc<AppState>,
    target: AgentTarget,
    query: &Query,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Status> {
    let upgrade = upgrade.protocols(EXEC_PROTOCOLS);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Status::bad_request(format!(
                "exec needs the WebSocket subprotocol {} or {}",
                EXEC_PROTOCOLS[0], EXEC_PROTOCOLS[1]
            ))
        })?;
    let url = exec_url(&target, query)?;
    let shutdown = state.shutdown.clone();
    Ok(upgrade.on_upgrade(move |client| async move {
        relay::run(client, &url, &protocol, &target, shutdown).await;
    }))
}

/// The agent's WebSocket exec endpoint for `target`, with only the exec
/// options of `query` (both the WebSocket and the SPDY relay dial it).
pub(super) fn exec_url(target: &AgentTarget, query: &Query) -> Result<String, Status> {
    Ok(agent_url(
        "ws",
        target.endpoint()?,
        "exec",
        target,
        query,
        &EXEC_PARAMETERS,
    ))
}
