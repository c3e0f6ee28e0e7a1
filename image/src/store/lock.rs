//! A lock file that lets imports run side by side but keeps gc alone: gc must not delete the
//! blobs of an image whose record is not written yet.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{IoContext, Result};

pub struct StoreLock {
    // Closing the file releases the flock.
    _file: File,
}

impl StoreLock {
    pub fn shared(root: &Path) -> Result<StoreLock> {
        StoreLock::take(root, libc::LOCK_SH)
    }

    pub fn exclusive(root: &Path) -> Result<StoreLock> {
        StoreLock::take(root, libc::LOCK_EX)
    }

    fn take(root: &Path, how: libc::c_int) -> Result<StoreLock> {
        let path = root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at("open", &path)?;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
                return Ok(StoreLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e).at("lock", &path);
            }
        }
    }
}
