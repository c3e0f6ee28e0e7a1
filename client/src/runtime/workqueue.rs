//! The work queue: keys waiting to be reconciled, in the manner of
//! client-go's rate-limited work queue.
//!
//! - A key is queued at most once: adding it again before a worker takes it
//!   changes nothing.
//! - A key handed out by [`WorkQueue::get`] is "processing" until
//!   [`WorkQueue::done`]: added meanwhile, it is held back and queued again
//!   at `done`, so no two workers ever hold the same key.
//! - [`WorkQueue::add_after`] queues a key later; [`WorkQueue::add_rate_limited`]
//!   does so after the larger of a per-key exponential backoff and an
//!   overall token bucket's delay; [`WorkQueue::forget`] resets the backoff.
//!
//! Time is tokio's, so tests can pause it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Delays of [`WorkQueue::add_rate_limited`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Backoff after a key's first failure; it doubles with each one after.
    pub base_delay: Duration,
    /// The most a key's backoff grows to.
    pub max_delay: Duration,
    /// Overall rate of rate-limited adds, all keys together (0: unlimited).
    pub qps: f64,
    /// Rate-limited adds allowed at once before `qps` applies.
    pub burst: u32,
}

impl Default for RateLimits {
    /// client-go's default controller rate limiter: 5 ms doubling to 1000 s
    /// per key, and 10 qps with a burst of 100 overall.
    fn default() -> Self {
        RateLimits {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1000),
            qps: 10.0,
            burst: 100,
        }
    }
}

/// A queue of keys to reconcile; cheap to clone (clones share the queue).
pub struct WorkQueue<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    state: Mutex<State<K>>,
    /// Wakes workers waiting in `get`.
    wake: Notify,
    limits: RateLimits,
}

struct State<K> {
    /// Keys ready for a worker, oldest first.
    ready: VecDeque<K>,
    /// Keys that need processing: those in `ready`, and processing keys
    /// added again (queued again at `done`).
    dirty: HashSet<K>,
    processing: HashSet<K>,
    /// Keys to add later, soonest first. Entries whose time no longer
    /// matches `waiting_until` were superseded by an earlier add.
    waiting: BinaryHeap<Reverse<Delayed<K>>>,
    waiting_until: HashMap<K, Instant>,
    seq: u64,
    failures: HashMap<K, u32>,
    bucket: TokenBucket,
    shut_down: bool,
}

struct Delayed<K> {
    at: Instant,
    /// Ties at the same instant keep the order they were added in.
    seq: u64,
    key: K,
}

impl<K> PartialEq for Delayed<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Delayed<K> {}
impl<K> PartialOrd for Delayed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Delayed<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<K: Clone + Eq + Hash> State<K> {
    /// Marks `key` as needing processing; true when it became ready.
    fn insert(&mut self, key: K) -> bool {
        if self.dirty.contains(&key) {
            return false;
        }
        self.dirty.insert(key.clone());
        if self.processing.contains(&key) {
            return false;
        }
        self.ready.push_back(key);
        true
    }

    fn schedule(&mut self, key: K, at: Instant) {
        if self.waiting_until.get(&key).is_some_and(|t| *t <= at) {
            return;
        }
        self.waiting_until.insert(key.clone(), at);
        self.seq += 1;
        self.waiting.push(Reverse(Delayed {
            at,
            seq: self.seq,
            key,
        }));
    }

    /// Moves keys whose time has come into `ready`.
    fn promote(&mut self, now: Instant) {
        while let Some(Reverse(first)) = self.waiting.peek() {
            if first.at > now {
                break;
            }
            let Some(Reverse(d)) = self.waiting.pop() else {
                break;
            };
            if self.waiting_until.get(&d.key) == Some(&d.at) {
                self.waiting_until.remove(&d.key);
                self.insert(d.key);
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse(d)| d.at)
    }
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue::with_rate_limits(RateLimits::default())
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    /// A queue with client-go's default rate limits.
    pub fn new() -> WorkQueue<K> {
        WorkQueue::default()
    }

    pub fn with_rate_limits(limits: RateLimits) -> WorkQueue<K> {
        let bucket = TokenBucket::new(limits.qps, limits.burst);
        WorkQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    waiting: BinaryHeap::new(),
                    waiting_until: HashMap::new(),
                    seq: 0,
                    failures: HashMap::new(),
                    bucket,
                    shut_down: false,
                }),
                wake: Notify::new(),
                limits,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // Nothing panics while holding the lock; recover rather than cascade.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` (nothing happens if it is already queued).
    pub fn add(&self, key: K) {
        let mut st = self.lock();
        if !st.shut_down && st.insert(key) {
            self.inner.wake.notify_one();
        }
    }

