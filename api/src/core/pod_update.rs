//! What an update may change in a running pod's spec: images,
//! activeDeadlineSeconds (only shorter), added tolerations, a negative
//! grace period fixed to 1. Anything else is forbidden, as in Kubernetes.

use super::pod::{Pod, PodSpec, Toleration};
use crate::validation::{FieldError, Rendered, child, port_range_error};

pub const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

pub fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    match (&new.spec, &old.spec) {
        (Some(n), Some(o)) => validate_pod_spec_update(n, o, "spec"),
        (None, None) => Vec::new(),
        _ => vec![FieldError::forbidden("spec", POD_UPDATE_FORBIDDEN)],
    }
}

pub fn validate_pod_spec_update(new: &PodSpec, old: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ads_path = child(path, "activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                &ads_path,
                &n,
                port_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &ads_path,
                &n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads_path,
            &Rendered("null".into()),
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    if !only_added_tolerations(&new.tolerations, &old.tolerations) {
        errs.push(FieldError::forbidden(
            child(path, "tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
        return errs;
    }

    // Copy what may change from the old spec into the new; what is left
    // must be equal.
    let mut rest = new.clone();
    for (n, o) in rest.containers.iter_mut().zip(&old.containers) {
        n.image = o.image.clone();
    }
    for (n, o) in rest.init_containers.iter_mut().zip(&old.init_containers) {
        n.image = o.image.clone();
    }
    rest.active_deadline_seconds = old.active_deadline_seconds;
    rest.tolerations = old.tolerations.clone();
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && new.termination_grace_period_seconds == Some(1)
    {
        rest.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    if rest != *old {
        errs.push(FieldError::forbidden(path, POD_UPDATE_FORBIDDEN));
    }
    errs
}

/// Every old toleration is still there (its tolerationSeconds may change).
fn only_added_tolerations(new: &[Toleration], old: &[Toleration]) -> bool {
    old.iter().all(|o| {
        new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            o == *n
        })
    })
}
