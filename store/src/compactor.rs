//! Periodic compaction: keeps the last `keep_revisions` revisions of history
//! (enough for watchers to resume) and forgets the rest, so the database
//! does not grow without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::{Result, Revision, Store};

/// Every `every`, compacts `store` to `current_revision - keep_revisions`
/// when that is newer than the last compaction. Runs until the returned task
/// is aborted; a failed round is logged and retried at the next tick.
pub fn spawn_compactor(
    store: Arc<dyn Store>,
    every: Duration,
    keep_revisions: i64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match compact_once(store.as_ref(), keep_revisions).await {
                Ok(Some(revision)) => tracing::info!(revision, "compacted store history"),
                Ok(None) => tracing::trace!("store history already within bounds"),
                Err(error) => tracing::warn!(%error, "store compaction failed"),
            }
        }
    })
}

/// One compaction round; returns the revision compacted to, if any.
pub async fn compact_once(store: &dyn Store, keep_revisions: i64) -> Result<Option<Revision>> {
    let current = store.current_revision().await?;
    let target = current - keep_revisions.max(0);
    if target <= 0 || target <= store.compacted_revision().await? {
        return Ok(None);
    }
    store.compact(target).await?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

    #[tokio::test]
    async fn compact_once_keeps_the_requested_history() {
        let store = SqliteStore::open_in_memory().unwrap();
        for i in 0..10 {
            store.create(&format!("/k/{i}"), vec![1]).await.unwrap();
        }
        assert_eq!(compact_once(&store, 4).await.unwrap(), Some(6));
        assert_eq!(store.compacted_revision().await.unwrap(), 6);
        // Nothing new written: the next round has nothing to do.
        assert_eq!(compact_once(&store, 4).await.unwrap(), None);
        // Fewer revisions than the bound: nothing to compact.
        let fresh = SqliteStore::open_in_memory().unwrap();
        fresh.create("/k", vec![]).await.unwrap();
        assert_eq!(compact_once(&fresh, 4).await.unwrap(), None);
    }
}
