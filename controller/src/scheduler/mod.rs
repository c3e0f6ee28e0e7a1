//! The scheduler: gives every pod that has no node one, as kube-scheduler
//! does for `schedulerName: default-scheduler`.
//!
//! - [`state`]: everything it knows, kept from pod and node events without
//!   ever listing: the [`node_info`] table (what each node offers and what
//!   the pods on it take) and the [`queue`] of pods to decide.
//! - [`decide`]: one decision, a pure function: [`filters`] (Ready and
//!   untainted, schedulable, nodeSelector and required node [`affinity`],
//!   host ports, resources), then
//!   [`scores`] (least allocated, spread of a controller's pods) over a
//!   sample of the fitting nodes in large clusters.
//! - [`bind`]: the writes: `pods/binding`, or `PodScheduled=False` and a
//!   `FailedScheduling` Event.
//!
//! The loop decides pods in batches under one lock, accounts each on its
//! node at once (assume-bind) and keeps up to [`MAX_BINDS_IN_FLIGHT`]
//! bindings on their way while it decides the next pods.

pub mod affinity;
pub mod bind;
pub mod decide;
pub mod demand;
pub mod filters;
pub mod node_info;
pub mod queue;
pub mod scores;
pub mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use skiff_api::core::{Node, Pod};
use skiff_client::runtime::Cache;
use skiff_client::{Client, EventRecorder, EventType};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::SharedClock;
use crate::context::Context;

pub use decide::{Decision, Outcome, decide};
pub use demand::PodDemand;
pub use node_info::{NodeFacts, NodeTable};
pub use state::{DEFAULT_SCHEDULER, State, Step};

/// Writes (bindings, unschedulable reports) in flight at the same time.
pub const MAX_BINDS_IN_FLIGHT: usize = 64;
/// Most pods decided under one lock.
const BATCH: usize = 64;
/// How often parked pods are checked for an expired backoff.
const TICK: Duration = Duration::from_millis(250);
/// A bind that failed for another reason than a conflict is retried after this.
const BIND_RETRY_DELAY: Duration = Duration::from_secs(1);
/// How often progress is logged (when there was some).
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What the event handlers and the loop share.
struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the accounting as it was
        // at that point, which is still better than no scheduler.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_if(&self, wake: bool) {
        if wake {
            self.wake.notify_one();
        }
    }
}

struct Scheduler {
    shared: Arc<Shared>,
    client: Client,
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    recorder: EventRecorder,
    clock: SharedClock,
    retry_interval: Duration,
    bound: AtomicU64,
}

/// Registers the scheduler's handlers on the pod and node informers (call
/// before they start) and spawns its loop, which waits for them to sync.
pub fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new()),
        wake: Notify::new(),
    });
    let on_pod = shared.clone();
    ctx.informers.pods.on_event(move |event| {
        let wake = on_pod.lock().on_pod_event(event);
        on_pod.wake_if(wake);
    });
    let on_node = shared.clone();
    ctx.informers.nodes.on_event(move |event| {
        let wake = on_node.lock().on_node_event(event);
        on_node.wake_if(wake);
    });
    let scheduler = Arc::new(Scheduler {
        shared,
        client: ctx.client.clone(),
        pods: ctx.informers.pods.cache.clone(),
        nodes: ctx.informers.nodes.cache.clone(),
        recorder: EventRecorder::new(ctx.client.clone(), DEFAULT_SCHEDULER, None),
        clock: ctx.clock.clone(),
        retry_interval: ctx.config.scheduler_retry_interval,
        bound: AtomicU64::new(0),
    });
    tasks.spawn(scheduler.run());
}

