//! Fault injection for reconciliation tests: a [`Faults`] handle that a test
//! holds and the server consults (see [`ServerConfig::faults`]). It can
//!
//! - answer writes with `409 Conflict` without touching the store (a
//!   fraction of them, or the next N, optionally only some resources and
//!   verbs): [`Faults::conflict_writes`], [`Faults::conflict_next_writes`],
//!   [`Faults::conflict_matching`];
//! - end every open watch stream now ([`Faults::drop_watches`]), and end
//!   each new one after a random lifetime ([`Faults::watch_lifetime`]):
//!   clients re-watch from their last resourceVersion, as after a server
//!   timeout or a lost connection;
//! - deliver watch events late ([`Faults::delay_watch_events`]), in order,
//!   for every kind or one ([`Faults::delay_watch_events_of`]: informers of
//!   different kinds then see changes in another order than they happened);
//! - answer every request late ([`Faults::delay_responses`]).
//!
//! A server started without a handle pays one `Option` check per watch
//! and nothing per request (the middleware is not even installed).
//!
//! [`ServerConfig::faults`]: crate::ServerConfig::faults

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng;
use skiff_api::Status;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::errors::ApiError;
use crate::metrics::RequestInfo;
use crate::query::Query;
use crate::routes::{self, ApiPath, ResourcePath};

/// Header on every injected answer, so a log tells injected faults from real ones.
pub const FAULT_HEADER: &str = "x-skiff-fault";

/// The kinds of writes a conflict rule can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteVerb {
    /// POST (a create, a binding).
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE of one object or of a collection.
    Delete,
}

impl WriteVerb {
    /// The write verb of a request verb as the dispatcher names it.
    fn of(verb: &str) -> Option<WriteVerb> {
        Some(match verb {
            "POST" => WriteVerb::Create,
            "PUT" => WriteVerb::Update,
            "PATCH" => WriteVerb::Patch,
            "DELETE" | "DELETECOLLECTION" => WriteVerb::Delete,
            _ => return None,
        })
    }
}

/// Which writes a conflict rule applies to. A resource is named by its
/// plural (`pods`: the pods and all their subresources) or with a
/// subresource (`pods/status`, `pods/binding`: that one alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteFilter {
    /// Only these resources; empty: every resource.
    pub resources: Vec<String>,
    /// Never these resources.
    pub except: Vec<String>,
    /// Only these verbs; empty: every write.
    pub verbs: Vec<WriteVerb>,
}

impl WriteFilter {
    /// Every write.
    pub fn all() -> WriteFilter {
        WriteFilter::default()
    }

    /// Also (or only, for the first) `resource`.
    pub fn resource(mut self, resource: &str) -> WriteFilter {
        self.resources.push(resource.to_string());
        self
    }

    /// Not `resource`.
    pub fn except(mut self, resource: &str) -> WriteFilter {
        self.except.push(resource.to_string());
        self
    }

    /// Also (or only, for the first) `verb`.
    pub fn verb(mut self, verb: WriteVerb) -> WriteFilter {
        self.verbs.push(verb);
        self
    }

    /// Does a write of `verb` to `resource` (`pods`, `pods/status`) match?
    pub fn matches(&self, verb: WriteVerb, resource: &str) -> bool {
        let plural = resource.split('/').next().unwrap_or(resource);
        let names = |list: &[String]| list.iter().any(|r| r == resource || r == plural);
        (self.verbs.is_empty() || self.verbs.contains(&verb))
            && (self.resources.is_empty() || names(&self.resources))
            && !names(&self.except)
    }
}

/// The active conflict rule.
#[derive(Debug, Clone)]
struct ConflictRule {
    filter: WriteFilter,
    /// Probability that a matching write gets 409.
    fraction: f64,
    /// Conflicts left to inject; `None`: no limit.
    remaining: Option<u64>,
}