    /// Queues `key` after `delay`. Of several delayed adds of one key, the
    /// earliest wins.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut st = self.lock();
        if st.shut_down {
            return;
        }
        st.schedule(key, Instant::now() + delay);
        // Waiting workers sleep until the soonest time they knew of.
        self.inner.wake.notify_waiters();
    }

    /// Queues `key` after its backoff: the larger of the per-key delay
    /// (`base_delay` doubled for each failure since the last
    /// [`forget`](Self::forget), at most `max_delay`) and the token
    /// bucket's. Returns the delay chosen.
    pub fn add_rate_limited(&self, key: K) -> Duration {
        let limits = &self.inner.limits;
        let mut st = self.lock();
        let now = Instant::now();
        let failures = st.failures.entry(key.clone()).or_insert(0);
        let backoff = exponential(limits.base_delay, limits.max_delay, *failures);
        *failures = failures.saturating_add(1);
        let delay = backoff.max(st.bucket.reserve(now));
        if st.shut_down {
            return delay;
        }
        if delay.is_zero() {
            if st.insert(key) {
                self.inner.wake.notify_one();
            }
        } else {
            st.schedule(key, now + delay);
            self.inner.wake.notify_waiters();
        }
        delay
    }

    /// Resets the backoff of `key` (it reconciled fine).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Failures of `key` since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to process, waiting for one; `None` once shut down.
    /// Hand the key back with [`done`](Self::done).
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.inner.wake.notified();
            tokio::pin!(notified);
            let due = {
                let mut st = self.lock();
                if st.shut_down {
                    return None;
                }
                st.promote(Instant::now());
                if let Some(key) = st.ready.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    if !st.ready.is_empty() {
                        // Promotion may have readied several keys at once.
                        self.inner.wake.notify_one();
                    }
                    return Some(key);
                }
                // Registered before the lock is released: no wake-up is lost.
                notified.as_mut().enable();
                st.next_due()
            };
            match due {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends the processing of `key`; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let mut st = self.lock();
        st.processing.remove(key);
        if st.dirty.contains(key) && !st.shut_down {
            st.ready.push_back(key.clone());
            self.inner.wake.notify_one();
        }
    }

    /// Keys ready for a worker now (not those processing or waiting for their time).
    pub fn len(&self) -> usize {
        let mut st = self.lock();
        st.promote(Instant::now());
        st.ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys handed to workers and not yet done.
    pub fn processing(&self) -> usize {
        self.lock().processing.len()
    }

    /// Stops the queue: adds are ignored, what was queued is dropped, and
    /// every `get` (waiting or not) returns `None`. Workers finish the key
    /// they hold.
    pub fn shutdown(&self) {
        let mut st = self.lock();
        st.shut_down = true;
        st.ready.clear();
        st.dirty.clear();
        st.waiting.clear();
        st.waiting_until.clear();
        self.inner.wake.notify_waiters();
    }

    pub fn is_shutdown(&self) -> bool {
        self.lock().shut_down
    }
}

/// `base * 2^failures`, at most `max`.
fn exponential(base: Duration, max: Duration, failures: u32) -> Duration {
    2u32.checked_pow(failures)
        .and_then(|factor| base.checked_mul(factor))
        .map_or(max, |d| d.min(max))
}

