//! A ReplicaSet's status: counted from its active pods, written through
//! `/status` only when it changed, and at most every
//! [`MIN_STATUS_INTERVAL`] while pods are still coming and going (a
//! 10,000-pod scale-up would otherwise write it thousands of times).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skiff_api::apps::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use skiff_api::core::Pod;
use skiff_api::meta::{LabelSelector, Time};
use skiff_client::{Api, Patch};
use tokio::time::Instant;

use super::pods::{is_available, is_ready, time_to_available};

/// The least time between two status writes of one ReplicaSet while it is
/// not settled.
pub const MIN_STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// What the pods say, and when to look again for pods about to become available.
pub struct Computed {
    pub status: ReplicaSetStatus,
    pub recheck_in: Option<Duration>,
}

fn nonzero(n: usize) -> Option<i32> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    (n > 0).then_some(n)
}

/// The status `rs` should have given its active pods and the outcome of
/// this sync's create/delete (`manage_error`).
pub fn calculate(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    manage_error: Option<&str>,
    now: DateTime<Utc>,
) -> Computed {
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let template_labels = LabelSelector {
        match_labels: rs.spec.template.metadata.labels.clone(),
        ..Default::default()
    };
    let (mut labeled, mut ready, mut available) = (0, 0, 0);
    let mut recheck_in: Option<Duration> = None;
    for pod in active {
        if template_labels.matches(&pod.metadata.labels) {
            labeled += 1;
        }
        if is_ready(pod) {
            ready += 1;
            if is_available(pod, min_ready, now) {
                available += 1;
            } else if let Some(wait) = time_to_available(pod, min_ready, now) {
                recheck_in = Some(recheck_in.map_or(wait, |r| r.min(wait)));
            }
        }
    }
    let previous = rs.status.clone().unwrap_or_default();
    let mut conditions = previous.conditions.clone();
    let failure = conditions.iter().position(|c| c.type_ == "ReplicaFailure");
    match (manage_error, failure) {
        (Some(message), None) => {
            let diff = active.len() as i64 - i64::from(rs.spec.replicas());
            let reason = if diff < 0 {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                last_transition_time: Some(Time::from(now)),
                reason: Some(reason.into()),
                message: Some(message.into()),
            });
        }
        (None, Some(i)) => {
            conditions.remove(i);
        }
        _ => {}
    }
    Computed {
        status: ReplicaSetStatus {
            replicas: i32::try_from(active.len()).unwrap_or(i32::MAX),
            fully_labeled_replicas: nonzero(labeled),
            ready_replicas: nonzero(ready),
            available_replicas: nonzero(available),
            observed_generation: rs.metadata.generation,
            conditions,
        },
        recheck_in,
    }
}

/// Every pod there and available, at the generation asked for: a status
/// worth writing at once.
fn settled(rs: &ReplicaSet, status: &ReplicaSetStatus) -> bool {
    let want = rs.spec.replicas();
    status.replicas == want
        && status.ready_replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
}

/// A merge patch that makes the stored status exactly `status` (absent
/// counts are zero: they are removed), for the ReplicaSet of `uid` only.
fn patch_for(uid: Option<&str>, status: &ReplicaSetStatus) -> Patch {
    let count = |v: Option<i32>| v.map_or(Value::Null, |n| json!(n));
    Patch::Merge(json!({
        "metadata": {"uid": uid},
        "status": {
            "replicas": status.replicas,
            "fullyLabeledReplicas": count(status.fully_labeled_replicas),
            "readyReplicas": count(status.ready_replicas),
            "availableReplicas": count(status.available_replicas),
            "observedGeneration": status.observed_generation,
            "conditions": if status.conditions.is_empty() { Value::Null } else { json!(status.conditions) },
        }
    }))
}

/// Writes statuses, remembering when each ReplicaSet's was last written.
#[derive(Default)]
pub struct StatusWriter {
    last_write: Mutex<HashMap<String, Instant>>,
}

/// What became of a status write.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Nothing changed.
    Unchanged,
    Written,
    /// Too soon after the last write: try again after this long.
    Deferred(Duration),
}