/// Faults a test turns on and off while the server runs. Share it through
/// an `Arc`: one clone in [`ServerConfig::faults`], one in the test.
///
/// [`ServerConfig::faults`]: crate::ServerConfig::faults
pub struct Faults {
    conflicts: Mutex<Option<ConflictRule>>,
    conflicts_injected: AtomicU64,
    /// Bumped by [`Faults::drop_watches`]; every open watch ends when it moves.
    watch_epoch: watch::Sender<u64>,
    watch_lifetime: Mutex<Option<Range<Duration>>>,
    watches_dropped: AtomicU64,
    /// Nanoseconds.
    watch_event_delay: AtomicU64,
    /// Per resource (plural), instead of `watch_event_delay`.
    watch_event_delays: Mutex<HashMap<String, Duration>>,
    /// Nanoseconds.
    response_delay: AtomicU64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            conflicts: Mutex::new(None),
            conflicts_injected: AtomicU64::new(0),
            watch_epoch: watch::channel(0).0,
            watch_lifetime: Mutex::new(None),
            watches_dropped: AtomicU64::new(0),
            watch_event_delay: AtomicU64::new(0),
            watch_event_delays: Mutex::new(HashMap::new()),
            response_delay: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("conflicts", &*lock(&self.conflicts))
            .field("watch_lifetime", &*lock(&self.watch_lifetime))
            .field("watch_event_delay", &self.watch_event_delay())
            .field("watch_event_delays", &*lock(&self.watch_event_delays))
            .field("response_delay", &self.response_delay())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Faults {
    /// No faults yet.
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    // --- 409 Conflict ---

    /// From now on, answers `fraction` (0.0..=1.0) of all writes with 409.
    pub fn conflict_writes(&self, fraction: f64) {
        self.conflict_matching(WriteFilter::all(), fraction, None);
    }

    /// Answers the next `n` writes with 409, then none.
    pub fn conflict_next_writes(&self, n: u64) {
        self.conflict_matching(WriteFilter::all(), 1.0, Some(n));
    }

    /// Answers `fraction` of the writes `filter` matches with 409, at most
    /// `limit` of them (`None`: no limit). Replaces any earlier rule.
    pub fn conflict_matching(&self, filter: WriteFilter, fraction: f64, limit: Option<u64>) {
        *lock(&self.conflicts) = Some(ConflictRule {
            filter,
            fraction: fraction.clamp(0.0, 1.0),
            remaining: limit,
        });
    }

    /// No more injected conflicts.
    pub fn stop_conflicts(&self) {
        *lock(&self.conflicts) = None;
    }

    /// How many writes were answered with an injected 409 so far.
    pub fn conflicts_injected(&self) -> u64 {
        self.conflicts_injected.load(Ordering::Relaxed)
    }

    /// Whether this write gets an injected 409 (counting it if so).
    pub(crate) fn take_conflict(&self, verb: WriteVerb, resource: &str) -> bool {
        let mut guard = lock(&self.conflicts);
        let Some(rule) = guard.as_mut() else {
            return false;
        };
        if rule.remaining == Some(0) || !rule.filter.matches(verb, resource) {
            return false;
        }
        if rule.fraction < 1.0 && rand::random::<f64>() >= rule.fraction {
            return false;
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        self.conflicts_injected.fetch_add(1, Ordering::Relaxed);
        true
    }

    // --- watches ---

    /// Ends every watch stream open now (clients see a clean end of stream
    /// and re-watch). Watches opened later are not affected.
    pub fn drop_watches(&self) {
        self.watch_epoch.send_modify(|e| *e += 1);
    }

    /// From now on, every new watch stream ends after a random lifetime in
    /// `lifetime` (`None`: watches live as long as they ask).
    pub fn watch_lifetime(&self, lifetime: Option<Range<Duration>>) {
        *lock(&self.watch_lifetime) = lifetime;
    }

    /// How many watch streams a fault ended so far.
    pub fn watches_dropped(&self) -> u64 {
        self.watches_dropped.load(Ordering::Relaxed)
    }

    /// From now on, watch events reach clients `delay` after they are
    /// sent (in order; events already queued keep their time).
    pub fn delay_watch_events(&self, delay: Duration) {
        self.watch_event_delay
            .store(nanos(delay), Ordering::Relaxed);
    }

    pub fn watch_event_delay(&self) -> Duration {
        Duration::from_nanos(self.watch_event_delay.load(Ordering::Relaxed))
    }

    /// From now on, events of watches on `resource` (a plural: `pods`,
    /// `replicasets`) reach clients `delay` after they are sent, whatever
    /// [`delay_watch_events`](Self::delay_watch_events) says.
    pub fn delay_watch_events_of(&self, resource: &str, delay: Duration) {
        lock(&self.watch_event_delays).insert(resource.to_string(), delay);
    }

    /// The delay of events on watches of `resource`.
    pub fn watch_event_delay_of(&self, resource: &str) -> Duration {
        lock(&self.watch_event_delays)
            .get(resource)
            .copied()
            .unwrap_or_else(|| self.watch_event_delay())
    }

    /// The fault that ends one new watch stream.
    pub(crate) fn watch_kill(self: &Arc<Faults>) -> WatchKill {
        let lifetime = lock(&self.watch_lifetime).clone().map(|range| {
            if range.end > range.start {
                rand::rng().random_range(range)
            } else {
                range.start
            }
        });
        WatchKill(Some(KillSwitch {
            faults: self.clone(),
            epoch: self.watch_epoch.subscribe(),
            ends_at: lifetime.map(|l| Instant::now() + l),
        }))
    }

    // --- responses ---

    /// From now on, every response leaves `delay` after it is ready (the
    /// work is done; the client learns of it late).
    pub fn delay_responses(&self, delay: Duration) {
        self.response_delay.store(nanos(delay), Ordering::Relaxed);
    }

    pub fn response_delay(&self) -> Duration {
        Duration::from_nanos(self.response_delay.load(Ordering::Relaxed))
    }

    /// Turns every fault off (open watches keep running).
    pub fn clear(&self) {
        self.stop_conflicts();
        self.watch_lifetime(None);
        self.delay_watch_events(Duration::ZERO);
        lock(&self.watch_event_delays).clear();
        self.delay_responses(Duration::ZERO);
    }
}

/// What can end one watch stream early: [`Faults::drop_watches`] or its
/// random lifetime. `WatchKill::none()` never fires.
pub(crate) struct WatchKill(Option<KillSwitch>);

struct KillSwitch {
    faults: Arc<Faults>,
    epoch: watch::Receiver<u64>,
    ends_at: Option<Instant>,
}

impl WatchKill {
    pub(crate) fn none() -> WatchKill {
        WatchKill(None)
    }

    /// Completes when the stream must end. Cancel-safe: select on it in a loop.
    pub(crate) async fn fired(&mut self) {
        let Some(switch) = self.0.as_mut() else {
            return std::future::pending().await;
        };
        let lifetime = async {
            match switch.ends_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = switch.epoch.changed() => {
                if changed.is_err() {
                    // The handle is gone with the server: nothing will drop us.
                    return std::future::pending().await;
                }
            }
            _ = lifetime => {}
        }
        switch
            .faults
            .watches_dropped
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Between a watch's event loop and its HTTP body: each event leaves when
/// its time comes (the delay in force for `resource` when it was sent).
/// Events still queued when the loop ends are delivered, then the stream
/// ends.
pub(crate) fn delay_events(
    faults: Arc<Faults>,
    resource: &'static str,
    mut from_loop: mpsc::Receiver<Bytes>,
    to_body: mpsc::Sender<Bytes>,
) {
    tokio::spawn(async move {
        let mut queue: std::collections::VecDeque<(Instant, Bytes)> = Default::default();
        let mut open = true;
        loop {
            let due = queue.front().map(|(at, _)| *at);
            if !open && due.is_none() {
                return;
            }
            tokio::select! {
                received = from_loop.recv(), if open => match received {
                    Some(b) => queue.push_back((Instant::now() + faults.watch_event_delay_of(resource), b)),
                    None => open = false,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    if let Some((_, b)) = queue.pop_front()
                        && to_body.send(b).await.is_err()
                    {
                        return;
                    }
                }
                _ = to_body.closed() => return,
            }
        }
    });
}

/// Middleware (installed only with a [`Faults`] handle): late answers and
/// injected 409s.
pub(crate) async fn inject(
    State(faults): State<Arc<Faults>>,
    req: Request,
    next: Next,
) -> Response {
    let conflict = injected_conflict(&faults, &req);
    let resp = match conflict {
        Some((status, info)) => {
            let mut resp = ApiError(status).into_response();
            resp.extensions_mut().insert(info);
            resp.headers_mut()
                .insert(FAULT_HEADER, HeaderValue::from_static("conflict"));
            resp
        }
        None => next.run(req).await,
    };
    let delay = faults.response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    resp
}

/// The 409 to answer `req` with, if the conflict rule picks it.
fn injected_conflict(faults: &Faults, req: &Request) -> Option<(Status, RequestInfo)> {
    if req.method() == axum::http::Method::GET {
        return None;
    }
    let Some(ApiPath::Resource(path)) = routes::parse(req.uri().path()) else {
        return None;
    };
    let query = Query::parse(req.uri().query());
    let verb = crate::handlers::verb(req.method(), &path, &query)?;
    let write = WriteVerb::of(verb)?;
    let resource = path.resource_label();
    if !faults.take_conflict(write, &resource) {
        return None;
    }
    tracing::debug!(verb, resource, "injected 409 Conflict");
    let status = conflict_status(&path);
    Some((status, RequestInfo { verb, resource }))
}

fn conflict_status(path: &ResourcePath) -> Status {
    Status::conflict(path.rt, path.name.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_pick_resources_subresources_and_verbs() {
        let all = WriteFilter::all();
        assert!(all.matches(WriteVerb::Create, "pods"));
        assert!(all.matches(WriteVerb::Delete, "deployments"));
        let pods = WriteFilter::all().resource("pods");
        assert!(pods.matches(WriteVerb::Patch, "pods/status"));
        assert!(!pods.matches(WriteVerb::Patch, "replicasets"));
        let status = WriteFilter::all().resource("pods/status");
        assert!(status.matches(WriteVerb::Update, "pods/status"));
        assert!(!status.matches(WriteVerb::Update, "pods"));
        assert!(!status.matches(WriteVerb::Create, "pods/binding"));
        let no_leases = WriteFilter::all().except("leases").verb(WriteVerb::Patch);
        assert!(!no_leases.matches(WriteVerb::Patch, "leases"));
        assert!(no_leases.matches(WriteVerb::Patch, "nodes/status"));
        assert!(!no_leases.matches(WriteVerb::Create, "nodes"));
    }

    #[test]
    fn write_verbs() {
        assert_eq!(WriteVerb::of("POST"), Some(WriteVerb::Create));
        assert_eq!(WriteVerb::of("DELETECOLLECTION"), Some(WriteVerb::Delete));
        assert_eq!(WriteVerb::of("GET"), None);
        assert_eq!(WriteVerb::of("CONNECT"), None);
    }

    #[test]
    fn the_next_n_writes_then_none() {
        let f = Faults::new();
        f.conflict_next_writes(2);
        assert!(f.take_conflict(WriteVerb::Create, "pods"));
        assert!(f.take_conflict(WriteVerb::Update, "pods"));
        assert!(!f.take_conflict(WriteVerb::Update, "pods"));
        assert_eq!(f.conflicts_injected(), 2);
    }

    #[test]
    fn a_fraction_of_writes() {
        let f = Faults::new();
        f.conflict_writes(0.3);
        let hits = (0..10_000)
            .filter(|_| f.take_conflict(WriteVerb::Patch, "pods"))
            .count();
        assert!((2_500..3_500).contains(&hits), "{hits} of 10000");
        f.conflict_writes(0.0);
        assert!(!f.take_conflict(WriteVerb::Patch, "pods"));
        f.conflict_writes(1.0);
        assert!(f.take_conflict(WriteVerb::Patch, "pods"));
        f.stop_conflicts();
        assert!(!f.take_conflict(WriteVerb::Patch, "pods"));
    }

    #[tokio::test(start_paused = true)]
    async fn watch_kills_fire_on_drop_or_after_their_lifetime() {
        let f = Faults::new();
        let mut never = WatchKill::none();
        let mut open = f.watch_kill();
        assert!(
            tokio::time::timeout(Duration::from_secs(60), open.fired())
                .await
                .is_err()
        );
        f.drop_watches();
        open.fired().await;
        assert_eq!(f.watches_dropped(), 1);
        f.watch_lifetime(Some(Duration::from_secs(1)..Duration::from_secs(2)));
        let mut short = f.watch_kill();
        let started = Instant::now();
        short.fired().await;
        let lived = started.elapsed();
        assert!(lived >= Duration::from_secs(1) && lived <= Duration::from_secs(2));
        assert!(
            tokio::time::timeout(Duration::from_secs(60), never.fired())
                .await
                .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_events_keep_their_order_and_their_own_time() {
        let f = Faults::new();
        f.delay_watch_events(Duration::from_secs(1));
        let (loop_tx, loop_rx) = mpsc::channel(8);
        let (body_tx, mut body_rx) = mpsc::channel(8);
        delay_events(f.clone(), "pods", loop_rx, body_tx);
        let started = Instant::now();
        loop_tx.send(Bytes::from_static(b"a")).await.unwrap();
        loop_tx.send(Bytes::from_static(b"b")).await.unwrap();
        drop(loop_tx);
        assert_eq!(body_rx.recv().await.unwrap(), Bytes::from_static(b"a"));
        assert_eq!(body_rx.recv().await.unwrap(), Bytes::from_static(b"b"));
        // Both a second late, not one second each.
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1500));
        assert!(
            body_rx.recv().await.is_none(),
            "ends after the queue drains"
        );
    }
}
