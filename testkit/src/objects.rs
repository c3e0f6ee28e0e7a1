//! Small builders and predicates that scenario tests share: a Deployment
//! of hollow containers, "is this pod ready / terminating", "has this
//! rollout finished" as `kubectl rollout status` decides it.

use serde_json::json;
use skiff_api::apps::Deployment;
use skiff_api::core::Pod;

/// The label every pod of a Deployment made by [`deployment`] carries.
pub const APP_LABEL: &str = "app";
/// The label the Deployment controller puts on its ReplicaSets and pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// A Deployment `name` of `replicas` pods labelled `app=<name>`, one
/// container `app` running `image` (hollow nodes run anything), a short
/// termination grace period.
pub fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {APP_LABEL: name}},
            "template": {
                "metadata": {"labels": {APP_LABEL: name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "app", "image": image}],
                },
            },
        },
    }))
    .expect("a valid Deployment")
}

/// Ready (condition `Ready=True`).
pub fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| s.is_ready())
}

/// Being deleted (has a `deletionTimestamp`).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `Succeeded` or `Failed`.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Neither terminating nor finished: what a ReplicaSet counts as its own.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminating(pod) && !is_finished(pod)
}

/// Active and ready: what a rollout counts as available (the scenarios use
/// `minReadySeconds: 0`).
pub fn is_available(pod: &Pod) -> bool {
    is_active(pod) && is_ready(pod)
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// The node the pod is bound to.
pub fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// The `pod-template-hash` label (which ReplicaSet of a Deployment).
pub fn template_hash(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .get(POD_TEMPLATE_HASH)
        .map(String::as_str)
        .unwrap_or_default()
}

/// The image of the pod's first container.
pub fn image_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// The image of the Deployment template's first container.
pub fn deployment_image(d: &Deployment) -> &str {
    d.spec
        .template
        .spec
        .containers
        .first()
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// Has the rollout finished, as `kubectl rollout status` decides it: the
/// status observed the latest generation, every replica is updated and
/// available, no old replica is left, and the deadline did not pass.
pub fn rolled_out(d: &Deployment) -> bool {
    let Some(s) = &d.status else {
        return false;
    };
    let n = |v: Option<i32>| v.unwrap_or(0);
    let timed_out = s.conditions.iter().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    s.observed_generation >= d.metadata.generation
        && !timed_out
        && n(s.updated_replicas) >= d.spec.replicas.unwrap_or(1)
        && n(s.replicas) <= n(s.updated_replicas)
        && n(s.available_replicas) >= n(s.updated_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn builds_a_deployment() {
        let d = deployment("web", 3, "nginx:1.27");
        assert_eq!(d.spec.replicas, Some(3));
        assert_eq!(deployment_image(&d), "nginx:1.27");
        assert_eq!(d.spec.template.metadata.labels[APP_LABEL], "web");
    }

    #[test]
    fn pod_states() {
        let ready = pod(
            json!({"metadata": {"name": "a", "labels": {POD_TEMPLATE_HASH: "h1"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(is_available(&ready));
        assert_eq!((node_of(&ready), template_hash(&ready)), (Some("n1"), "h1"));
        assert_eq!(image_of(&ready), "i");
        let mut going = ready.clone();
        going.metadata.deletion_timestamp = Some(skiff_api::meta::Time::now());
        assert!(is_ready(&going) && !is_active(&going) && !is_available(&going));
        let done = pod(json!({"metadata": {"name": "b"}, "status": {"phase": "Succeeded"}}));
        assert!(is_finished(&done) && !is_active(&done));
    }

    #[test]
    fn rollout_status() {
        let mut d = deployment("web", 2, "x");
        d.metadata.generation = Some(2);
        assert!(!rolled_out(&d));
        d.status = serde_json::from_value(json!({"observedGeneration": 2, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2}))
        .unwrap();
        assert!(rolled_out(&d));
        d.status.as_mut().unwrap().replicas = Some(3);
        assert!(!rolled_out(&d), "an old pod is left");
    }
}
