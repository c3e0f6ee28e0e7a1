//! Checks of `metadata`, labels, annotations and label selectors, shared by
//! every kind.

use std::collections::BTreeMap;

use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
};
use super::{FIELD_IMMUTABLE, FieldError, child, go_string_slice, index, nonnegative};
use crate::meta::{LabelSelector, ObjectMeta};
use crate::resource::ResourceType;

/// The most bytes all of an object's annotations (keys and values) may take.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The name rule of a kind: namespaces are DNS-1123 labels, Services
/// DNS-1035 labels (they become DNS names), everything else DNS-1123 subdomains.
fn name_rule(rt: &ResourceType) -> fn(&str) -> Vec<String> {
    match (rt.group, rt.kind) {
        ("", "Namespace") => is_dns1123_label,
        ("", "Service") => is_dns1035_label,
        _ => is_dns1123_subdomain,
    }
}

/// `generateName` is a prefix: a trailing `-` is fine since random
/// characters follow it.
fn mask_trailing_dash(prefix: &str) -> String {
    match prefix.strip_suffix('-') {
        Some(rest) if !rest.is_empty() => format!("{rest}a"),
        _ => prefix.to_string(),
    }
}

/// Checks `metadata` of a `rt` object at `path` (normally `metadata`).
///
/// A missing name is fine when `generateName` is set (the server fills the
/// name in); a namespace on a cluster-scoped kind is ignored, as the server
/// clears it.
pub fn validate_object_meta(rt: &ResourceType, meta: &ObjectMeta, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rule = name_rule(rt);
    let generate_name = meta.generate_name.as_deref().unwrap_or_default();
    if !generate_name.is_empty() {
        for msg in rule(&mask_trailing_dash(generate_name)) {
            errs.push(FieldError::invalid(
                child(path, "generateName"),
                generate_name,
                msg,
            ));
        }
    }
    match meta.name.as_deref().unwrap_or_default() {
        "" if generate_name.is_empty() => errs.push(FieldError::required(
            child(path, "name"),
            "name or generateName is required",
        )),
        "" => {}
        name => {
            for msg in rule(name) {
                errs.push(FieldError::invalid(child(path, "name"), name, msg));
            }
        }
    }
    if rt.namespaced {
        let ns = meta.namespace.as_deref().unwrap_or_default();
        if !ns.is_empty() {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(child(path, "namespace"), ns, msg));
            }
        }
    }
    if let Some(generation) = meta.generation {
        errs.extend(nonnegative(&child(path, "generation"), generation));
    }
    errs.extend(validate_labels(&meta.labels, &child(path, "labels")));
    errs.extend(validate_annotations(
        &meta.annotations,
        &child(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        meta,
        &child(path, "ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        &meta.finalizers,
        &child(path, "finalizers"),
    ));
    errs
}

/// Label keys are qualified names, values label values.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k, msg));
        }
        for msg in is_label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

/// Annotation keys are qualified names (case-insensitive); all of them
/// together stay under 256 KiB.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for k in annotations.keys() {
        for msg in is_qualified_name(&k.to_ascii_lowercase()) {
            errs.push(FieldError::invalid(path, k, msg));
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(meta: &ObjectMeta, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, r) in meta.owner_references.iter().enumerate() {
        let p = index(path, i);
        let checks = [
            ("apiVersion", &r.api_version, "version must not be empty"),
            ("kind", &r.kind, "kind must not be empty"),
            ("name", &r.name, "name must not be empty"),
            ("uid", &r.uid, "uid must not be empty"),
        ];
        for (field, value, msg) in checks {
            if value.is_empty() {
                errs.push(FieldError::invalid(child(&p, field), value, msg));
            }
        }
    }
    let controllers: Vec<&str> = meta
        .owner_references
        .iter()
        .filter(|r| r.controller == Some(true))
        .map(|r| r.name.as_str())
        .collect();
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            &go_string_slice(&controllers.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
    errs
}

fn validate_finalizers(finalizers: &[String], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, f) in finalizers.iter().enumerate() {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(index(path, i), f, msg));
        }
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            &go_string_slice(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Checks the syntax of a label selector (not whether it selects anything).
pub fn validate_label_selector(sel: &LabelSelector, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&sel.match_labels, &child(path, "matchLabels"));
    for (i, req) in sel.match_expressions.iter().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if req.values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !req.values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        for msg in is_qualified_name(&req.key) {
            errs.push(FieldError::invalid(child(&p, "key"), &req.key, msg));
        }
        for (j, v) in req.values.iter().enumerate() {
            for msg in is_label_value(v) {
                errs.push(FieldError::invalid(index(&child(&p, "values"), j), v, msg));
            }
        }
    }
    errs
}

