//! `?watch=true`: a chunked stream of newline-delimited
//! `{"type":..,"object":..}` events, one per chunk.
//!
//! Events come from the watch cache (one store watch per kind, shared by
//! every client); a client resuming from a revision older than the cache
//! holds gets a store watch of its own, which answers an `ERROR` event with
//! a 410 Status once the store has compacted that history. Each client
//! filters by namespace and selectors: an object that stops matching is
//! sent as DELETED, one that starts matching as ADDED. `timeoutSeconds`
//! ends the stream; without it, it never ends early. A client too slow to
//! keep up is cut off (it re-watches from its last revision) rather than
//! silently skipping events.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use skiff_api::{ResourceType, Status};
use skiff_store::{EventType, ListOptions, Revision, StoreError};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::{Ctx, render};
use crate::errors::{ApiResult, too_old};
use crate::faults::WatchKill;
use crate::filter::Filter;
use crate::negotiate::Rendering;
use crate::registry::decode_at;
use crate::state::AppState;
use crate::watch_cache::{CachedEvent, KindCache, Subscription};

/// Events buffered between the event loop and the HTTP body.
const CLIENT_BUFFER: usize = 64;

pub async fn watch(ctx: Ctx) -> ApiResult<Response> {
    let rt = ctx.path.rt;
    let q = &ctx.query;
    let filter = match ctx.path.name.as_deref() {
        Some(name) => Filter::for_object(q, rt, ctx.namespace(), name)?,
        None => Filter::from_query(q, rt, ctx.namespace())?,
    };
    let from = match q.get("resourceVersion").unwrap_or_default() {
        "" | "0" => None,
        rv => crate::value::parse_resource_version(rv)?,
    };
    let timeout = q
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let options = StreamOptions {
        deadline: timeout.map(|t| Instant::now() + t),
        bookmarks: q.flag("allowWatchBookmarks")?,
        bookmark_interval: ctx.state.settings.bookmark_interval,
    };
    let subscription = ctx.state.watch_cache.subscribe(rt, from).await?;

    let (tx, mut rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
    let mut kill = WatchKill::none();
    if let Some(faults) = &ctx.state.faults {
        kill = faults.watch_kill();
        let (delayed_tx, delayed_rx) = mpsc::channel::<Bytes>(CLIENT_BUFFER);
        crate::faults::delay_events(faults.clone(), rt.plural, rx, delayed_tx);
        rx = delayed_rx;
    }
    let writer = Writer {
        tx,
        rt,
        rendering: ctx.rendering,
    };
    let state = ctx.state.clone();
    let guard = state.metrics.watcher(rt.plural);
    tokio::spawn(async move {
        let _guard = guard;
        match subscription {
            Subscription::TooOld { oldest } => {
                // `from` is set: a snapshot never is too old.
                let from = from.unwrap_or_default();
                tracing::debug!(
                    resource = rt.plural,
                    from,
                    oldest,
                    "watch older than the cache: reading the store's history"
                );
                from_store(&state, writer, filter, from, options, kill).await;
            }
            cached => from_cache(&state, writer, filter, cached, from, options, kill).await,
        }
    });

    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<Bytes, Infallible>));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[derive(Clone, Copy)]
struct StreamOptions {
    deadline: Option<Instant>,
    bookmarks: bool,
    bookmark_interval: Duration,
}

impl StreamOptions {
    /// When the next bookmark is due: every interval, and once shortly
    /// before the deadline so that short watches get one too.
    fn next_bookmark(&self, now: Instant) -> Instant {
        let periodic = now + self.bookmark_interval;
        match self.deadline {
            Some(d) => {
                let before = d.checked_sub(Duration::from_secs(1)).unwrap_or(d);
                if before > now && before < periodic {
                    before
                } else {
                    periodic
                }
            }
            None => periodic,
        }
    }

    /// Far in the future when there is no deadline (the branch is disabled).
    fn deadline_or_never(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }
}

/// Encodes and sends events to one client.
struct Writer {
    tx: mpsc::Sender<Bytes>,
    rt: &'static ResourceType,
    rendering: Rendering,
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    object: &'a Value,
}