/// Overall limit on rate-limited adds: `qps` tokens a second, at most `burst`
/// saved. Taking a token that is not there yet books it, and the delay says
/// when it will be.
#[derive(Debug)]
struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(qps: f64, burst: u32) -> TokenBucket {
        TokenBucket {
            qps,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    fn reserve(&mut self, now: Instant) -> Duration {
        if self.qps <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    /// `get`, or `None` if nothing comes within `SHORT`.
    async fn try_get<K: Clone + Eq + Hash>(q: &WorkQueue<K>) -> Option<K> {
        tokio::time::timeout(SHORT, q.get()).await.ok().flatten()
    }

    fn unlimited() -> RateLimits {
        RateLimits {
            qps: 0.0,
            ..RateLimits::default()
        }
    }

    #[tokio::test]
    async fn duplicates_collapse() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(q.get().await, Some("b"));
        assert_eq!(try_get(&q).await, None);
    }

    #[tokio::test]
    async fn one_worker_per_key() {
        let q = WorkQueue::new();
        q.add("a");
        assert_eq!(q.get().await, Some("a"));
        // Added while processing: held back, however often it is added.
        q.add("a");
        q.add("a");
        assert_eq!(q.len(), 0);
        assert_eq!(try_get(&q).await, None);
        q.add("b");
        assert_eq!(q.get().await, Some("b"));
        q.done(&"b");
        // Done: it comes back once.
        q.done(&"a");
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        assert_eq!(try_get(&q).await, None);
        assert_eq!(q.processing(), 0);
    }

    #[tokio::test]
    async fn a_waiting_worker_is_woken_by_add() {
        let q = WorkQueue::new();
        let worker = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::time::sleep(SHORT).await;
        q.add(7);
        let got = tokio::time::timeout(Duration::from_secs(5), worker).await;
        assert_eq!(got.unwrap().unwrap(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap_and_forget_resets_it() {
        let q = WorkQueue::with_rate_limits(unlimited());
        let delays: Vec<Duration> = (0..22).map(|_| q.add_rate_limited("k")).collect();
        assert_eq!(delays[0], Duration::from_millis(5));
        assert_eq!(delays[1], Duration::from_millis(10));
        assert_eq!(delays[2], Duration::from_millis(20));
        assert_eq!(delays[10], Duration::from_millis(5 * 1024));
        // 5 ms * 2^18 = 1310.72 s: capped.
        assert_eq!(delays[18], Duration::from_secs(1000));
        assert_eq!(delays[21], Duration::from_secs(1000));
        assert_eq!(q.num_requeues(&"k"), 22);
        // Other keys have their own backoff.
        assert_eq!(q.add_rate_limited("other"), Duration::from_millis(5));
        q.forget(&"k");
        assert_eq!(q.num_requeues(&"k"), 0);
        assert_eq!(q.add_rate_limited("k"), Duration::from_millis(5));
        assert_eq!(exponential(SHORT, SHORT, u32::MAX), SHORT);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_keys_arrive_after_their_backoff() {
        let q = WorkQueue::with_rate_limits(unlimited());
        let start = Instant::now();
        q.add_rate_limited("k");
        q.add_rate_limited("k"); // 10 ms: the earlier (5 ms) time stands.
        assert_eq!(q.len(), 0);
        assert_eq!(q.get().await, Some("k"));
        assert_eq!(start.elapsed(), Duration::from_millis(5));
        q.done(&"k");
        assert_eq!(try_get(&q).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_limits_all_keys_together() {
        let q = WorkQueue::with_rate_limits(RateLimits {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(1),
            qps: 10.0,
            burst: 3,
        });
        // The burst passes with only the per-key delay...
        for k in 0..3 {
            assert_eq!(q.add_rate_limited(k), Duration::from_millis(1));
        }
        // ...then each add books the next token, 100 ms apart.
        assert_eq!(q.add_rate_limited(3), Duration::from_millis(100));
        assert_eq!(q.add_rate_limited(4), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(10)).await;
        // Refilled (up to the burst) while time passed.
        assert_eq!(q.add_rate_limited(5), Duration::from_millis(1));
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(q.get().await.unwrap());
        }
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_come_in_time_order() {
        let q = WorkQueue::new();
        let start = Instant::now();
        q.add_after("late", Duration::from_secs(3));
        q.add_after("early", Duration::from_secs(1));
        q.add_after("middle", Duration::from_secs(2));
        // An earlier time for a waiting key moves it up; a later one is ignored.
        q.add_after("late", Duration::from_millis(1500));
        q.add_after("early", Duration::from_secs(10));
        assert_eq!(q.len(), 0);
        assert_eq!(q.get().await, Some("early"));
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(q.get().await, Some("late"));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        assert_eq!(q.get().await, Some("middle"));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // The superseded 3 s entry of "late" does not fire again.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleeping_worker_sees_an_earlier_delayed_add() {
        let q = WorkQueue::new();
        q.add_after("slow", Duration::from_secs(60));
        let worker = tokio::spawn({
            let q = q.clone();
            async move { (q.get().await, Instant::now()) }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        q.add_after("fast", Duration::from_secs(1));
        let (key, at) = worker.await.unwrap();
        assert_eq!(key, Some("fast"));
        assert_eq!(at - start, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn shutdown_wakes_workers_and_stops_the_queue() {
        let q = WorkQueue::new();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.get().await })
            })
            .collect();
        tokio::time::sleep(SHORT).await;
        q.add_after(1, Duration::from_secs(60));
        q.shutdown();
        for w in workers {
            let got = tokio::time::timeout(Duration::from_secs(5), w).await;
            assert_eq!(got.unwrap().unwrap(), None);
        }
        q.add(2);
        assert!(q.is_shutdown());
        assert_eq!(q.len(), 0);
        assert_eq!(q.get().await, None);
    }

    #[tokio::test]
    async fn many_workers_never_share_a_key() {
        let q = WorkQueue::<u32>::new();
        let busy = Arc::new(Mutex::new(HashSet::new()));
        let handled = Arc::new(Mutex::new(0u32));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (q, busy, handled) = (q.clone(), busy.clone(), handled.clone());
                tokio::spawn(async move {
                    while let Some(k) = q.get().await {
                        assert!(busy.lock().unwrap().insert(k), "key {k} held twice");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        busy.lock().unwrap().remove(&k);
                        *handled.lock().unwrap() += 1;
                        q.done(&k);
                    }
                })
            })
            .collect();
        for round in 0..50 {
            q.add(round % 5);
            tokio::task::yield_now().await;
        }
        // Let the queue drain, then stop.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (!q.is_empty() || q.processing() > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        q.shutdown();
        for w in workers {
            w.await.unwrap();
        }
        let handled = *handled.lock().unwrap();
        assert!((5..=50).contains(&handled), "handled {handled}");
    }
}
