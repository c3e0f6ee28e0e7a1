//! The one error type of the cgroups module: every message names the
//! cgroup and the file (or controller) involved, so a failed write on a
//! node can be acted on without a debugger.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The relative cgroup path given by the caller is unusable.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A read, write, mkdir, rmdir or open failed.
    #[error("cgroup {cgroup}: cannot {action} {file}: {source}")]
    Io {
        cgroup: String,
        action: String,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A cgroup file did not hold what the kernel documents.
    #[error("cgroup {cgroup}: unexpected content in {file}: {detail}")]
    Parse {
        cgroup: String,
        file: PathBuf,
        detail: String,
    },
    /// A limit or statistic needs a controller this host does not offer
    /// (v1: no hierarchy mounted; v2: not in `cgroup.controllers`).
    #[error(
        "cgroup {cgroup}: the {controller} controller is not available but {needed_for} needs it"
    )]
    MissingController {
        cgroup: String,
        controller: &'static str,
        needed_for: &'static str,
    },
    /// Freezing, killing or emptying a cgroup did not finish in time.
    #[error("cgroup {cgroup}: {what} still not done after {waited:?} (watching {file})")]
    Timeout {
        cgroup: String,
        what: &'static str,
        file: PathBuf,
        waited: Duration,
    },
    /// The host's cgroup layout could not be recognised.
    #[error("cannot detect the cgroup layout from {file}: {detail}")]
    Detect { file: PathBuf, detail: String },
}

impl CgroupError {
    /// The errno behind an I/O failure (e.g. `EBUSY`, `ENOENT`), if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            CgroupError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn io(
        cgroup: &str,
        action: impl Into<String>,
        file: impl Into<PathBuf>,
        source: io::Error,
    ) -> CgroupError {
        CgroupError::Io {
            cgroup: cgroup.to_string(),
            action: action.into(),
            file: file.into(),
            source,
        }
    }
}
