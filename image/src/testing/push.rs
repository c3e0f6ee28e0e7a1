//! Pushes an OCI image layout to a test registry byte for byte, with the registry API:
//! HEAD each blob, else POST an upload (202 + Location) and PUT it with `digest=`; then the
//! manifests (an index's children first), each with its own Content-Type.

use std::fs;
use std::path::Path;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};

use super::registry::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Document};
use crate::pull::Endpoint;
use crate::pull::transport::Session;

/// One request of a push, in order.
enum Step {
    Blob(Descriptor),
    Manifest {
        digest: Digest,
        media_type: String,
        bytes: Vec<u8>,
    },
}

impl Registry {
    /// Pushes the image `index.json` names (its only entry, or the one whose
    /// `org.opencontainers.image.ref.name` is `tag`) as `name:tag`; returns its digest.
    pub async fn push_oci_layout(&self, dir: &Path, name: &str, tag: &str) -> Result<Digest> {
        let index_path = dir.join("index.json");
        let index: oci::Index = serde_json::from_slice(
            &fs::read(&index_path).map_err(|e| Error::io_at("read", &index_path, e))?,
        )
        .map_err(|e| Error::json("parse index.json", e))?;
        let top = match index.manifests.as_slice() {
            [only] => only,
            many => many
                .iter()
                .find(|d| d.annotations.get(oci::REF_NAME).map(String::as_str) == Some(tag))
                .ok_or_else(|| {
                    Error::InvalidImage(format!(
                        "{} names several images and none is tagged {tag:?}",
                        index_path.display()
                    ))
                })?,
        };
        let mut steps = Vec::new();
        plan(dir, top, 0, &mut steps)?;
        let endpoint = Endpoint {
            base: self.url(),
            shown: self.host(),
            host: self.host(),
            mirror_of: None,
        };
        let session =
            self.pusher()
                .session(&endpoint, name, format!("repository:{name}:pull,push"));
        let last = steps.len() - 1;
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Blob(d) => push_blob(&session, dir, d).await?,
                Step::Manifest {
                    digest,
                    media_type,
                    bytes,
                } => {
                    let reference = if i == last {
                        tag.to_string()
                    } else {
                        digest.to_string()
                    };
                    put_manifest(&session, &reference, media_type, bytes).await?;
                }
            }
        }
        Ok(top.digest.clone())
    }
}

/// Blobs before the manifest that names them, children before their index.
fn plan(dir: &Path, desc: &Descriptor, depth: usize, out: &mut Vec<Step>) -> Result<()> {
    if depth > 4 {
        return Err(Error::InvalidImage("indexes nested too deeply".into()));
    }
    let bytes = read_blob(dir, &desc.digest)?;
    let own_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string));
    let document = Document::parse(&bytes, &desc.media_type)?;
    let media_type = match (desc.media_type.as_str(), own_type, &document) {
        ("", Some(t), _) => t,
        ("", None, Document::Index(_)) => oci::OCI_INDEX.to_string(),
        ("", None, Document::Manifest(_)) => oci::OCI_MANIFEST.to_string(),
        (t, _, _) => t.to_string(),
    };
    match document {
        Document::Index(index) => {
            for child in &index.manifests {
                plan(dir, child, depth + 1, out)?;
            }
        }
        Document::Manifest(m) => {
            out.push(Step::Blob(m.config.clone()));
            out.extend(m.layers.iter().cloned().map(Step::Blob));
        }
    }
    out.push(Step::Manifest {
        digest: desc.digest.clone(),
        media_type,
        bytes,
    });
    Ok(())
}

fn read_blob(dir: &Path, digest: &Digest) -> Result<Vec<u8>> {
    let path = dir.join("blobs/sha256").join(digest.hex());
    fs::read(&path).map_err(|e| Error::io_at("read", &path, e))
}

async fn push_blob(session: &Session<'_>, dir: &Path, desc: &Descriptor) -> Result<()> {
    let blob_url = session.url(&format!("blobs/{}", desc.digest));
    let head = session
        .send(Method::HEAD, &blob_url, HeaderMap::new(), None)
        .await?;
    if head.status() == StatusCode::OK {
        return Ok(());
    }
    let start = session
        .send(
            Method::POST,
            &session.url("blobs/uploads/"),
            HeaderMap::new(),
            None,
        )
        .await?;
    if start.status() != StatusCode::ACCEPTED {
        return Err(session.status_error("start a blob upload", start).await);
    }
    let location = start
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| session.error("upload answered 202 without a Location"))?;
    let mut url = start
        .url()
        .join(location)
        .map_err(|e| session.error(format!("bad upload Location {location:?}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("digest", &desc.digest.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let put = session
        .send(
            Method::PUT,
            url.as_str(),
            headers,
            Some(read_blob(dir, &desc.digest)?),
        )
        .await?;
    if put.status() != StatusCode::CREATED {
        return Err(session
            .status_error(&format!("upload blob {}", desc.digest), put)
            .await);
    }
    Ok(())
}

async fn put_manifest(
    session: &Session<'_>,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(media_type)
            .map_err(|_| session.error(format!("bad media type {media_type:?}")))?,
    );
    let url = session.url(&format!("manifests/{reference}"));
    let put = session
        .send(Method::PUT, &url, headers, Some(bytes.to_vec()))
        .await?;
    if put.status() != StatusCode::CREATED {
        return Err(session
            .status_error(&format!("put manifest {reference}"), put)
            .await);
    }
    Ok(())
}
