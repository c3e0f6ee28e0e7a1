//! Describes a directory tree node by node, and computes the merged view of layer
//! directories the way overlayfs does (whiteouts, opaque directories, top layer wins).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub type Tree = BTreeMap<String, String>;

pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

fn xattr_names(path: &Path) -> Vec<String> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C string and a buffer of the given length.
    let len = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len <= 0 {
        return Vec::new();
    }
    buf[..len as usize]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

pub fn is_whiteout(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

pub fn is_opaque(path: &Path) -> bool {
    xattr(path, "trusted.overlay.opaque").as_deref() == Some(b"y")
}

/// One line per node: kind, permissions, owner, content or target, kept xattrs.
pub fn describe(path: &Path) -> String {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let ft = m.file_type();
    let perm = m.mode() & 0o7777;
    let own = format!("{}:{}", m.uid(), m.gid());
    let mut s = if ft.is_symlink() {
        format!("link -> {}", fs::read_link(path).unwrap().display())
    } else if ft.is_dir() {
        format!("dir {perm:04o} {own}")
    } else if ft.is_file() {
        let content = String::from_utf8_lossy(&fs::read(path).unwrap()).into_owned();
        format!("file {perm:04o} {own} {content:?}")
    } else if ft.is_char_device() || ft.is_block_device() {
        let kind = if ft.is_char_device() { "char" } else { "block" };
        let (major, minor) = (libc::major(m.rdev()), libc::minor(m.rdev()));
        format!("{kind} {major}:{minor} {perm:04o} {own}")
    } else if ft.is_fifo() {
        format!("fifo {perm:04o} {own}")
    } else {
        format!("other {perm:04o}")
    };
    let mut names = xattr_names(path);
    names.sort();
    for n in names {
        if n.starts_with("user.") || n == "security.capability" {
            let v = xattr(path, &n).unwrap_or_default();
            s.push_str(&format!(" {n}={}", String::from_utf8_lossy(&v)));
        }
    }
    s
}

/// Every node below `root` (not `root` itself), by relative path.
pub fn snapshot(root: &Path) -> Tree {
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Tree) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        // overlayfs lists a whiteout in a directory that merges with nothing below, yet
        // lookups of it fail: what a container sees is "absent".
        if fs::symlink_metadata(&p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        out.insert(rel, describe(&p));
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            walk(root, &p, out);
        }
    }
}

/// The merged view of layer directories, top layer first.
pub fn merged(top_first: &[PathBuf]) -> Tree {
    let mut out = Tree::new();
    merge_dir("", top_first, &mut out);
    out
}

fn merge_dir(rel: &str, stack: &[PathBuf], out: &mut Tree) {
    let mut decided = BTreeSet::new();
    for (i, dir) in stack.iter().enumerate() {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            if !decided.insert(name.clone()) {
                continue;
            }
            let path = dir.join(&name);
            if is_whiteout(&path) {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            out.insert(child_rel.clone(), describe(&path));
            if !fs::symlink_metadata(&path).unwrap().is_dir() {
                continue;
            }
            // This directory merges with same-named directories below, down to an opaque one
            // or to anything that is not a directory.
            let mut child_stack = vec![path.clone()];
            if !is_opaque(&path) {
                for lower in &stack[i + 1..] {
                    let p = lower.join(&name);
                    match fs::symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => {
                            child_stack.push(p.clone());
                            if is_opaque(&p) {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
            }
            merge_dir(&child_rel, &child_stack, out);
        }
    }
}

/// Lines that differ, for readable assertion failures.
pub fn diff(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => out.push(format!("missing {k}: {v}")),
            Some(a) if a != v => {
                out.push(format!("differs {k}:\n   expected {v}\n   actual   {a}"))
            }
            _ => {}
        }
    }
    for (k, v) in actual {
        if !expected.contains_key(k) {
            out.push(format!("unexpected {k}: {v}"));
        }
    }
    out
}
