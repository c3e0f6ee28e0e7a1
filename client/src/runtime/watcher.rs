//! The watcher: list (page by page), then watch from the list's
//! resourceVersion, for ever.
//!
//! - A watch that ends normally (server timeout) is resumed from the last
//!   resourceVersion seen; bookmarks keep that version fresh.
//! - 410 Gone (an ERROR event or the HTTP answer) means the history is
//!   compacted: list again and say so with [`Event::Restarted`].
//! - Any other failure is yielded as an `Err` item, then retried with a
//!   capped exponential backoff; the stream itself never ends.

use std::marker::PhantomData;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use skiff_api::Object;

use crate::api::{Api, ObjectList};
use crate::dynamic::DynamicApi;
use crate::error::{Error, Result};
use crate::params::ListParams;
use crate::watch::{WatchEvent, WatchStream};

/// Page size of the lists, unless `ListParams::limit` says otherwise.
const DEFAULT_PAGE_SIZE: u32 = 500;
/// Server-side watch timeout unless `ListParams::timeout_seconds` is set:
/// watches are renewed every few minutes, so a silently dead connection
/// cannot hold the watcher for long.
const DEFAULT_WATCH_TIMEOUT_SECS: u32 = 290;
/// Beyond the server timeout, how long a silent watch is trusted.
const IDLE_GRACE: Duration = Duration::from_secs(30);
const MIN_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What a watcher reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<T> {
    /// Every object there is: the first list, or a re-list after 410 Gone.
    /// Objects absent here are gone.
    Restarted(Vec<T>),
    /// Created or changed.
    Applied(T),
    /// Deleted (the object's last state).
    Deleted(T),
}

impl<T> Event<T> {
    /// The objects this event carries.
    pub fn objects(&self) -> impl Iterator<Item = &T> {
        let (one, many): (Option<&T>, &[T]) = match self {
            Event::Restarted(all) => (None, all.as_slice()),
            Event::Applied(o) | Event::Deleted(o) => (Some(o), &[]),
        };
        one.into_iter().chain(many)
    }

    /// The same event over `f(object)`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Event<U> {
        match self {
            Event::Restarted(all) => Event::Restarted(all.into_iter().map(f).collect()),
            Event::Applied(o) => Event::Applied(f(o)),
            Event::Deleted(o) => Event::Deleted(f(o)),
        }
    }
}

/// What a watcher can list and watch: a typed [`Api<T>`] (objects decode
/// into `T`) or a [`DynamicApi`] (objects stay JSON values).
pub trait WatchSource {
    type Object: DeserializeOwned + Send + 'static;

    fn dynamic_api(&self) -> &DynamicApi;
}

impl<T: Object> WatchSource for Api<T> {
    type Object = T;

    fn dynamic_api(&self) -> &DynamicApi {
        self.dynamic()
    }
}

impl WatchSource for DynamicApi {
    type Object = Value;

    fn dynamic_api(&self) -> &DynamicApi {
        self
    }
}

/// Lists then watches what `api` addresses (one namespace, or all of them),
/// filtered by the selectors of `params`. Infinite: drop it to stop.
pub fn watcher<A: WatchSource>(
    api: A,
    params: ListParams,
) -> impl Stream<Item = Result<Event<A::Object>>> + Send + 'static {
    let mut lp = params;
    lp.allow_bookmarks = true;
    let timeout = *lp.timeout_seconds.get_or_insert(DEFAULT_WATCH_TIMEOUT_SECS);
    let state = Watcher::<A::Object> {
        api: api.dynamic_api().clone(),
        lp,
        idle_limit: Duration::from_secs(u64::from(timeout)) + IDLE_GRACE,
        phase: Phase::List,
        retry: Retry::default(),
        relist_retry: Retry::default(),
        pause: None,
        _object: PhantomData,
    };
    futures::stream::unfold(state, |mut w| async move {
        let item = w.step().await;
        Some((item, w))
    })
}

enum Phase {
    List,
    /// Open a watch from this resourceVersion.
    Watch {
        rv: String,
    },
    Watching {
        rv: String,
        stream: WatchStream<Value>,
        /// Whether this watch produced anything yet.
        delivered: bool,
    },
}

