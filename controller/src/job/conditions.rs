//! Job conditions: set with transition times, and which one says the Job
//! is over. A Job ends in two steps, as in Kubernetes: first the interim
//! `FailureTarget` or `SuccessCriteriaMet` (the outcome is decided), then,
//! once every finished pod is counted, `Failed` or `Complete`.

use skiff_api::batch::{JobCondition, JobStatus};
use skiff_api::meta::Time;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

fn is_true(status: &JobStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// `Complete` or `Failed` when the Job is over.
pub fn finished(status: &JobStatus) -> Option<&'static str> {
    [COMPLETE, FAILED].into_iter().find(|t| is_true(status, t))
}

/// The final condition a decided Job is waiting to get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// `Failed` or `Complete`.
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
}

/// What `FailureTarget` (or else `SuccessCriteriaMet`) decided: the final
/// condition keeps the interim one's reason and message.
pub fn ending(status: &JobStatus) -> Option<Ending> {
    [(FAILURE_TARGET, FAILED), (SUCCESS_CRITERIA_MET, COMPLETE)]
        .into_iter()
        .find_map(|(interim, type_)| {
            let c = status
                .conditions
                .iter()
                .find(|c| c.type_ == interim && c.status == "True")?;
            Some(Ending {
                type_,
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
            })
        })
}

pub fn suspended(status: &JobStatus) -> bool {
    is_true(status, SUSPENDED)
}

/// Sets condition `type_`; its transition time changes only when its
/// status does.
pub fn set(
    status: &mut JobStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: Time,
) {
    let value = if value { "True" } else { "False" };
    let next = JobCondition {
        type_: type_.into(),
        status: value.into(),
        last_probe_time: Some(now),
        last_transition_time: Some(now),
        reason: Some(reason.into()),
        message: Some(message.into()),
    };
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == value => {
            if c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message) {
                c.reason = next.reason;
                c.message = next.message;
                c.last_probe_time = Some(now);
            }
        }
        Some(c) => *c = next,
        None => status.conditions.push(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut s = JobStatus::default();
        let t0 = Time::now();
        let t1 = Time::from(t0.0 + chrono::Duration::seconds(5));
        assert_eq!(finished(&s), None);
        set(&mut s, SUSPENDED, true, "JobSuspended", "Job suspended", t0);
        assert!(suspended(&s));
        set(&mut s, SUSPENDED, true, "JobSuspended", "Job suspended", t1);
        assert_eq!(s.conditions[0].last_transition_time, Some(t0));
        set(&mut s, SUSPENDED, false, "JobResumed", "Job resumed", t1);
        assert_eq!(s.conditions[0].last_transition_time, Some(t1));
        assert!(!suspended(&s));
        set(&mut s, FAILED, true, "BackoffLimitExceeded", "x", t1);
        assert_eq!(finished(&s), Some(FAILED));
    }

    #[test]
    fn the_interim_condition_names_the_final_one() {
        let mut s = JobStatus::default();
        let t = Time::now();
        assert_eq!(ending(&s), None);
        set(
            &mut s,
            SUCCESS_CRITERIA_MET,
            true,
            "CompletionsReached",
            "m",
            t,
        );
        assert_eq!(ending(&s).unwrap().type_, COMPLETE);
        assert_eq!(finished(&s), None, "not over until counted");
        set(&mut s, FAILURE_TARGET, true, "DeadlineExceeded", "late", t);
        let end = ending(&s).unwrap();
        assert_eq!(
            (end.type_, end.reason.as_str()),
            (FAILED, "DeadlineExceeded")
        );
        assert_eq!(end.message, "late");
    }
}
