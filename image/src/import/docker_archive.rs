//! docker-archive (`docker save`): `manifest.json` lists each image's config, tags and layer
//! tars. There is no registry manifest, so one is written (OCI) and stored like a pulled one.

use std::io::Read;

use serde::Deserialize;

use super::source::Source;
use crate::digest::{self, Digest};
use crate::error::{Error, Result};
use crate::image_store::ImageStore;
use crate::layer::compression::Compression;
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::records::ImageRecord;

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

pub fn import(
    store: &ImageStore,
    source: &dyn Source,
    name: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let entries: Vec<Entry> = serde_json::from_slice(&source.read("manifest.json")?)
        .map_err(|e| Error::json("parse manifest.json", e))?;
    let mut named = Vec::new();
    for entry in &entries {
        let references: Vec<Reference> = match (&entry.repo_tags, name) {
            (Some(tags), _) if !tags.is_empty() => tags
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<Result<_>>()?,
            (_, Some(n)) => vec![Reference::parse(n)?],
            _ => {
                return Err(Error::InvalidImage(format!(
                    "image {} has no RepoTags: give it a name",
                    entry.config
                )));
            }
        };
        named.push((entry, references));
    }
    super::check_unique(named.iter().flat_map(|(_, refs)| refs))?;
    let mut out = Vec::new();
    for (entry, references) in named {
        let manifest = store_manifest(store, source, entry)?;
        for reference in references {
            out.push(store.commit(&reference, &manifest, None)?);
        }
    }
    Ok(out)
}

fn store_manifest(store: &ImageStore, source: &dyn Source, entry: &Entry) -> Result<Digest> {
    let config = store_file(store, source, &entry.config)?;
    let mut layers = Vec::new();
    for path in &entry.layers {
        let mut d = store_file(store, source, path)?;
        d.media_type = sniff(store, &d.digest)?.oci_media_type().to_string();
        layers.push(d);
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::OCI_MANIFEST.to_string()),
        config: Descriptor {
            media_type: oci::OCI_CONFIG.to_string(),
            ..config
        },
        layers,
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::json("encode manifest", e))?;
    store.blobs().put_bytes(&bytes)
}

/// Stores a file of the archive; a name that is a digest (`<hex>.json`, `blobs/sha256/<hex>`,
/// `<hex>/layer.tar`) must match the content.
fn store_file(store: &ImageStore, source: &dyn Source, path: &str) -> Result<Descriptor> {
    let (digest, size) = store.blobs().put_unverified(source.open(path)?)?;
    if let Some(named) = named_digest(path) {
        digest::verify(path, &named, &digest)?;
    }
    Ok(Descriptor {
        media_type: String::new(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
    })
}

fn named_digest(path: &str) -> Option<Digest> {
    let mut parts = path.rsplit('/');
    let last = parts.next()?;
    let stem = last.strip_suffix(".json").unwrap_or(last);
    if let Ok(d) = Digest::from_hex(stem) {
        return Some(d);
    }
    // `<hex>/layer.tar` names the layer's v1 id, not its content: nothing to check.
    None
}

fn sniff(store: &ImageStore, digest: &Digest) -> Result<Compression> {
    let mut head = Vec::with_capacity(4);
    store
        .blobs()
        .open_blob(digest)?
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("read layer", e))?;
    Ok(Compression::detect(&head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names() {
        let hex = Digest::of_bytes(b"x").hex().to_string();
        assert!(named_digest(&format!("{hex}.json")).is_some());
        assert!(named_digest(&format!("blobs/sha256/{hex}")).is_some());
        assert!(named_digest(&format!("{hex}/layer.tar")).is_none());
    }
}
