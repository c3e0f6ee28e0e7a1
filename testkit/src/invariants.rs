//! Invariants checked at every watch event: a watch keeps the set of
//! objects (pods, ReplicaSets, ...) a selector picks, and after each event
//! hands that snapshot to a check; what the check rejects is collected as
//! a violation.
//!
//! The watch is an ordinary client watch, resumed from its last
//! resourceVersion when it ends (also when faults drop it), so the checks
//! see every state the store went through, in order, one event at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use skiff_api::Object;
use skiff_api::core::Pod;
use skiff_client::runtime::{Event, watcher};
use skiff_client::{Api, ListParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::objects::{is_active, is_available};

/// The objects a watch selects, as of one event.
#[derive(Debug, Clone)]
pub struct Snapshot<T> {
    objects: BTreeMap<String, T>,
    /// Events seen so far (the initial list counts as one).
    pub event: usize,
}

impl<T> Default for Snapshot<T> {
    fn default() -> Snapshot<T> {
        Snapshot {
            objects: BTreeMap::new(),
            event: 0,
        }
    }
}

/// The pods a watch selects, as of one event.
pub type PodSnapshot = Snapshot<Pod>;

impl<T: Object> Snapshot<T> {
    /// Every selected object (for pods: terminating and finished ones too).
    pub fn objects(&self) -> impl Iterator<Item = &T> {
        self.objects.values()
    }

    /// The object `namespace/name` (`name` for cluster-scoped kinds).
    pub fn get(&self, key: &str) -> Option<&T> {
        self.objects.get(key)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn count(&self, f: impl Fn(&T) -> bool) -> usize {
        self.objects.values().filter(|o| f(o)).count()
    }

    /// How many of the objects `f` keeps carry each value of label `key`
    /// (those without it count under "").
    pub fn by_label(&self, key: &str, f: impl Fn(&T) -> bool) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for o in self.objects.values().filter(|o| f(o)) {
            let v = o.metadata().labels.get(key).cloned().unwrap_or_default();
            *out.entry(v).or_insert(0) += 1;
        }
        out
    }

    fn apply(&mut self, event: Event<T>) {
        self.event += 1;
        let key = |o: &T| {
            let m = o.metadata();
            match m.namespace.as_deref() {
                Some(ns) if !ns.is_empty() => format!("{ns}/{}", m.name_str()),
                _ => m.name_str().to_string(),
            }
        };
        match event {
            Event::Restarted(all) => {
                self.objects = all.into_iter().map(|o| (key(&o), o)).collect();
            }
            Event::Applied(o) => {
                self.objects.insert(key(&o), o);
            }
            Event::Deleted(o) => {
                self.objects.remove(&key(&o));
            }
        }
    }
}

impl Snapshot<Pod> {
    /// Every selected pod, terminating and finished ones included.
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.objects()
    }

    /// Pods neither terminating nor finished.
    pub fn active(&self) -> usize {
        self.count(is_active)
    }

    /// Active pods that are Ready.
    pub fn available(&self) -> usize {
        self.count(is_available)
    }
}

/// A check: `Err(what is wrong)` is recorded as a violation.
pub type Check<T> = Box<dyn FnMut(&Snapshot<T>) -> Result<(), String> + Send>;

struct Record<T> {
    events: usize,
    violations: Vec<String>,
    last: Snapshot<T>,
}

