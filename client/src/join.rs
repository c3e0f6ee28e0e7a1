//! Joining a node to a secured server with a `K10<ca sha256>::<secret>`
//! join token (the server's `<data-dir>/node-token`):
//!
//! 1. [`fetch_ca`]: `GET /skiff/v1/cacerts` without verifying the server
//!    (there is nothing to verify it with yet), then accept the CA only if
//!    its sha256 is the hash in the token: a server that is not the one the
//!    token came from is refused here.
//! 2. [`join`]: `POST /skiff/v1/join` over TLS verified with that CA; the
//!    answer is the node's own token (`system:node:<name>`).
//!
//! The node keeps its credential (a kubeconfig) and presents its token on
//! later joins: the server refuses a second join of a name without it.

use std::time::Duration;

use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::client::status_from_response;
use crate::error::{Error, Result};
use crate::kubeconfig::Kubeconfig;

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// sha256 of the CA's PEM text, lower-case hex.
    pub ca_hash: String,
    pub secret: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_hash", &self.ca_hash)
            .finish_non_exhaustive()
    }
}

impl JoinToken {
    pub fn parse(text: &str) -> Result<JoinToken> {
        let bad = |why: &str| {
            Error::Config(format!(
                "invalid join token: {why}; want K10<sha256 of the CA>::<secret>, as in the \
                 server's <data-dir>/node-token"
            ))
        };
        let rest = text
            .trim()
            .strip_prefix("K10")
            .ok_or_else(|| bad("no K10 prefix"))?;
        let (hash, secret) = rest.split_once("::").ok_or_else(|| bad("no '::'"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the CA hash is not 64 hex digits"));
        }
        if secret.is_empty() {
            return Err(bad("the secret is empty"));
        }
        Ok(JoinToken {
            ca_hash: hash.to_ascii_lowercase(),
            secret: secret.to_string(),
        })
    }

    /// The token's text form.
    pub fn text(&self) -> String {
        format!("K10{}::{}", self.ca_hash, self.secret)
    }
}

/// What a join hands a node.
#[derive(Clone)]
pub struct NodeCredential {
    pub node_name: String,
    /// `node:<name>:<secret>`: the node's bearer token.
    pub token: String,
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// What the API server presents to this node's agent HTTP API (which
    /// then requires it); `None` from a server that sends none.
    pub proxy_token: Option<String>,
}

impl std::fmt::Debug for NodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredential")
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

impl NodeCredential {
    /// A kubeconfig for `server` as this node.
    pub fn kubeconfig(&self, server: &str) -> Kubeconfig {
        Kubeconfig::single(server, Some(&self.ca_pem), Some(&self.token))
    }
}

fn https_base(server: &str) -> Result<String> {
    let base = server.trim_end_matches('/');
    if !base.starts_with("https://") {
        return Err(Error::Config(format!(
            "joining needs an https server URL (tokens never go over plain http), got {server:?}"
        )));
    }
    Ok(base.to_string())
}

fn builder() -> reqwest::ClientBuilder {
    crate::client::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("skiff-join/v", env!("CARGO_PKG_VERSION")))
}

fn authority(base: &str) -> String {
    base.trim_start_matches("https://").to_string()
}

/// The server's CA, accepted only when it matches `token`'s hash.
pub async fn fetch_ca(server: &str, token: &JoinToken) -> Result<String> {
    let base = https_base(server)?;
    let http = builder()
        // Nothing to verify with yet: the hash check below is the verification.
        .tls_danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
    let resp = http
        .get(format!("{base}/skiff/v1/cacerts"))
        .send()
        .await
        .map_err(|e| Error::transport(e, &authority(&base)))?;
    let code = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| Error::transport(e, &authority(&base)))?;
    if code != StatusCode::OK {
        return Err(Error::Api(Box::new(status_from_response(code, &body))));
    }
    let got: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got != token.ca_hash {
        return Err(Error::Config(format!(
            "the CA of {base} (sha256 {got}) is not the one the join token pins ({}): \
             wrong server, or a machine in between",
            token.ca_hash
        )));
    }
    String::from_utf8(body.to_vec()).map_err(|_| Error::Decode("the CA is not PEM text".into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinAnswer {
    node_name: String,
    token: String,
    ca_data: String,
    #[serde(default)]
    proxy_token: Option<String>,
}

/// Joins `node_name` (presenting `existing`, its token from an earlier
/// join, if it has one), over TLS verified with `ca_pem`.
pub async fn join(
    server: &str,
    ca_pem: &str,
    token: &JoinToken,
    node_name: &str,
    existing: Option<&str>,
) -> Result<NodeCredential> {
    let base = https_base(server)?;
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
        .map_err(|e| Error::Config(format!("the cluster CA: {e}")))?;
    let http = builder()
        .tls_certs_only([ca])
        .build()
        .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
    let mut body = json!({ "nodeName": node_name });
    if let Some(t) = existing {
        body["nodeToken"] = json!(t);
    }
    let resp = http
        .post(format!("{base}/skiff/v1/join"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token.secret))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Error::transport(e, &authority(&base)))?;
    let code = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::transport(e, &authority(&base)))?;
    if !code.is_success() {
        return Err(Error::Api(Box::new(status_from_response(code, &bytes))));
    }
    let answer: JoinAnswer =
        serde_json::from_slice(&bytes).map_err(|e| Error::decode("the join answer", e))?;
    if answer.node_name != node_name {
        return Err(Error::Decode(format!(
            "asked to join as {node_name:?}, the server answered for {:?}",
            answer.node_name
        )));
    }
    Ok(NodeCredential {
        node_name: answer.node_name,
        token: answer.token,
        ca_pem: answer.ca_data,
        proxy_token: answer.proxy_token.filter(|t| !t.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse() {
        let hash = "a".repeat(64);
        let t = JoinToken::parse(&format!("K10{hash}::s3cret\n")).unwrap();
        assert_eq!(
            (t.ca_hash.as_str(), t.secret.as_str()),
            (hash.as_str(), "s3cret")
        );
        assert_eq!(t.text(), format!("K10{hash}::s3cret"));
        for bad in [
            "s3cret",
            "K10abc::x",
            &format!("K10{hash}::"),
            &format!("K10{hash}"),
        ] {
            let e = JoinToken::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid join token"), "{bad}: {e}");
        }
    }

    #[test]
    fn plain_http_is_refused() {
        let e = https_base("http://127.0.0.1:6443").unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }
}
