//! The cache (reflector store): the objects a watcher has seen, shared by
//! many readers as `Arc<T>` (read-only: a reader that wants to change an
//! object clones it and writes it to the API server).
//!
//! One [`CacheWriter`] applies watcher events (usually through
//! [`reflector`]); any number of [`Cache`] handles read. A `Restarted` event
//! replaces the whole content at once, so readers never see half a list.
//! Secondary indexes map a value (an owner uid, a node name) to the objects
//! that have it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::{Stream, StreamExt};
use skiff_api::Object;
use skiff_api::core::Pod;
use tokio::sync::watch;

use super::key::{ObjectKey, cache_key};
use super::watcher::{Event, WatchSource, watcher};
use crate::error::Result;
use crate::params::ListParams;

/// Index of objects by the uid of each of their owners.
pub const BY_OWNER_UID: &str = "owner-uid";
/// Index of objects by the uid of their controller (the owner marked `controller: true`).
pub const BY_CONTROLLER_UID: &str = "controller-uid";
/// Index of pods by `spec.nodeName` (unscheduled pods are not indexed).
pub const BY_NODE: &str = "node";

/// Index function for [`BY_OWNER_UID`].
pub fn owner_uids<T: Object>(object: &T) -> Vec<String> {
    object
        .metadata()
        .owner_references
        .iter()
        .map(|r| r.uid.clone())
        .collect()
}

/// Index function for [`BY_CONTROLLER_UID`].
pub fn controller_uid<T: Object>(object: &T) -> Vec<String> {
    object
        .metadata()
        .controller_ref()
        .map(|r| r.uid.clone())
        .into_iter()
        .collect()
}

/// Index function for [`BY_NODE`].
pub fn pod_node_name(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
        .into_iter()
        .collect()
}

/// A label selector of either kind: the `LabelSelector` of a spec
/// (`matchLabels` + `matchExpressions`) or a parsed `app=web,tier!=db`.
pub trait MatchLabels {
    fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool;
}

impl MatchLabels for skiff_api::meta::LabelSelector {
    fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels)
    }
}

impl MatchLabels for skiff_api::selector::LabelSelector {
    fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(labels)
    }
}

type IndexFn<T> = Arc<dyn Fn(&T) -> Vec<String> + Send + Sync>;

struct Index<T> {
    func: IndexFn<T>,
    /// Index value -> keys of the objects that have it.
    entries: HashMap<String, BTreeSet<String>>,
}

impl<T> Index<T> {
    fn insert(&mut self, key: &str, object: &T) {
        for value in (self.func)(object) {
            self.entries
                .entry(value)
                .or_default()
                .insert(key.to_string());
        }
    }

    fn remove(&mut self, key: &str, object: &T) {
        for value in (self.func)(object) {
            if let Some(keys) = self.entries.get_mut(&value) {
                keys.remove(key);
                if keys.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }

    fn rebuild(&mut self, objects: &BTreeMap<String, Arc<T>>) {
        self.entries.clear();
        for (key, object) in objects {
            self.insert(key, object);
        }
    }
}

struct Content<T> {
    objects: BTreeMap<String, Arc<T>>,
    indexes: HashMap<String, Index<T>>,
}

impl<T> Content<T> {
    fn upsert(&mut self, key: String, object: Arc<T>) {
        if let Some(old) = self.objects.get(&key) {
            for index in self.indexes.values_mut() {
                index.remove(&key, old);
            }
        }
        for index in self.indexes.values_mut() {
            index.insert(&key, &object);
        }
        self.objects.insert(key, object);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.objects.remove(key) {
            for index in self.indexes.values_mut() {
                index.remove(key, &old);
            }
        }
    }

    fn replace_all(&mut self, objects: BTreeMap<String, Arc<T>>) {
        self.objects = objects;
        for index in self.indexes.values_mut() {
            index.rebuild(&self.objects);
        }
    }
}

struct Shared<T> {
    content: RwLock<Content<T>>,
    synced: watch::Sender<bool>,
}

impl<T> Shared<T> {
    // A panic in an index function must not take every reader down with it:
    // the content is still consistent enough to read, so poisoning is ignored.
    fn read(&self) -> RwLockReadGuard<'_, Content<T>> {
        self.content.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Content<T>> {
        self.content.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A read handle on the cache; cheap to clone, usable from any task.
pub struct Cache<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.len())
            .field("synced", &self.is_synced())
            .finish()
    }
}

impl<T> Cache<T> {
    /// The object with key `namespace/name` (or `name` when cluster-scoped).
    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        self.shared.read().objects.get(key).cloned()
    }

