//! On-disk stores: content-addressed blobs, unpacked layers, image records, and the lock
//! that keeps garbage collection away from imports in progress.

pub mod blobs;
pub mod layers;
pub mod lock;
pub mod records;

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// Creates (if needed) `root/<kind>/sha256` and `root/<kind>/tmp`, the
/// content and scratch directories of a blob or layer store.
pub(crate) fn open_dirs(root: &Path, kind: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = root.join(kind).join("sha256");
    let tmp = root.join(kind).join("tmp");
    fs::create_dir_all(&dir).at("create", &dir)?;
    fs::create_dir_all(&tmp).at("create", &tmp)?;
    Ok((dir, tmp))
}

/// The digests named by the entries of `dir` (blob files or layer
/// directories), sorted; stray names that are not digests are skipped.
pub(crate) fn list_digests(dir: &Path) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).at("list", dir)? {
        let entry = entry.at("list", dir)?;
        if let Some(d) = entry
            .file_name()
            .to_str()
            .and_then(|n| Digest::from_hex(n).ok())
        {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}
