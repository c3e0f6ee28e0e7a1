//! The HTTP client: one connection pool per cluster, kubeconfig TLS and
//! credentials, and raw request helpers. Every non-2xx answer becomes
//! [`Error::Api`] with the server's `Status` (or one made up from the HTTP
//! code, as client-go does when the body is not a Status).

use std::pin::Pin;
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use http::{HeaderValue, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use skiff_api::Status;

use crate::error::{Error, Result};
use crate::kubeconfig::{ClusterConfig, DEFAULT_SERVER, Kubeconfig};

/// `Accept` for server-side printing: a Table, else the plain object.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";
pub const CONTENT_JSON: &str = "application/json";

/// A response body as it arrives. `Sync` too, so that a struct holding one
/// can be borrowed across an `.await` in a spawned task.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + Sync>>;

/// One request to the API server, built up before it is sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Absolute path without the query: `/apis/apps/v1/namespaces/default/deployments`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            content_type: None,
            accept: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>, body: &Value) -> Request {
        Request::new(Method::POST, path).json_body(body)
    }

    pub fn put(path: impl Into<String>, body: &Value) -> Request {
        Request::new(Method::PUT, path).json_body(body)
    }

    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path)
    }

    /// A PATCH with the body and `Content-Type` of `patch`.
    pub fn patch(path: impl Into<String>, patch: &crate::params::Patch) -> Request {
        let mut r = Request::new(Method::PATCH, path);
        r.body = Some(patch.body().to_string().into_bytes());
        r.content_type = Some(patch.content_type().to_string());
        r
    }

    pub fn json_body(mut self, body: &Value) -> Request {
        self.body = Some(body.to_string().into_bytes());
        self.content_type = Some(CONTENT_JSON.to_string());
        self
    }

    pub fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.to_string(), value.into()));
        self
    }

    pub fn queries(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Request {
        self.query.extend(pairs);
        self
    }

    pub fn accept(mut self, accept: impl Into<String>) -> Request {
        self.accept = Some(accept.into());
        self
    }
}

/// A handle on one API server; cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// Called with the text of each `Warning` header the server sends.
pub type WarningHandler = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Inner {
    http: reqwest::Client,
    server: String,
    /// `host:port`, for messages.
    authority: String,
    /// Only set for https servers: kubectl never sends credentials in clear.
    token: Option<String>,
    namespace: String,
    warnings: Option<WarningHandler>,
    /// The kubeconfig's CA and `insecure-skip-tls-verify`, for connections
    /// made outside reqwest (WebSocket exec: see [`crate::websocket`]).
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) insecure_skip_tls_verify: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.server)
            .field("namespace", &self.inner.namespace)
            .finish()
    }
}

