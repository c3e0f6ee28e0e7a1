//! Unpacks one layer tar into an empty directory, creating every node itself.
//!
//! The tar crate only parses: it would turn devices into files, apply any xattr and skip `..`
//! silently. Here each entry's path is checked, no symlink is ever followed (an entry below a
//! symlink is refused), hardlinks point only at earlier entries of this layer, whiteouts become
//! overlayfs whiteouts, and `trusted.*` xattrs are dropped so a layer cannot forge them.
//!
//! Checks are made on paths (lstat of each parent) rather than through `openat` handles: the
//! destination is a fresh private directory that only this unpack writes to, so what was
//! checked cannot change before it is used.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::compression::{self, Compression};
use super::paths::LayerPath;
use super::sys;
use super::whiteout::{self, Whiteout};
use crate::digest::{Digest, DigestReader};
use crate::error::{Error, IoContext, Result};

/// What applying a layer found out about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the whole uncompressed tar stream.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
    pub compression: Compression,
}

/// Unpacks the (gzip, zstd or plain) layer `reader` into `dest`, an existing empty directory.
/// The caller checks `Applied::diff_id` and discards `dest` on any error.
pub fn apply_layer(reader: impl Read, dest: &Path) -> Result<Applied> {
    let (compression, stream) =
        compression::decompress(reader).map_err(|e| Error::io("read layer", e))?;
    // The digest sees the real stream; the padding below it is only for the tar parser.
    let mut archive = tar::Archive::new(PadToBlock::new(DigestReader::new(stream)));
    let mut applier = Applier::new(dest);
    for entry in archive.entries().map_err(|e| Error::io("read layer", e))? {
        let mut entry = entry.map_err(|e| Error::io("read layer entry", e))?;
        applier.apply(&mut entry)?;
    }
    applier.finish()?;
    let (diff_id, size) = archive
        .into_inner()
        .into_inner()
        .finish()
        .map_err(|e| Error::io("read layer", e))?;
    Ok(Applied {
        diff_id,
        size,
        compression,
    })
}

