//! Who may call the agent's HTTP API: with a token configured
//! (`AgentConfig::server_token`, the API server's proxy token), only
//! requests carrying `Authorization: Bearer <token>`; everything else gets
//! a 401 `Status`. `/healthz` stays open (it is routed outside this layer).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use skiff_api::Status;

use super::{ServerState, status_response};

/// Middleware: lets the request through when no token is required or it
/// presents the right one.
pub(crate) async fn require_token(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Response {
    match &state.token {
        Some(expected) if !bearer(&req).is_some_and(|t| constant_time_eq(t, expected)) => {
            status_response(Status::unauthorized("Unauthorized"))
        }
        _ => next.run(req).await,
    }
}

/// The `Bearer` token of a request.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Equal without an early exit on the first differing byte, so timing
/// tells nothing about the secret (only its length, which is public: the
/// server's tokens are all 64 hex digits).
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }

    #[test]
    fn bearer_tokens() {
        let req = |v: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(bearer(&req("Bearer s3")), Some("s3"));
        assert_eq!(bearer(&req("bearer  s3 ")), Some("s3"));
        assert_eq!(bearer(&req("Basic s3")), None);
        assert_eq!(bearer(&req("Bearer ")), None);
    }
}
