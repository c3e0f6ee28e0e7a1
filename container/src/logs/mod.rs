//! Container log files in the CRI format the kubelet uses, one record per
//! line: `2026-11-27T11:00:00.123456789Z stdout F text` (`P` marks a
//! fragment of a longer line, `F` the end of a line).
//!
//! [`LogWriter`] (used by the monitor) turns raw output into records and
//! rotates the file (`PATH` -> `PATH.1` -> ... `PATH.N`); [`LogReader`]
//! (used by the agent for `kubectl logs`) turns them back into what kubectl
//! shows, following rotation.

mod cri;
mod reader;
mod writer;

pub use cri::{Record, Stream};
pub use reader::{LogReader, ReadOptions};
pub use writer::{LogWriter, MAX_RECORD_BYTES};