impl Scheduler {
    async fn run(self: Arc<Self>) {
        self.pods.wait_synced().await;
        self.nodes.wait_synced().await;
        tracing::info!(nodes = self.nodes.len(), "scheduler started");
        let binds = Arc::new(Semaphore::new(MAX_BINDS_IN_FLIGHT));
        // Binds and reports in progress; dropping the loop aborts them.
        let mut work = JoinSet::new();
        let mut next_tick = Instant::now() + TICK;
        let mut report = Progress::new(self.bound.load(Ordering::Relaxed));
        loop {
            while work.try_join_next().is_some() {}
            // Never decide more pods than can be bound now.
            let Ok(first) = binds.clone().acquire_owned().await else {
                return;
            };
            let mut permits = vec![first];
            while permits.len() < BATCH {
                match binds.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let steps = loop {
                if Instant::now() >= next_tick {
                    self.tick();
                    report.maybe_log(&self);
                    next_tick = Instant::now() + TICK;
                }
                if let Some(steps) = self.decide_batch(permits.len()) {
                    break steps;
                }
                tokio::select! {
                    _ = self.shared.wake.notified() => {}
                    _ = tokio::time::sleep_until(next_tick) => {}
                }
            };
            for step in steps {
                match step {
                    Step::Skip => {}
                    Step::Bind { pod, node } => {
                        let permit = permits.pop().expect("one permit per decision");
                        work.spawn(self.clone().bind(pod, node, permit));
                    }
                    Step::Unschedulable { pod, message } => {
                        // Reports take a permit too: a burst of pods that fit
                        // nowhere must not become a burst of writes.
                        let permit = permits.pop().expect("one permit per decision");
                        let me = self.clone();
                        work.spawn(async move {
                            let _permit = permit;
                            let now = me.clock.now();
                            bind::report_unschedulable(
                                &me.client,
                                &me.recorder,
                                &pod,
                                &message,
                                now,
                            )
                            .await;
                        });
                    }
                }
            }
        }
    }

    /// Decides up to `max` queued pods under one lock; `None` when the
    /// queue is empty.
    fn decide_batch(&self, max: usize) -> Option<Vec<Step>> {
        let mut state = self.shared.lock();
        let now = Instant::now();
        let mut steps = Vec::new();
        while steps.len() < max {
            let Some(key) = state.queue.pop() else { break };
            let pod = self.pods.get(&key);
            steps.push(state.schedule(&key, pod, now));
        }
        (!steps.is_empty()).then_some(steps)
    }

    /// Retries parked pods whose backoff passed, and flushes old ones.
    fn tick(&self) {
        let moved = self
            .shared
            .lock()
            .queue
            .tick(Instant::now(), self.retry_interval);
        self.shared.wake_if(moved > 0);
    }

    async fn bind(self: Arc<Self>, pod: Arc<Pod>, node: String, permit: OwnedSemaphorePermit) {
        let key = state::pod_key(&pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let result = bind::bind(&self.client, &pod, &node).await;
        drop(permit);
        match result {
            Ok(()) => {
                self.shared.lock().bind_succeeded(&key);
                self.bound.fetch_add(1, Ordering::Relaxed);
                let message = format!("Successfully assigned {key} to {node}");
                self.recorder
                    .publish(pod.as_ref(), EventType::Normal, "Scheduled", message);
            }
            // Gone: nothing left to do.
            Err(e) if e.is_not_found() => {
                tracing::debug!(pod = %key, error = %e, "binding refused; dropping the pod");
                let wake = self.shared.lock().bind_failed(&key, &uid, &node, false);
                self.shared.wake_if(wake);
            }
            // A 409 (bound meanwhile, being deleted, or a write that lost a
            // race) and anything else: decide again later. The retry skips
            // a pod the cache shows bound or deleting by then.
            Err(e) => {
                tracing::warn!(pod = %key, node = %node, error = %e, "binding failed; retrying");
                let wake = self.shared.lock().bind_failed(&key, &uid, &node, false);
                self.shared.wake_if(wake);
                tokio::time::sleep(BIND_RETRY_DELAY).await;
                let wake = self.shared.lock().queue.retry(&key);
                self.shared.wake_if(wake);
            }
        }
    }
}

/// Logs how fast pods are being bound, every [`REPORT_EVERY`] with progress.
struct Progress {
    since: Instant,
    bound_then: u64,
}

impl Progress {
    fn new(bound: u64) -> Progress {
        Progress {
            since: Instant::now(),
            bound_then: bound,
        }
    }

    fn maybe_log(&mut self, s: &Scheduler) {
        let elapsed = self.since.elapsed();
        if elapsed < REPORT_EVERY {
            return;
        }
        let bound = s.bound.load(Ordering::Relaxed);
        if bound > self.bound_then {
            let (queued, parked) = {
                let state = s.shared.lock();
                (state.queue.active_len(), state.queue.parked_len())
            };
            let n = bound - self.bound_then;
            tracing::info!(
                bound = n,
                per_second = n as f64 / elapsed.as_secs_f64(),
                queued,
                unschedulable = parked,
                "scheduler progress"
            );
        }
        *self = Progress::new(bound);
    }
}
