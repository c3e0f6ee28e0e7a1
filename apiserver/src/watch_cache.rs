//! The watch cache: ONE store watch per resource kind, fanned out to every
//! client watch through a broadcast channel. Each kind keeps the current
//! objects (so a client can be told when an object stops or starts matching
//! its selectors) and a bounded ring of recent events (so a client can
//! resume from a `resourceVersion` without touching the store).
//!
//! A kind's cache starts on its first watch: it lists the kind at revision
//! R, then watches the store from R. Events after R are in the ring until it
//! overflows; a client asking for an older revision is served by a watch of
//! its own on the store (`Subscription::TooOld`), which answers 410 once the
//! store has compacted that history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use skiff_api::{ResourceType, Status};
use skiff_store::{EventType, ListOptions, Revision, Store, StoreError, WatchEvent};
use tokio::sync::broadcast;

use crate::errors::plain_store_error;
use crate::registry::decode_at;

/// Sizes of the per-kind buffers.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Recent events kept per kind for clients resuming from a revision.
    pub ring_capacity: usize,
    /// Events buffered per client before a slow client is cut off.
    pub broadcast_capacity: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ring_capacity: 10_000,
            broadcast_capacity: 4_096,
        }
    }
}

/// One change, decoded once and shared by every client.
#[derive(Debug)]
pub struct CachedEvent {
    pub event_type: EventType,
    pub revision: Revision,
    /// The object after the change (for `Deleted`, its last state), with
    /// `resourceVersion` = `revision`.
    pub object: Arc<Value>,
    /// The object before the change, when it existed.
    pub previous: Option<Arc<Value>>,
}

/// How a client watch starts.
pub enum Subscription {
    /// No `resourceVersion`: the current objects (as of `revision`), then
    /// live events.
    Snapshot {
        objects: Vec<Arc<Value>>,
        revision: Revision,
        live: broadcast::Receiver<Arc<CachedEvent>>,
        kind: Arc<KindCache>,
    },
    /// Events after the requested revision from the ring, then live ones.
    Replay {
        backlog: Vec<Arc<CachedEvent>>,
        live: broadcast::Receiver<Arc<CachedEvent>>,
        kind: Arc<KindCache>,
    },
    /// The requested revision is older than the ring.
    TooOld { oldest: Revision },
}

pub struct WatchCache {
    store: Arc<dyn Store>,
    settings: CacheSettings,
    kinds: tokio::sync::Mutex<HashMap<String, Arc<KindCache>>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The cache of one kind.
pub struct KindCache {
    state: Mutex<KindState>,
}

struct KindState {
    objects: BTreeMap<String, Arc<Value>>,
    ring: VecDeque<Arc<CachedEvent>>,
    /// Every event with a revision above this one is in the ring.
    oldest: Revision,
    /// The revision of the last event applied (or the initial list's).
    latest: Revision,
    sender: broadcast::Sender<Arc<CachedEvent>>,
}

impl KindCache {
    /// The object stored at `key` as of the last applied event; `None` when
    /// the cache has not seen it (absent, or its event not applied yet).
    pub fn object(&self, key: &str) -> Option<Arc<Value>> {
        self.state
            .lock()
            .expect("watch cache lock")
            .objects
            .get(key)
            .cloned()
    }

