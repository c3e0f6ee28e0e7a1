//! Which objects a list or watch wants: namespace, `labelSelector`,
//! `fieldSelector`. Shared so that lists and watches agree.

use serde_json::Value;
use skiff_api::ResourceType;
use skiff_api::Status;
use skiff_api::selector::{FieldSelector, LabelSelector};

use crate::query::Query;
use crate::value;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only objects of this namespace (namespaced kinds).
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    /// Reads `labelSelector` and `fieldSelector` from the query (400 when
    /// malformed or naming a field the kind does not support).
    pub fn from_query(
        q: &Query,
        rt: &ResourceType,
        namespace: Option<&str>,
    ) -> Result<Filter, Status> {
        Filter::build(q, rt, namespace, None)
    }

    /// Like [`Filter::from_query`], narrowed to one object (the old
    /// `GET .../pods/x?watch=true` form).
    pub fn for_object(
        q: &Query,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Filter, Status> {
        Filter::build(q, rt, namespace, Some(name))
    }

    fn build(
        q: &Query,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Filter, Status> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())
            .map_err(Status::from)?;
        let mut field_selector = q.get("fieldSelector").unwrap_or_default().to_string();
        if let Some(name) = name {
            if !field_selector.is_empty() {
                field_selector.push(',');
            }
            field_selector.push_str(&format!("metadata.name={name}"));
        }
        let fields = FieldSelector::parse(&field_selector, rt)?;
        Ok(Filter {
            namespace: if rt.namespaced {
                namespace.map(str::to_string)
            } else {
                None
            },
            labels,
            fields,
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && value::namespace_of(object) != ns
        {
            return false;
        }
        self.labels.matches_object(object) && self.fields.matches(object)
    }

    /// The namespace to read: the path's, else one pinned by the field selector.
    pub fn effective_namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .or_else(|| self.fields.required_namespace())
    }

    /// The storage prefix to scan for `rt` under this filter.
    pub fn storage_prefix(&self, rt: &ResourceType) -> String {
        rt.storage_namespace_prefix(self.effective_namespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skiff_api::core::PODS;

    #[test]
    fn filters_by_namespace_labels_and_fields() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&fieldSelector=metadata.name%3Da",
        ));
        let f = Filter::from_query(&q, &PODS, Some("default")).unwrap();
        let pod = |name: &str, ns: &str, app: &str| json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}}});
        assert!(f.matches(&pod("a", "default", "web")));
        assert!(!f.matches(&pod("a", "other", "web")));
        assert!(!f.matches(&pod("a", "default", "db")));
        assert!(!f.matches(&pod("b", "default", "web")));
        assert_eq!(f.storage_prefix(&PODS), "/registry/core/pods/default/");
    }

    #[test]
    fn one_object_filters() {
        let q = Query::parse(Some("labelSelector=app%3Dweb"));
        let f = Filter::for_object(&q, &PODS, Some("default"), "a").unwrap();
        assert_eq!(f.fields.required_name(), Some("a"));
        assert!(f.matches(
            &json!({"metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"}}})
        ));
        assert!(!f.matches(
            &json!({"metadata": {"name": "b", "namespace": "default", "labels": {"app": "web"}}})
        ));
    }

    #[test]
    fn pinned_namespace_narrows_all_namespace_scans() {
        let q = Query::parse(Some("fieldSelector=metadata.namespace%3Dkube-system"));
        let f = Filter::from_query(&q, &PODS, None).unwrap();
        assert_eq!(f.storage_prefix(&PODS), "/registry/core/pods/kube-system/");
        let bad = Query::parse(Some("fieldSelector=spec.bogus%3Dx"));
        assert_eq!(Filter::from_query(&bad, &PODS, None).unwrap_err().code, 400);
    }
}
