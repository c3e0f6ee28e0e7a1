//! Mapping etcd client errors onto [`StoreError`].
//!
//! etcd reports revision problems only as messages (no revision numbers), so
//! [`classify`] separates them and the caller, which knows the revisions
//! involved, builds the final error.

use anyhow::anyhow;
use tonic::Code;

use crate::StoreError;

/// What went wrong, as far as the error itself tells.
pub(super) enum Failure {
    /// `mvcc: required revision has been compacted`.
    Compacted,
    /// `mvcc: required revision is a future revision`.
    FutureRevision,
    /// The request exceeded etcd's size limit.
    TooLarge,
    /// Anything else, already mapped.
    Other(StoreError),
}

pub(super) fn classify(error: etcd_client::Error) -> Failure {
    match error {
        etcd_client::Error::GRpcStatus(status) => classify_status(&status),
        etcd_client::Error::TransportError(e) => {
            Failure::Other(StoreError::Unavailable(format!("etcd: {e}")))
        }
        etcd_client::Error::IoError(e) => {
            Failure::Other(StoreError::Unavailable(format!("etcd: {e}")))
        }
        other => Failure::Other(StoreError::Other(anyhow!(other).context("etcd"))),
    }
}

fn classify_status(status: &tonic::Status) -> Failure {
    let message = status.message();
    if message.contains("required revision has been compacted") {
        return Failure::Compacted;
    }
    if message.contains("required revision is a future revision") {
        return Failure::FutureRevision;
    }
    // etcd's own limit (`--max-request-bytes`) is InvalidArgument; the gRPC
    // receive limit just above it is ResourceExhausted.
    if message.contains("request is too large") || status.code() == Code::ResourceExhausted {
        return Failure::TooLarge;
    }
    // A broken connection surfaces as Unknown with the transport's message
    // (e.g. "h2 protocol error: error reading a body from connection").
    let broken_connection = status.code() == Code::Unknown
        && ["transport error", "h2 protocol error", "connection"]
            .iter()
            .any(|sign| message.contains(sign));
    let unavailable = broken_connection
        || matches!(
            status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
        );
    if unavailable {
        return Failure::Other(StoreError::Unavailable(format!("etcd: {message}")));
    }
    Failure::Other(StoreError::Other(anyhow!(
        "etcd: {:?}: {message}",
        status.code()
    )))
}

/// Maps an error from a request that reads no old revision and writes no
/// value, where revision and size problems are unexpected.
pub(super) fn map(error: etcd_client::Error) -> StoreError {
    match classify(error) {
        Failure::Compacted => StoreError::Other(anyhow!("etcd: unexpected compacted revision")),
        Failure::FutureRevision => StoreError::Other(anyhow!("etcd: unexpected future revision")),
        Failure::TooLarge => StoreError::TooLarge(0),
        Failure::Other(error) => error,
    }
}

/// Maps an error from a write of a `size`-byte value.
pub(super) fn map_write(error: etcd_client::Error, size: usize) -> StoreError {
    match map(error) {
        StoreError::TooLarge(_) => StoreError::TooLarge(size),
        other => other,
    }
}