/// What an update may not change in `metadata`: name, namespace, uid,
/// creationTimestamp.
pub fn validate_object_meta_update(
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let pairs = [
        ("name", new.name.as_deref(), old.name.as_deref()),
        (
            "namespace",
            new.namespace.as_deref(),
            old.namespace.as_deref(),
        ),
        ("uid", new.uid.as_deref(), old.uid.as_deref()),
    ];
    for (field, n, o) in pairs {
        if n != o {
            errs.push(FieldError::invalid(
                child(path, field),
                n.unwrap_or_default(),
                FIELD_IMMUTABLE,
            ));
        }
    }
    if new.creation_timestamp != old.creation_timestamp {
        let rendered = new
            .creation_timestamp
            .map(|t| t.to_string())
            .unwrap_or_default();
        errs.push(FieldError::invalid(
            child(path, "creationTimestamp"),
            &super::Rendered(rendered),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{LabelSelectorRequirement, OwnerReference};

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn names_follow_each_kinds_rule() {
        assert!(
            validate_object_meta(&crate::apps::DEPLOYMENTS, &meta("web.v1"), "metadata").is_empty()
        );
        assert_eq!(
            messages(validate_object_meta(
                &crate::apps::DEPLOYMENTS,
                &meta("Bad_Name"),
                "metadata"
            )),
            vec![
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        // Namespaces are labels: no dots.
        assert_eq!(
            validate_object_meta(&crate::core::NAMESPACES, &meta("a.b"), "metadata").len(),
            1
        );
        // Services start with a letter.
        assert_eq!(
            validate_object_meta(&crate::core::SERVICES, &meta("1svc"), "metadata").len(),
            1
        );
        assert!(validate_object_meta(&crate::core::SERVICES, &meta("svc1"), "metadata").is_empty());
    }

    #[test]
    fn name_or_generate_name() {
        let errs = validate_object_meta(&crate::core::PODS, &ObjectMeta::default(), "metadata");
        assert_eq!(
            messages(errs),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let m = ObjectMeta {
            generate_name: Some("web-".into()),
            ..Default::default()
        };
        assert!(validate_object_meta(&crate::core::PODS, &m, "metadata").is_empty());
        let m = ObjectMeta {
            generate_name: Some("Web-".into()),
            ..Default::default()
        };
        assert_eq!(
            validate_object_meta(&crate::core::PODS, &m, "metadata")[0].field,
            "metadata.generateName"
        );
    }

    #[test]
    fn namespace_and_generation() {
        let mut m = meta("x");
        m.namespace = Some("Bad".into());
        m.generation = Some(-1);
        let errs = validate_object_meta(&crate::core::PODS, &m, "metadata");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["metadata.namespace", "metadata.generation"]);
        // Cluster-scoped kinds ignore the namespace.
        let mut m = meta("n1");
        m.namespace = Some("Bad".into());
        assert!(validate_object_meta(&crate::core::NODES, &m, "metadata").is_empty());
    }

    #[test]
    fn labels_and_annotations() {
        let mut m = meta("x");
        m.labels.insert("app".into(), "web".into());
        m.labels.insert("bad key".into(), "v".into());
        m.labels.insert("k".into(), "bad value".into());
        let errs = validate_object_meta(&crate::core::PODS, &m, "metadata");
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.field == "metadata.labels"));
        assert!(
            errs[0]
                .message()
                .starts_with("Invalid value: \"bad key\": name part must consist")
        );
        assert!(
            errs[1]
                .message()
                .starts_with("Invalid value: \"bad value\": a valid label must be")
        );

        let mut m = meta("x");
        m.annotations
            .insert("Kubectl.Kubernetes.io/Last-Applied".into(), "{}".into());
        assert!(validate_object_meta(&crate::core::PODS, &m, "metadata").is_empty());
        m.annotations
            .insert("big".into(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT));
        assert_eq!(
            messages(validate_object_meta(&crate::core::PODS, &m, "metadata")),
            vec!["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }

    #[test]
    fn owner_references_and_finalizers() {
        let mut m = meta("x");
        m.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: String::new(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        m.finalizers = vec!["orphan".into(), "foregroundDeletion".into()];
        let errs = validate_object_meta(&crate::core::PODS, &m, "metadata");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["metadata.ownerReferences[0].uid", "metadata.finalizers"]
        );
    }

    #[test]
    fn selectors() {
        let mut sel = LabelSelector::default();
        sel.match_labels.insert("app".into(), "web".into());
        sel.match_expressions.push(LabelSelectorRequirement {
            key: "tier".into(),
            operator: "In".into(),
            values: vec![],
        });
        sel.match_expressions.push(LabelSelectorRequirement {
            key: "env".into(),
            operator: "Exists".into(),
            values: vec!["x".into()],
        });
        sel.match_expressions.push(LabelSelectorRequirement {
            key: "x".into(),
            operator: "Like".into(),
            values: vec!["y".into()],
        });
        let errs = messages(validate_label_selector(&sel, "spec.selector"));
        assert_eq!(
            errs,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Like\": not a valid selector operator",
            ]
        );
    }

    #[test]
    fn metadata_update() {
        let old = ObjectMeta {
            name: Some("x".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let mut new = old.clone();
        new.labels.insert("a".into(), "b".into());
        assert!(validate_object_meta_update(&new, &old, "metadata").is_empty());
        new.uid = Some("u2".into());
        assert_eq!(
            messages(validate_object_meta_update(&new, &old, "metadata")),
            vec!["metadata.uid: Invalid value: \"u2\": field is immutable"]
        );
    }
}