impl Writer {
    /// False when the client is gone.
    async fn send(&self, event_type: &str, object: &Value) -> bool {
        let rendered;
        let object = match self.rendering {
            Rendering::Json => object,
            other => {
                rendered = render::object(self.rt, object, other);
                &rendered
            }
        };
        self.send_raw(event_type, object).await
    }

    async fn send_raw(&self, event_type: &str, object: &Value) -> bool {
        let mut line = serde_json::to_vec(&Event { event_type, object }).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn bookmark(&self, revision: Revision) -> bool {
        let object = json!({
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version(),
            "metadata": {"resourceVersion": revision.to_string()},
        });
        self.send_raw("BOOKMARK", &object).await
    }

    async fn error(&self, status: &Status) -> bool {
        let object = serde_json::to_value(status).unwrap_or_default();
        self.send_raw("ERROR", &object).await
    }
}

/// The event type a client sees, given whether the object matches its
/// filter now and matched before (`None`: not sent).
fn classify(
    event_type: EventType,
    matches_now: bool,
    matched_before: bool,
) -> Option<&'static str> {
    match (event_type, matches_now, matched_before) {
        (EventType::Added, true, _) => Some("ADDED"),
        (EventType::Modified, true, true) => Some("MODIFIED"),
        (EventType::Modified, true, false) => Some("ADDED"),
        (EventType::Modified, false, true) => Some("DELETED"),
        (EventType::Deleted, true, _) => Some("DELETED"),
        _ => None,
    }
}

/// Sends one cached event if the client wants it; false when the client is gone.
async fn send_cached(w: &Writer, filter: &Filter, ev: &CachedEvent) -> bool {
    let now = filter.matches(&ev.object);
    let before = ev.previous.as_deref().is_some_and(|p| filter.matches(p));
    match classify(ev.event_type, now, before) {
        Some(t) => w.send(t, &ev.object).await,
        None => true,
    }
}

async fn from_cache(
    state: &AppState,
    w: Writer,
    filter: Filter,
    subscription: Subscription,
    from: Option<Revision>,
    opts: StreamOptions,
    mut kill: WatchKill,
) {
    let (mut live, kind, mut client_rv): (
        broadcast::Receiver<Arc<CachedEvent>>,
        Arc<KindCache>,
        Revision,
    ) = match subscription {
        Subscription::Snapshot {
            objects,
            revision,
            live,
            kind,
        } => {
            for o in objects.iter().filter(|o| filter.matches(o)) {
                if !w.send("ADDED", o).await {
                    return;
                }
            }
            (live, kind, revision)
        }
        Subscription::Replay {
            backlog,
            live,
            kind,
        } => {
            let mut rv = from.unwrap_or_default();
            for ev in &backlog {
                if ev.revision <= rv {
                    continue;
                }
                rv = ev.revision;
                if !send_cached(&w, &filter, ev).await {
                    return;
                }
            }
            (live, kind, rv)
        }
        Subscription::TooOld { .. } => return,
    };
    let mut shutdown = state.shutdown.clone();
    let mut next_bookmark = opts.next_bookmark(Instant::now());
    let deadline = opts.deadline_or_never();
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(ev) => {
                    if ev.revision <= client_rv {
                        continue;
                    }
                    client_rv = ev.revision;
                    if !send_cached(&w, &filter, &ev).await {
                        return;
                    }
                }
                // Lagged: events were dropped for this client; ending the
                // stream makes it re-watch from its last revision instead of
                // silently missing them. Closed: the cache was rebuilt.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next_bookmark), if opts.bookmarks => {
                // Read the cache's revision first: if nothing is queued for
                // this client afterwards, it has seen every event up to it.
                let latest = kind.latest();
                if live.is_empty() {
                    client_rv = client_rv.max(latest);
                }
                if !w.bookmark(client_rv).await {
                    return;
                }
                next_bookmark = opts.next_bookmark(Instant::now());
            }
            _ = tokio::time::sleep_until(deadline), if opts.deadline.is_some() => return,
            _ = w.tx.closed() => return,
            _ = shutdown.changed() => return,
            _ = kill.fired() => return,
        }
    }
}

