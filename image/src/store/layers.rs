//! Unpacked layers, one directory per diff_id under `<root>/layers/sha256/<hex>`.
//!
//! A layer is unpacked into a temporary directory beside its final place and renamed there
//! only once its diff_id matched; any failure removes the temporary directory.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{self, Digest};
use crate::error::{Error, IoContext, Result};
use crate::layer::apply::{self, Applied};

#[derive(Clone, Debug)]
pub struct LayerStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl LayerStore {
    pub fn open(root: &Path) -> Result<LayerStore> {
        let (dir, tmp) = super::open_dirs(root, "layers")?;
        Ok(LayerStore { dir, tmp })
    }

    /// The unpacked directory of a layer (an overlayfs lower dir).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_dir()
    }

    /// Unpacks `blob` as the layer `diff_id`; a layer already present is not read again.
    pub fn apply(&self, diff_id: &Digest, blob: impl Read) -> Result<PathBuf> {
        let final_path = self.path(diff_id);
        if final_path.is_dir() {
            return Ok(final_path);
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{}-", &diff_id.hex()[..12]))
            .tempdir_in(&self.tmp)
            .at("create temp dir in", &self.tmp)?;
        // Dropping `tmp` on any error below removes the partial unpack.
        let Applied {
            diff_id: actual, ..
        } = apply::apply_layer(blob, tmp.path())?;
        digest::verify("layer diff_id", diff_id, &actual)?;
        let unpacked = tmp.keep();
        match fs::rename(&unpacked, &final_path) {
            Ok(()) => Ok(final_path),
            // Someone else unpacked the same layer meanwhile: theirs is as good as ours.
            Err(_) if final_path.is_dir() => {
                fs::remove_dir_all(&unpacked).at("remove", &unpacked)?;
                Ok(final_path)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&unpacked);
                Err(Error::io_at("rename layer to", &final_path, e))
            }
        }
    }

    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let path = self.path(diff_id);
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io_at("remove", &path, e)),
            _ => Ok(()),
        }
    }

    pub fn list(&self) -> Result<Vec<Digest>> {
        super::list_digests(&self.dir)
    }

    /// Removes unpacks left by a crash (call only when no apply is running).
    pub fn clear_temp(&self) -> Result<()> {
        for entry in fs::read_dir(&self.tmp).at("list", &self.tmp)? {
            let path = entry.at("list", &self.tmp)?.path();
            fs::remove_dir_all(&path).at("remove", &path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn applying_a_present_layer_reads_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = LayerStore::open(root.path()).unwrap();
        let tar = layer();
        let diff_id = Digest::of_bytes(&tar);
        let path = store.apply(&diff_id, &tar[..]).unwrap();
        assert_eq!(fs::read(path.join("f")).unwrap(), b"hi");
        // Garbage would fail if it were read: the present layer is used as is.
        let again = store.apply(&diff_id, &b"not a tar"[..]).unwrap();
        assert_eq!(again, path);
        assert_eq!(store.list().unwrap(), std::slice::from_ref(&diff_id));
        store.remove(&diff_id).unwrap();
        assert!(!store.contains(&diff_id));
        assert!(store.apply(&diff_id, &b"not a tar"[..]).is_err());
        assert_eq!(
            fs::read_dir(root.path().join("layers/tmp"))
                .unwrap()
                .count(),
            0
        );
    }
}
