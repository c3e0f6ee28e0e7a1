//! Object keys: `namespace/name` (or `name` for cluster-scoped kinds), the
//! unit that caches are keyed by and work queues hand out.

use std::fmt;

use skiff_api::{Object, ResourceType};

/// Names one object of a known kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// An empty namespace counts as none.
    pub fn new(namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_string),
            name: name.to_string(),
        }
    }

    /// The key of `object`.
    pub fn of<T: Object>(object: &T) -> ObjectKey {
        let meta = object.metadata();
        ObjectKey::new(meta.namespace.as_deref(), meta.name_str())
    }

    /// Reads `namespace/name` or `name` (the [`Display`](fmt::Display) form).
    pub fn parse(key: &str) -> ObjectKey {
        match key.split_once('/') {
            Some((ns, name)) => ObjectKey::new(Some(ns), name),
            None => ObjectKey::new(None, key),
        }
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The cache key of `object` as a string (`namespace/name` or `name`).
pub(crate) fn cache_key<T: Object>(object: &T) -> String {
    let meta = object.metadata();
    match meta.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{ns}/{}", meta.name_str()),
        None => meta.name_str().to_string(),
    }
}

/// Keys from an object's metadata. Implemented for every typed kind; as
/// methods they also work through `Arc<T>` (what caches hand out).
pub trait ObjectExt: Object {
    /// This object's key.
    fn key(&self) -> ObjectKey {
        ObjectKey::of(self)
    }

    /// The key of this object's controller (the owner reference marked
    /// `controller: true`) when that controller is of kind `owner`. Owners
    /// live in the dependent's namespace (or are cluster-scoped).
    fn controller_key(&self, owner: &ResourceType) -> Option<ObjectKey> {
        let r = self.metadata().controller_ref()?;
        refers_to(&r.api_version, &r.kind, owner).then(|| owner_key(self, owner, &r.name))
    }

    /// Keys of every owner of kind `owner`, controller or not.
    fn owner_keys(&self, owner: &ResourceType) -> Vec<ObjectKey> {
        self.metadata()
            .owner_references
            .iter()
            .filter(|r| refers_to(&r.api_version, &r.kind, owner))
            .map(|r| owner_key(self, owner, &r.name))
            .collect()
    }
}

impl<T: Object> ObjectExt for T {}

/// The key of `dependent`'s owner `name` of kind `owner`.
fn owner_key<T: Object>(dependent: &T, owner: &ResourceType, name: &str) -> ObjectKey {
    let ns = owner
        .namespaced
        .then(|| dependent.metadata().namespace.as_deref())
        .flatten();
    ObjectKey::new(ns, name)
}

/// Does an owner reference's `apiVersion` + `kind` name `rt`? The version
/// is not compared: an owner is the same object whatever version names it.
fn refers_to(api_version: &str, kind: &str, rt: &ResourceType) -> bool {
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    kind == rt.kind && group == rt.group
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::apps::{DEPLOYMENTS, REPLICASETS};
    use skiff_api::core::{NODES, Pod};
    use skiff_api::meta::{ObjectMeta, OwnerReference};

    fn owner(api_version: &str, kind: &str, name: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: controller.then_some(true),
            block_owner_deletion: None,
        }
    }

    #[test]
    fn keys_print_and_parse() {
        let k = ObjectKey::new(Some("default"), "web");
        assert_eq!(k.to_string(), "default/web");
        assert_eq!(ObjectKey::parse("default/web"), k);
        let n = ObjectKey::new(Some(""), "node-1");
        assert_eq!(n.namespace(), None);
        assert_eq!(n.to_string(), "node-1");
        assert_eq!(ObjectKey::parse("node-1"), n);
    }

    #[test]
    fn owner_keys_follow_kind_and_group() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("default".into()),
                owner_references: vec![
                    owner("apps/v1", "ReplicaSet", "web-1", true),
                    owner("apps/v1", "Deployment", "web", false),
                    owner("v1", "Node", "n1", false),
                    owner("example.com/v1", "ReplicaSet", "impostor", false),
                ],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(pod.key(), ObjectKey::new(Some("default"), "web-abc"));
        assert_eq!(
            pod.controller_key(&REPLICASETS),
            Some(ObjectKey::new(Some("default"), "web-1"))
        );
        assert_eq!(pod.controller_key(&DEPLOYMENTS), None);
        assert_eq!(
            pod.owner_keys(&DEPLOYMENTS),
            vec![ObjectKey::new(Some("default"), "web")]
        );
        // Cluster-scoped owners have no namespace.
        assert_eq!(pod.owner_keys(&NODES), vec![ObjectKey::new(None, "n1")]);
        assert_eq!(cache_key(&pod), "default/web-abc");
        let through_arc = std::sync::Arc::new(pod);
        assert_eq!(through_arc.key().name, "web-abc");
    }
}