/// reqwest is built without a crypto provider; install ring's once per process.
pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Finds the kubeconfig (`--kubeconfig` path, `KUBECONFIG`, `~/.kube/config`)
/// and resolves `context` (or the current context). With no kubeconfig at
/// all, [`DEFAULT_SERVER`] without credentials.
pub fn load_config(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<ClusterConfig> {
    match Kubeconfig::load(kubeconfig)? {
        Some(cfg) => cfg.resolve(context),
        None if context.is_some() => Err(Error::Config(format!(
            "context was not found for specified context: {}",
            context.unwrap_or_default()
        ))),
        None => Ok(ClusterConfig::from_server(DEFAULT_SERVER)),
    }
}

impl Client {
    /// A client for the cluster `config` describes.
    pub fn new(config: ClusterConfig) -> Result<Client> {
        install_crypto_provider();
        let url = reqwest::Url::parse(&config.server)
            .map_err(|e| Error::Config(format!("invalid server URL {:?}: {e}", config.server)))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::Config(format!(
                    "unsupported scheme {other:?} in server URL {:?}",
                    config.server
                )));
            }
        };
        let authority = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => config.server.clone(),
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("skiff/v", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30));
        if https {
            if let Some(pem) = &config.ca_pem {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| Error::Config(format!("certificate-authority: {e}")))?;
                builder = builder.tls_certs_only(certs);
            }
            if config.insecure_skip_tls_verify {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
            if let Some(pem) = &config.identity_pem {
                let id = reqwest::Identity::from_pem(pem)
                    .map_err(|e| Error::Config(format!("client certificate: {e}")))?;
                builder = builder.identity(id);
            }
            if let Some(name) = &config.tls_server_name {
                // Connect to the URL's address but verify the certificate for `name`.
                let port = url.port_or_known_default().unwrap_or(443);
                if let Some(host) = url.host_str() {
                    let addrs: Vec<std::net::SocketAddr> =
                        std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                            .map(|a| a.collect())
                            .unwrap_or_default();
                    builder = builder.resolve_to_addrs(name, &addrs);
                }
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
        let mut server = config.server.trim_end_matches('/').to_string();
        if let (true, Some(name)) = (https, &config.tls_server_name) {
            let port = url.port_or_known_default().unwrap_or(443);
            server = format!("https://{name}:{port}");
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                server,
                authority,
                token: config.token.filter(|t| https && !t.is_empty()),
                namespace: config.namespace.unwrap_or_else(|| "default".into()),
                warnings: None,
                ca_pem: config.ca_pem,
                insecure_skip_tls_verify: config.insecure_skip_tls_verify,
            }),
        })
    }

    /// A plain client for `server` (`http://127.0.0.1:6443`), no credentials.
    pub fn from_server(server: &str) -> Result<Client> {
        Client::new(ClusterConfig::from_server(server))
    }

    /// The client kubectl would build: kubeconfig lookup, current context.
    pub fn try_default() -> Result<Client> {
        Client::new(load_config(None, None)?)
    }

    /// Hands every server warning (`Warning: 299 - "..."` headers, e.g. unknown
    /// fields with `fieldValidation=Warn`) to `handler`; kubectl prints them.
    pub fn with_warning_handler(
        mut self,
        handler: impl Fn(&str) + Send + Sync + 'static,
    ) -> Client {
        Arc::make_mut(&mut self.inner).warnings = Some(Arc::new(handler));
        self
    }

    /// `http://127.0.0.1:6443`.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// `127.0.0.1:6443`, as kubectl names the server in connection errors.
    pub fn authority(&self) -> &str {
        &self.inner.authority
    }

    /// The bearer token sent with every request (https servers only).
    pub fn token(&self) -> Option<&str> {
        self.inner.token.as_deref()
    }

    /// The context's namespace, else `default`.
    pub fn default_namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Sends `req`; a non-2xx answer is turned into [`Error::Api`].
    pub async fn send(&self, req: Request) -> Result<reqwest::Response> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.inner.server, req.path))
            .map_err(|e| Error::Config(format!("invalid request path {:?}: {e}", req.path)))?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&req.query);
        }
        let mut builder = self.inner.http.request(req.method.clone(), url);
        let accept = req.accept.as_deref().unwrap_or("application/json, */*");
        builder = builder.header(header::ACCEPT, accept);
        if let Some(token) = &self.inner.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Error::Config("the token contains invalid characters".into()))?;
            builder = builder.header(header::AUTHORIZATION, value);
        }
        if let Some(body) = req.body {
            let ct = req.content_type.as_deref().unwrap_or(CONTENT_JSON);
            builder = builder.header(header::CONTENT_TYPE, ct).body(body);
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| Error::transport(e, &self.inner.authority))?;
        if let Some(handler) = &self.inner.warnings {
            for value in resp.headers().get_all(header::WARNING) {
                if let Ok(text) = value.to_str() {
                    handler(&warning_text(text));
                }
            }
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::transport(e, &self.inner.authority))?;
        Err(Error::Api(Box::new(status_from_response(status, &body))))
    }

    /// Sends `req` and decodes the JSON answer.
    pub async fn json(&self, req: Request) -> Result<Value> {
        self.typed(req).await
    }

    /// Sends `req` and decodes the JSON answer as `T`.
    pub async fn typed<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let what = format!("{} {}", req.method, req.path);
        let resp = self.send(req).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::transport(e, &self.inner.authority))?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::decode(&format!("the answer to {what}"), e))
    }

    /// Sends `req` and returns the body as text (logs).
    pub async fn text(&self, req: Request) -> Result<String> {
        let resp = self.send(req).await?;
        resp.text()
            .await
            .map_err(|e| Error::transport(e, &self.inner.authority))
    }

    /// Sends `req` and returns the body as it arrives (watches, `logs -f`).
    pub async fn stream(&self, req: Request) -> Result<ByteStream> {
        let resp = self.send(req).await?;
        let authority = self.inner.authority.clone();
        Ok(Box::pin(
            resp.bytes_stream()
                .map_err(move |e| Error::transport(e, &authority)),
        ))
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Value> {
        self.json(Request::get("/version")).await
    }
}

