//! A watch on etcd, handling etcd 3.4's protocol details:
//! - the first response only confirms creation (`created`);
//! - a watch whose start revision was compacted is cancelled with an empty
//!   `cancel_reason` but a non-zero `compact_revision`;
//! - progress notifications (`watch_id` -1) carry no events;
//! - a delete event's `kv` has only the key and the deletion revision; the
//!   last value comes from `prev_kv` (requested with `with_prev_key`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use etcd_client::{EventType as EtcdEventType, WatchOptions, WatchResponse};

use super::{EtcdStore, convert, errors, range_end, range_key};
use crate::{EventType, KeyValue, Result, Revision, StoreError, WatchEvent, WatchStream};

struct Watch {
    /// Dropping it (with the stream) cancels the watch on the server.
    stream: etcd_client::WatchStream,
    prefix: Arc<str>,
    compacted: Arc<AtomicI64>,
    /// Revision of the last event queued.
    cursor: Revision,
    queue: VecDeque<WatchEvent>,
    finished: bool,
}

pub(super) async fn start(store: &EtcdStore, prefix: &str, after: Revision) -> Result<WatchStream> {
    let full_prefix = store.full_key(prefix);
    let options = WatchOptions::new()
        .with_range(range_end(&full_prefix))
        .with_start_revision(after.saturating_add(1))
        .with_prev_key();
    let stream = store
        .watch
        .clone()
        .watch(range_key(&full_prefix), Some(options))
        .await
        .map_err(errors::map)?;
    let mut watch = Watch {
        stream,
        prefix: store.prefix.clone(),
        compacted: store.compacted.clone(),
        cursor: after,
        queue: VecDeque::new(),
        finished: false,
    };
    // Wait for the server to confirm (or refuse) the watch, so a failure
    // shows up here rather than later in the stream.
    match watch.stream.message().await.map_err(errors::map)? {
        Some(response) => watch.accept(response)?,
        None => return Err(closed()),
    }
    Ok(Box::pin(futures::stream::unfold(
        watch,
        |mut watch| async move {
            let item = watch.next().await?;
            Some((item, watch))
        },
    )))
}

fn closed() -> StoreError {
    StoreError::Unavailable("etcd closed the watch stream".into())
}

impl Watch {
    async fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            let outcome = match self.stream.message().await {
                Ok(Some(response)) => self.accept(response),
                Ok(None) => Err(closed()),
                Err(error) => Err(errors::map(error)),
            };
            if let Err(error) = outcome {
                self.finished = true;
                return Some(Err(error));
            }
        }
    }

    /// Queues a response's events, or turns a cancellation into an error.
    fn accept(&mut self, response: WatchResponse) -> Result<()> {
        if response.canceled() || response.compact_revision() > 0 {
            let compacted = response.compact_revision();
            if compacted > 0 {
                self.compacted.fetch_max(compacted, Ordering::AcqRel);
                return Err(StoreError::Compacted {
                    requested: self.cursor,
                    compacted,
                });
            }
            return Err(StoreError::Unavailable(format!(
                "etcd cancelled the watch: {}",
                response.cancel_reason()
            )));
        }
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            if kv.mod_revision() <= self.cursor {
                continue;
            }
            let converted = match event.event_type() {
                EtcdEventType::Put => WatchEvent {
                    event_type: if kv.version() == 1 {
                        EventType::Added
                    } else {
                        EventType::Modified
                    },
                    kv: convert(&self.prefix, kv)?,
                },
                EtcdEventType::Delete => self.deletion(kv, event.prev_kv())?,
            };
            self.cursor = kv.mod_revision();
            self.queue.push_back(converted);
        }
        Ok(())
    }

    fn deletion(
        &self,
        kv: &etcd_client::KeyValue,
        previous: Option<&etcd_client::KeyValue>,
    ) -> Result<WatchEvent> {
        let revision = kv.mod_revision();
        // etcd omits prev_kv only when the revision before the deletion is
        // compacted: the watcher cannot be told the last value, so it must
        // start over from a fresh list.
        let Some(previous) = previous else {
            let compacted = self.compacted.load(Ordering::Acquire).max(revision);
            return Err(StoreError::Compacted {
                requested: self.cursor,
                compacted,
            });
        };
        let last = convert(&self.prefix, previous)?;
        Ok(WatchEvent {
            event_type: EventType::Deleted,
            kv: KeyValue {
                key: last.key,
                value: last.value,
                mod_revision: revision,
                create_revision: last.create_revision,
            },
        })
    }
}