/// A running watch with its check. Dropping it stops the watch.
pub struct ObjectWatch<T> {
    record: Arc<Mutex<Record<T>>>,
    seen: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

/// A running pod watch with its check.
pub type PodWatch = ObjectWatch<Pod>;

impl<T> Drop for ObjectWatch<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// At most this many violations are kept (the first ones tell the story).
const MAX_VIOLATIONS: usize = 100;

impl<T: Object> ObjectWatch<T> {
    /// Starts watching the objects of `api` that `selector` (a label
    /// selector, `""` for all) picks, running `check` after every event;
    /// returns once the initial list was checked.
    pub async fn start(
        api: Api<T>,
        selector: &str,
        check: impl FnMut(&Snapshot<T>) -> Result<(), String> + Send + 'static,
    ) -> anyhow::Result<ObjectWatch<T>> {
        let record = Arc::new(Mutex::new(Record {
            events: 0,
            violations: Vec::new(),
            last: Snapshot::default(),
        }));
        let (seen_tx, seen) = watch::channel(0usize);
        let params = ListParams::default().labels(selector);
        let mut check: Check<T> = Box::new(check);
        let rec = record.clone();
        let task = tokio::spawn(async move {
            let mut snapshot = Snapshot::<T>::default();
            let mut events = std::pin::pin!(watcher(api, params));
            while let Some(item) = events.next().await {
                let Ok(event) = item else { continue };
                snapshot.apply(event);
                let verdict = check(&snapshot);
                let mut r = rec.lock().unwrap_or_else(PoisonError::into_inner);
                r.events = snapshot.event;
                if let Err(message) = verdict
                    && r.violations.len() < MAX_VIOLATIONS
                {
                    r.violations
                        .push(format!("event {}: {message}", snapshot.event));
                }
                r.last = snapshot.clone();
                drop(r);
                seen_tx.send_replace(snapshot.event);
            }
        });
        let mut w = ObjectWatch { record, seen, task };
        tokio::time::timeout(Duration::from_secs(30), w.seen.wait_for(|n| *n > 0))
            .await
            .map_err(|_| anyhow::anyhow!("the watch did not list within 30 s"))?
            .map_err(|_| anyhow::anyhow!("the watch ended"))?;
        Ok(w)
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record<T>> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Events checked so far.
    pub fn events(&self) -> usize {
        self.record().events
    }

    /// What the check rejected, in order (`event N: message`).
    pub fn violations(&self) -> Vec<String> {
        self.record().violations.clone()
    }

    /// The objects as of the latest event.
    pub fn snapshot(&self) -> Snapshot<T> {
        self.record().last.clone()
    }

    /// An error listing the violations, if any.
    pub fn verify(&self) -> anyhow::Result<()> {
        let r = self.record();
        if r.violations.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = r.violations.iter().take(10).map(String::as_str).collect();
        anyhow::bail!(
            "{} invariant violation(s) in {} events; first: {}",
            r.violations.len(),
            r.events,
            shown.join("; ")
        )
    }

    /// Waits until the watch has checked every event up to now: call it
    /// before [`verify`](Self::verify) so the last changes are judged too.
    /// It waits for the snapshot to satisfy `settled` (for example, "the
    /// pods the API lists").
    pub async fn settle(
        &self,
        timeout: Duration,
        settled: impl Fn(&Snapshot<T>) -> bool,
    ) -> anyhow::Result<()> {
        crate::wait::wait_until(timeout, "the watch to catch up", || async {
            settled(&self.record().last)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns",
            "labels": {"v": if ready { "new" } else { "old" }}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready",
                "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    #[test]
    fn snapshots_follow_events() {
        let mut s = PodSnapshot::default();
        assert!(s.is_empty());
        s.apply(Event::Restarted(vec![pod("a", true), pod("b", false)]));
        assert_eq!((s.len(), s.active(), s.available()), (2, 2, 1));
        let mut going = pod("a", true);
        going.metadata.deletion_timestamp = Some(skiff_api::meta::Time::now());
        s.apply(Event::Applied(going.clone()));
        assert_eq!((s.len(), s.active(), s.available()), (2, 1, 0));
        assert_eq!(s.by_label("v", |_| true)["new"], 1);
        assert!(s.get("ns/a").is_some());
        s.apply(Event::Deleted(going));
        assert_eq!(s.len(), 1);
        assert_eq!(s.event, 3);
    }
}
