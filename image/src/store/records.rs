//! Image records: `<root>/images/<escaped reference>.json`, one per reference.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::oci::ImageConfig;

/// One stored image, as a container needs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The normalised reference, e.g. `docker.io/library/nginx:latest`.
    pub reference: String,
    pub manifest_digest: Digest,
    /// The index or manifest list the manifest was picked from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    /// The config's digest, which is also Docker's image ID.
    pub config_digest: Digest,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    pub config: ImageConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// The (compressed) blob as distributed.
    pub digest: Digest,
    pub size: u64,
    /// The uncompressed tar's digest: the name of the unpacked directory.
    pub diff_id: Digest,
}

impl ImageRecord {
    pub fn diff_ids(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|l| &l.diff_id)
    }

    /// Every blob this image keeps alive.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest_digest, &self.config_digest]
            .into_iter()
            .chain(self.index_digest.as_ref())
            .chain(self.layers.iter().map(|l| &l.digest))
    }
}

#[derive(Clone, Debug)]
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    pub fn open(root: &Path) -> Result<RecordStore> {
        let dir = root.join("images");
        fs::create_dir_all(&dir).at("create", &dir)?;
        Ok(RecordStore { dir })
    }

    fn path(&self, reference: &str) -> PathBuf {
        self.dir.join(format!("{}.json", escape(reference)))
    }

    pub fn get(&self, reference: &str) -> Result<Option<ImageRecord>> {
        let path = self.path(reference);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::json(format!("parse {}", path.display()), e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io_at("read", &path, e)),
        }
    }

    /// Replaces the record atomically (temp file + rename).
    pub fn put(&self, record: &ImageRecord) -> Result<()> {
        let path = self.path(&record.reference);
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| Error::json("encode record", e))?;
        let mut tmp = tempfile::Builder::new()
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .at("create temp file in", &self.dir)?;
        tmp.write_all(&bytes).at("write", tmp.path())?;
        tmp.as_file().sync_all().at("sync", tmp.path())?;
        tmp.persist(&path)
            .map_err(|e| Error::io_at("rename record to", &path, e.error))?;
        Ok(())
    }

    /// Returns whether there was a record.
    pub fn remove(&self, reference: &str) -> Result<bool> {
        let path = self.path(reference);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io_at("remove", &path, e)),
        }
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).at("list", &self.dir)? {
            let path = entry.at("list", &self.dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).at("read", &path)?;
                let record: ImageRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::json(format!("parse {}", path.display()), e))?;
                out.push(record);
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }
}

/// References hold `/`, `:` and `@`; file names get `%XX` for those (and for `%`).
fn escape(reference: &str) -> String {
    let mut out = String::with_capacity(reference.len() + 8);
    for c in reference.chars() {
        match c {
            '/' | ':' | '@' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(reference: &str) -> ImageRecord {
        ImageRecord {
            reference: reference.to_string(),
            manifest_digest: Digest::of_bytes(b"m"),
            index_digest: None,
            config_digest: Digest::of_bytes(b"c"),
            layers: vec![LayerRecord {
                digest: Digest::of_bytes(b"l"),
                size: 1,
                diff_id: Digest::of_bytes(b"d"),
            }],
            config: ImageConfig::default(),
        }
    }

    #[test]
    fn put_get_list_remove() {
        let root = tempfile::tempdir().unwrap();
        let store = RecordStore::open(root.path()).unwrap();
        let r = record("localhost:5000/a/b:v1");
        store.put(&r).unwrap();
        store
            .put(&record("docker.io/library/nginx:latest"))
            .unwrap();
        assert_eq!(store.get(&r.reference).unwrap(), Some(r.clone()));
        assert!(
            root.path()
                .join("images/localhost%3A5000%2Fa%2Fb%3Av1.json")
                .is_file()
        );
        let refs: Vec<String> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|r| r.reference)
            .collect();
        assert_eq!(
            refs,
            ["docker.io/library/nginx:latest", "localhost:5000/a/b:v1"]
        );
        assert!(store.remove(&r.reference).unwrap());
        assert!(!store.remove(&r.reference).unwrap());
        assert_eq!(store.get(&r.reference).unwrap(), None);
        assert_eq!(r.blobs().count(), 3);
    }
}
