//! `POST .../pods/{name}/exec` with `Upgrade: SPDY/3.1`: how kubectl 1.27
//! to 1.29 exec (and 1.30+ after a failed WebSocket attempt). The API
//! server answers `101` with `X-Stream-Protocol-Version: v4.channel.k8s.io`,
//! speaks SPDY/3.1 to kubectl and relays to the agent's WebSocket exec
//! (see [`session`]).

mod dictionary;
mod frame;
mod headers;
mod session;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use skiff_api::Status;

use super::AgentTarget;
use crate::query::Query;
use crate::state::AppState;

/// The remote-command protocol spoken over SPDY.
const PROTOCOL: &str = "v4.channel.k8s.io";

/// `Upgrade: SPDY/3.1` asked for.
pub fn is_spdy_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("SPDY/3.1"))
}

pub fn exec(
    state: &Arc<AppState>,
    target: AgentTarget,
    query: &Query,
    headers: &HeaderMap,
    upgrade: OnUpgrade,
) -> Result<Response, Status> {
    let offered: Vec<&str> = headers
        .get_all("X-Stream-Protocol-Version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if !offered.contains(&PROTOCOL) {
        return Err(Status::bad_request(format!(
            "exec over SPDY needs the stream protocol {PROTOCOL}; offered: [{}]",
            offered.join(", ")
        )));
    }
    let expected = session::Expected {
        stdin: query.flag("stdin")?,
        stdout: query.flag("stdout")?,
        stderr: query.flag("stderr")?,
        tty: query.flag("tty")?,
    };
    let url = super::exec::exec_url(&target, query)?;
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                session::serve(TokioIo::new(upgraded), expected, url, target, shutdown).await
            }
            Err(e) => tracing::debug!(error = %e, "SPDY exec: the upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", PROTOCOL)
        .body(Body::empty())
        .expect("static headers are valid"))
}
