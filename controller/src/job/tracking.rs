//! Counting a Job's finished pods exactly once, as Kubernetes does with the
//! `batch.kubernetes.io/job-tracking` finalizer: a pod keeps the finalizer
//! until its outcome is recorded, first as its uid in
//! `status.uncountedTerminatedPods`, written before the finalizer is
//! removed; a uid there whose pod has lost the finalizer (or is gone) then
//! moves into the `succeeded`/`failed` counters. A pod deleted later is thus
//! never counted again, and one deleted before it was counted cannot be.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skiff_api::batch::JobStatus;
use skiff_api::core::Pod;

/// Held by every pod a Job creates until its outcome is counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// `status.uncountedTerminatedPods`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncounted {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub succeeded: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

impl Uncounted {
    pub fn of(status: &JobStatus) -> Uncounted {
        status
            .uncounted_terminated_pods
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()))
    }

    fn contains(&self, uid: &str) -> bool {
        self.succeeded.iter().chain(&self.failed).any(|u| u == uid)
    }
}

/// How a pod of the Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Active,
    Succeeded,
    Failed,
    /// Being deleted when that is not a failure (the Job is finished or
    /// suspended, and deletes its own pods).
    Discarded,
}

/// The pod's outcome; a pod deleted before it succeeded counts as failed
/// when `terminating_fails`.
pub fn outcome(pod: &Pod, terminating_fails: bool) -> Outcome {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Succeeded") => Outcome::Succeeded,
        Some("Failed") => Outcome::Failed,
        _ if pod.metadata.deletion_timestamp.is_none() => Outcome::Active,
        _ if terminating_fails => Outcome::Failed,
        _ => Outcome::Discarded,
    }
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .any(|f| f == TRACKING_FINALIZER)
}

/// The Job's pods, sorted out.
#[derive(Debug, Default)]
pub struct Tally {
    /// Counted for good.
    pub succeeded: i32,
    pub failed: i32,
    /// Recorded, not yet counted.
    pub uncounted: Uncounted,
    /// Pods whose finalizer may go once `uncounted` is stored.
    pub to_release: Vec<Arc<Pod>>,
    pub active: Vec<Arc<Pod>>,
}

impl Tally {
    /// Succeeded pods, counted or only recorded.
    pub fn total_succeeded(&self) -> i32 {
        self.succeeded + self.uncounted.succeeded.len() as i32
    }

    pub fn total_failed(&self) -> i32 {
        self.failed + self.uncounted.failed.len() as i32
    }
}

pub fn tally(status: &JobStatus, pods: &[Arc<Pod>], terminating_fails: bool) -> Tally {
    let by_uid: HashMap<&str, &Arc<Pod>> = pods
        .iter()
        .filter_map(|p| Some((p.metadata.uid.as_deref()?, p)))
        .collect();
    let still_held = |uid: &String| by_uid.get(uid.as_str()).is_some_and(|p| has_finalizer(p));
    let mut t = Tally {
        succeeded: status.succeeded.unwrap_or(0),
        failed: status.failed.unwrap_or(0),
        uncounted: Uncounted::of(status),
        ..Tally::default()
    };
    // Recorded earlier and released since: counted now.
    let before = (t.uncounted.succeeded.len(), t.uncounted.failed.len());
    t.uncounted.succeeded.retain(still_held);
    t.uncounted.failed.retain(still_held);
    t.succeeded += (before.0 - t.uncounted.succeeded.len()) as i32;
    t.failed += (before.1 - t.uncounted.failed.len()) as i32;

    for pod in pods {
        let o = outcome(pod, terminating_fails);
        if o == Outcome::Active {
            t.active.push(pod.clone());
            continue;
        }
        if !has_finalizer(pod) {
            continue; // counted already (or never ours to count)
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if !t.uncounted.contains(&uid) {
            match o {
                Outcome::Succeeded => t.uncounted.succeeded.push(uid),
                Outcome::Failed => t.uncounted.failed.push(uid),
                _ => {}
            }
        }
        t.to_release.push(pod.clone());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::PodStatus;
    use skiff_api::meta::{ObjectMeta, Time};

    fn pod(uid: &str, phase: &str, finalizer: bool, deleting: bool) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(uid.into()),
                uid: Some(uid.into()),
                finalizers: if finalizer {
                    vec![TRACKING_FINALIZER.into()]
                } else {
                    vec![]
                },
                deletion_timestamp: deleting.then(Time::now),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn finished_pods_are_recorded_then_counted_once() {
        let pods = vec![
            pod("a", "Succeeded", true, false),
            pod("b", "Failed", true, false),
            pod("c", "Running", true, false),
            pod("d", "Running", true, true), // deleted while running: failed
        ];
        let t = tally(&JobStatus::default(), &pods, true);
        assert_eq!((t.succeeded, t.failed), (0, 0));
        assert_eq!(t.uncounted.succeeded, ["a"]);
        assert_eq!(t.uncounted.failed, ["b", "d"]);
        assert_eq!((t.total_succeeded(), t.total_failed()), (1, 2));
        assert_eq!(t.active.len(), 1);
        assert_eq!(t.to_release.len(), 3);

        // Stored; a's and b's finalizers removed, d is gone altogether.
        let status = JobStatus {
            uncounted_terminated_pods: Some(t.uncounted.to_value()),
            ..Default::default()
        };
        let later = vec![
            pod("a", "Succeeded", false, false),
            pod("b", "Failed", false, false),
            pod("c", "Running", true, false),
        ];
        let t = tally(&status, &later, true);
        assert_eq!((t.succeeded, t.failed), (1, 2));
        assert_eq!(t.uncounted, Uncounted::default());
        assert!(t.to_release.is_empty());

        // Counted pods deleted afterwards change nothing.
        let status = JobStatus {
            succeeded: Some(1),
            failed: Some(2),
            ..Default::default()
        };
        let t = tally(&status, &later[2..], true);
        assert_eq!((t.total_succeeded(), t.total_failed()), (1, 2));
    }

    #[test]
    fn pods_a_finished_job_deletes_are_not_failures() {
        let t = tally(
            &JobStatus::default(),
            &[pod("x", "Running", true, true)],
            false,
        );
        assert_eq!(t.total_failed(), 0);
        assert_eq!(t.to_release.len(), 1);
        assert_eq!(
            outcome(&pod("y", "Pending", false, false), false),
            Outcome::Active
        );
    }
}
