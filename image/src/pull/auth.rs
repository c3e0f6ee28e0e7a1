//! Registry authentication: `WWW-Authenticate` challenges, the bearer token flow
//! (`GET realm?service=..&scope=..`, with basic credentials when there are some) and a cache
//! of `Authorization` headers per (registry host, scope).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

/// User name and password for one registry (basic auth, or the token server behind it).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        write!(f, "Credentials({:?}, ***)", self.username)
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    pub(crate) fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// What a 401 asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        error: Option<String>,
    },
    Basic,
}

impl Challenge {
    /// Parses `Bearer realm="..",service="..",scope=".."` or `Basic realm=".."`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(params);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
            error: get("error"),
        })
    }
}

/// `k="v, with commas",k2=v2` -> pairs (names lowercased).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    out
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Asks a token server for a bearer token; returns the `Authorization` header and how long
/// it lasts. `Err` carries a sentence for the caller's error.
pub(crate) async fn fetch_token(
    client: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    credentials: Option<&Credentials>,
) -> Result<(String, Duration), String> {
    let mut url = reqwest::Url::parse(realm)
        .map_err(|e| format!("the token realm {realm:?} is not a URL: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            q.append_pair("scope", s);
        }
    }
    let mut request = client.get(url.clone());
    if let Some(c) = credentials {
        request = request.header(reqwest::header::AUTHORIZATION, c.basic_header());
    }
    let response = request.send().await.map_err(|e| {
        format!(
            "token request to {realm} failed: {}",
            super::transport::chain(&e)
        )
    })?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    if !status.is_success() {
        let hint = match (status.as_u16(), credentials) {
            (401, Some(c)) => format!(" (wrong password for user {:?}?)", c.username),
            (401, None) => " (credentials needed)".to_string(),
            _ => String::new(),
        };
        return Err(format!(
            "token request to {realm} for {scope:?} answered {status}{hint}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)]).trim()
        ));
    }
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| format!("token server {realm} answered unreadable JSON: {e}"))?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("token server {realm} answered no token"))?;
    // The spec's default lifetime is 60 s; renew a little early.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(10) - 5);
    Ok((format!("Bearer {token}"), lifetime))
}

/// `Authorization` headers that worked, per (registry host, scope).
#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<(String, String), CachedAuth>>,
}

struct CachedAuth {
    header: String,
    expires: Option<Instant>,
}

impl AuthCache {
    pub fn get(&self, host: &str, scope: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let cached = entries.get(&(host.to_string(), scope.to_string()))?;
        match cached.expires {
            Some(t) if t <= Instant::now() => None,
            _ => Some(cached.header.clone()),
        }
    }

    pub fn put(&self, host: &str, scope: &str, header: String, lifetime: Option<Duration>) {
        let expires = lifetime.map(|l| Instant::now() + l);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (host.to_string(), scope.to_string()),
                CachedAuth { header, expires },
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/nginx:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
                error: Some("insufficient_scope".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn basic_header_is_base64() {
        assert_eq!(
            Credentials::new("Aladdin", "open sesame").basic_header(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(!format!("{:?}", Credentials::new("u", "secret")).contains("secret"));
    }

    #[test]
    fn cache_forgets_expired_headers() {
        let cache = AuthCache::default();
        cache.put("h", "s", "Bearer a".into(), Some(Duration::from_secs(60)));
        assert_eq!(cache.get("h", "s").as_deref(), Some("Bearer a"));
        assert_eq!(cache.get("h", "other"), None);
        cache.put("h", "s", "Bearer b".into(), Some(Duration::ZERO));
        assert_eq!(cache.get("h", "s"), None);
    }
}
