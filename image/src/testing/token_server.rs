//! A token server for distribution's `auth.token`: `GET /token?service=..&scope=..` answers
//! `{"token", "access_token", "expires_in"}` with an ES256 JWT whose header carries the signing
//! certificate (`x5c`) and its libtrust key ID (`kid`); the registry trusts that certificate
//! through `rootcertbundle`. Anonymous callers get `pull` only; the known user gets what they
//! ask; a wrong password gets 401. Runs on its own thread, so any test (sync or async) can use it.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::PublicKeyData as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::pull::Credentials;

const TOKEN_LIFETIME_SECS: u64 = 300;

pub(crate) struct TokenServer {
    addr: SocketAddr,
    cert_path: PathBuf,
    requests: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Signer {
    issuer: String,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    kid: String,
    user: Credentials,
    requests: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Generates a key and a self-signed certificate (written to `dir/token.crt`) and serves.
    pub fn start(dir: &Path, issuer: &str, user: Credentials) -> Result<TokenServer> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::InvalidImage(format!("token server: {what}: {e}"))
        };
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fail("generate a key", &e))?;
        let mut params = rcgen::CertificateParams::new(vec![issuer.to_string()])
            .map_err(|e| fail("certificate parameters", &e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, issuer);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| fail("self-sign", &e))?;
        let cert_path = dir.join("token.crt");
        fs::write(&cert_path, cert.pem()).map_err(|e| Error::io_at("write", &cert_path, e))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .map_err(|e| fail("load the key", &e))?;
        let requests = Arc::new(AtomicUsize::new(0));
        let signer = Arc::new(Signer {
            issuer: issuer.to_string(),
            key,
            rng,
            cert_der: cert.der().to_vec(),
            kid: libtrust_key_id(&key_pair.subject_public_key_info()),
            user,
            requests: requests.clone(),
        });

        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("bind the token server", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("bind the token server", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("bind the token server", e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("token-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("token server runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("token listener");
                    let app = axum::Router::new()
                        .route("/token", axum::routing::get(token))
                        .with_state(signer);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| Error::io("start the token server thread", e))?;
        Ok(TokenServer {
            addr,
            cert_path,
            requests,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn token(
    State(signer): State<Arc<Signer>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    signer.requests.fetch_add(1, Ordering::SeqCst);
    let (mut service, mut scopes) = (String::new(), Vec::new());
    let url = format!("http://token/?{}", query.unwrap_or_default());
    if let Ok(parsed) = reqwest::Url::parse(&url) {
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "service" => service = v.into_owned(),
                "scope" => scopes.push(v.into_owned()),
                _ => {}
            }
        }
    }
    let subject = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(given) if given == signer.user.basic_header() => Some(signer.user.username.clone()),
        Some(_) => {
            let body = json!({"details": "incorrect username or password"});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| grant(s, subject.is_some()))
        .collect();
    match signer.sign(&service, subject.as_deref().unwrap_or(""), access) {
        Ok(jwt) => axum::Json(json!({
            "token": jwt,
            "access_token": jwt,
            "expires_in": TOKEN_LIFETIME_SECS,
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// `repository:library/busybox:pull,push` -> the access claim granted for it.
fn grant(scope: &str, authenticated: bool) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions
        .split(',')
        .filter(|a| authenticated || *a == "pull")
        .collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

impl Signer {
    fn sign(
        &self,
        audience: &str,
        subject: &str,
        access: Vec<serde_json::Value>,
    ) -> std::result::Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let header = json!({
            "typ": "JWT",
            "alg": "ES256",
            "kid": self.kid,
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + TOKEN_LIFETIME_SECS,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{now}-{}", self.requests.load(Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| format!("sign: {e}"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// libtrust's key ID: sha256 of the DER public key, first 240 bits, base32, in 12 groups of
/// four joined by ':' (what distribution matches a token's `kid` against).
fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = Sha256::digest(spki_der);
    let mut bits = String::new();
    for chunk in hash[..30].chunks(5) {
        let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            bits.push(ALPHABET[((n >> (5 * i)) & 31) as usize] as char);
        }
    }
    bits.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_look_like_libtrust() {
        let kid = libtrust_key_id(b"any key");
        assert_eq!(kid.len(), 12 * 4 + 11);
        assert_eq!(kid.split(':').count(), 12);
        assert!(kid.bytes().all(|b| b == b':' || ALPHA.contains(&b)));
    }

    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    #[test]
    fn anonymous_users_only_pull() {
        assert_eq!(
            grant("repository:library/busybox:pull,push", false).unwrap()["actions"],
            json!(["pull"])
        );
        assert_eq!(
            grant("repository:a/b:pull,push", true).unwrap()["actions"],
            json!(["pull", "push"])
        );
        assert_eq!(grant("nonsense", true), None);
    }
}
