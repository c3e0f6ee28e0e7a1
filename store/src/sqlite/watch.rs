//! A watch on the SQLite store: history from the table, then live events from
//! the in-process broadcast.
//!
//! `cursor` is the revision up to which every change under the prefix has been
//! queued. History pages and live events both only ever move it forward, and a
//! live event at or below it is a duplicate. A watcher that falls behind the
//! broadcast buffer (`Lagged`) goes back to reading the table from `cursor`,
//! so a slow watcher is never silently missing events; if compaction removed
//! what it needs, the stream ends with `Compacted`.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::SqliteStore;
use super::read::{self, PageSize};
use crate::{Result, Revision, WatchEvent, WatchStream};

const PAGE: PageSize = PageSize {
    rows: 1000,
    bytes: 8 * 1024 * 1024,
};

struct Watch {
    store: SqliteStore,
    prefix: String,
    cursor: Revision,
    /// Reading the table (at start, and after lagging behind the broadcast).
    catching_up: bool,
    live: broadcast::Receiver<Arc<WatchEvent>>,
    queue: VecDeque<WatchEvent>,
    finished: bool,
}

pub(super) fn stream(
    store: SqliteStore,
    prefix: String,
    after: Revision,
    live: broadcast::Receiver<Arc<WatchEvent>>,
) -> WatchStream {
    let watch = Watch {
        store,
        prefix,
        cursor: after,
        catching_up: true,
        live,
        queue: VecDeque::new(),
        finished: false,
    };
    Box::pin(futures::stream::unfold(watch, |mut watch| async move {
        let item = watch.next().await?;
        Some((item, watch))
    }))
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
            if self.catching_up {
                if let Err(error) = self.read_history_page().await {
                    self.finished = true;
                    return Some(Err(error));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) => {
                    if event.kv.mod_revision <= self.cursor {
                        continue;
                    }
                    self.cursor = event.kv.mod_revision;
                    if event.kv.key.starts_with(&self.prefix) {
                        return Some(Ok(Arc::unwrap_or_clone(event)));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        cursor = self.cursor,
                        "watcher lagged; reading history"
                    );
                    self.catching_up = true;
                }
                // The store is gone: end the stream.
                Err(RecvError::Closed) => self.finished = true,
            }
        }
    }

    async fn read_history_page(&mut self) -> Result<()> {
        let prefix = self.prefix.clone();
        let after = self.cursor;
        let page = self
            .store
            .blocking(move |inner| inner.read(|conn| read::history(conn, &prefix, after, PAGE)))
            .await?;
        self.queue.extend(page.events);
        self.cursor = page.cursor;
        self.catching_up = !page.complete;
        Ok(())
    }
}
