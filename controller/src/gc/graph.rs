//! The garbage collector's view of the cluster: every object of the watched
//! kinds by uid, with its owners, and for each owner uid its dependents.
//! Kept by the informers' event handlers (which run after the caches are
//! updated), so it is exactly as fresh as the caches.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use skiff_api::meta::{ObjectMeta, OwnerReference};
use skiff_api::{Object, ResourceType};
use skiff_client::runtime::Event;

/// A kind of object (its resource table row), usable as a map key.
#[derive(Clone, Copy)]
pub struct Kind(pub &'static ResourceType);

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.0.group == other.0.group && self.0.plural == other.0.plural
    }
}

impl Eq for Kind {}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.kind)
    }
}

impl Kind {
    /// The kind an owner reference names (`apiVersion` group + `kind`; the
    /// version does not matter), if skiff serves it.
    pub fn of_reference(r: &OwnerReference) -> Option<Kind> {
        let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        skiff_api::resource::RESOURCES
            .iter()
            .find(|rt| rt.group == group && rt.kind == r.kind)
            .map(|rt| Kind(rt))
    }
}

/// What the collector needs to know of one object.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub owners: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    pub being_deleted: bool,
}

impl Item {
    pub fn of<T: Object>(kind: Kind, object: &T) -> Item {
        Item::of_meta(kind, object.metadata())
    }

    pub fn of_meta(kind: Kind, m: &ObjectMeta) -> Item {
        Item {
            kind,
            namespace: m.namespace.clone().filter(|n| !n.is_empty()),
            name: m.name_str().to_string(),
            uid: m.uid.clone().unwrap_or_default(),
            resource_version: m.resource_version.clone().unwrap_or_default(),
            owners: m.owner_references.clone(),
            finalizers: m.finalizers.clone(),
            being_deleted: m.deletion_timestamp.is_some(),
        }
    }

    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// `Pod default/web-1`, for logs.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{:?} {ns}/{}", self.kind, self.name),
            None => format!("{:?} {}", self.kind, self.name),
        }
    }
}

/// Objects by uid, and dependents by owner uid.
#[derive(Default)]
pub struct Graph {
    items: HashMap<String, Arc<Item>>,
    dependents: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<Arc<Item>> {
        self.items.get(uid).cloned()
    }

    /// The objects that name `owner_uid` among their owners.
    pub fn dependents(&self, owner_uid: &str) -> Vec<Arc<Item>> {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.items.get(uid).cloned())
            .collect()
    }

    fn insert(&mut self, item: Item) {
        self.remove(&item.uid.clone());
        for owner in &item.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(item.uid.clone());
        }
        self.items.insert(item.uid.clone(), Arc::new(item));
    }

    fn remove(&mut self, uid: &str) -> Option<Arc<Item>> {
        let old = self.items.remove(uid)?;
        for owner in &old.owners {
            if let Some(deps) = self.dependents.get_mut(&owner.uid) {
                deps.remove(uid);
                if deps.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
        Some(old)
    }

    /// Applies one informer event of `kind`; returns the uids to look at:
    /// the object itself, its owners (a foreground deletion may be waiting
    /// on it) and, when it is gone, its dependents (now maybe orphans).
    pub fn apply<T: Object>(&mut self, kind: Kind, event: &Event<Arc<T>>) -> Vec<String> {
        let mut touched = Vec::new();
        match event {
            Event::Applied(o) => {
                let item = Item::of(kind, o.as_ref());
                touched.push(item.uid.clone());
                touched.extend(item.owners.iter().map(|r| r.uid.clone()));
                if let Some(old) = self.items.get(&item.uid) {
                    // Owners it no longer names may be waiting on it too.
                    touched.extend(old.owners.iter().map(|r| r.uid.clone()));
                }
                self.insert(item);
            }
            Event::Deleted(o) => {
                let uid = o.metadata().uid.clone().unwrap_or_default();
                touched.extend(self.gone(&uid));
            }
            Event::Restarted(all) => {
                let listed: BTreeSet<String> = all
                    .iter()
                    .filter_map(|o| o.metadata().uid.clone())
                    .collect();
                let vanished: Vec<String> = self
                    .items
                    .values()
                    .filter(|i| i.kind == kind && !listed.contains(&i.uid))
                    .map(|i| i.uid.clone())
                    .collect();
                for uid in vanished {
                    touched.extend(self.gone(&uid));
                }
                for o in all {
                    let item = Item::of(kind, o.as_ref());
                    touched.push(item.uid.clone());
                    self.insert(item);
                }
            }
        }
        touched
    }

    fn gone(&mut self, uid: &str) -> Vec<String> {
        let mut touched: Vec<String> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(old) = self.remove(uid) {
            touched.extend(old.owners.iter().map(|r| r.uid.clone()));
        }
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::apps::REPLICASETS;
    use skiff_api::core::{PODS, Pod};
    use skiff_api::meta::ObjectMeta;

    fn pod(name: &str, owner: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                owner_references: owner
                    .map(|o| OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "ReplicaSet".into(),
                        name: o.into(),
                        uid: format!("uid-{o}"),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn tracks_dependents_and_what_to_look_at() {
        let mut g = Graph::default();
        let pods = Kind(&PODS);
        let touched = g.apply(pods, &Event::Applied(pod("a", Some("rs"))));
        assert_eq!(touched, ["uid-a", "uid-rs"]);
        g.apply(pods, &Event::Applied(pod("b", Some("rs"))));
        let deps: Vec<String> = g
            .dependents("uid-rs")
            .iter()
            .map(|i| i.name.clone())
            .collect();
        assert_eq!(deps, ["a", "b"]);
        // Released by its owner: no longer a dependent, the owner is told.
        let touched = g.apply(pods, &Event::Applied(pod("b", None)));
        assert_eq!(touched, ["uid-b", "uid-rs"]);
        assert_eq!(g.dependents("uid-rs").len(), 1);
        // A re-list without "a": gone, its owner told.
        let touched = g.apply(pods, &Event::Restarted(vec![pod("b", None)]));
        assert!(touched.contains(&"uid-rs".to_string()));
        assert!(g.get("uid-a").is_none());
        assert!(g.dependents("uid-rs").is_empty());
    }

    #[test]
    fn owner_kinds_from_references() {
        let r = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            ..Default::default()
        };
        assert_eq!(Kind::of_reference(&r), Some(Kind(&REPLICASETS)));
        let core = OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            ..Default::default()
        };
        assert_eq!(Kind::of_reference(&core), Some(Kind(&PODS)));
        let alien = OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "ReplicaSet".into(),
            ..Default::default()
        };
        assert_eq!(Kind::of_reference(&alien), None);
    }
}
