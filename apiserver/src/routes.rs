//! Path parsing driven by the resource table: which kind, namespace, name
//! and subresource a `/api/...` or `/apis/...` path names.

use skiff_api::resource::{RESOURCES, group_versions};
use skiff_api::{ResourceType, Subresource};

/// What a path under `/api` or `/apis` names.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiPath {
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every named group.
    GroupList,
    /// `/apis/{group}`: one group.
    Group(&'static str),
    /// `/api/v1`, `/apis/{group}/{version}`: the resources of a group-version.
    ResourceList {
        group: &'static str,
        version: &'static str,
    },
    /// A collection, an object or a subresource.
    Resource(ResourcePath),
}

/// `/…/namespaces/{ns}/{plural}/{name}/{sub}` and its shorter forms.
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub rt: &'static ResourceType,
    /// The namespace in the path (always `None` for cluster-scoped kinds; `None`
    /// for a namespaced collection means all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

impl PartialEq for ResourcePath {
    fn eq(&self, other: &Self) -> bool {
        crate::kinds::is(self.rt, other.rt)
            && self.namespace == other.namespace
            && self.name == other.name
            && self.subresource == other.subresource
    }
}

impl ResourcePath {
    /// The name Kubernetes uses in metrics and discovery: `pods`, `pods/status`.
    pub fn resource_label(&self) -> String {
        match self.subresource {
            Some(s) => format!("{}/{}", self.rt.plural, s.name()),
            None => self.rt.plural.to_string(),
        }
    }
}

/// Parses a request path; `None` when it names nothing skiff serves.
pub fn parse(path: &str) -> Option<ApiPath> {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segments.as_slice() {
        ["api"] => return Some(ApiPath::CoreVersions),
        ["apis"] => return Some(ApiPath::GroupList),
        ["apis", group] => {
            let (g, _) = group_versions().into_iter().find(|(g, _)| g == group)?;
            return Some(ApiPath::Group(g));
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (group, version) = group_versions()
        .into_iter()
        .find(|(g, v)| *g == group && *v == version)?;
    if rest.is_empty() {
        return Some(ApiPath::ResourceList { group, version });
    }
    let find = |plural: &str| {
        RESOURCES
            .iter()
            .copied()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    };
    let sub = |rt: &ResourceType, name: &str| {
        Subresource::from_name(name).filter(|s| rt.has_subresource(*s))
    };
    let resource = |rt, namespace: Option<&str>, name: Option<&str>, subresource| {
        Some(ApiPath::Resource(ResourcePath {
            rt,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource,
        }))
    };
    match rest {
        // `/api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]`; a namespace's own
        // subresource (`namespaces/{name}/status`) has the same shape.
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let rt = find(plural)?;
            if ns.is_empty() {
                return None;
            }
            match tail {
                [] => resource(rt, Some(ns), None, None),
                [name] if !name.is_empty() => resource(rt, Some(ns), Some(name), None),
                [name, s] if !name.is_empty() => {
                    resource(rt, Some(ns), Some(name), Some(sub(rt, s)?))
                }
                _ => None,
            }
        }
        [plural] => resource(find(plural)?, None, None, None),
        [plural, name] if !name.is_empty() => {
            let rt = find(plural)?;
            (!rt.namespaced).then_some(())?;
            resource(rt, None, Some(name), None)
        }
        [plural, name, s] if !name.is_empty() => {
            let rt = find(plural)?;
            (!rt.namespaced).then_some(())?;
            resource(rt, None, Some(name), Some(sub(rt, s)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Some(ApiPath::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/api"), Some(ApiPath::CoreVersions));
        assert_eq!(parse("/apis/"), Some(ApiPath::GroupList));
        assert_eq!(parse("/apis/apps"), Some(ApiPath::Group("apps")));
        assert_eq!(
            parse("/api/v1"),
            Some(ApiPath::ResourceList {
                group: "",
                version: "v1"
            })
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Some(ApiPath::ResourceList {
                group: "apps",
                version: "v1"
            })
        );
        assert_eq!(parse("/apis/nope/v1"), None);
        assert_eq!(parse("/api/v2"), None);
    }

    #[test]
    fn namespaced_paths() {
        let r = res("/api/v1/namespaces/default/pods");
        assert_eq!(
            (r.rt.plural, r.namespace.as_deref(), r.name),
            ("pods", Some("default"), None)
        );
        let r = res("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(r.rt.plural, "deployments");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource, Some(Subresource::Scale));
        assert_eq!(r.resource_label(), "deployments/scale");
        let r = res("/api/v1/pods");
        assert_eq!((r.namespace, r.name), (None, None));
        assert_eq!(parse("/api/v1/pods/x"), None);
        assert_eq!(parse("/api/v1/namespaces/default/pods/x/scale"), None);
        assert_eq!(parse("/api/v1/namespaces/default/pods/x/status/y"), None);
        assert_eq!(parse("/apis/apps/v1/namespaces/default/pods"), None);
    }

    #[test]
    fn cluster_scoped_paths_and_the_namespace_object() {
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.rt.plural, r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!(
            (r.name.as_deref(), r.subresource),
            (Some("x"), Some(Subresource::Status))
        );
        let r = res("/api/v1/nodes/n1/status");
        assert_eq!(r.rt.plural, "nodes");
        assert_eq!(r.namespace, None);
        assert_eq!(parse("/api/v1/namespaces/x/bogus"), None);
    }
}