impl StatusWriter {
    /// Writes `status` unless `rs` already has it; defers it if the last
    /// write of this ReplicaSet was less than [`MIN_STATUS_INTERVAL`] ago,
    /// unless it reports a new generation or a settled ReplicaSet.
    pub async fn write(
        &self,
        api: &Api<ReplicaSet>,
        key: &str,
        rs: &ReplicaSet,
        status: &ReplicaSetStatus,
    ) -> skiff_client::Result<Written> {
        let current = rs.status.clone().unwrap_or_default();
        if &current == status {
            return Ok(Written::Unchanged);
        }
        let urgent =
            current.observed_generation != status.observed_generation || settled(rs, status);
        if !urgent {
            let last = self
                .last_write
                .lock()
                .expect("status writer lock")
                .get(key)
                .copied();
            if let Some(wait) = last.and_then(|t| MIN_STATUS_INTERVAL.checked_sub(t.elapsed()))
                && !wait.is_zero()
            {
                return Ok(Written::Deferred(wait));
            }
        }
        api.patch_status(
            rs.metadata.name_str(),
            &patch_for(rs.metadata.uid.as_deref(), status),
        )
        .await?;
        self.last_write
            .lock()
            .expect("status writer lock")
            .insert(key.to_string(), Instant::now());
        Ok(Written::Written)
    }

    /// The ReplicaSet is gone.
    pub fn forget(&self, key: &str) {
        self.last_write
            .lock()
            .expect("status writer lock")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{PodCondition, PodStatus};
    use skiff_api::meta::ObjectMeta;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_100, 0).unwrap()
    }

    fn pod(labels: &[(&str, &str)], ready_secs_ago: Option<i64>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            },
            status: Some(PodStatus {
                conditions: ready_secs_ago
                    .map(|s| PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(now() - chrono::Duration::seconds(s))),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.generation = Some(3);
        rs.spec.replicas = Some(replicas);
        rs.spec.min_ready_seconds = Some(min_ready);
        rs.spec.template.metadata.labels = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "fe".to_string()),
        ]
        .into();
        rs
    }

    #[test]
    fn counts_labeled_ready_and_available() {
        let full = [("app", "web"), ("tier", "fe")];
        let partial = [("app", "web")];
        let pods = vec![
            pod(&full, Some(100)),
            pod(&full, Some(2)),
            pod(&partial, None),
        ];
        let c = calculate(&rs(3, 10), &pods, None, now());
        assert_eq!(c.status.replicas, 3);
        assert_eq!(c.status.fully_labeled_replicas, Some(2));
        assert_eq!(c.status.ready_replicas, Some(2));
        assert_eq!(c.status.available_replicas, Some(1));
        assert_eq!(c.status.observed_generation, Some(3));
        // The pod ready 2 s ago is available 8 s from now.
        assert_eq!(c.recheck_in, Some(Duration::from_millis(8001)));
        let none = calculate(&rs(0, 0), &[], None, now());
        assert_eq!(
            (none.status.replicas, none.status.ready_replicas),
            (0, None)
        );
    }

    #[test]
    fn failures_set_and_clear_a_condition() {
        let mut r = rs(3, 0);
        let failed = calculate(&r, &[], Some("quota exceeded"), now());
        let cond = &failed.status.conditions[0];
        assert_eq!(
            (cond.type_.as_str(), cond.reason.as_deref()),
            ("ReplicaFailure", Some("FailedCreate"))
        );
        r.status = Some(failed.status);
        // Still failing: the condition stays as it was.
        assert_eq!(
            calculate(&r, &[], Some("again"), now()).status.conditions[0]
                .message
                .as_deref(),
            Some("quota exceeded")
        );
        assert!(calculate(&r, &[], None, now()).status.conditions.is_empty());
    }

    #[test]
    fn patches_remove_zero_counts() {
        let Patch::Merge(body) = patch_for(
            Some("u"),
            &ReplicaSetStatus {
                replicas: 0,
                ..Default::default()
            },
        ) else {
            panic!("merge patch expected")
        };
        assert_eq!(body["status"]["readyReplicas"], Value::Null);
        assert_eq!(body["status"]["replicas"], json!(0));
        assert_eq!(body["metadata"]["uid"], json!("u"));
    }
}
