//! Read-your-writes for the Deployment controller. After it writes a
//! Deployment or one of its ReplicaSets, its caches show the old version
//! until the watch event arrives; a sync in between would decide on stale
//! replica counts (a rolling update could then surge past its limit, as
//! each write is pinned only to the version of the object it changes).
//! So each write is remembered, and a sync waits until the caches have
//! caught up with every write made for its Deployment.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use skiff_api::apps::{Deployment, ReplicaSet};
use skiff_client::runtime::Cache;
use tokio::time::Instant;

/// A write the caches never show (a lost event) is forgotten after this.
const WRITE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    ReplicaSet,
}

struct Write {
    kind: Kind,
    key: String,
    version: u64,
    at: Instant,
}

/// Writes not yet seen in the caches, by the Deployment they were made for.
#[derive(Default)]
pub struct Freshness {
    pending: Mutex<HashMap<String, Vec<Write>>>,
}

fn version(rv: Option<&str>) -> Option<u64> {
    rv?.parse().ok()
}

impl Freshness {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Write>>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `key` (of `kind`) was written for `owner` and now has `resource_version`.
    pub fn record(&self, owner: &str, kind: Kind, key: &str, resource_version: Option<&str>) {
        let Some(version) = version(resource_version) else {
            return;
        };
        let mut all = self.lock();
        let writes = all.entry(owner.to_string()).or_default();
        writes.retain(|w| !(w.kind == kind && w.key == key));
        writes.push(Write {
            kind,
            key: key.to_string(),
            version,
            at: Instant::now(),
        });
    }

    /// Do the caches still miss a write made for `owner`? Writes they show
    /// are forgotten.
    pub fn stale(
        &self,
        owner: &str,
        deployments: &Cache<Deployment>,
        replicasets: &Cache<ReplicaSet>,
    ) -> bool {
        let mut all = self.lock();
        let Some(writes) = all.get_mut(owner) else {
            return false;
        };
        writes.retain(|w| {
            if w.at.elapsed() >= WRITE_TTL {
                return false;
            }
            let seen = match w.kind {
                Kind::Deployment => deployments
                    .get(&w.key)
                    .and_then(|d| version(d.metadata.resource_version.as_deref())),
                Kind::ReplicaSet => replicasets
                    .get(&w.key)
                    .and_then(|r| version(r.metadata.resource_version.as_deref())),
            };
            seen.is_none_or(|v| v < w.version)
        });
        let stale = !writes.is_empty();
        if !stale {
            all.remove(owner);
        }
        stale
    }

    /// `key` was deleted: do not wait for it.
    pub fn forget_object(&self, owner: &str, key: &str) {
        if let Some(writes) = self.lock().get_mut(owner) {
            writes.retain(|w| w.key != key);
        }
    }

    /// The Deployment is gone.
    pub fn forget_owner(&self, owner: &str) {
        self.lock().remove(owner);
    }

    /// A re-list: the caches are as fresh as can be.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::meta::ObjectMeta;
    use skiff_client::runtime::{CacheWriter, Event};
    use std::sync::Arc;

    fn rs(name: &str, rv: &str) -> Arc<ReplicaSet> {
        Arc::new(ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn stale_until_the_cache_shows_the_write() {
        let deployments = CacheWriter::<Deployment>::new().cache();
        let mut writer = CacheWriter::<ReplicaSet>::new();
        let replicasets = writer.cache();
        let f = Freshness::default();
        assert!(!f.stale("ns/web", &deployments, &replicasets));
        writer.apply(&Event::Restarted(vec![rs("web-1", "5")]));
        f.record("ns/web", Kind::ReplicaSet, "ns/web-1", Some("7"));
        assert!(f.stale("ns/web", &deployments, &replicasets));
        writer.apply(&Event::Applied(rs("web-1", "8")));
        assert!(!f.stale("ns/web", &deployments, &replicasets));
        // A created object not seen at all is stale, until forgotten.
        f.record("ns/web", Kind::ReplicaSet, "ns/web-2", Some("9"));
        assert!(f.stale("ns/web", &deployments, &replicasets));
        f.forget_object("ns/web", "ns/web-2");
        assert!(!f.stale("ns/web", &deployments, &replicasets));
        f.record("ns/web", Kind::Deployment, "ns/web", Some("10"));
        f.forget_owner("ns/web");
        assert!(!f.stale("ns/web", &deployments, &replicasets));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_writes_lapse() {
        let deployments = CacheWriter::<Deployment>::new().cache();
        let replicasets = CacheWriter::<ReplicaSet>::new().cache();
        let f = Freshness::default();
        f.record("ns/web", Kind::Deployment, "ns/web", Some("3"));
        assert!(f.stale("ns/web", &deployments, &replicasets));
        tokio::time::advance(WRITE_TTL).await;
        assert!(!f.stale("ns/web", &deployments, &replicasets));
    }
}
