//! One error type for the image store: every failure says what and where.

use std::io;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {0:?}: only sha256:<64 lowercase hex> is supported")]
    InvalidDigest(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("refused layer entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: String },
    #[error("invalid image: {0}")]
    InvalidImage(String),
    #[error("image {0} not found")]
    NotFound(String),
    /// A registry (or mirror) refused, failed or answered something wrong.
    #[error("pulling {repository} from {registry}: {what}")]
    Registry {
        registry: String,
        repository: String,
        what: String,
    },
    /// `imagePullPolicy` forbids what is needed (`ErrImageNeverPull`) or is not a policy.
    #[error("{0}")]
    PullPolicy(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io_at(action: &str, path: &Path, source: io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }

    pub(crate) fn unsafe_entry(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::UnsafeEntry {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            context: context.into(),
            source,
        }
    }
}

/// Adds a path to an io::Error in one call: `fs::read(p).at("read", p)?`.
pub(crate) trait IoContext<T> {
    fn at(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io_at(action, path, e))
    }
}
