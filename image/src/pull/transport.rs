//! One repository on one endpoint: requests that answer an auth challenge once (token or
//! basic), follow redirects without carrying `Authorization` to another host, and turn
//! failures into errors that name the registry, the repository and what failed.

use reqwest::header::{AUTHORIZATION, HeaderMap, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use super::auth::{AuthCache, Challenge, Credentials, fetch_token};
use super::endpoint::Endpoint;
use crate::error::{Error, Result};

const MAX_REDIRECTS: usize = 5;

pub(crate) struct Session<'a> {
    pub client: &'a reqwest::Client,
    pub auth: &'a AuthCache,
    pub endpoint: &'a Endpoint,
    pub repository: &'a str,
    /// `repository:<name>:pull` (or `pull,push`).
    pub scope: String,
    pub credentials: Option<&'a Credentials>,
}

/// Request bodies are small (manifests) or test uploads: kept whole so a retry can resend.
pub(crate) type Body = Option<Vec<u8>>;

impl Session<'_> {
    pub fn error(&self, what: impl Into<String>) -> Error {
        self.endpoint.error(self.repository, what)
    }

    /// `<base>/v2/<repository>/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        self.endpoint.url(self.repository, rest)
    }

    /// Sends a request; a 401 with a challenge is answered once (a new token also when the
    /// cached one lacks the scope), then the request is sent again.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response> {
        let mut answered = false;
        loop {
            let auth = self.auth.get(&self.endpoint.host, &self.scope);
            let response = self
                .send_following(&method, url, &headers, &body, auth.as_deref())
                .await?;
            if response.status() != StatusCode::UNAUTHORIZED || answered {
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            answered = true;
            match challenge {
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                    ..
                }) => {
                    // Ask for what the registry named and what we are about to do.
                    let scope = match scope {
                        Some(s) if s != self.scope => format!("{} {s}", self.scope),
                        _ => self.scope.clone(),
                    };
                    let credentials = self.credentials.filter(|_| self.may_send_password(&realm));
                    let (header, lifetime) =
                        fetch_token(self.client, &realm, service.as_deref(), &scope, credentials)
                            .await
                            .map_err(|m| self.error(m))?;
                    self.auth
                        .put(&self.endpoint.host, &self.scope, header, Some(lifetime));
                }
                Some(Challenge::Basic) if self.credentials.is_some() => {
                    let c = self.credentials.expect("checked");
                    self.auth
                        .put(&self.endpoint.host, &self.scope, c.basic_header(), None);
                }
                _ => return Ok(response),
            }
        }
    }

    /// A password goes to an https realm, or to a plain http one only when the registry
    /// itself is plain http (configured insecure, or a test registry).
    fn may_send_password(&self, realm: &str) -> bool {
        realm.starts_with("https://") || self.endpoint.base.starts_with("http://")
    }

    async fn send_following(
        &self,
        method: &Method,
        url: &str,
        headers: &HeaderMap,
        body: &Body,
        auth: Option<&str>,
    ) -> Result<Response> {
        let first = Url::parse(url).map_err(|e| self.error(format!("bad URL {url}: {e}")))?;
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self
                .client
                .request(method.clone(), current.clone())
                .headers(headers.clone());
            if let Some(a) = auth
                && same_origin(&first, &current)
            {
                request = request.header(AUTHORIZATION, a);
            }
            if let Some(b) = body {
                request = request.body(b.clone());
            }
            let response = request.send().await.map_err(|e| {
                // rustls reading plain http says "corrupt message": name the likely cause.
                let hint = if current.scheme() == "https" && e.is_connect() {
                    " (if this registry speaks plain http, list it as an insecure registry)"
                } else {
                    ""
                };
                self.error(format!(
                    "{method} {current}: {}{hint}",
                    chain(&e.without_url())
                ))
            })?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| self.error(format!("{status} from {current} without a Location")))?;
            let next = current
                .join(location)
                .map_err(|e| self.error(format!("bad redirect {location:?}: {e}")))?;
            if current.scheme() == "https" && next.scheme() != "https" {
                return Err(self.error(format!("refused a redirect from https to {next}")));
            }
            current = next;
        }
        Err(self.error(format!("more than {MAX_REDIRECTS} redirects from {url}")))
    }

    /// The error for an unexpected answer: status, then the registry's own error codes.
    pub async fn status_error(&self, what: &str, response: Response) -> Error {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        self.error(format!("{what}: {status}{}", registry_errors(&body)))
    }
}

/// `: MANIFEST_UNKNOWN manifest unknown; ...` from the distribution spec's error body.
fn registry_errors(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if !b.errors.is_empty() => {
            let items: Vec<String> = b
                .errors
                .iter()
                .map(|i| format!("{} {}", i.code, i.message).trim().to_string())
                .collect();
            format!(" ({})", items.join("; "))
        }
        _ => String::new(),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// An error and its sources on one line (reqwest's own text is "error sending request").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://r.example/v2/a"),
            &u("https://r.example:443/x")
        ));
        assert!(!same_origin(
            &u("https://r.example/v2"),
            &u("https://cdn.example/v2")
        ));
        assert!(!same_origin(
            &u("http://127.0.0.1:5000/"),
            &u("http://localhost:5000/")
        ));
        assert!(!same_origin(&u("http://h:1/"), &u("http://h:2/")));
    }

    #[test]
    fn registry_error_bodies() {
        assert_eq!(
            registry_errors(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            " (MANIFEST_UNKNOWN manifest unknown)"
        );
        assert_eq!(registry_errors(b"<html>"), "");
    }
}
