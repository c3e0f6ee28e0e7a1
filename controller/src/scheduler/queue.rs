//! The scheduling queue: a FIFO of pods to decide, the pods being decided
//! or bound, and the pods no node could take ("parked") until something
//! changes: a node added or changed, resources freed, or the periodic
//! flush. A parked pod backs off (1 s doubling to 10 s per failed attempt)
//! so that a busy cluster does not retry the same hopeless pod in a loop.
//!
//! Time is `tokio::time::Instant`: retry pacing, not a decision about the
//! objects, so tests may pause tokio's clock but need not move a fake one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use skiff_api::core::Pod;
use tokio::time::Instant;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A pod no node could take.
#[derive(Debug)]
struct Parked {
    /// The pod as it was decided: a later version with another spec or
    /// labels may fit where this one did not.
    pod: Arc<Pod>,
    since: Instant,
    /// Something changed that may let it fit: retry once backed off.
    move_requested: bool,
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    /// Keys to decide, oldest first; may hold keys no longer queued (they
    /// are skipped), so forgetting a pod costs no scan.
    active: VecDeque<String>,
    queued: HashSet<String>,
    in_flight: HashSet<String>,
    parked: HashMap<String, Parked>,
    /// Failed attempts in a row, per pod.
    attempts: HashMap<String, u32>,
    moves_pending: bool,
}

fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(8);
    (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// Could this version of the pod be decided differently?
fn same_terms(a: &Pod, b: &Pod) -> bool {
    a.metadata.uid == b.metadata.uid && a.metadata.labels == b.metadata.labels && a.spec == b.spec
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    fn push(&mut self, key: &str) -> bool {
        if self.in_flight.contains(key) || !self.queued.insert(key.to_string()) {
            return false;
        }
        self.active.push_back(key.to_string());
        true
    }

    /// A pod that wants a node (new or changed). True when it was queued.
    pub fn add(&mut self, key: &str, pod: &Arc<Pod>) -> bool {
        if let Some(p) = self.parked.get(key) {
            if same_terms(&p.pod, pod) {
                return false;
            }
            self.parked.remove(key);
        }
        self.push(key)
    }

    /// The next pod to decide; it stays in flight until [`done`](Self::done),
    /// [`park`](Self::park), [`retry`](Self::retry) or [`forget`](Self::forget).
    pub fn pop(&mut self) -> Option<String> {
        while let Some(key) = self.active.pop_front() {
            if self.queued.remove(&key) {
                self.in_flight.insert(key.clone());
                return Some(key);
            }
        }
        None
    }

    /// The pod was bound.
    pub fn done(&mut self, key: &str) {
        self.in_flight.remove(key);
        self.attempts.remove(key);
    }

    /// No node could take the pod: wait for a change.
    pub fn park(&mut self, key: &str, pod: Arc<Pod>, now: Instant) {
        self.in_flight.remove(key);
        *self.attempts.entry(key.to_string()).or_default() += 1;
        self.parked.insert(
            key.to_string(),
            Parked {
                pod,
                since: now,
                move_requested: false,
            },
        );
    }

    /// Decide the pod again (after a failed bind).
    pub fn retry(&mut self, key: &str) -> bool {
        self.in_flight.remove(key);
        self.push(key)
    }

    /// The pod is gone, bound elsewhere or not ours.
    pub fn forget(&mut self, key: &str) {
        self.queued.remove(key);
        self.in_flight.remove(key);
        self.parked.remove(key);
        self.attempts.remove(key);
    }

    /// The cluster changed: every parked pod is retried, each once its
    /// backoff has passed. Returns how many were queued now.
    pub fn move_all(&mut self, now: Instant) -> usize {
        let attempts = &self.attempts;
        let mut pending = false;
        let ready: Vec<String> = self
            .parked
            .extract_if(|key, p| {
                let tries = attempts.get(key).copied().unwrap_or(1);
                let ready = now.duration_since(p.since) >= backoff(tries);
                if !ready {
                    p.move_requested = true;
                    pending = true;
                }
                ready
            })
            .map(|(key, _)| key)
            .collect();
        self.moves_pending |= pending;
        ready.iter().filter(|key| self.push(key)).count()
    }

    /// Queues parked pods whose move was asked for and whose backoff has
    /// passed (called often), and every pod parked for longer than
    /// `flush_after` (the periodic flush). Returns how many were queued.
    pub fn tick(&mut self, now: Instant, flush_after: Duration) -> usize {
        if self.parked.is_empty() {
            self.moves_pending = false;
            return 0;
        }
        let mut still_pending = false;
        let mut due = Vec::new();
        for (key, p) in &self.parked {
            let attempts = self.attempts.get(key).copied().unwrap_or(1);
            let waited = now.duration_since(p.since);
            if waited >= flush_after || (p.move_requested && waited >= backoff(attempts)) {
                due.push(key.clone());
            } else if p.move_requested {
                still_pending = true;
            }
        }
        self.moves_pending = still_pending;
        let mut moved = 0;
        for key in due {
            self.parked.remove(&key);
            moved += usize::from(self.push(&key));
        }
        moved
    }

    /// Whether [`tick`](Self::tick) has moves waiting for a backoff.
    pub fn moves_pending(&self) -> bool {
        self.moves_pending
    }

    /// Forgets every waiting pod (a fresh list re-adds them); pods in
    /// flight stay in flight.
    pub fn clear_waiting(&mut self) {
        self.active.clear();
        self.queued.clear();
        self.parked.clear();
    }

    pub fn is_parked(&self, key: &str) -> bool {
        self.parked.contains_key(key)
    }

    pub fn active_len(&self) -> usize {
        self.queued.len()
    }

    pub fn parked_len(&self) -> usize {
        self.parked.len()
    }

    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, node_selector: &[(&str, &str)]) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.uid = Some(uid.into());
        p.spec = Some(skiff_api::core::PodSpec {
            node_selector: node_selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        });
        Arc::new(p)
    }

    #[test]
    fn fifo_without_duplicates() {
        let mut q = SchedulingQueue::new();
        let p = pod("u", &[]);
        assert!(q.add("a", &p));
        assert!(q.add("b", &p));
        assert!(!q.add("a", &p));
        assert_eq!(q.pop().as_deref(), Some("a"));
        // In flight: a new event does not queue it twice.
        assert!(!q.add("a", &p));
        q.forget("b");
        assert_eq!(q.pop(), None);
        assert!(q.retry("a"));
        assert_eq!(q.pop().as_deref(), Some("a"));
        q.done("a");
        assert_eq!(q.in_flight_len(), 0);
    }

    #[test]
    fn parked_pods_wait_for_a_change_and_their_backoff() {
        let mut q = SchedulingQueue::new();
        let p = pod("u", &[]);
        let t0 = Instant::now();
        q.add("a", &p);
        q.pop();
        q.park("a", p.clone(), t0);
        // The same pod again (our own status write) stays parked.
        assert!(!q.add("a", &p));
        assert!(q.is_parked("a"));
        // A node changed, but the first backoff (1 s) has not passed.
        assert_eq!(q.move_all(t0 + Duration::from_millis(200)), 0);
        assert!(q.moves_pending());
        assert_eq!(
            q.tick(t0 + Duration::from_millis(500), Duration::from_secs(30)),
            0
        );
        assert_eq!(
            q.tick(t0 + Duration::from_secs(1), Duration::from_secs(30)),
            1
        );
        assert!(!q.moves_pending());
        assert_eq!(q.pop().as_deref(), Some("a"));
        // Second failure: 2 s of backoff.
        q.park("a", p.clone(), t0 + Duration::from_secs(1));
        assert_eq!(q.move_all(t0 + Duration::from_secs(2)), 0);
        assert_eq!(q.move_all(t0 + Duration::from_secs(3)), 1);
        q.pop();
        // The periodic flush retries even without a change.
        q.park("a", p.clone(), t0 + Duration::from_secs(3));
        assert_eq!(
            q.tick(t0 + Duration::from_secs(4), Duration::from_secs(5)),
            0
        );
        assert_eq!(
            q.tick(t0 + Duration::from_secs(8), Duration::from_secs(5)),
            1
        );
    }

    #[test]
    fn a_changed_pod_leaves_the_parked_set_at_once() {
        let mut q = SchedulingQueue::new();
        let p = pod("u", &[]);
        q.add("a", &p);
        q.pop();
        q.park("a", p, Instant::now());
        assert!(q.add("a", &pod("u", &[("disk", "ssd")])));
        assert_eq!(q.parked_len(), 0);
        assert_eq!(q.active_len(), 1);
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(5), Duration::from_secs(10));
        assert_eq!(backoff(100), Duration::from_secs(10));
    }
}
