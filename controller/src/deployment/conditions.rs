//! Deployment conditions (`Available`, `Progressing`, `ReplicaFailure`),
//! set the way Kubernetes sets them: the same status and reason changes
//! nothing; the same status keeps its `lastTransitionTime`.

use chrono::{DateTime, Utc};
use skiff_api::apps::{DeploymentCondition, DeploymentStatus};
use skiff_api::meta::Time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";

/// A condition that changed `now`.
pub fn new(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: DateTime<Utc>,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        last_update_time: Some(Time::from(now)),
        last_transition_time: Some(Time::from(now)),
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Sets `cond`, unless one of its type with the same status and reason is
/// there already. A condition whose status does not change keeps its
/// transition time. The condition moves to the end of the list.
pub fn set(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = get(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time;
        }
    }
    remove(status, &cond.type_);
    status.conditions.push(cond);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn setting_keeps_transition_times_and_order() {
        let mut s = DeploymentStatus::default();
        set(
            &mut s,
            new(PROGRESSING, "True", NEW_RS_CREATED, "Created", at(0)),
        );
        set(
            &mut s,
            new(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "no",
                at(1),
            ),
        );
        // Same status and reason: untouched.
        set(
            &mut s,
            new(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "no",
                at(2),
            ),
        );
        assert_eq!(
            get(&s, AVAILABLE).unwrap().last_update_time,
            Some(Time(at(1)))
        );
        // Same status, new reason: new update time, old transition time, moved last.
        set(
            &mut s,
            new(PROGRESSING, "True", NEW_RS_AVAILABLE, "done", at(3)),
        );
        let p = s.conditions.last().unwrap();
        assert_eq!(
            (p.type_.as_str(), p.reason.as_deref()),
            (PROGRESSING, Some(NEW_RS_AVAILABLE))
        );
        assert_eq!(
            (p.last_update_time, p.last_transition_time),
            (Some(Time(at(3))), Some(Time(at(0))))
        );
        // A new status: a new transition time.
        set(
            &mut s,
            new(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "yes", at(4)),
        );
        assert_eq!(
            get(&s, AVAILABLE).unwrap().last_transition_time,
            Some(Time(at(4)))
        );
        remove(&mut s, AVAILABLE);
        assert!(get(&s, AVAILABLE).is_none());
        assert_eq!(s.conditions.len(), 1);
    }
}
