//! What the ReplicaSet controller asks of a pod: is it active, ready,
//! available; which pods go first when there are too many; and the pod a
//! template stamps out.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_api::apps::ReplicaSet;
use skiff_api::core::Pod;
use skiff_api::meta::{ObjectMeta, OwnerReference};

/// Not being deleted and not finished: the pods that count as replicas.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(|s| s.is_ready())
}

/// When the pod became ready (the `Ready` condition's last transition).
fn ready_since(pod: &Pod) -> Option<DateTime<Utc>> {
    pod.status
        .as_ref()?
        .condition("Ready")
        .filter(|c| c.status == "True")?
        .last_transition_time
        .map(|t| t.0)
}

/// How long until a ready pod counts as available, or `None` when it
/// already does (or is not ready at all).
pub fn time_to_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if !is_ready(pod) || min_ready_seconds <= 0 {
        return None;
    }
    // A ready pod without a transition time has been ready "for ever".
    let since = ready_since(pod)?;
    let at = since + chrono::Duration::seconds(i64::from(min_ready_seconds));
    // Kubernetes: available once `since + minReadySeconds` is strictly before now.
    (at >= now).then(|| (at - now).to_std().unwrap_or_default() + Duration::from_millis(1))
}

/// Ready for at least `min_ready_seconds`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    is_ready(pod) && time_to_available(pod, min_ready_seconds, now).is_none()
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1, // Unknown
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .map(|s| {
            s.container_statuses
                .iter()
                .map(|c| c.restart_count)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

fn scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// Orders pods by how cheaply they go: `Less` is deleted first. As
/// Kubernetes: unscheduled before scheduled, pending before unknown before
/// running, not ready before ready, ready for less time first, more
/// restarts first, newer first.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| newest_first(ready_since(a), ready_since(b)))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.map(|t| t.0);
            newest_first(created(a), created(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// A later time sorts first, and no time before any.
fn newest_first(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (a, b) => b.cmp(&a),
    }
}

/// The owner reference a controller puts on what it creates.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: owner.name_str().into(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A new pod from the ReplicaSet's template, named `<rs>-xxxxx` by the server.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = &rs.spec.template;
    Pod {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.metadata.name_str())),
            namespace: rs.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![controller_ref("apps/v1", "ReplicaSet", &rs.metadata)],
            ..Default::default()
        },
        spec: Some(template.spec.clone()),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use skiff_api::meta::Time;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn pod(name: &str, node: bool, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
        Pod {
            api_version: None,
            kind: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(at(created))),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.then(|| "n1".into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_at
                    .map(|t| PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(at(t))),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                container_statuses: vec![ContainerStatus::default()],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn activity_readiness_and_availability() {
        let mut p = pod("a", true, "Running", Some(0), 0);
        assert!(is_active(&p) && is_ready(&p));
        assert!(is_available(&p, 0, at(0)));
        // Ready at 0 with minReadySeconds 10: available only after 10 s.
        assert!(!is_available(&p, 10, at(10)));
        assert_eq!(
            time_to_available(&p, 10, at(4)),
            Some(Duration::from_millis(6001))
        );
        assert!(is_available(&p, 10, at(11)));
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!is_active(&p));
        let mut q = pod("b", false, "Pending", None, 0);
        assert!(is_active(&q) && !is_ready(&q) && !is_available(&q, 0, at(0)));
        q.metadata.deletion_timestamp = Some(Time(at(1)));
        assert!(!is_active(&q));
    }

    #[test]
    fn cheapest_pods_are_deleted_first() {
        let mut pods = [
            pod("ready-old", true, "Running", Some(0), 0),
            pod("ready-new", true, "Running", Some(50), 40),
            pod("running-unready", true, "Running", None, 0),
            pod("pending", true, "Pending", None, 0),
            pod("unscheduled", false, "Pending", None, 0),
            pod("newest-unscheduled", false, "Pending", None, 9),
        ];
        pods.sort_by(deletion_order);
        let names: Vec<_> = pods.iter().map(|p| p.metadata.name_str()).collect();
        assert_eq!(
            names,
            [
                "newest-unscheduled",
                "unscheduled",
                "pending",
                "running-unready",
                "ready-new",
                "ready-old"
            ]
        );
    }

    #[test]
    fn template_pods_belong_to_their_replicaset() {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some("web-abc".into());
        rs.metadata.namespace = Some("ns".into());
        rs.metadata.uid = Some("u1".into());
        rs.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "web".into());
        let p = pod_from_template(&rs);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(p.metadata.labels["app"], "web");
        let r = &p.metadata.owner_references[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.uid.as_str(),
                r.controller,
                r.block_owner_deletion
            ),
            ("ReplicaSet", "u1", Some(true), Some(true))
        );
    }
}
