//! Checks shared by the kinds that stamp out pods from a template: the
//! selector, and the template it must select.

use crate::core::PodTemplateSpec;
use crate::core::pod_validation::validate_pod_template_spec;
use crate::meta::LabelSelector;
use crate::validation::{FieldError, child, go_string_map_or_nil, validate_label_selector};

/// `spec.selector` present, well formed and non-empty (`kind` names the
/// workload in the message: `empty selector is invalid for deployment`).
pub fn validate_workload_selector(
    sel: Option<&LabelSelector>,
    path: &str,
    kind: &str,
) -> Vec<FieldError> {
    let p = child(path, "selector");
    match sel {
        None => vec![FieldError::required(p, "")],
        Some(sel) => {
            let mut errs = validate_label_selector(sel, &p);
            if sel.is_empty() {
                errs.push(FieldError::invalid(
                    &p,
                    &crate::validation::go_label_selector(Some(sel)),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
            errs
        }
    }
}

/// The template's labels must be selected by a (valid, non-empty) selector.
pub fn validate_selector_matches(
    sel: Option<&LabelSelector>,
    t: &PodTemplateSpec,
    path: &str,
) -> Vec<FieldError> {
    let Some(sel) = sel else { return Vec::new() };
    let valid = validate_label_selector(sel, "").is_empty();
    if valid && !sel.is_empty() && !sel.matches(&t.metadata.labels) {
        return vec![FieldError::invalid(
            child(&child(path, "metadata"), "labels"),
            &go_string_map_or_nil(&t.metadata.labels),
            "`selector` does not match template `labels`",
        )];
    }
    Vec::new()
}

/// A Deployment's or ReplicaSet's template: selected by the selector, a
/// valid pod, restarted `Always`, without a deadline.
pub fn validate_template_for_replica_set(
    sel: Option<&LabelSelector>,
    t: &PodTemplateSpec,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = validate_selector_matches(sel, t, path);
    errs.extend(validate_pod_template_spec(t, path));
    let spec = child(path, "spec");
    if let Some(p) = t
        .spec
        .restart_policy
        .as_deref()
        .filter(|p| *p != "Always" && !p.is_empty())
        && crate::core::pod_validation::RESTART_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(&spec, "restartPolicy"),
            p,
            &["Always"],
        ));
    }
    if let Some(ads) = t.spec.active_deadline_seconds {
        errs.push(FieldError::invalid(
            child(&spec, "activeDeadlineSeconds"),
            &ads,
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}
