//! Where an import reads from: a directory, or a tar of one (read in place, by offset).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::layer::paths::LayerPath;

pub trait Source {
    /// Opens a file by its path inside the archive (`blobs/sha256/<hex>`, `manifest.json`).
    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>>;
    fn exists(&self, path: &str) -> bool;

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(path)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("read {path}"), e))?;
        Ok(bytes)
    }
}

pub fn open(path: &Path) -> Result<Box<dyn Source>> {
    let meta = std::fs::metadata(path).at("stat", path)?;
    if meta.is_dir() {
        Ok(Box::new(DirSource {
            root: path.to_path_buf(),
        }))
    } else {
        Ok(Box::new(TarSource::index(path)?))
    }
}

fn clean(path: &str) -> Result<LayerPath> {
    LayerPath::parse(path.as_bytes())
        .map_err(|_| Error::InvalidImage(format!("bad path {path:?} in image")))
}

struct DirSource {
    root: PathBuf,
}

impl Source for DirSource {
    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>> {
        let host = clean(path)?.under(&self.root);
        let file = File::open(&host).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::InvalidImage(format!("{path} is missing")),
            _ => Error::io_at("open", &host, e),
        })?;
        Ok(Box::new(io::BufReader::new(file)))
    }

    fn exists(&self, path: &str) -> bool {
        clean(path).is_ok_and(|p| p.under(&self.root).is_file())
    }
}

enum Item {
    File { offset: u64, size: u64 },
    Link(String),
}

/// A tar indexed once; each file is then read with a seek, never extracted to disk.
struct TarSource {
    path: PathBuf,
    items: HashMap<String, Item>,
}

impl TarSource {
    fn index(path: &Path) -> Result<TarSource> {
        let file = File::open(path).at("open", path)?;
        let mut archive = tar::Archive::new(file);
        let mut items = HashMap::new();
        for entry in archive.entries_with_seek().at("read", path)? {
            let entry = entry.at("read", path)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(clean_name) = clean(&name) else {
                continue;
            };
            let key = clean_name.display();
            let kind = entry.header().entry_type();
            let item = if kind.is_file() {
                Item::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = String::from_utf8_lossy(&target).into_owned();
                // Symlinks are relative to their directory; hardlinks to the archive root.
                let resolved = if kind.is_symlink() {
                    relative_to(&key, &target)
                } else {
                    Some(target)
                };
                match resolved {
                    Some(t) => Item::Link(t),
                    None => continue,
                }
            } else {
                continue;
            };
            items.insert(key, item);
        }
        Ok(TarSource {
            path: path.to_path_buf(),
            items,
        })
    }

    fn find(&self, path: &str) -> Option<(u64, u64)> {
        let mut key = clean(path).ok()?.display();
        for _ in 0..8 {
            match self.items.get(&key)? {
                Item::File { offset, size } => return Some((*offset, *size)),
                Item::Link(target) => key = clean(target).ok()?.display(),
            }
        }
        None
    }
}

/// Resolves a symlink target lexically against the link's directory; `None` if it escapes.
fn relative_to(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Source for TarSource {
    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>> {
        let (offset, size) = self.find(path).ok_or_else(|| {
            Error::InvalidImage(format!("{path} is missing from {}", self.path.display()))
        })?;
        let mut file = File::open(&self.path).at("open", &self.path)?;
        file.seek(SeekFrom::Start(offset)).at("seek", &self.path)?;
        Ok(Box::new(io::BufReader::new(file.take(size))))
    }

    fn exists(&self, path: &str) -> bool {
        self.find(path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets() {
        assert_eq!(
            relative_to("a/layer.tar", "../b/layer.tar").as_deref(),
            Some("b/layer.tar")
        );
        assert_eq!(relative_to("layer.tar", "../x"), None);
        assert_eq!(relative_to("a/l", "/etc/passwd"), None);
    }

    #[test]
    fn reads_files_from_a_tar_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("img.tar");
        let mut b = tar::Builder::new(File::create(&tar_path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "./dir/file", &b"hello"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "link", "dir/file").unwrap();
        b.into_inner().unwrap();
        let src = open(&tar_path).unwrap();
        assert_eq!(src.read("dir/file").unwrap(), b"hello");
        assert_eq!(src.read("link").unwrap(), b"hello");
        assert!(!src.exists("nope"));
        assert!(src.read("nope").is_err());
    }
}
