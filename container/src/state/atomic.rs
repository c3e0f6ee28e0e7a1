//! Whole-file writes that readers never see half done: write a temporary
//! file beside the target, rename it over the target. [`write_durable`]
//! also fsyncs the data before the rename, for records that must survive a
//! crash of the machine.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Atomic for readers, not flushed to disk: for records describing
/// processes (pids, start time), which mean nothing after a reboot anyway.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_via_temporary(path, contents, false)
}

/// Atomic and on disk before it becomes visible (exit record, start error).
pub fn write_durable(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_via_temporary(path, contents, true)
}

fn write_via_temporary(path: &Path, contents: &[u8], sync: bool) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        if sync {
            file.sync_data()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        write_atomic(&path, b"one").unwrap();
        write_durable(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_path_without_file_name_is_refused() {
        let err = write_atomic(Path::new("/"), b"x").unwrap_err();
        assert!(err.to_string().contains("no file name"), "{err}");
    }
}
