//! OCI image layout: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.

use serde::Deserialize;

use super::source::Source;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image_store::ImageStore;
use crate::oci::{self, Descriptor, Document, Index};
use crate::reference::Reference;
use crate::store::records::ImageRecord;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    image_layout_version: String,
}

pub fn import(
    store: &ImageStore,
    source: &dyn Source,
    name: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let layout: Layout = serde_json::from_slice(&source.read("oci-layout")?)
        .map_err(|e| Error::json("parse oci-layout", e))?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(Error::InvalidImage(format!(
            "unsupported OCI layout version {}",
            layout.image_layout_version
        )));
    }
    let index: Index = serde_json::from_slice(&source.read("index.json")?)
        .map_err(|e| Error::json("parse index.json", e))?;
    let mut names = Vec::new();
    for d in &index.manifests {
        names.push(reference_for(d, name)?);
    }
    super::check_unique(&names)?;
    let mut records = Vec::new();
    for (d, reference) in index.manifests.iter().zip(names) {
        let (manifest, index_digest) = resolve(store, source, d)?;
        records.push((reference, manifest, index_digest));
    }
    let mut out = Vec::new();
    for (reference, manifest, index_digest) in records {
        out.push(store.commit(&reference, &manifest, index_digest.as_ref())?);
    }
    Ok(out)
}

/// containerd's full name, else `ref.name` (a tag joined to `name`, or a full reference),
/// else `name` itself.
fn reference_for(d: &Descriptor, name: Option<&str>) -> Result<Reference> {
    if let Some(full) = d.annotations.get(oci::CONTAINERD_NAME) {
        return Reference::parse(full);
    }
    let named = name.map(Reference::parse).transpose()?;
    match (d.annotations.get(oci::REF_NAME), named) {
        (Some(tag), Some(n)) if !tag.contains(['/', ':', '@']) => n.with_tag(tag),
        (Some(full), _) => Reference::parse(full),
        (None, Some(n)) => Ok(n),
        (None, None) => Err(Error::InvalidImage(format!(
            "manifest {} has no name in the layout: give one",
            d.digest
        ))),
    }
}

/// Copies (and verifies) a manifest's blobs into the store, following an index to its
/// linux/amd64 manifest. Returns the manifest digest and the index digest if there was one.
fn resolve(
    store: &ImageStore,
    source: &dyn Source,
    d: &Descriptor,
) -> Result<(Digest, Option<Digest>)> {
    let mut index_digest = None;
    let mut current = d.clone();
    for _ in 0..4 {
        copy_blob(store, source, &current)?;
        match Document::parse(&store.blobs().read(&current.digest)?, &current.media_type)? {
            Document::Index(index) => {
                index_digest.get_or_insert(current.digest.clone());
                current = index.pick_linux_amd64()?.clone();
            }
            Document::Manifest(m) => {
                copy_blob(store, source, &m.config)?;
                for layer in &m.layers {
                    copy_blob(store, source, layer)?;
                }
                return Ok((current.digest, index_digest));
            }
        }
    }
    Err(Error::InvalidImage("indexes nested too deeply".to_string()))
}

fn copy_blob(store: &ImageStore, source: &dyn Source, d: &Descriptor) -> Result<()> {
    if !store.blobs().contains(&d.digest) {
        let path = format!("blobs/sha256/{}", d.digest.hex());
        store.blobs().put(&d.digest, source.open(&path)?)?;
    }
    let size = store.blobs().size(&d.digest)?;
    if size != d.size {
        return Err(Error::InvalidImage(format!(
            "blob {} is {size} bytes, its descriptor says {}",
            d.digest, d.size
        )));
    }
    Ok(())
}
