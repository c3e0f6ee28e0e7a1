//! Expectations: the pods a ReplicaSet created or deleted that its pod
//! cache has not shown yet. Until they show, the cache under-counts (or
//! over-counts) the ReplicaSet's pods, and acting on it would create
//! duplicates (or delete too many); so a ReplicaSet with pending
//! expectations only updates its status.
//!
//! Each expectation names a pod. It is met by any watch event about that
//! pod (an add, a change, a deletion), or at once when the cache already
//! shows what was expected when it is recorded. Recording and observing
//! take the same lock, and the cache is updated before its event handlers
//! run, so no event can slip between "not in the cache yet" and "now
//! expected". A re-list meets them all (the cache is then authoritative),
//! and a stale expectation lapses after [`EXPECTATION_TTL`] in case an event
//! was lost for good.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use skiff_api::core::Pod;
use skiff_client::runtime::Cache;
use tokio::time::Instant;

/// As Kubernetes: after five minutes, act on the cache anyway.
pub const EXPECTATION_TTL: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Pending {
    /// Names of pods created but not yet seen.
    creates: HashSet<String>,
    /// Names of pods deleted but still seen as active.
    deletes: HashSet<String>,
    /// When the oldest pending expectation was recorded.
    since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.deletes.is_empty()
    }
}

/// Expectations of every ReplicaSet, by key (`namespace/name`).
#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Nothing pending for `key` (or what is pending is too old to wait for).
    pub fn satisfied(&self, key: &str) -> bool {
        let mut all = self.lock();
        let Some(p) = all.get(key) else {
            return true;
        };
        let expired = p.since.is_some_and(|t| t.elapsed() >= EXPECTATION_TTL);
        if p.is_empty() || expired {
            if expired {
                tracing::warn!(
                    replicaset = key,
                    "expectations timed out; acting on the cache"
                );
            }
            all.remove(key);
            return true;
        }
        false
    }

    /// `pod` (in `namespace`) was created for `key`: expect to see it.
    pub fn created(&self, key: &str, namespace: &str, pod: &str, cache: &Cache<Pod>) {
        let mut all = self.lock();
        if cache.get(&format!("{namespace}/{pod}")).is_some() {
            return;
        }
        let p = all.entry(key.to_string()).or_default();
        p.creates.insert(pod.to_string());
        p.since.get_or_insert_with(Instant::now);
    }

    /// `pod` was deleted for `key`: expect it to go (or turn terminating).
    pub fn deleted(&self, key: &str, namespace: &str, pod: &str, cache: &Cache<Pod>) {
        let mut all = self.lock();
        let seen = cache.get(&format!("{namespace}/{pod}"));
        if seen.is_none_or(|p| p.metadata.deletion_timestamp.is_some()) {
            return;
        }
        let p = all.entry(key.to_string()).or_default();
        p.deletes.insert(pod.to_string());
        p.since.get_or_insert_with(Instant::now);
    }

    /// A watch event about `pod`, owned by `key`; `gone` for a deletion.
    pub fn observe(&self, key: &str, pod: &Pod, gone: bool) {
        let mut all = self.lock();
        let Some(p) = all.get_mut(key) else {
            return;
        };
        let name = pod.metadata.name_str();
        p.creates.remove(name);
        if gone || pod.metadata.deletion_timestamp.is_some() {
            p.deletes.remove(name);
        }
        if p.is_empty() {
            all.remove(key);
        }
    }

    /// The ReplicaSet is gone: drop what it expected.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The pod cache was re-listed: it now shows everything as it is.
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// Pending creations and deletions of `key` (for tests and logs).
    pub fn pending(&self, key: &str) -> (usize, usize) {
        self.lock()
            .get(key)
            .map(|p| (p.creates.len(), p.deletes.len()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::meta::{ObjectMeta, Time};
    use skiff_client::runtime::{CacheWriter, Event};
    use std::sync::Arc;

    fn pod(name: &str, deleting: bool) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                deletion_timestamp: deleting.then(Time::now),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn creations_are_met_by_events_or_by_the_cache() {
        let mut writer = CacheWriter::<Pod>::new();
        let cache = writer.cache();
        let exp = Expectations::default();
        assert!(exp.satisfied("ns/rs"));
        exp.created("ns/rs", "ns", "rs-a", &cache);
        exp.created("ns/rs", "ns", "rs-b", &cache);
        assert!(!exp.satisfied("ns/rs"));
        assert_eq!(exp.pending("ns/rs"), (2, 0));
        exp.observe("ns/rs", &pod("rs-a", false), false);
        assert!(!exp.satisfied("ns/rs"));
        // Created and already deleted: any event about it will do.
        exp.observe("ns/rs", &pod("rs-b", false), true);
        assert!(exp.satisfied("ns/rs"));
        // Already in the cache when the create returns: nothing to wait for.
        writer.apply(&Event::Applied(pod("rs-c", false)));
        exp.created("ns/rs", "ns", "rs-c", &cache);
        assert!(exp.satisfied("ns/rs"));
    }

    #[test]
    fn deletions_are_met_when_the_pod_goes_or_terminates() {
        let mut writer = CacheWriter::<Pod>::new();
        let cache = writer.cache();
        writer.apply(&Event::Restarted(vec![
            pod("a", false),
            pod("b", false),
            pod("c", true),
        ]));
        let exp = Expectations::default();
        exp.deleted("ns/rs", "ns", "a", &cache);
        exp.deleted("ns/rs", "ns", "b", &cache);
        // Already terminating, or already gone: nothing to wait for.
        exp.deleted("ns/rs", "ns", "c", &cache);
        exp.deleted("ns/rs", "ns", "zzz", &cache);
        assert_eq!(exp.pending("ns/rs"), (0, 2));
        // A change that is not a deletion does not count.
        exp.observe("ns/rs", &pod("a", false), false);
        assert_eq!(exp.pending("ns/rs"), (0, 2));
        exp.observe("ns/rs", &pod("a", true), false);
        exp.observe("ns/rs", &pod("b", false), true);
        assert!(exp.satisfied("ns/rs"));
    }

    #[test]
    fn forget_and_reset_clear() {
        let cache = CacheWriter::<Pod>::new().cache();
        let exp = Expectations::default();
        exp.created("ns/a", "ns", "x", &cache);
        exp.created("ns/b", "ns", "y", &cache);
        exp.forget("ns/a");
        assert!(exp.satisfied("ns/a") && !exp.satisfied("ns/b"));
        exp.reset();
        assert!(exp.satisfied("ns/b"));
    }

    #[tokio::test(start_paused = true)]
    async fn stale_expectations_lapse() {
        let cache = CacheWriter::<Pod>::new().cache();
        let exp = Expectations::default();
        exp.created("ns/rs", "ns", "lost", &cache);
        assert!(!exp.satisfied("ns/rs"));
        tokio::time::advance(EXPECTATION_TTL).await;
        assert!(exp.satisfied("ns/rs"));
    }
}
