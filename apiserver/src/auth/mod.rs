//! Authentication and authorization.
//!
//! - TLS listeners authenticate every request by bearer token: the admin
//!   token (everything) or a node's own token (`system:node:<name>`, limited
//!   by [`node_restriction`]). No token or an unknown one: 401; a node
//!   asking for more than its own: 403. Health checks, the CA
//!   (`/skiff/v1/cacerts`) and the join endpoint (which checks the join
//!   token itself) are open.
//! - Plain-HTTP listeners (only ever on loopback when [`Security`] is set:
//!   see `ServerConfig`) treat every request as the admin, as before TLS
//!   existed: whoever can reach the machine's loopback is trusted.

mod credentials;
pub(crate) mod join;
pub(crate) mod node_restriction;
pub mod tokens;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use skiff_api::Status;
use skiff_store::Store;

use crate::errors::ApiError;
use crate::tls::{ServerTls, ca_hash};
pub(crate) use credentials::NodeCredentials;

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The admin token, or any request on a plain loopback listener.
    Admin,
    /// `system:node:<name>`: a joined agent.
    Node(String),
}

impl Identity {
    /// The user name Kubernetes would print.
    pub fn user(&self) -> String {
        match self {
            Identity::Admin => "system:admin".into(),
            Identity::Node(n) => format!("system:node:{n}"),
        }
    }
}

/// TLS and tokens of a secured server.
#[derive(Clone)]
pub struct Security {
    pub tls: ServerTls,
    /// Serve TLS (and so require tokens) on loopback listeners too; without
    /// it loopback listeners stay plain HTTP with admin rights for all.
    pub tls_on_loopback: bool,
    /// The admin's bearer token.
    pub admin_token: String,
    /// The secret part of the node join token.
    pub join_secret: String,
    /// What this server presents to node agents (`Authorization: Bearer`)
    /// when it proxies logs and exec to them; joined agents get it in the
    /// join answer (`proxyToken`) and require it.
    pub proxy_token: String,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls_on_loopback", &self.tls_on_loopback)
            .finish_non_exhaustive()
    }
}

/// Under a data dir: the CA and serving certificate.
pub const TLS_DIR: &str = "tls";
/// Under a data dir: the admin token (0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Under a data dir: the node join token, `K10<ca hash>::<secret>` (0600).
pub const NODE_TOKEN_FILE: &str = "node-token";
/// Under a data dir: the token this server presents to node agents (0600).
pub const PROXY_TOKEN_FILE: &str = "proxy-token";

impl Security {
    /// Loads or creates, in `dir`: `tls/` (CA, serving certificate for
    /// `sans`), `admin-token`, `node-token` and `proxy-token`.
    pub fn ensure(dir: &Path, sans: &[String], tls_on_loopback: bool) -> anyhow::Result<Security> {
        let tls = ServerTls::ensure(&dir.join(TLS_DIR), sans)?;
        let admin_token = read_or_create(&dir.join(ADMIN_TOKEN_FILE), |s| s.to_string())?;
        let proxy_token = read_or_create(&dir.join(PROXY_TOKEN_FILE), |s| s.to_string())?;
        let node_token_path = dir.join(NODE_TOKEN_FILE);
        let join_secret = read_or_create(&node_token_path, |s| {
            tokens::join_token(&ca_hash(&tls.ca_pem), s)
        })
        .map(|t| tokens::join_secret(&t).to_string())?;
        let security = Security {
            tls,
            tls_on_loopback,
            admin_token,
            join_secret,
            proxy_token,
        };
        // Keep the pinned hash current (a new CA makes the old one wrong).
        let token = security.join_token();
        if std::fs::read_to_string(&node_token_path)
            .ok()
            .as_deref()
            .map(str::trim)
            != Some(token.as_str())
        {
            crate::tls::certs::write_private(&node_token_path, format!("{token}\n").as_bytes())?;
        }
        Ok(security)
    }

    /// `K10<sha256 of the CA PEM>::<secret>`: what `skiff agent --token` takes.
    pub fn join_token(&self) -> String {
        tokens::join_token(&ca_hash(&self.tls.ca_pem), &self.join_secret)
    }
}

