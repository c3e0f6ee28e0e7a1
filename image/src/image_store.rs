//! The node's image store: blobs, layers and records under one root, with reference counting.
//!
//! Every way in (import today, registry pulls next) ends the same way: the manifest, config
//! and layer blobs are in the blob store, then `commit` unpacks the layers and writes the record.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{ConfigFile, Document, Manifest};
use crate::reference::Reference;
use crate::store::blobs::BlobStore;
use crate::store::layers::LayerStore;
use crate::store::lock::StoreLock;
use crate::store::records::{ImageRecord, LayerRecord, RecordStore};

#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    records: RecordStore,
}

/// What `gc` deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: Vec<Digest>,
    pub layers: Vec<Digest>,
}

impl ImageStore {
    /// Opens (creating) the store at `root`, e.g. `/var/lib/skiff/images`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        std::fs::create_dir_all(root).map_err(|e| Error::io_at("create", root, e))?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            blobs: BlobStore::open(root)?,
            layers: LayerStore::open(root)?,
            records: RecordStore::open(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Holds off `gc` while blobs are stored but their image is not recorded yet.
    pub fn write_lock(&self) -> Result<StoreLock> {
        StoreLock::shared(&self.root)
    }

    /// The image a reference names (`nginx` finds `docker.io/library/nginx:latest`); a digest
    /// reference matches any record of that repository with that manifest (or index) digest.
    pub fn get(&self, reference: &str) -> Result<ImageRecord> {
        let parsed = Reference::parse(reference)?;
        if let Some(record) = self.records.get(&parsed.to_string())? {
            return Ok(record);
        }
        if let Some(digest) = parsed.digest() {
            let prefix = format!("{}:", parsed.name());
            let at = format!("{}@", parsed.name());
            for record in self.records.list()? {
                let same_repo =
                    record.reference.starts_with(&prefix) || record.reference.starts_with(&at);
                let same_digest = &record.manifest_digest == digest
                    || record.index_digest.as_ref() == Some(digest);
                if same_repo && same_digest {
                    return Ok(record);
                }
            }
        }
        Err(Error::NotFound(parsed.to_string()))
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        self.records.list()
    }

    /// Forgets a reference; its layers and blobs go at the next `gc` if nothing else uses them.
    pub fn remove(&self, reference: &str) -> Result<()> {
        let record = self.get(reference)?;
        self.records.remove(&record.reference)?;
        Ok(())
    }

    /// The unpacked layer directories of an image, bottom first (overlayfs wants them reversed).
    pub fn layer_dirs(&self, record: &ImageRecord) -> Vec<PathBuf> {
        record.diff_ids().map(|d| self.layers.path(d)).collect()
    }

    /// Deletes every blob and layer no record uses, and leftovers of interrupted writes.
    pub fn gc(&self) -> Result<GcReport> {
        let _lock = StoreLock::exclusive(&self.root)?;
        let records = self.records.list()?;
        let blobs: HashSet<&Digest> = records.iter().flat_map(ImageRecord::blobs).collect();
        let layers: HashSet<&Digest> = records.iter().flat_map(ImageRecord::diff_ids).collect();
        let mut report = GcReport::default();
        for d in self.blobs.list()? {
            if !blobs.contains(&d) {
                self.blobs.remove(&d)?;
                report.blobs.push(d);
            }
        }
        for d in self.layers.list()? {
            if !layers.contains(&d) {
                self.layers.remove(&d)?;
                report.layers.push(d);
            }
        }
        self.blobs.clear_temp()?;
        self.layers.clear_temp()?;
        Ok(report)
    }

    /// Records `reference` as the manifest `manifest_digest`, whose config and layer blobs must
    /// already be in the blob store: checks sizes, unpacks each layer (verifying its diff_id
    /// against the config), then writes the record. The caller holds `write_lock`.
    pub fn commit(
        &self,
        reference: &Reference,
        manifest_digest: &Digest,
        index_digest: Option<&Digest>,
    ) -> Result<ImageRecord> {
        let manifest = match Document::parse(&self.blobs.read(manifest_digest)?, "")? {
            Document::Manifest(m) => m,
            Document::Index(_) => {
                return Err(Error::InvalidImage(format!(
                    "{manifest_digest} is an index, not a manifest"
                )));
            }
        };
        let config_file = self.read_config(&manifest)?;
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for (layer, diff_id) in manifest.layers.iter().zip(&config_file.rootfs.diff_ids) {
            self.check_size(layer)?;
            if !self.layers.contains(diff_id) {
                self.layers
                    .apply(diff_id, self.blobs.open_blob(&layer.digest)?)?;
            }
            layers.push(LayerRecord {
                digest: layer.digest.clone(),
                size: layer.size,
                diff_id: diff_id.clone(),
            });
        }
        let record = ImageRecord {
            reference: reference.to_string(),
            manifest_digest: manifest_digest.clone(),
            index_digest: index_digest.cloned(),
            config_digest: manifest.config.digest.clone(),
            layers,
            config: config_file.config.unwrap_or_default(),
        };
        self.records.put(&record)?;
        Ok(record)
    }

    fn read_config(&self, manifest: &Manifest) -> Result<ConfigFile> {
        self.check_size(&manifest.config)?;
        let bytes = self.blobs.read(&manifest.config.digest)?;
        let config: ConfigFile =
            serde_json::from_slice(&bytes).map_err(|e| Error::json("parse image config", e))?;
        if config.rootfs.kind != "layers" {
            return Err(Error::InvalidImage(format!(
                "rootfs type {:?}",
                config.rootfs.kind
            )));
        }
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::InvalidImage(format!(
                "the manifest has {} layers but the config {} diff_ids",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        if let (Some(os), Some(arch)) = (&config.os, &config.architecture)
            && (os != "linux" || arch != "amd64")
        {
            tracing::warn!(%os, %arch, "image is not linux/amd64");
        }
        Ok(config)
    }

    fn check_size(&self, d: &crate::oci::Descriptor) -> Result<()> {
        let actual = self.blobs.size(&d.digest)?;
        if actual != d.size {
            return Err(Error::InvalidImage(format!(
                "blob {} is {actual} bytes, its descriptor says {}",
                d.digest, d.size
            )));
        }
        Ok(())
    }
}
