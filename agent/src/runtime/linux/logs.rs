//! `logs`: the container's CRI log files read back (`LogReader`), and
//! followed by polling every 100 ms until the container has exited.

use std::time::Duration;

use skiff_container::logs::{LogReader, ReadOptions};

use super::containers::read_status;
use super::{LinuxRuntime, blocking, failed};
use crate::runtime::{ContainerId, LogOptions, LogStream, RuntimeError, RuntimeResult};

const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// The reader and whether the stream has ended.
struct Cursor {
    reader: Option<LogReader>,
    done: bool,
}

impl LinuxRuntime {
    pub(super) async fn logs_impl(
        &self,
        id: &ContainerId,
        options: &LogOptions,
    ) -> RuntimeResult<LogStream> {
        let record = self.container_record(id)?;
        let opts = ReadOptions {
            tail_lines: options.tail_lines,
            since: options.since,
            timestamps: options.timestamps,
            limit_bytes: options.limit_bytes,
        };
        let path = record.log_path.clone();
        let reader = blocking(move || {
            LogReader::open(&path, &opts)
                .map_err(|e| failed(format!("opening the log {}", path.display()), e))
        })
        .await?;
        let follow = options.follow;
        let dir = self.shared.paths.container(&record.id).dir;
        let first = Cursor {
            reader: Some(reader),
            done: false,
        };
        let stream = futures::stream::unfold(first, move |mut cursor| {
            let dir = dir.clone();
            async move {
                loop {
                    if cursor.done {
                        return None;
                    }
                    // Decided before reading, so nothing written before the exit is missed.
                    let exited = {
                        let d = dir.clone();
                        matches!(
                            blocking(move || read_status(&d)).await,
                            Ok(skiff_container::state::Status::Exited(_))
                                | Ok(skiff_container::state::Status::Failed { .. })
                                | Err(RuntimeError::NotFound(_))
                        )
                    };
                    let mut reader = cursor.reader.take()?;
                    let read = tokio::task::spawn_blocking(move || {
                        let chunk = reader.read_available();
                        (reader, chunk)
                    })
                    .await;
                    let (reader, chunk) = match read {
                        Ok(pair) => pair,
                        Err(e) => {
                            cursor.done = true;
                            return Some((Err(failed("reading the log", e)), cursor));
                        }
                    };
                    let limit = reader.limit_reached();
                    cursor.reader = Some(reader);
                    cursor.done = !follow || exited || limit;
                    match chunk {
                        Ok(bytes) if !bytes.is_empty() => return Some((Ok(bytes), cursor)),
                        Ok(_) if cursor.done => return None,
                        Ok(_) => tokio::time::sleep(FOLLOW_POLL).await,
                        Err(e) => {
                            cursor.done = true;
                            return Some((Err(failed("reading the log", e)), cursor));
                        }
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }
}
