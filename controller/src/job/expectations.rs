//! Writes a Job made that the pod cache has not shown yet. Until it does,
//! the Job creates and deletes nothing more: a cache behind its own
//! writes would otherwise make it create the same pods twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use skiff_api::core::Pod;
use skiff_client::runtime::Cache;

/// After this long an unseen write is given up on (the pod was created
/// and deleted before the cache saw it, say).
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Pending {
    /// `namespace/name` of created pods.
    created: HashSet<String>,
    /// Uids of deleted pods.
    deleted: HashSet<String>,
    since: Option<Instant>,
}

#[derive(Default)]
pub struct Expectations {
    by_job: Mutex<HashMap<String, Pending>>,
    /// The resourceVersion of each Job's last status write.
    written: Mutex<HashMap<String, (u64, Instant)>>,
}

impl Expectations {
    /// Records the writes made for the Job with uid `job`.
    pub fn expect(&self, job: &str, created: Vec<String>, deleted: Vec<String>) {
        if created.is_empty() && deleted.is_empty() {
            return;
        }
        let mut all = self.by_job.lock().unwrap_or_else(PoisonError::into_inner);
        // Jobs deleted while waiting leave entries: drop the stale ones.
        all.retain(|_, p| p.since.is_some_and(|s| s.elapsed() < PATIENCE));
        let p = all.entry(job.to_string()).or_default();
        p.created.extend(created);
        p.deleted.extend(deleted);
        p.since = Some(Instant::now());
    }

    /// Has the cache caught up with every write made for `job`?
    pub fn satisfied(&self, job: &str, pods: &Cache<Pod>, owned: &[Arc<Pod>]) -> bool {
        let mut all = self.by_job.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(p) = all.get_mut(job) else {
            return true;
        };
        p.created.retain(|key| pods.get(key).is_none());
        p.deleted.retain(|uid| {
            owned.iter().any(|pod| {
                pod.metadata.uid.as_deref() == Some(uid)
                    && pod.metadata.deletion_timestamp.is_none()
            })
        });
        let done = p.created.is_empty() && p.deleted.is_empty();
        if done || p.since.is_some_and(|s| s.elapsed() > PATIENCE) {
            all.remove(job);
            return true;
        }
        false
    }

    /// Remembers that the Job's status was written at `resource_version`.
    pub fn wrote_status(&self, job: &str, resource_version: Option<&str>) {
        if let Some(rv) = resource_version.and_then(|v| v.parse().ok()) {
            let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            written.retain(|_, (_, at)| at.elapsed() < PATIENCE);
            written.insert(job.to_string(), (rv, Instant::now()));
        }
    }

    /// Is the cached Job (at `resource_version`) at least as new as our
    /// last status write? Deciding from an older one would count pods
    /// from a status that no longer holds.
    pub fn status_seen(&self, job: &str, resource_version: Option<&str>) -> bool {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(&(wrote, at)) = written.get(job) else {
            return true;
        };
        let seen: u64 = resource_version.and_then(|v| v.parse().ok()).unwrap_or(0);
        if seen >= wrote || at.elapsed() > PATIENCE {
            written.remove(job);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_writes_wait_for_the_cache() {
        let e = Expectations::default();
        assert!(e.status_seen("j", Some("5")));
        e.wrote_status("j", Some("10"));
        assert!(!e.status_seen("j", Some("9")));
        assert!(e.status_seen("j", Some("10")));
        // Satisfied once: forgotten.
        assert!(e.status_seen("j", Some("3")));
    }
}