/// The text of a `Warning` header: `299 - "unknown field \"x\""` -> `unknown field "x"`.
pub fn warning_text(header: &str) -> String {
    let mut parts = header.splitn(3, ' ');
    let (Some(code), Some(_agent), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
        return header.to_string();
    };
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return header.to_string();
    }
    let Some(quoted) = text.trim().strip_prefix('"') else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => break,
            other => out.push(other),
        }
    }
    out
}

/// The `Status` a non-2xx answer carries, or the one client-go would make
/// from a bare HTTP code.
pub fn status_from_response(code: StatusCode, body: &[u8]) -> Status {
    if let Ok(mut s) = serde_json::from_slice::<Status>(body) {
        let looks_like_status = s.kind == "Status" && (!s.status.is_empty() || s.code != 0);
        if looks_like_status {
            if s.code == 0 {
                s.code = code.as_u16();
            }
            return s;
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    let (reason, message) = match code.as_u16() {
        400 => ("BadRequest", "the server rejected our request for an unknown reason".to_string()),
        401 => ("Unauthorized", "the server has asked for the client to provide credentials".to_string()),
        403 => ("Forbidden", if text.is_empty() { "forbidden".to_string() } else { text.clone() }),
        404 => ("NotFound", "the server could not find the requested resource".to_string()),
        405 => ("MethodNotAllowed", "the server does not allow this method on the requested resource".to_string()),
        409 => ("Conflict", "the server reported a conflict".to_string()),
        410 => ("Expired", "the requested resource version is no longer available".to_string()),
        422 => ("Invalid", "the server rejected our request due to an error in our request".to_string()),
        429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".to_string()),
        500 => ("InternalError", format!("an error on the server ({text:?}) has prevented the request from succeeding")),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request".to_string()),
        504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request".to_string()),
        c => ("", format!("the server responded with the status code {c} but did not return more information")),
    };
    Status {
        kind: "Status".into(),
        api_version: "v1".into(),
        metadata: Default::default(),
        status: "Failure".into(),
        message,
        reason: reason.to_string(),
        details: None,
        code: code.as_u16(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_are_decoded() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#;
        let s = status_from_response(StatusCode::NOT_FOUND, body);
        assert_eq!(s.message, "pods \"x\" not found");
        assert!(s.is_not_found());
    }

    #[test]
    fn bare_codes_get_client_go_messages() {
        let s = status_from_response(StatusCode::NOT_FOUND, b"404 page not found");
        assert_eq!(s.reason, "NotFound");
        assert_eq!(
            s.message,
            "the server could not find the requested resource"
        );
        let s = status_from_response(StatusCode::INTERNAL_SERVER_ERROR, b"boom");
        assert_eq!(s.code, 500);
        assert!(s.message.contains("\"boom\""), "{}", s.message);
        // JSON that is not a Status is not mistaken for one.
        let s = status_from_response(StatusCode::CONFLICT, br#"{"kind":"Pod"}"#);
        assert_eq!(s.reason, "Conflict");
    }

    #[test]
    fn warning_headers() {
        assert_eq!(
            warning_text(r#"299 - "unknown field \"spec.foo\"""#),
            r#"unknown field "spec.foo""#
        );
        assert_eq!(warning_text("plain text"), "plain text");
    }

    #[test]
    fn tokens_never_go_over_http() {
        let mut cfg = ClusterConfig::from_server("http://127.0.0.1:1");
        cfg.token = Some("t".into());
        let c = Client::new(cfg.clone()).unwrap();
        assert!(c.inner.token.is_none());
        cfg.server = "https://127.0.0.1:1".into();
        let c = Client::new(cfg).unwrap();
        assert_eq!(c.inner.token.as_deref(), Some("t"));
        assert_eq!(c.authority(), "127.0.0.1:1");
        assert_eq!(c.default_namespace(), "default");
    }

    #[test]
    fn bad_urls_are_config_errors() {
        assert!(matches!(
            Client::from_server("ftp://x"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::from_server("not a url"),
            Err(Error::Config(_))
        ));
    }
}
