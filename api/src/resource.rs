//! The resource table: every kind skiff serves, described once. Routing,
//! discovery, the CLI's kind names and the stores' key layout all read it.
//! Adding a kind is one type (with its [`Object`](crate::object::Object) impl)
//! and one row here.

use crate::codec::Codec;

/// A subresource of a kind (`deployments/scale`, `pods/status`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: writes change only `.status`.
    Status,
    /// `/scale`: `autoscaling/v1` Scale over `spec.replicas`.
    Scale,
    /// `pods/log` (served by the node agent, proxied by the API server).
    Log,
    /// `pods/exec` (served by the node agent, proxied by the API server).
    Exec,
    /// `pods/binding`: the scheduler's way to set `spec.nodeName`.
    Binding,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Binding => "binding",
        }
    }

    pub fn from_name(name: &str) -> Option<Subresource> {
        [
            Subresource::Status,
            Subresource::Scale,
            Subresource::Log,
            Subresource::Exec,
            Subresource::Binding,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One row of the resource table.
#[derive(Debug)]
pub struct ResourceType {
    /// API group; `""` is the core (legacy) group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The path segment and storage segment: `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// `["all"]` for the kinds `kubectl get all` lists.
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field selector labels accepted besides `metadata.name` and
    /// `metadata.namespace` (dotted JSON paths into the object).
    pub field_selectors: &'static [&'static str],
    /// Typed decode, defaulting, validation and schema of this kind.
    pub codec: Codec,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `PodList`, `DeploymentList`, ...
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `pods`, `deployments.apps`: how Kubernetes names the resource in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// URL prefix of this group-version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Collection path, `namespace` ignored for cluster-scoped kinds; `None`
    /// namespace for a namespaced kind means all namespaces.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!(
                "{}/namespaces/{}/{}",
                self.group_version_path(),
                ns,
                self.plural
            ),
            _ => format!("{}/{}", self.group_version_path(), self.plural),
        }
    }

    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), name)
    }

    /// Storage prefix for every object of this kind: `/registry/apps/deployments/`.
    pub fn storage_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{}/{}/", group, self.plural)
    }

    /// Storage prefix for one namespace (or the kind's prefix when cluster-scoped).
    pub fn storage_namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{}/", self.storage_prefix(), ns),
            _ => self.storage_prefix(),
        }
    }

    /// `/registry/{group}/{plural}/{namespace}/{name}` (no namespace when cluster-scoped).
    pub fn storage_key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.storage_namespace_prefix(namespace), name)
    }

    pub fn has_subresource(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Does `name` (`deploy`, `deployment`, `deployments`, `Deployment`,
    /// `deployments.apps`) name this kind?
    pub fn matches_name(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let (base, group) = match lower.split_once('.') {
            Some((b, g)) => (b.to_string(), Some(g.to_string())),
            None => (lower.clone(), None),
        };
        if let Some(g) = group {
            // `deployments.apps`, `deployments.apps/v1`-style qualifiers.
            let g = g.split('/').next().unwrap_or_default();
            if g != self.group && !(g.is_empty() && self.group.is_empty()) {
                return false;
            }
        }
        base == self.plural
            || base == self.singular
            || base == self.kind.to_ascii_lowercase()
            || self.short_names.contains(&base.as_str())
    }
}

/// Every kind skiff serves, in discovery order (the order `kubectl get all`
/// prints them in).
pub static RESOURCES: &[&ResourceType] = &[
    &crate::core::PODS,
    &crate::core::SERVICES,
    &crate::core::ENDPOINTS,
    &crate::core::NAMESPACES,
    &crate::core::NODES,
    &crate::core::EVENTS,
    &crate::core::SECRETS,
    &crate::core::CONFIGMAPS,
    &crate::apps::DEPLOYMENTS,
    &crate::apps::REPLICASETS,
    &crate::batch::JOBS,
    &crate::batch::CRONJOBS,
    &crate::coordination::LEASES,
];

/// The row for a group + plural (`""`, `pods`).
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.plural == plural)
}

/// The row for an `apiVersion` + `kind` as written in a manifest.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The row a user means by `name` on the command line (`po`, `deploy`,
/// `deployments.apps`, `Service`).
pub fn by_user_name(name: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().copied().find(|r| r.matches_name(name))
}

/// Every group-version served, core first: `("", "v1")`, `("apps", "v1")`, ...
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_every_name_a_user_types() {
        for n in [
            "deploy",
            "deployment",
            "deployments",
            "Deployment",
            "deployments.apps",
        ] {
            assert_eq!(by_user_name(n).unwrap().plural, "deployments", "{n}");
        }
        assert_eq!(by_user_name("po").unwrap().plural, "pods");
        assert_eq!(by_user_name("svc").unwrap().plural, "services");
        assert!(by_user_name("deployments.batch").is_none());
        assert!(by_user_name("foos").is_none());
    }

    #[test]
    fn paths_and_keys() {
        let d = by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(
            d.object_path(Some("default"), "x"),
            "/apis/apps/v1/namespaces/default/deployments/x"
        );
        assert_eq!(
            d.storage_key(Some("default"), "x"),
            "/registry/apps/deployments/default/x"
        );
        let n = by_plural("", "nodes").unwrap();
        assert_eq!(n.object_path(Some("ignored"), "n1"), "/api/v1/nodes/n1");
        assert_eq!(n.storage_key(None, "n1"), "/registry/core/nodes/n1");
        assert_eq!(d.qualified_plural(), "deployments.apps");
    }

    #[test]
    fn table_is_consistent() {
        for r in RESOURCES {
            assert!(by_plural(r.group, r.plural).is_some());
            for s in r.short_names {
                assert_eq!(by_user_name(s).unwrap().plural, r.plural);
            }
        }
    }
}