/// A watch from a revision older than the cache holds: the store's own
/// history, or 410 when that is compacted too.
async fn from_store(
    state: &AppState,
    w: Writer,
    filter: Filter,
    from: Revision,
    opts: StreamOptions,
    mut kill: WatchKill,
) {
    let store = &state.registry.store;
    let prefix = filter.storage_prefix(w.rt);
    let gone = |e: StoreError| match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => Some(too_old(requested, compacted)),
        _ => None,
    };
    // Which objects matched at `from`, to tell a later change that makes
    // one stop matching (DELETED) from one that never matched.
    let selective = !filter.labels.is_empty() || !filter.fields.is_empty();
    let mut matching: HashSet<String> = HashSet::new();
    if selective {
        let opts = ListOptions {
            revision: Some(from),
            ..Default::default()
        };
        match store.list(&prefix, &opts).await {
            Ok(page) => {
                for kv in &page.items {
                    if let Ok(o) = decode_at(&kv.value, kv.mod_revision, &kv.key)
                        && filter.matches(&o)
                    {
                        matching.insert(kv.key.clone());
                    }
                }
            }
            Err(e) => {
                if let Some(s) = gone(e) {
                    w.error(&s).await;
                }
                return;
            }
        }
    }
    let mut stream = match store.watch(&prefix, from).await {
        Ok(s) => s,
        Err(e) => {
            let status = gone(e).unwrap_or_else(|| too_old(from, from));
            w.error(&status).await;
            return;
        }
    };
    let mut client_rv = from;
    let mut shutdown = state.shutdown.clone();
    let mut next_bookmark = opts.next_bookmark(Instant::now());
    let deadline = opts.deadline_or_never();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(ev)) => {
                    let revision = ev.kv.mod_revision;
                    if revision <= client_rv {
                        continue;
                    }
                    client_rv = revision;
                    let Ok(object) = decode_at(&ev.kv.value, revision, &ev.kv.key) else {
                        continue;
                    };
                    let now = filter.matches(&object);
                    let before = if selective {
                        matching.contains(&ev.kv.key)
                    } else {
                        ev.event_type != EventType::Added
                    };
                    match ev.event_type {
                        EventType::Deleted => {
                            matching.remove(&ev.kv.key);
                        }
                        _ if now && selective => {
                            matching.insert(ev.kv.key.clone());
                        }
                        _ => {
                            matching.remove(&ev.kv.key);
                        }
                    }
                    if let Some(t) = classify(ev.event_type, now, before)
                        && !w.send(t, &object).await {
                            return;
                        }
                }
                Some(Err(e)) => {
                    if let Some(s) = gone(e) {
                        w.error(&s).await;
                    }
                    return;
                }
                None => return,
            },
            _ = tokio::time::sleep_until(next_bookmark), if opts.bookmarks => {
                if !w.bookmark(client_rv).await {
                    return;
                }
                next_bookmark = opts.next_bookmark(Instant::now());
            }
            _ = tokio::time::sleep_until(deadline), if opts.deadline.is_some() => return,
            _ = w.tx.closed() => return,
            _ = shutdown.changed() => return,
            _ = kill.fired() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_transitions() {
        assert_eq!(classify(EventType::Added, true, false), Some("ADDED"));
        assert_eq!(classify(EventType::Added, false, false), None);
        assert_eq!(classify(EventType::Modified, true, true), Some("MODIFIED"));
        assert_eq!(classify(EventType::Modified, true, false), Some("ADDED"));
        assert_eq!(classify(EventType::Modified, false, true), Some("DELETED"));
        assert_eq!(classify(EventType::Modified, false, false), None);
        assert_eq!(classify(EventType::Deleted, true, true), Some("DELETED"));
        assert_eq!(classify(EventType::Deleted, false, false), None);
    }

    #[test]
    fn bookmarks_come_before_short_deadlines() {
        let now = Instant::now();
        let opts = StreamOptions {
            deadline: Some(now + Duration::from_secs(3)),
            bookmarks: true,
            bookmark_interval: Duration::from_secs(10),
        };
        assert_eq!(opts.next_bookmark(now), now + Duration::from_secs(2));
        let later = now + Duration::from_millis(2500);
        assert_eq!(opts.next_bookmark(later), later + Duration::from_secs(10));
        let open = StreamOptions {
            deadline: None,
            ..opts
        };
        assert_eq!(open.next_bookmark(now), now + Duration::from_secs(10));
    }
}