    pub fn get_key(&self, key: &ObjectKey) -> Option<Arc<T>> {
        self.get(&key.to_string())
    }

    /// Every object, in key order.
    pub fn list(&self) -> Vec<Arc<T>> {
        self.shared.read().objects.values().cloned().collect()
    }

    /// Every object of `namespace`, in key order.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<T>> {
        let prefix = format!("{namespace}/");
        self.shared
            .read()
            .objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Objects (of `namespace`, or of all namespaces when `None`) for which `keep` is true.
    pub fn filter(&self, namespace: Option<&str>, keep: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        let candidates = match namespace {
            Some(ns) => self.list_namespace(ns),
            None => self.list(),
        };
        candidates.into_iter().filter(|o| keep(o)).collect()
    }

    /// Keys of every object, in order.
    pub fn keys(&self) -> Vec<String> {
        self.shared.read().objects.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.shared.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Has the first full list arrived? Before that, an absent object may
    /// just not be loaded yet: never act on an unsynced cache.
    pub fn is_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits for the first full list.
    pub async fn wait_synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        // The sender lives in `shared`, which `self` keeps alive: no error.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// Adds (or replaces) the index `name`: `index` gives the values an
    /// object is found under. Existing objects are indexed at once.
    pub fn add_index(&self, name: &str, index: impl Fn(&T) -> Vec<String> + Send + Sync + 'static) {
        let mut content = self.shared.write();
        let mut new = Index {
            func: Arc::new(index),
            entries: HashMap::new(),
        };
        new.rebuild(&content.objects);
        content.indexes.insert(name.to_string(), new);
    }

    /// Objects found under `value` in the index `name`, in key order.
    ///
    /// # Panics
    /// When no index `name` was added: a misspelt index must not pass for
    /// "no such objects".
    pub fn by_index(&self, name: &str, value: &str) -> Vec<Arc<T>> {
        let content = self.shared.read();
        let index = content
            .indexes
            .get(name)
            .unwrap_or_else(|| panic!("the cache has no index named {name:?}"));
        index
            .entries
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|key| content.objects.get(key).cloned())
            .collect()
    }
}

impl<T: Object> Cache<T> {
    /// Objects (of `namespace`, or of all namespaces) whose labels `selector` matches.
    pub fn list_matching(
        &self,
        namespace: Option<&str>,
        selector: &impl MatchLabels,
    ) -> Vec<Arc<T>> {
        self.filter(namespace, |o| selector.matches_labels(&o.metadata().labels))
    }
}

/// The only handle that changes the cache.
pub struct CacheWriter<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Default for CacheWriter<T> {
    fn default() -> Self {
        CacheWriter {
            shared: Arc::new(Shared {
                content: RwLock::new(Content {
                    objects: BTreeMap::new(),
                    indexes: HashMap::new(),
                }),
                synced: watch::Sender::new(false),
            }),
        }
    }
}

impl<T: Object> CacheWriter<T> {
    /// An empty, unsynced cache.
    pub fn new() -> CacheWriter<T> {
        CacheWriter::default()
    }

    /// A read handle on this cache.
    pub fn cache(&self) -> Cache<T> {
        Cache {
            shared: self.shared.clone(),
        }
    }

    /// Applies one watcher event. The first `Restarted` marks the cache synced.
    pub fn apply(&mut self, event: &Event<Arc<T>>) {
        match event {
            Event::Applied(o) => self.shared.write().upsert(cache_key(o.as_ref()), o.clone()),
            Event::Deleted(o) => self.shared.write().remove(&cache_key(o.as_ref())),
            Event::Restarted(all) => {
                let objects = all
                    .iter()
                    .map(|o| (cache_key(o.as_ref()), o.clone()))
                    .collect();
                self.shared.write().replace_all(objects);
                self.shared.synced.send_replace(true);
            }
        }
    }
}

