//! Fetching manifests: every manifest type in `Accept`, the body's sha256 checked against
//! `Docker-Content-Digest` and the digest asked for, an index resolved to linux/amd64.

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::transport::Session;
use crate::digest::Digest;
use crate::error::Result;
use crate::oci::{ACCEPTED_MANIFESTS, Document, Manifest};

/// Manifests and indexes are small; anything bigger is not one.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// An index of indexes of ... ends somewhere.
const MAX_DEPTH: usize = 4;

/// A manifest as fetched: its exact bytes (they are what the digest covers).
pub(crate) struct Fetched {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

/// What a reference resolved to.
pub(crate) struct Resolved {
    /// The index or manifest list the manifest was picked from.
    pub index: Option<Fetched>,
    pub manifest: Fetched,
    pub parsed: Manifest,
}

/// GET `manifests/<reference>`; `expected` is the digest the caller asked for, if any.
async fn fetch(
    session: &Session<'_>,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<(Fetched, String)> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_str(&ACCEPTED_MANIFESTS.join(", ")).expect("static header"),
    );
    let url = session.url(&format!("manifests/{reference}"));
    let response = session.send(Method::GET, &url, headers, None).await?;
    let what = format!("manifest {reference}");
    if !response.status().is_success() {
        return Err(session.status_error(&what, response).await);
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let announced = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
    {
        return Err(session.error(format!("{what} is larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| session.error(format!("reading {what}: {}", super::transport::chain(&e))))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(session.error(format!("{what} is larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let digest = Digest::of_bytes(&bytes);
    if let Some(announced) = announced {
        let announced = Digest::parse(&announced).map_err(|_| {
            session.error(format!(
                "{what}: unsupported Docker-Content-Digest {announced:?}"
            ))
        })?;
        if announced != digest {
            return Err(session.error(format!(
                "{what}: digest mismatch: Docker-Content-Digest says {announced}, the body hashes to {digest}"
            )));
        }
    }
    if let Some(expected) = expected
        && *expected != digest
    {
        return Err(session.error(format!(
            "{what}: digest mismatch: asked for {expected}, the body hashes to {digest}"
        )));
    }
    Ok((
        Fetched {
            digest,
            bytes: bytes.to_vec(),
        },
        content_type,
    ))
}

/// Fetches `reference` (a tag or a digest) and, for an index, its linux/amd64 manifest.
pub(crate) async fn resolve(
    session: &Session<'_>,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<Resolved> {
    let (mut fetched, mut content_type) = fetch(session, reference, expected).await?;
    let mut index = None;
    for _ in 0..MAX_DEPTH {
        // Some registries answer a generic type: then the document's own mediaType decides.
        let declared = if ACCEPTED_MANIFESTS.contains(&content_type.as_str()) {
            content_type.as_str()
        } else {
            ""
        };
        let document = Document::parse(&fetched.bytes, declared)
            .map_err(|e| session.error(format!("manifest {}: {e}", fetched.digest)))?;
        match document {
            Document::Manifest(parsed) => {
                return Ok(Resolved {
                    index,
                    manifest: fetched,
                    parsed,
                });
            }
            Document::Index(i) => {
                let picked = i
                    .pick_linux_amd64()
                    .map_err(|e| session.error(format!("index {}: {e}", fetched.digest)))?
                    .clone();
                let (child, child_type) =
                    fetch(session, &picked.digest.to_string(), Some(&picked.digest)).await?;
                if child.bytes.len() as u64 != picked.size {
                    return Err(session.error(format!(
                        "manifest {} is {} bytes, the index says {}",
                        picked.digest,
                        child.bytes.len(),
                        picked.size
                    )));
                }
                // The outermost index is the one a record names.
                index.get_or_insert(fetched);
                fetched = child;
                content_type = if picked.media_type.is_empty() {
                    child_type
                } else {
                    picked.media_type
                };
            }
        }
    }
    Err(session.error("indexes nested too deeply"))
}