/// Ownership, mode, time and kept xattrs of one entry (PAX records override the header).
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn read<R: Read>(entry: &mut tar::Entry<R>, shown: &str) -> Result<Meta> {
        let bad = |e: io::Error| Error::unsafe_entry(shown, format!("bad header: {e}"));
        let header = entry.header();
        let mut meta = Meta {
            uid: header.uid().map_err(bad)?,
            gid: header.gid().map_err(bad)?,
            mode: header.mode().map_err(bad)? & 0o7777,
            mtime: header.mtime().map_err(bad)? as i64,
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(bad)? {
            for ext in pax {
                let ext = ext.map_err(bad)?;
                let Ok(key) = ext.key() else { continue };
                let number = || {
                    std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.split('.').next())
                        .and_then(|v| v.parse::<i64>().ok())
                };
                match key {
                    "uid" => {
                        meta.uid = number().ok_or_else(|| bad(io::Error::other("pax uid")))? as u64
                    }
                    "gid" => {
                        meta.gid = number().ok_or_else(|| bad(io::Error::other("pax gid")))? as u64
                    }
                    "mtime" => meta.mtime = number().unwrap_or(meta.mtime),
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                            && keep_xattr(name)
                        {
                            meta.xattrs
                                .push((name.to_string(), ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }
}

/// Only file capabilities and user xattrs survive; `trusted.*` (overlay's own metadata),
/// `security.selinux` and the rest are the host's business, not a layer's.
pub fn keep_xattr(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.")
}

struct Applier<'a> {
    root: &'a Path,
    /// Non-directory nodes created by entries of this layer: the only valid hardlink targets.
    created: HashSet<LayerPath>,
    /// Whiteout devices this layer made; an entry of the same layer may replace them.
    whiteouts: HashSet<LayerPath>,
    /// Directories known to be real (not symlinks) right now: spares an lstat per parent per
    /// entry. Emptied whenever a directory is removed.
    known_dirs: HashSet<LayerPath>,
    /// Directory mtimes, set last because creating children changes them.
    dir_times: Vec<(PathBuf, i64)>,
    as_root: bool,
}

impl<'a> Applier<'a> {
    fn new(root: &'a Path) -> Self {
        Applier {
            root,
            created: HashSet::new(),
            whiteouts: HashSet::new(),
            known_dirs: HashSet::new(),
            dir_times: Vec::new(),
            as_root: sys::is_root(),
        }
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            // Archive-wide PAX defaults (`git archive` writes a comment): no node to create.
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let path = LayerPath::parse(&raw)?;
        let kind = entry.header().entry_type();
        let meta = Meta::read(entry, &shown)?;
        let Some(name) = path.file_name() else {
            // `./`: the layer's root directory itself.
            if !kind.is_dir() {
                return Err(Error::unsafe_entry(shown, "the root must be a directory"));
            }
            let root = self.root.to_path_buf();
            return self.set_meta(&root, &meta, false, true);
        };
        match whiteout::classify(name)? {
            Whiteout::Opaque => {
                let dir = path.parent().unwrap_or_else(LayerPath::root);
                let host = self.ensure_dir(&dir, &shown)?;
                return sys::lsetxattr(&host, whiteout::OPAQUE_XATTR, b"y")
                    .at("mark opaque", &host);
            }
            Whiteout::Remove(target) => {
                let target = path.with_file_name(target);
                return self.whiteout(&target, &shown);
            }
            Whiteout::None => {}
        }
        let host = self.prepare_parent(&path, &shown)?;
        let replaced_whiteout = self.whiteouts.remove(&path);
        self.clear_for(&host, kind.is_dir())?;
        self.created.remove(&path);
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&host)
                    .at("create", &host)?;
                io::copy(entry, &mut file).at("write", &host)?;
            }
            EntryType::Directory => {
                if !host.is_dir() {
                    fs::create_dir(&host).at("create directory", &host)?;
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::unsafe_entry(&shown, "symlink without target"))?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &host)
                    .at("symlink", &host)?;
            }
            EntryType::Link => {
                // A hardlink has no metadata of its own: it is the target's inode.
                self.hardlink(entry, &host, &shown)?;
                self.created.insert(path);
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = |n: io::Result<Option<u32>>| n.ok().flatten().unwrap_or(0);
                let major = dev(entry.header().device_major());
                let minor = dev(entry.header().device_minor());
                sys::mknod(&host, file_type, 0o600, major, minor).at("mknod", &host)?;
            }
            other => {
                return Err(Error::unsafe_entry(
                    shown,
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        let is_dir = kind.is_dir();
        self.set_meta(&host, &meta, kind.is_symlink(), is_dir)?;
        if is_dir && replaced_whiteout {
            // Deleted then re-created in one layer: lower layers' contents stay hidden.
            sys::lsetxattr(&host, whiteout::OPAQUE_XATTR, b"y").at("mark opaque", &host)?;
        }
        if !is_dir {
            self.created.insert(path);
        }
        Ok(())
    }

    /// `.wh.NAME`: a 0:0 char device, unless this layer already ships NAME (then it stays,
    /// made opaque if it is a directory).
    fn whiteout(&mut self, target: &LayerPath, shown: &str) -> Result<()> {
        let host = self.prepare_parent(target, shown)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {
                sys::lsetxattr(&host, whiteout::OPAQUE_XATTR, b"y").at("mark opaque", &host)
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                sys::mknod(&host, libc::S_IFCHR, 0, 0, 0).at("create whiteout", &host)?;
                self.whiteouts.insert(target.clone());
                Ok(())
            }
            Err(e) => Err(Error::io_at("stat", &host, e)),
        }
    }

    fn hardlink<R: Read>(&self, entry: &tar::Entry<R>, host: &Path, shown: &str) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| Error::unsafe_entry(shown, "hardlink without target"))?;
        let target = LayerPath::parse(&raw)?;
        if !self.created.contains(&target) {
            return Err(Error::unsafe_entry(
                shown,
                format!(
                    "hardlink target {:?} is not an earlier entry of this layer",
                    target.display()
                ),
            ));
        }
        let target_host = self.existing_parent(&target, shown)?;
        match fs::symlink_metadata(&target_host) {
            Ok(m) if !m.is_dir() => {}
            _ => {
                return Err(Error::unsafe_entry(
                    shown,
                    "hardlink target is missing or a directory",
                ));
            }
        }
        fs::hard_link(&target_host, host).at("hardlink", host)
    }

    /// Removes what an earlier entry of this layer left at `host`, unless dir meets dir.
    fn clear_for(&mut self, host: &Path, new_is_dir: bool) -> Result<()> {
        match fs::symlink_metadata(host) {
            Ok(m) if m.is_dir() && new_is_dir => Ok(()),
            Ok(m) if m.is_dir() => {
                self.known_dirs.clear();
                fs::remove_dir_all(host).at("replace", host)
            }
            Ok(_) => fs::remove_file(host).at("replace", host),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io_at("stat", host, e)),
        }
    }

    /// Makes every parent of `path` a real directory (creating missing ones) and returns the
    /// host path. Refuses a parent that is a symlink or not a directory.
    fn prepare_parent(&mut self, path: &LayerPath, shown: &str) -> Result<PathBuf> {
        if let Some(parent) = path.parent() {
            self.ensure_dir(&parent, shown)?;
        }
        Ok(path.under(self.root))
    }

    fn ensure_dir(&mut self, dir: &LayerPath, shown: &str) -> Result<PathBuf> {
        let mut host = self.root.to_path_buf();
        let mut sofar = LayerPath::root();
        for c in dir.components() {
            host.push(c);
            sofar = sofar.with_child(c.as_bytes());
            if self.known_dirs.contains(&sofar) {
                continue;
            }
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::unsafe_entry(
                        shown,
                        "a parent directory is a symlink",
                    ));
                }
                Ok(_) if self.whiteouts.remove(&sofar) => {
                    // Whiteout then children in one layer: a fresh, opaque directory.
                    fs::remove_file(&host).at("replace whiteout", &host)?;
                    make_implicit_dir(&host)?;
                    sys::lsetxattr(&host, whiteout::OPAQUE_XATTR, b"y").at("mark opaque", &host)?;
                }
                Ok(_) => return Err(Error::unsafe_entry(shown, "a parent is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => make_implicit_dir(&host)?,
                Err(e) => return Err(Error::io_at("stat", &host, e)),
            }
            self.known_dirs.insert(sofar.clone());
        }
        Ok(host)
    }

    /// Like `ensure_dir` for a path's parents, but creates nothing.
    fn existing_parent(&self, path: &LayerPath, shown: &str) -> Result<PathBuf> {
        let mut host = self.root.to_path_buf();
        if let Some(parent) = path.parent() {
            for c in parent.components() {
                host.push(c);
                match fs::symlink_metadata(&host) {
                    Ok(m) if m.is_dir() => {}
                    _ => {
                        return Err(Error::unsafe_entry(
                            shown,
                            "hardlink target's parent is not a directory of this layer",
                        ));
                    }
                }
            }
        }
        Ok(path.under(self.root))
    }

    /// lchown, then chmod (chown clears setuid), then xattrs (chown clears capabilities).
    fn set_meta(&mut self, host: &Path, meta: &Meta, is_symlink: bool, is_dir: bool) -> Result<()> {
        let uid = u32::try_from(meta.uid)
            .map_err(|_| Error::unsafe_entry(host.display().to_string(), "uid out of range"))?;
        let gid = u32::try_from(meta.gid)
            .map_err(|_| Error::unsafe_entry(host.display().to_string(), "gid out of range"))?;
        match std::os::unix::fs::lchown(host, Some(uid), Some(gid)) {
            Ok(()) => {}
            // Unprivileged unpacking (tests as a user) keeps the caller's ownership.
            Err(e) if !self.as_root && e.kind() == io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(Error::io_at("chown", host, e)),
        }
        if !is_symlink {
            fs::set_permissions(host, fs::Permissions::from_mode(meta.mode)).at("chmod", host)?;
        }
        for (name, value) in &meta.xattrs {
            sys::lsetxattr(host, name, value).at(&format!("set xattr {name} on"), host)?;
        }
        if is_dir {
            self.dir_times.push((host.to_path_buf(), meta.mtime));
        } else {
            sys::set_mtime_nofollow(host, meta.mtime).at("set mtime", host)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        for (host, mtime) in self.dir_times.iter().rev() {
            match sys::set_mtime_nofollow(host, *mtime) {
                // Replaced by a later entry of the layer: nothing to date.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r.at("set mtime", host)?,
            }
        }
        Ok(())
    }
}

