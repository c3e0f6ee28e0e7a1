//! Writing decisions: the binding (`POST pods/{name}/binding`), and for a
//! pod no node can take, its `PodScheduled=False` condition and a
//! `FailedScheduling` Event.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skiff_api::core::Pod;
use skiff_api::meta::Time;
use skiff_client::{Api, Client, EventRecorder, EventType, Patch, Request};

pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";

/// The `Binding` that assigns `pod` to `node`.
pub fn binding(pod: &Pod, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {
            "name": pod.metadata.name_str(),
            "namespace": pod.metadata.namespace_str(),
        },
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    })
}

/// Binds `pod` to `node`. 409 means it is already bound or being deleted.
pub async fn bind(client: &Client, pod: &Pod, node: &str) -> skiff_client::Result<()> {
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}/binding",
        pod.metadata.namespace_str(),
        pod.metadata.name_str()
    );
    // Reading the answer lets the connection be reused.
    client
        .json(Request::post(path, &binding(pod, node)))
        .await
        .map(drop)
}

/// The `PodScheduled=False` condition for `message`, or `None` when the
/// pod already carries it (nothing to write).
pub fn unschedulable_condition(pod: &Pod, message: &str, now: DateTime<Utc>) -> Option<Value> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.condition("PodScheduled"));
    if let Some(c) = current
        && c.status == "False"
        && c.reason.as_deref() == Some(REASON_UNSCHEDULABLE)
        && c.message.as_deref() == Some(message)
    {
        return None;
    }
    // The transition is when it became False, not every new message.
    let since = current
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time)
        .unwrap_or(Time::from(now));
    Some(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": REASON_UNSCHEDULABLE,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    }))
}

/// Records why `pod` cannot be scheduled: its condition (only when the
/// message changed) and a `FailedScheduling` Event. Best effort: a pod
/// deleted meanwhile is no error.
pub async fn report_unschedulable(
    client: &Client,
    recorder: &EventRecorder,
    pod: &Pod,
    message: &str,
    now: DateTime<Utc>,
) {
    if let Some(condition) = unschedulable_condition(pod, message, now) {
        let api: Api<Pod> = Api::namespaced(client.clone(), pod.metadata.namespace_str());
        let patch = Patch::Strategic(json!({"status": {"conditions": [condition]}}));
        if let Err(e) = api.patch_status(pod.metadata.name_str(), &patch).await
            && !e.is_not_found()
        {
            tracing::debug!(pod = pod.metadata.name_str(), error = %e, "could not set PodScheduled=False");
        }
    }
    recorder.publish(pod, EventType::Warning, "FailedScheduling", message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{PodCondition, PodStatus};

    #[test]
    fn the_binding_names_pod_and_node() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web-1".into());
        pod.metadata.namespace = Some("prod".into());
        let b = binding(&pod, "n7");
        assert_eq!(b["kind"], "Binding");
        assert_eq!(b["metadata"]["name"], "web-1");
        assert_eq!(b["metadata"]["namespace"], "prod");
        assert_eq!(b["target"]["name"], "n7");
        assert_eq!(b["target"]["kind"], "Node");
    }

    #[test]
    fn the_condition_is_written_only_when_the_message_changes() {
        let now = Utc::now();
        let mut pod = Pod::default();
        let c = unschedulable_condition(&pod, "0/1 nodes are available.", now).unwrap();
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "Unschedulable");
        let earlier = Time::from(now - chrono::Duration::minutes(5));
        pod.status = Some(PodStatus {
            conditions: vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/1 nodes are available.".into()),
                last_transition_time: Some(earlier),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert!(unschedulable_condition(&pod, "0/1 nodes are available.", now).is_none());
        let c = unschedulable_condition(&pod, "0/2 nodes are available.", now).unwrap();
        assert_eq!(
            c["lastTransitionTime"],
            serde_json::to_value(earlier).unwrap()
        );
    }
}