/// The token in `path`, or a new one written there as `render(secret)`.
fn read_or_create(path: &Path, render: impl Fn(&str) -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => anyhow::bail!("{} is empty: remove it to make a new token", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = render(&tokens::random_secret());
            crate::tls::certs::write_private(path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The checks a secured server runs (none without [`Security`]).
pub(crate) struct Authenticator {
    admin_hash: [u8; 32],
    join_hash: [u8; 32],
    pub(crate) ca_pem: String,
    pub(crate) credentials: NodeCredentials,
    /// Handed to joining agents (see [`Security::proxy_token`]).
    pub(crate) proxy_token: String,
}

impl Authenticator {
    pub(crate) fn new(security: &Security, store: Arc<dyn Store>) -> Authenticator {
        Authenticator {
            admin_hash: tokens::hash(&security.admin_token),
            join_hash: tokens::hash(&security.join_secret),
            ca_pem: security.tls.ca_pem.clone(),
            credentials: NodeCredentials::new(store),
            proxy_token: security.proxy_token.clone(),
        }
    }

    /// Who `token` is, or `None` for no one.
    async fn identify(&self, token: &str) -> Result<Option<Identity>, Status> {
        if tokens::constant_time_eq(&self.admin_hash, &tokens::hash(token)) {
            return Ok(Some(Identity::Admin));
        }
        if let Some(name) = tokens::node_of(token)
            && self.credentials.verify(name, token).await?
        {
            return Ok(Some(Identity::Node(name.to_string())));
        }
        Ok(None)
    }

    /// Whether `token` is the join token (or its secret).
    pub(crate) fn is_join_token(&self, token: &str) -> bool {
        tokens::constant_time_eq(&self.join_hash, &tokens::hash(tokens::join_secret(token)))
    }
}

/// Which rules a listener applies; set on each listener's router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenerMode {
    /// Plain HTTP (loopback): every request is the admin.
    Open,
    /// TLS: bearer tokens required.
    Authenticated,
}

/// Paths anyone may call on an authenticated listener.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | join::CACERTS_PATH | join::JOIN_PATH
    )
}

/// The `Bearer` token of a request.
pub(crate) fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(crate) fn unauthorized() -> Status {
    Status::unauthorized("Unauthorized")
}

/// Middleware: puts the request's [`Identity`] in its extensions, or
/// answers 401.
pub(crate) async fn authenticate(
    State(auth): State<Option<Arc<Authenticator>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let mode = req
        .extensions()
        .get::<ListenerMode>()
        .copied()
        .unwrap_or(ListenerMode::Open);
    let identity = match (mode, &auth) {
        (ListenerMode::Open, _) => Identity::Admin,
        (ListenerMode::Authenticated, _) if is_public(req.uri().path()) => {
            return next.run(req).await;
        }
        (ListenerMode::Authenticated, None) => return ApiError(unauthorized()).into_response(),
        (ListenerMode::Authenticated, Some(auth)) => {
            let Some(token) = bearer(&req) else {
                return ApiError(unauthorized()).into_response();
            };
            match auth.identify(token).await {
                Ok(Some(identity)) => identity,
                Ok(None) => return ApiError(unauthorized()).into_response(),
                Err(status) => return ApiError(status).into_response(),
            }
        }
    };
    req.extensions_mut().insert(identity);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_keeps_tokens_and_pins_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let sans = vec!["127.0.0.1".to_string()];
        let a = Security::ensure(dir.path(), &sans, false).unwrap();
        let b = Security::ensure(dir.path(), &sans, false).unwrap();
        assert_eq!(a.admin_token, b.admin_token);
        assert_eq!(a.join_secret, b.join_secret);
        assert_eq!(a.proxy_token, b.proxy_token);
        assert_ne!(a.proxy_token, a.admin_token);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(PROXY_TOKEN_FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let file = std::fs::read_to_string(dir.path().join(NODE_TOKEN_FILE)).unwrap();
        assert_eq!(file.trim(), a.join_token());
        assert!(file.starts_with(&format!("K10{}::", ca_hash(&a.tls.ca_pem))));
        std::fs::write(dir.path().join(ADMIN_TOKEN_FILE), "").unwrap();
        let err = Security::ensure(dir.path(), &sans, false).unwrap_err();
        assert!(err.to_string().contains("admin-token is empty"), "{err}");
    }
}
