//! Reconcile by key: workers take keys from a [`WorkQueue`] and call a
//! reconcile function, one call per key at a time. Success forgets the
//! key's backoff; failure (an error or a panic) requeues it rate-limited.
//!
//! [`enqueue_from`] feeds a queue from watch events, mapping each object to
//! the keys it concerns (its own, its controller's, ...).

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use tokio::task::JoinSet;

use super::watcher::Event;
use super::workqueue::WorkQueue;
use crate::error::Result;

/// What a successful reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the key is added again.
    Done,
    /// Look again after this long (a pending timeout, a grace period).
    RequeueAfter(Duration),
}

/// Workers over one queue.
pub struct Controller<K> {
    queue: WorkQueue<K>,
    name: String,
}

impl<K> Controller<K>
where
    K: Clone + Eq + Hash + Debug + Send + Sync + 'static,
{
    pub fn new(queue: WorkQueue<K>) -> Controller<K> {
        Controller {
            queue,
            name: "controller".into(),
        }
    }

    /// Names the controller in logs.
    pub fn named(mut self, name: &str) -> Controller<K> {
        self.name = name.to_string();
        self
    }

    pub fn queue(&self) -> &WorkQueue<K> {
        &self.queue
    }

    /// Runs `workers` workers (at least one) until the queue is shut down,
    /// then returns once each has finished its current key. Stop it with
    /// `queue().shutdown()` (from a clone of the queue). Dropping this
    /// future aborts the workers mid-reconcile (their keys stay
    /// "processing": do not reuse the queue after that).
    pub async fn run<F, Fut, E>(self, workers: usize, reconcile: F)
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Action, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let reconcile = Arc::new(reconcile);
        let name: Arc<str> = self.name.into();
        // Dropping `run` drops the set, which stops the workers.
        let mut workers_set = JoinSet::new();
        for _ in 0..workers.max(1) {
            let (queue, reconcile, name) = (self.queue.clone(), reconcile.clone(), name.clone());
            workers_set.spawn(async move { work(&name, &queue, reconcile.as_ref()).await });
        }
        while let Some(ended) = workers_set.join_next().await {
            // A worker only ends when the queue shuts down; panics are caught inside.
            if let Err(e) = ended {
                tracing::error!(controller = %name, error = %e, "worker task failed");
            }
        }
    }
}

async fn work<K, F, Fut, E>(name: &str, queue: &WorkQueue<K>, reconcile: &F)
where
    K: Clone + Eq + Hash + Debug,
    F: Fn(K) -> Fut,
    Fut: Future<Output = std::result::Result<Action, E>>,
    E: Display,
{
    while let Some(key) = queue.get().await {
        let outcome = AssertUnwindSafe(reconcile(key.clone()))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(Action::Done)) => queue.forget(&key),
            Ok(Ok(Action::RequeueAfter(delay))) => {
                queue.forget(&key);
                queue.add_after(key.clone(), delay);
            }
            Ok(Err(e)) => {
                let delay = queue.add_rate_limited(key.clone());
                tracing::warn!(controller = %name, key = ?key, error = %e, retry_in = ?delay, "reconcile failed");
            }
            Err(panic) => {
                let delay = queue.add_rate_limited(key.clone());
                tracing::error!(controller = %name, key = ?key, panic = panic_message(&panic), retry_in = ?delay, "reconcile panicked");
            }
        }
        queue.done(&key);
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// Drives `events` to its end (a watcher never ends: spawn this), adding
/// to `queue` the keys `keys_of` gives for each object of each event: a
/// `Restarted` list enqueues every object (level-triggered: a re-list may
/// hide changes). Stream errors are logged and skipped.
pub async fn enqueue_from<O, K, S, F, I>(queue: WorkQueue<K>, events: S, mut keys_of: F)
where
    K: Clone + Eq + Hash,
    S: Stream<Item = Result<Event<O>>>,
    F: FnMut(&O) -> I,
    I: IntoIterator<Item = K>,
{
    let mut events = std::pin::pin!(events);
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                for object in event.objects() {
                    for key in keys_of(object) {
                        queue.add(key);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "watch error (retrying)"),
        }
        if queue.is_shutdown() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn counter() -> Arc<Mutex<HashMap<&'static str, u32>>> {
        Arc::new(Mutex::new(HashMap::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_and_success_forgets() {
        let q = WorkQueue::new();
        let calls = counter();
        q.add("flaky");
        q.add("fine");
        let run = tokio::spawn({
            let calls = calls.clone();
            Controller::new(q.clone()).named("test").run(2, move |key| {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut c = calls.lock().unwrap();
                        let n = c.entry(key).or_insert(0);
                        *n += 1;
                        *n
                    };
                    match (key, n) {
                        ("flaky", 1..=3) => Err(format!("attempt {n} failed")),
                        _ => Ok(Action::Done),
                    }
                }
            })
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(calls.lock().unwrap()["flaky"], 4);
        assert_eq!(calls.lock().unwrap()["fine"], 1);
        assert_eq!(q.num_requeues(&"flaky"), 0);
        q.shutdown();
        run.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn requeue_after_and_panics() {
        let q = WorkQueue::new();
        let calls = counter();
        q.add("periodic");
        q.add("panics");
        let start = tokio::time::Instant::now();
        let run = tokio::spawn({
            let calls = calls.clone();
            Controller::new(q.clone()).run(1, move |key| {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut c = calls.lock().unwrap();
                        let n = c.entry(key).or_insert(0);
                        *n += 1;
                        *n
                    };
                    if key == "panics" && n == 1 {
                        panic!("boom");
                    }
                    Ok::<_, String>(if key == "periodic" {
                        Action::RequeueAfter(Duration::from_secs(10))
                    } else {
                        Action::Done
                    })
                }
            })
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        // At 0, 10, 20 and 30 s.
        assert_eq!(calls.lock().unwrap()["periodic"], 4);
        // The panic was retried like an error, and the worker lived on.
        assert_eq!(calls.lock().unwrap()["panics"], 2);
        q.shutdown();
        run.await.unwrap();
    }

    #[tokio::test]
    async fn dropping_run_stops_the_workers() {
        let q = WorkQueue::new();
        let calls = counter();
        let run = Controller::new(q.clone()).run(2, {
            let calls = calls.clone();
            move |key| {
                let calls = calls.clone();
                async move {
                    *calls.lock().unwrap().entry(key).or_insert(0) += 1;
                    Ok::<_, String>(Action::Done)
                }
            }
        });
        q.add("before");
        // Runs a while, then is dropped.
        let _ = tokio::time::timeout(Duration::from_millis(100), run).await;
        assert_eq!(calls.lock().unwrap()["before"], 1);
        q.add("after");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!calls.lock().unwrap().contains_key("after"));
        assert_eq!(q.len(), 1);
    }

    #[tokio::test]
    async fn events_map_to_keys() {
        let q = WorkQueue::new();
        let events = futures::stream::iter(vec![
            Ok(Event::Restarted(vec!["a/1", "b/2"])),
            Err(crate::Error::Decode("bad".into())),
            Ok(Event::Applied("a/3")),
            Ok(Event::Deleted("a/1")),
        ]);
        // Each object's key is its prefix: several objects, one owner.
        enqueue_from(q.clone(), events, |o: &&str| {
            o.split('/').next().map(str::to_string)
        })
        .await;
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
    }
}
