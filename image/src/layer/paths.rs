//! Entry paths from a tar, made relative and checked: no `..`, no absolute paths.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A path inside a layer: non-empty components, none of them `.` or `..`. Empty is the root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerPath {
    components: Vec<Vec<u8>>,
}

impl LayerPath {
    /// Strips leading `/` and `./`, drops `.` and empty components, refuses `..` and NUL.
    pub fn parse(raw: &[u8]) -> Result<LayerPath> {
        let shown = || String::from_utf8_lossy(raw).into_owned();
        if raw.contains(&0) {
            return Err(Error::unsafe_entry(shown(), "NUL byte in path"));
        }
        let mut components = Vec::new();
        for c in raw.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(Error::unsafe_entry(shown(), "path contains '..'")),
                c => components.push(c.to_vec()),
            }
        }
        Ok(LayerPath { components })
    }

    pub fn root() -> LayerPath {
        LayerPath {
            components: Vec::new(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    pub fn components(&self) -> impl Iterator<Item = &OsStr> {
        self.components.iter().map(|c| OsStr::from_bytes(c))
    }

    pub fn file_name(&self) -> Option<&[u8]> {
        self.components.last().map(Vec::as_slice)
    }

    pub fn parent(&self) -> Option<LayerPath> {
        let (_, parent) = self.components.split_last()?;
        Some(LayerPath {
            components: parent.to_vec(),
        })
    }

    /// A sibling in the same directory: `dir/.wh.x` -> `dir/x`.
    pub fn with_file_name(&self, name: &[u8]) -> LayerPath {
        let mut components = self.components.clone();
        components.pop();
        components.push(name.to_vec());
        LayerPath { components }
    }

    pub fn with_child(&self, name: &[u8]) -> LayerPath {
        let mut components = self.components.clone();
        components.push(name.to_vec());
        LayerPath { components }
    }

    /// The host path below `root` (no symlink is resolved here; callers check parents).
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in self.components() {
            p.push(c);
        }
        p
    }

    pub fn display(&self) -> String {
        let joined: Vec<String> = self
            .components
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        joined.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        LayerPath::parse(s.as_bytes()).unwrap().display()
    }

    #[test]
    fn strips_prefixes() {
        assert_eq!(norm("./etc/passwd"), "etc/passwd");
        assert_eq!(norm("/etc/passwd"), "etc/passwd");
        assert_eq!(norm("//etc//./passwd/"), "etc/passwd");
        assert!(LayerPath::parse(b"./").unwrap().is_root());
    }

    #[test]
    fn refuses_dotdot_and_nul() {
        for bad in ["../x", "a/../../x", "a/..", "/..", "a\0b"] {
            assert!(LayerPath::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        // "..." and "..x" are ordinary names.
        assert_eq!(norm("a/.../..x"), "a/.../..x");
    }

    #[test]
    fn parents_and_siblings() {
        let p = LayerPath::parse(b"a/b/.wh.c").unwrap();
        assert_eq!(p.parent().unwrap().display(), "a/b");
        assert_eq!(p.with_file_name(b"c").display(), "a/b/c");
        assert_eq!(p.under(Path::new("/r")), PathBuf::from("/r/a/b/.wh.c"));
        assert_eq!(
            LayerPath::parse(b"x").unwrap().parent().unwrap().display(),
            ""
        );
    }
}