fn make_implicit_dir(host: &Path) -> Result<()> {
    fs::create_dir(host).at("create directory", host)?;
    fs::set_permissions(host, fs::Permissions::from_mode(0o755)).at("chmod", host)
}

/// Pads a stream with zeros to a whole 512-byte block, so archives whose last member lacks
/// its padding (Debian's umoci 0.4.7) still parse; an archive may also lack the end blocks.
struct PadToBlock<R> {
    inner: R,
    seen: u64,
    padding: u64,
    eof: bool,
}

impl<R: Read> PadToBlock<R> {
    fn new(inner: R) -> Self {
        PadToBlock {
            inner,
            seen: 0,
            padding: 0,
            eof: false,
        }
    }

    fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for PadToBlock<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.eof {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.seen += n as u64;
                return Ok(n);
            }
            self.eof = true;
            self.padding = (512 - self.seen % 512) % 512;
        }
        let n = (self.padding.min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        self.padding -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_a_block() {
        let mut out = Vec::new();
        PadToBlock::new(&[1u8; 700][..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 1024);
        assert!(out[700..].iter().all(|&b| b == 0));
        let mut exact = Vec::new();
        PadToBlock::new(&[1u8; 512][..])
            .read_to_end(&mut exact)
            .unwrap();
        assert_eq!(exact.len(), 512);
    }

    #[test]
    fn global_pax_headers_create_nothing() {
        let mut builder = tar::Builder::new(Vec::new());
        let record = b"19 comment=abcdefg\n";
        let mut global = tar::Header::new_ustar();
        global.set_entry_type(EntryType::XGlobalHeader);
        global.set_size(record.len() as u64);
        builder
            .append_data(&mut global, "pax_global_header", &record[..])
            .unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_uid(0);
        file.set_gid(0);
        file.set_mtime(0);
        file.set_size(2);
        file.set_mode(0o644);
        builder.append_data(&mut file, "f", &b"hi"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let applied = apply_layer(&tar[..], dest.path()).unwrap();
        assert_eq!(applied.diff_id, Digest::of_bytes(&tar));
        assert_eq!(applied.compression, Compression::None);
        let names: Vec<_> = fs::read_dir(dest.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn xattr_filter() {
        assert!(keep_xattr("security.capability"));
        assert!(keep_xattr("user.note"));
        assert!(!keep_xattr("trusted.overlay.opaque"));
        assert!(!keep_xattr("security.selinux"));
        assert!(!keep_xattr("system.posix_acl_access"));
    }
}
