//! Content-addressed blobs under `<root>/blobs/sha256/<hex>`.
//!
//! A blob is written to a temporary file in the same filesystem, its digest checked, then
//! renamed into place: a reader never sees a partial or unverified blob.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{self, Digest, DigestWriter};
use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the blob store under `root`.
    pub fn open(root: &Path) -> Result<BlobStore> {
        let (dir, tmp) = super::open_dirs(root, "blobs")?;
        Ok(BlobStore { dir, tmp })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores what `reader` yields if its sha256 is `expected`; a mismatch leaves nothing.
    pub fn put(&self, expected: &Digest, reader: impl Read) -> Result<PathBuf> {
        if self.contains(expected) {
            return Ok(self.path(expected));
        }
        let (tmp, actual, _) = self.write_temp(reader)?;
        digest::verify("blob", expected, &actual)?;
        self.commit(tmp, &actual)
    }

    /// Stores what `reader` yields under whatever its digest turns out to be.
    pub fn put_unverified(&self, reader: impl Read) -> Result<(Digest, u64)> {
        let (tmp, digest, size) = self.write_temp(reader)?;
        self.commit(tmp, &digest)?;
        Ok((digest, size))
    }

    /// Starts a blob that arrives in pieces (a download); `BlobWriter::commit` checks its
    /// digest, and dropping the writer uncommitted leaves nothing.
    pub fn writer(&self) -> Result<BlobWriter<'_>> {
        let tmp =
            tempfile::NamedTempFile::new_in(&self.tmp).at("create temp file in", &self.tmp)?;
        Ok(BlobWriter {
            store: self,
            writer: DigestWriter::new(io::BufWriter::new(tmp)),
        })
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        Ok(self.put_unverified(bytes)?.0)
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(format!("blob {digest}")),
            _ => Error::io_at("open", &path, e),
        })
    }

    /// Reads a whole (small) blob: manifests, indexes and configs.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .at("read", &self.path(digest))?;
        Ok(bytes)
    }

    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        Ok(fs::metadata(&path).at("stat", &path)?.len())
    }

    pub fn remove(&self, digest: &Digest) -> Result<()> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io_at("remove", &path, e)),
            _ => Ok(()),
        }
    }

    /// Every stored blob; stray names that are not digests are skipped.
    pub fn list(&self) -> Result<Vec<Digest>> {
        super::list_digests(&self.dir)
    }

    /// Removes temporary files left by a crash (call only when no write is running).
    pub fn clear_temp(&self) -> Result<()> {
        for entry in fs::read_dir(&self.tmp).at("list", &self.tmp)? {
            let path = entry.at("list", &self.tmp)?.path();
            fs::remove_file(&path).at("remove", &path)?;
        }
        Ok(())
    }

    fn write_temp(&self, mut reader: impl Read) -> Result<(tempfile::NamedTempFile, Digest, u64)> {
        let tmp =
            tempfile::NamedTempFile::new_in(&self.tmp).at("create temp file in", &self.tmp)?;
        let mut writer = DigestWriter::new(io::BufWriter::new(tmp));
        io::copy(&mut reader, &mut writer).map_err(|e| Error::io("write blob", e))?;
        let (buf, digest, size) = writer.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io("write blob", e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync blob", e))?;
        Ok((tmp, digest, size))
    }

    fn commit(&self, tmp: tempfile::NamedTempFile, digest: &Digest) -> Result<PathBuf> {
        let path = self.path(digest);
        tmp.persist(&path)
            .map_err(|e| Error::io_at("rename blob to", &path, e.error))?;
        // Blobs are immutable: read-only makes accidental edits fail loudly.
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o444))
            .at("chmod", &path)?;
        Ok(path)
    }
}

/// A blob being written: hashed on the way to a temporary file, renamed into place by `commit`.
pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    writer: DigestWriter<io::BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter<'_> {
    /// Stores the blob if what was written hashes to `expected`; a mismatch leaves nothing.
    pub fn commit(self, expected: &Digest) -> Result<PathBuf> {
        let (buf, actual, _) = self.writer.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io("write blob", e.into_error()))?;
        digest::verify("blob", expected, &actual)?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync blob", e))?;
        self.store.commit(tmp, &actual)
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_verifies_and_is_idempotent() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::open(root.path()).unwrap();
        let d = Digest::of_bytes(b"hello");
        let p = store.put(&d, &b"hello"[..]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert!(store.contains(&d));
        store.put(&d, &b"hello"[..]).unwrap();
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        assert_eq!(store.read(&d).unwrap(), b"hello");
        assert_eq!(store.size(&d).unwrap(), 5);
        store.remove(&d).unwrap();
        assert!(!store.contains(&d));
        assert!(matches!(store.read(&d), Err(Error::NotFound(_))));
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::open(root.path()).unwrap();
        let d = Digest::of_bytes(b"expected");
        let err = store.put(&d, &b"tampered"[..]).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(store.list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(root.path().join("blobs/tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn writer_commits_only_the_expected_content() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::open(root.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        let d = Digest::of_bytes(b"hello");
        assert_eq!(fs::read(w.commit(&d).unwrap()).unwrap(), b"hello");
        let mut bad = store.writer().unwrap();
        bad.write_all(b"tampered").unwrap();
        let err = bad.commit(&Digest::of_bytes(b"x")).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert_eq!(store.list().unwrap(), vec![d]);
        assert_eq!(
            fs::read_dir(root.path().join("blobs/tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn unverified_put_names_by_content() {
        let root = tempfile::tempdir().unwrap();
        let store = BlobStore::open(root.path()).unwrap();
        let (d, n) = store.put_unverified(&b"abc"[..]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(d, Digest::of_bytes(b"abc"));
        assert!(root.path().join("blobs/sha256").join(d.hex()).is_file());
    }
}
