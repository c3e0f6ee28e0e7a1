//! How an agent gets its node identity.
//!
//! 1. `GET /skiff/v1/cacerts` (open): the CA, PEM. The agent fetches it
//!    without verifying the server, then checks its sha256 against the
//!    hash in its `K10` join token, and trusts only that CA from then on.
//! 2. `POST /skiff/v1/join` with `Authorization: Bearer <join token>` and
//!    `{"nodeName": "n1"}` (plus `"nodeToken"` when it joined before):
//!    answers `{"nodeName", "token", "caData", "proxyToken"}` (the last:
//!    what the server presents to the agent's HTTP API; the agent requires it). The first join of a name
//!    registers it; later joins must present that node's token, so the join
//!    token alone cannot take over a node that has joined.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use skiff_api::Status;

use super::{bearer, unauthorized};
use crate::errors::{ApiError, ApiResult};
use crate::state::AppState;

pub const CACERTS_PATH: &str = "/skiff/v1/cacerts";
pub const JOIN_PATH: &str = "/skiff/v1/join";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JoinRequest {
    node_name: String,
    #[serde(default)]
    node_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinResponse {
    node_name: String,
    token: String,
    ca_data: String,
    proxy_token: String,
}

pub(crate) async fn cacerts(State(state): State<Arc<AppState>>) -> Response {
    match &state.auth {
        Some(auth) => {
            let mut resp = auth.ca_pem.clone().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            resp
        }
        None => ApiError(Status::path_not_found()).into_response(),
    }
}

pub(crate) async fn join(State(state): State<Arc<AppState>>, req: Request) -> Response {
    match join_node(&state, req).await {
        Ok(r) => crate::handlers::json_response(axum::http::StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

async fn join_node(state: &AppState, req: Request) -> ApiResult<serde_json::Value> {
    let Some(auth) = &state.auth else {
        return Err(Status::path_not_found().into());
    };
    if !bearer(&req).is_some_and(|t| auth.is_join_token(t)) {
        return Err(unauthorized().into());
    }
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|e| Status::bad_request(format!("reading the join request: {e}")))?;
    let join: JoinRequest = serde_json::from_slice(&body).map_err(|e| {
        Status::bad_request(format!(
            "invalid join request: {e}; want {{\"nodeName\": NAME[, \"nodeToken\": TOKEN]}}"
        ))
    })?;
    let name = join.node_name;
    if let Err(why) = valid_node_name(&name) {
        return Err(Status::bad_request(format!("invalid nodeName {name:?}: {why}")).into());
    }
    let token = match join.node_token {
        Some(token) => {
            if !auth.credentials.verify(&name, &token).await? {
                return Err(Status::forbidden(format!(
                    "the node token presented for node {name:?} is not its credential"
                ))
                .into());
            }
            token
        }
        None => match auth.credentials.create(&name).await? {
            Some(token) => {
                tracing::info!(node = %name, "node joined");
                token
            }
            None => {
                return Err(Status::forbidden(format!(
                    "node {name:?} has joined already: its agent must present the node \
                     token it was given (kept under its --root); the join token alone \
                     cannot take over a joined node"
                ))
                .into());
            }
        },
    };
    let answer = JoinResponse {
        node_name: name,
        token,
        ca_data: auth.ca_pem.clone(),
        proxy_token: auth.proxy_token.clone(),
    };
    serde_json::to_value(answer).map_err(|e| ApiError(Status::internal(e.to_string())))
}

/// A DNS subdomain, as Node names are.
fn valid_node_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    let ok = name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if ok {
        Ok(())
    } else {
        Err(
            "must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        assert!(valid_node_name("node-1.lab").is_ok());
        assert!(valid_node_name("Node").is_err());
        assert!(valid_node_name("a:b").is_err());
        assert!(valid_node_name("").is_err());
        assert!(valid_node_name("-a").is_err());
    }
}