struct Watcher<T> {
    api: DynamicApi,
    lp: ListParams,
    idle_limit: Duration,
    phase: Phase,
    /// Backoff of failed requests; reset by any success.
    retry: Retry,
    /// Backoff of re-lists after 410; reset only by watch events, so a
    /// server that answers every fresh watch with 410 is not listed in a loop.
    relist_retry: Retry,
    /// Wait this long before the next request (after a failure).
    pause: Option<Duration>,
    _object: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> Watcher<T> {
    /// Runs until there is something to report.
    async fn step(&mut self) -> Result<Event<T>> {
        loop {
            if let Some(d) = self.pause.take() {
                tokio::time::sleep(d).await;
            }
            match std::mem::replace(&mut self.phase, Phase::List) {
                Phase::List => match list(&self.api, &self.lp).await {
                    Ok((items, rv)) => {
                        self.retry.reset();
                        self.phase = Phase::Watch { rv };
                        return Ok(Event::Restarted(items));
                    }
                    Err(e) => return Err(self.fail(e)),
                },
                Phase::Watch { rv } => match self.api.watch(&self.lp, &rv).await {
                    Ok(stream) => {
                        self.phase = Phase::Watching {
                            rv,
                            stream,
                            delivered: false,
                        }
                    }
                    Err(e) if e.is_gone() => self.relist_after_gone(&rv),
                    Err(e) => {
                        self.phase = Phase::Watch { rv };
                        return Err(self.fail(e));
                    }
                },
                Phase::Watching {
                    rv,
                    stream,
                    delivered,
                } => {
                    if let Some(item) = self.watching(rv, stream, delivered).await {
                        return item;
                    }
                }
            }
        }
    }

    /// Takes one item from an open watch and sets the next phase.
    async fn watching(
        &mut self,
        mut rv: String,
        mut stream: WatchStream<Value>,
        delivered: bool,
    ) -> Option<Result<Event<T>>> {
        let next = tokio::time::timeout(self.idle_limit, stream.next()).await;
        let event = match next {
            Err(_) => {
                let e = self.idle_error();
                self.phase = Phase::Watch { rv };
                return Some(Err(self.fail(e)));
            }
            Ok(None) => {
                // A watch that closes at once, again and again, must not spin.
                if !delivered {
                    self.pause = Some(self.retry.next_delay());
                }
                self.phase = Phase::Watch { rv };
                return None;
            }
            // One undecodable line: report it, keep the watch.
            Ok(Some(Err(e @ Error::Decode(_)))) => {
                self.phase = Phase::Watching {
                    rv,
                    stream,
                    delivered,
                };
                return Some(Err(e));
            }
            Ok(Some(Err(e))) => {
                self.phase = Phase::Watch { rv };
                return Some(Err(self.fail(e)));
            }
            Ok(Some(Ok(event))) => event,
        };
        if !matches!(event, WatchEvent::Error(_)) {
            self.retry.reset();
            self.relist_retry.reset();
        }
        let out = match event {
            WatchEvent::Added(v) | WatchEvent::Modified(v) => {
                rv = resource_version(&v).unwrap_or(rv);
                Some(decode(v).map(Event::Applied))
            }
            WatchEvent::Deleted(v) => {
                rv = resource_version(&v).unwrap_or(rv);
                Some(decode(v).map(Event::Deleted))
            }
            WatchEvent::Bookmark { resource_version } => {
                if !resource_version.is_empty() {
                    rv = resource_version;
                }
                None
            }
            WatchEvent::Error(status) if status.code == 410 => {
                self.relist_after_gone(&rv);
                return None;
            }
            WatchEvent::Error(status) => {
                self.phase = Phase::Watch { rv };
                return Some(Err(self.fail(Error::Api(status))));
            }
        };
        self.phase = Phase::Watching {
            rv,
            stream,
            delivered: true,
        };
        out
    }

    fn relist_after_gone(&mut self, rv: &str) {
        tracing::debug!(resource = %self.what(), rv, "watch history is gone: listing again");
        self.phase = Phase::List;
        self.pause = Some(self.relist_retry.next_delay());
    }

    /// Schedules the retry of a failed request and hands the error back.
    fn fail(&mut self, e: Error) -> Error {
        self.pause = Some(self.retry.next_delay());
        e
    }

    fn idle_error(&self) -> Error {
        Error::Transport {
            message: format!(
                "watch of {} sent nothing for {}s",
                self.what(),
                self.idle_limit.as_secs()
            ),
            connect: false,
            server: self.api.client().authority().to_string(),
        }
    }

    fn what(&self) -> String {
        self.api.collection_path()
    }
}

/// Every page of the list, and the resourceVersion it was read at.
async fn list<T: DeserializeOwned>(
    api: &DynamicApi,
    params: &ListParams,
) -> Result<(Vec<T>, String)> {
    let mut lp = params.clone();
    lp.limit = Some(lp.limit.unwrap_or(DEFAULT_PAGE_SIZE));
    lp.continue_token = None;
    let mut items = Vec::new();
    let mut rv: Option<String> = None;
    loop {
        let page: ObjectList<T> = serde_json::from_value(api.list(&lp).await?)
            .map_err(|e| Error::decode(&format!("a list of {}", api.collection_path()), e))?;
        // Later pages are read at the first page's revision.
        rv.get_or_insert_with(|| page.resource_version().to_string());
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp.continue_token = Some(token),
            None => break,
        }
    }
    Ok((items, rv.unwrap_or_default()))
}

fn resource_version(v: &Value) -> Option<String> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::decode("a watched object", e))
}

/// Capped exponential backoff between failed requests.
#[derive(Debug)]
struct Retry {
    next: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { next: MIN_RETRY }
    }
}

impl Retry {
    fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(MAX_RETRY);
        d
    }

    fn reset(&mut self) {
        self.next = MIN_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_doubles_up_to_the_cap_and_resets() {
        let mut r = Retry::default();
        let delays: Vec<_> = (0..10).map(|_| r.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(50));
        assert_eq!(delays[1], Duration::from_millis(100));
        assert_eq!(delays[6], Duration::from_millis(3200));
        assert_eq!(delays[7], MAX_RETRY);
        assert_eq!(delays[9], MAX_RETRY);
        r.reset();
        assert_eq!(r.next_delay(), MIN_RETRY);
    }

    #[test]
    fn events_expose_and_map_their_objects() {
        let e = Event::Restarted(vec![1, 2, 3]);
        assert_eq!(e.objects().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(e.map(|x| x * 10), Event::Restarted(vec![10, 20, 30]));
        let a = Event::Applied("x");
        assert_eq!(a.objects().collect::<Vec<_>>(), vec![&"x"]);
        assert_eq!(Event::Deleted(2).map(|x| x + 1), Event::Deleted(3));
    }

    #[test]
    fn resource_versions_come_from_metadata() {
        let v = serde_json::json!({"metadata": {"resourceVersion": "42"}});
        assert_eq!(resource_version(&v).as_deref(), Some("42"));
        assert_eq!(resource_version(&serde_json::json!({})), None);
    }
}
