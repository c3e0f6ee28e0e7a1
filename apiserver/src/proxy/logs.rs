//! `GET .../pods/{name}/log` -> the agent's `/containerLogs/...`, its body
//! streamed through as it comes (so `follow=true` keeps streaming until the
//! container or the server stops).

use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use futures::{StreamExt, TryStreamExt};
use skiff_api::Status;

use super::AgentTarget;
use super::url::agent_url;
use crate::query::Query;
use crate::state::AppState;

/// The log options the agent understands; everything else stays here.
const LOG_PARAMETERS: [&str; 7] = [
    "follow",
    "tailLines",
    "timestamps",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
    "previous",
];

pub async fn logs(
    state: &Arc<AppState>,
    target: &AgentTarget,
    query: &Query,
) -> Result<Response, Status> {
    let url = agent_url(
        "http",
        target.endpoint()?,
        "containerLogs",
        target,
        query,
        &LOG_PARAMETERS,
    );
    let mut request = http_client().get(&url);
    if let Some(credential) = &target.credential {
        request = request.header(header::AUTHORIZATION, credential.authorization());
    }
    let resp = request
        .send()
        .await
        .map_err(|e| target.dial_failed(&url, super::error_chain(&e)))?;
    let code = resp.status();
    if code == reqwest::StatusCode::UNAUTHORIZED {
        return Err(target.dial_failed(&url, super::CREDENTIAL_REFUSED));
    }
    if !code.is_success() {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(agent_status(code.as_u16(), &body));
    }
    let mut shutdown = state.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let stream = resp
        .bytes_stream()
        .map_err(std::io::Error::other)
        .take_until(stopped);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(stream))
        .expect("static headers are valid"))
}

/// The agent's error answer as a `Status`: its own when it sent one.
pub fn agent_status(code: u16, body: &[u8]) -> Status {
    match serde_json::from_slice::<Status>(body) {
        Ok(s) if !s.message.is_empty() => s,
        _ => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            let mut s = Status::internal(format!("the node agent answered {code}: {text}"));
            s.code = code;
            s
        }
    }
}

/// One HTTP client for every request to agents (connections are reused).
fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        install_crypto_provider();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds")
    })
}

/// reqwest is built without a crypto provider; ring's, once per process.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err: another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_errors_become_statuses() {
        let body = serde_json::to_vec(&Status::bad_request(
            "previous terminated container \"c\" in pod \"p\" not found",
        ))
        .unwrap();
        let s = agent_status(400, &body);
        assert_eq!(
            (s.code, s.message.as_str()),
            (
                400,
                "previous terminated container \"c\" in pod \"p\" not found"
            )
        );
        let s = agent_status(502, b"bad gateway\n");
        assert_eq!(s.code, 502);
        assert!(s.message.contains("bad gateway"));
    }
}