/// Applies each event of `events` to the cache of `writer`, then passes it
/// on, its objects now shared with the cache. Errors pass through untouched.
pub fn reflector<T, S>(
    mut writer: CacheWriter<T>,
    events: S,
) -> impl Stream<Item = Result<Event<Arc<T>>>>
where
    T: Object,
    S: Stream<Item = Result<Event<T>>>,
{
    events.map(move |item| {
        item.map(|event| {
            let event = event.map(Arc::new);
            writer.apply(&event);
            event
        })
    })
}

/// The events of an [`informer`], their objects shared with its cache.
pub type InformerEvents<T> = Pin<Box<dyn Stream<Item = Result<Event<Arc<T>>>> + Send>>;

/// A watcher feeding a new cache: the cache, and the event stream that
/// must be polled (spawned, or fed to a work queue) for the cache to fill.
pub fn informer<A>(api: A, params: ListParams) -> (Cache<A::Object>, InformerEvents<A::Object>)
where
    A: WatchSource,
    A::Object: Object,
{
    let writer = CacheWriter::new();
    let cache = writer.cache();
    (cache, Box::pin(reflector(writer, watcher(api, params))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{ConfigMap, PodSpec};
    use skiff_api::meta::{ObjectMeta, OwnerReference};

    fn cm(
        ns: &str,
        name: &str,
        labels: &[(&str, &str)],
        owner_uid: Option<&str>,
    ) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                owner_references: owner_uid
                    .map(|uid| OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "ReplicaSet".into(),
                        name: "rs".into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: None,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn names(objects: &[Arc<ConfigMap>]) -> Vec<String> {
        objects
            .iter()
            .map(|o| o.metadata.name_str().to_string())
            .collect()
    }

    #[tokio::test]
    async fn synced_after_the_first_full_list() {
        let mut w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        assert!(!c.is_synced());
        // Applied events before the list do not make it synced.
        w.apply(&Event::Applied(cm("a", "x", &[], None)));
        assert!(!c.is_synced());
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.wait_synced().await }
        });
        w.apply(&Event::Restarted(vec![cm("a", "y", &[], None)]));
        assert!(c.is_synced());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        // The list replaced what was there.
        assert_eq!(c.keys(), vec!["a/y".to_string()]);
        c.wait_synced().await;
    }

    #[test]
    fn follows_applied_and_deleted() {
        let mut w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        w.apply(&Event::Restarted(vec![
            cm("a", "x", &[], None),
            cm("b", "x", &[], None),
        ]));
        w.apply(&Event::Applied(cm("a", "z", &[], None)));
        w.apply(&Event::Deleted(cm("b", "x", &[], None)));
        w.apply(&Event::Deleted(cm("b", "never-there", &[], None)));
        assert_eq!(c.keys(), vec!["a/x".to_string(), "a/z".to_string()]);
        assert!(c.get("a/x").is_some());
        assert!(c.get_key(&ObjectKey::new(Some("a"), "z")).is_some());
        assert!(c.get("b/x").is_none());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn handed_out_objects_are_shared_not_copied() {
        let mut w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        let obj = cm("a", "x", &[], None);
        w.apply(&Event::Applied(obj.clone()));
        let got = c.get("a/x").unwrap();
        assert!(Arc::ptr_eq(&got, &obj));
        // An update swaps the Arc; what a reader holds stays as it was.
        let mut changed = (*got).clone();
        changed.data.insert("k".into(), "v".into());
        w.apply(&Event::Applied(Arc::new(changed)));
        assert!(got.data.is_empty());
        assert_eq!(c.get("a/x").unwrap().data["k"], "v");
    }

    #[test]
    fn namespaces_and_selectors() {
        let mut w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        w.apply(&Event::Restarted(vec![
            cm("a", "web", &[("app", "web")], None),
            cm("a", "db", &[("app", "db")], None),
            cm("ab", "web", &[("app", "web")], None),
            cm("b", "web", &[("app", "web")], None),
        ]));
        assert_eq!(names(&c.list_namespace("a")), vec!["db", "web"]);
        assert_eq!(c.list_namespace("ab").len(), 1);
        let parsed = skiff_api::selector::LabelSelector::parse("app=web").unwrap();
        assert_eq!(c.list_matching(None, &parsed).len(), 3);
        assert_eq!(c.list_matching(Some("a"), &parsed).len(), 1);
        let spec_selector = skiff_api::meta::LabelSelector {
            match_labels: [("app".to_string(), "db".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(
            names(&c.list_matching(Some("a"), &spec_selector)),
            vec!["db"]
        );
        assert_eq!(
            c.filter(Some("b"), |o| o.metadata.name_str() == "web")
                .len(),
            1
        );
    }

    #[test]
    fn indexes_follow_every_change() {
        let mut w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        w.apply(&Event::Applied(cm("a", "one", &[], Some("u1"))));
        // Added after objects exist: they are indexed at once.
        c.add_index(BY_OWNER_UID, owner_uids);
        c.add_index(BY_CONTROLLER_UID, controller_uid);
        assert_eq!(names(&c.by_index(BY_OWNER_UID, "u1")), vec!["one"]);
        w.apply(&Event::Applied(cm("a", "two", &[], Some("u1"))));
        assert_eq!(
            names(&c.by_index(BY_CONTROLLER_UID, "u1")),
            vec!["one", "two"]
        );
        // Re-owned: it leaves the old value.
        w.apply(&Event::Applied(cm("a", "one", &[], Some("u2"))));
        assert_eq!(names(&c.by_index(BY_OWNER_UID, "u1")), vec!["two"]);
        assert_eq!(names(&c.by_index(BY_OWNER_UID, "u2")), vec!["one"]);
        w.apply(&Event::Deleted(cm("a", "two", &[], Some("u1"))));
        assert!(c.by_index(BY_OWNER_UID, "u1").is_empty());
        w.apply(&Event::Restarted(vec![cm("a", "three", &[], Some("u3"))]));
        assert!(c.by_index(BY_OWNER_UID, "u2").is_empty());
        assert_eq!(names(&c.by_index(BY_OWNER_UID, "u3")), vec!["three"]);
    }

    #[test]
    #[should_panic(expected = "no index named \"nope\"")]
    fn unknown_indexes_are_a_bug() {
        let w = CacheWriter::<ConfigMap>::new();
        w.cache().by_index("nope", "x");
    }

    #[test]
    fn pods_by_node() {
        let pod = |name: &str, node: Option<&str>| {
            Arc::new(Pod {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("default".into()),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    node_name: node.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let mut w = CacheWriter::<Pod>::new();
        let c = w.cache();
        c.add_index(BY_NODE, pod_node_name);
        w.apply(&Event::Restarted(vec![
            pod("a", Some("n1")),
            pod("b", Some("n2")),
            pod("c", Some("n1")),
            pod("pending", None),
        ]));
        let on_n1: Vec<_> = c
            .by_index(BY_NODE, "n1")
            .iter()
            .map(|p| p.metadata.name_str().to_string())
            .collect();
        assert_eq!(on_n1, vec!["a", "c"]);
        assert!(c.by_index(BY_NODE, "").is_empty());
    }

    #[tokio::test]
    async fn reflector_applies_then_passes_on() {
        let w = CacheWriter::<ConfigMap>::new();
        let c = w.cache();
        let events = futures::stream::iter(vec![
            Ok(Event::Restarted(vec![(*cm("a", "x", &[], None)).clone()])),
            Err(crate::Error::Decode("bad line".into())),
            Ok(Event::Applied((*cm("a", "y", &[], None)).clone())),
        ]);
        let out: Vec<_> = reflector(w, events).collect().await;
        assert_eq!(out.len(), 3);
        assert!(out[1].is_err());
        match &out[2] {
            Ok(Event::Applied(o)) => assert!(Arc::ptr_eq(o, &c.get("a/y").unwrap())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.is_synced());
        assert_eq!(c.len(), 2);
    }
}