    /// The revision the cache has caught up to.
    pub fn latest(&self) -> Revision {
        self.state.lock().expect("watch cache lock").latest
    }
}

impl WatchCache {
    pub fn new(
        store: Arc<dyn Store>,
        settings: CacheSettings,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> WatchCache {
        WatchCache {
            store,
            settings,
            kinds: tokio::sync::Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// Starts a client watch of `rt` after `from` (`None`: from a snapshot).
    pub async fn subscribe(
        &self,
        rt: &ResourceType,
        from: Option<Revision>,
    ) -> Result<Subscription, Status> {
        let kind = self.kind(rt).await?;
        let st = kind.state.lock().expect("watch cache lock");
        Ok(match from {
            None => Subscription::Snapshot {
                objects: st.objects.values().cloned().collect(),
                revision: st.latest,
                live: st.sender.subscribe(),
                kind: kind.clone(),
            },
            Some(rv) if rv >= st.oldest => {
                let start = st.ring.partition_point(|e| e.revision <= rv);
                Subscription::Replay {
                    backlog: st.ring.iter().skip(start).cloned().collect(),
                    live: st.sender.subscribe(),
                    kind: kind.clone(),
                }
            }
            Some(_) => Subscription::TooOld { oldest: st.oldest },
        })
    }

    /// The cache of `rt`, started on first use.
    pub(crate) async fn kind(&self, rt: &ResourceType) -> Result<Arc<KindCache>, Status> {
        let prefix = rt.storage_prefix();
        let mut kinds = self.kinds.lock().await;
        if let Some(k) = kinds.get(&prefix) {
            return Ok(k.clone());
        }
        let state = initial_state(&*self.store, &prefix, self.settings).await?;
        let after = state.latest;
        let kind = Arc::new(KindCache {
            state: Mutex::new(state),
        });
        kinds.insert(prefix.clone(), kind.clone());
        tokio::spawn(follow(
            self.store.clone(),
            prefix,
            kind.clone(),
            after,
            self.settings,
            self.shutdown.clone(),
        ));
        Ok(kind)
    }
}

async fn initial_state(
    store: &dyn Store,
    prefix: &str,
    settings: CacheSettings,
) -> Result<KindState, Status> {
    let page = store
        .list(prefix, &ListOptions::default())
        .await
        .map_err(plain_store_error)?;
    let mut objects = BTreeMap::new();
    for kv in &page.items {
        objects.insert(kv.key.clone(), Arc::new(crate::registry::decode(kv)?));
    }
    let (sender, _) = broadcast::channel(settings.broadcast_capacity);
    Ok(KindState {
        objects,
        ring: VecDeque::new(),
        oldest: page.revision,
        latest: page.revision,
        sender,
    })
}

/// The one store watch of a kind: applies every event to the cache and
/// broadcasts it. Re-watches after a dropped stream; if the store compacted
/// past the cache (events were lost), the cache is rebuilt and every client
/// stream is ended so that clients re-list.
async fn follow(
    store: Arc<dyn Store>,
    prefix: String,
    kind: Arc<KindCache>,
    mut after: Revision,
    settings: CacheSettings,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    const RETRY: Duration = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let stream = tokio::select! {
            s = store.watch(&prefix, after) => s,
            _ = shutdown.changed() => return,
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(StoreError::Compacted { .. }) => {
                after = resync(&*store, &prefix, &kind, settings)
                    .await
                    .unwrap_or(after);
                continue;
            }
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "watch cache: store watch failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = shutdown.changed() => return,
            };
            match item {
                Some(Ok(event)) => {
                    after = event.kv.mod_revision;
                    apply(&kind, event, settings);
                }
                Some(Err(StoreError::Compacted { .. })) => {
                    after = resync(&*store, &prefix, &kind, settings)
                        .await
                        .unwrap_or(after);
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(%prefix, error = %e, "watch cache: store watch error; re-watching");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
                None => {
                    tracing::debug!(%prefix, "watch cache: store watch ended; re-watching");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}

/// Rebuilds a kind's cache from a fresh list; ends every client stream.
async fn resync(
    store: &dyn Store,
    prefix: &str,
    kind: &KindCache,
    settings: CacheSettings,
) -> Option<Revision> {
    tracing::warn!(%prefix, "watch cache fell behind the store's compaction; rebuilding");
    match initial_state(store, prefix, settings).await {
        Ok(fresh) => {
            let latest = fresh.latest;
            // Replacing the sender closes every receiver of the old one.
            *kind.state.lock().expect("watch cache lock") = fresh;
            Some(latest)
        }
        Err(s) => {
            tracing::warn!(%prefix, error = %s.message, "watch cache: relist failed");
            tokio::time::sleep(Duration::from_millis(200)).await;
            None
        }
    }
}

fn apply(kind: &KindCache, event: WatchEvent, settings: CacheSettings) {
    let revision = event.kv.mod_revision;
    let object = match decode_at(&event.kv.value, revision, &event.kv.key) {
        Ok(o) => Arc::new(o),
        Err(s) => {
            tracing::error!(key = %event.kv.key, error = %s.message, "watch cache: undecodable value skipped");
            return;
        }
    };
    let mut st = kind.state.lock().expect("watch cache lock");
    let previous = match event.event_type {
        EventType::Deleted => st.objects.remove(&event.kv.key),
        EventType::Added | EventType::Modified => {
            st.objects.insert(event.kv.key.clone(), object.clone())
        }
    };
    let cached = Arc::new(CachedEvent {
        event_type: event.event_type,
        revision,
        object,
        previous,
    });
    st.ring.push_back(cached.clone());
    while st.ring.len() > settings.ring_capacity {
        if let Some(old) = st.ring.pop_front() {
            st.oldest = old.revision;
        }
    }
    st.latest = revision;
    // No receivers is fine: nobody is watching right now.
    let _ = st.sender.send(cached);
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::KeyValue;

    fn kind_with(capacity: usize) -> (KindCache, CacheSettings) {
        let settings = CacheSettings {
            ring_capacity: capacity,
            broadcast_capacity: 16,
        };
        let (sender, _) = broadcast::channel(16);
        let kind = KindCache {
            state: Mutex::new(KindState {
                objects: BTreeMap::new(),
                ring: VecDeque::new(),
                oldest: 1,
                latest: 1,
                sender,
            }),
        };
        (kind, settings)
    }

    fn event(t: EventType, key: &str, rev: i64) -> WatchEvent {
        WatchEvent {
            event_type: t,
            kv: KeyValue {
                key: key.into(),
                value: format!(r#"{{"metadata":{{"name":"{key}"}}}}"#).into_bytes(),
                mod_revision: rev,
                create_revision: rev,
            },
        }
    }

    #[test]
    fn ring_keeps_the_newest_events_and_tracks_previous_state() {
        let (kind, settings) = kind_with(3);
        let mut rx = kind.state.lock().unwrap().sender.subscribe();
        apply(&kind, event(EventType::Added, "a", 2), settings);
        apply(&kind, event(EventType::Modified, "a", 3), settings);
        apply(&kind, event(EventType::Added, "b", 4), settings);
        apply(&kind, event(EventType::Deleted, "a", 5), settings);
        let st = kind.state.lock().unwrap();
        assert_eq!(
            st.ring.iter().map(|e| e.revision).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(st.oldest, 2);
        assert_eq!(st.latest, 5);
        assert_eq!(st.objects.keys().collect::<Vec<_>>(), vec!["b"]);
        let deleted = st.ring.back().unwrap();
        assert_eq!(deleted.object["metadata"]["resourceVersion"], "5");
        assert_eq!(
            deleted.previous.as_ref().unwrap()["metadata"]["resourceVersion"],
            "3"
        );
        drop(st);
        let first = rx.try_recv().unwrap();
        assert_eq!(first.revision, 2);
        assert!(first.previous.is_none());
        assert!(rx.try_recv().unwrap().previous.is_some());
    }

    /// A store whose `list` answers at a settable revision and whose
    /// `watch` hands out prepared streams, one per call.
    struct ScriptedStore {
        list_revision: std::sync::atomic::AtomicI64,
        watches: Mutex<VecDeque<skiff_store::WatchStream>>,
    }

    #[async_trait::async_trait]
    impl Store for ScriptedStore {
        async fn list(
            &self,
            _: &str,
            _: &ListOptions,
        ) -> skiff_store::Result<skiff_store::ListResult> {
            Ok(skiff_store::ListResult {
                items: Vec::new(),
                revision: self.list_revision.load(std::sync::atomic::Ordering::SeqCst),
                more: false,
            })
        }
        async fn watch(
            &self,
            _: &str,
            _: Revision,
        ) -> skiff_store::Result<skiff_store::WatchStream> {
            match self.watches.lock().unwrap().pop_front() {
                Some(s) => Ok(s),
                None => Ok(Box::pin(futures::stream::pending())),
            }
        }
        async fn create(&self, _: &str, _: Vec<u8>) -> skiff_store::Result<Revision> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn get(&self, _: &str) -> skiff_store::Result<Option<KeyValue>> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn update(&self, _: &str, _: Vec<u8>, _: Revision) -> skiff_store::Result<Revision> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn delete(
            &self,
            _: &str,
            _: Option<Revision>,
        ) -> skiff_store::Result<(Revision, KeyValue)> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn count(&self, _: &str) -> skiff_store::Result<i64> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn current_revision(&self) -> skiff_store::Result<Revision> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn compact(&self, _: Revision) -> skiff_store::Result<()> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
        async fn compacted_revision(&self) -> skiff_store::Result<Revision> {
            Err(StoreError::Unavailable("not scripted".into()))
        }
    }

    #[tokio::test]
    async fn falling_behind_compaction_rebuilds_the_cache_and_ends_client_streams() {
        let (events, rx) =
            tokio::sync::mpsc::unbounded_channel::<skiff_store::Result<WatchEvent>>();
        let first: skiff_store::WatchStream =
            Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
        let store = Arc::new(ScriptedStore {
            list_revision: std::sync::atomic::AtomicI64::new(5),
            watches: Mutex::new(VecDeque::from([first])),
        });
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let cache = WatchCache::new(store.clone(), CacheSettings::default(), shutdown);
        let rt = &skiff_api::core::CONFIGMAPS;
        let Subscription::Snapshot {
            mut live, revision, ..
        } = cache.subscribe(rt, None).await.unwrap()
        else {
            panic!("a snapshot");
        };
        assert_eq!(revision, 5);
        events
            .send(Ok(event(
                EventType::Added,
                "/registry/core/configmaps/default/a",
                6,
            )))
            .unwrap();
        assert_eq!(live.recv().await.unwrap().revision, 6);

        // The store compacted past the cache: rebuilt at the new revision.
        store
            .list_revision
            .store(20, std::sync::atomic::Ordering::SeqCst);
        events
            .send(Err(StoreError::Compacted {
                requested: 6,
                compacted: 15,
            }))
            .unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .unwrap();
        assert!(matches!(ended, Err(broadcast::error::RecvError::Closed)));
        match cache.subscribe(rt, Some(10)).await.unwrap() {
            Subscription::TooOld { oldest } => assert_eq!(oldest, 20),
            _ => panic!("revision 10 predates the rebuilt cache"),
        }
        assert!(matches!(
            cache.subscribe(rt, Some(20)).await.unwrap(),
            Subscription::Replay { .. }
        ));
    }

    #[test]
    fn object_lookups_follow_the_applied_events() {
        let (kind, settings) = kind_with(3);
        assert!(kind.object("a").is_none());
        apply(&kind, event(EventType::Added, "a", 2), settings);
        assert_eq!(
            kind.object("a").unwrap()["metadata"]["resourceVersion"],
            "2"
        );
        apply(&kind, event(EventType::Deleted, "a", 3), settings);
        assert!(kind.object("a").is_none());
    }

    #[test]
    fn undecodable_values_are_skipped() {
        let (kind, settings) = kind_with(3);
        let mut e = event(EventType::Added, "a", 2);
        e.kv.value = b"{".to_vec();
        apply(&kind, e, settings);
        assert!(kind.state.lock().unwrap().ring.is_empty());
    }
}
