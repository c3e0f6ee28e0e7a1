//! The Jobs of a CronJob: the one made for a scheduled time, which are
//! still running, and which finished ones are past the history limits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use skiff_api::batch::{CronJob, Job};
use skiff_api::core::ObjectReference;
use skiff_api::meta::{ObjectMeta, OwnerReference, Time};

use crate::job::{COMPLETE, FAILED, finished};

/// On each Job: the time it was scheduled for.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// `<cronjob>-<scheduled time in minutes since the epoch>`: one name per
/// scheduled time, so a retried creation cannot make a second Job.
pub fn job_name(cronjob: &CronJob, scheduled: DateTime<Utc>) -> String {
    format!(
        "{}-{}",
        cronjob.metadata.name_str(),
        scheduled.timestamp() / 60
    )
}

/// The Job for the time `scheduled`, from the CronJob's template.
pub fn job_for(cronjob: &CronJob, scheduled: DateTime<Utc>) -> Job {
    let template = &cronjob.spec.job_template;
    let mut annotations = template.metadata.annotations.clone();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.into(),
        Time::from(scheduled).to_string(),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cronjob, scheduled)),
            namespace: cronjob.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations,
            owner_references: vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cronjob.metadata.name_str().to_string(),
                uid: cronjob.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            ..Default::default()
        },
        spec: template.spec.clone(),
        ..Default::default()
    }
}

/// What `status.active` holds for `job`.
pub fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        kind: Some("Job".into()),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        api_version: Some("batch/v1".into()),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// `Complete` or `Failed` once the Job is over.
pub fn outcome(job: &Job) -> Option<&'static str> {
    job.status.as_ref().and_then(finished)
}

/// The finished Jobs beyond the history limits, oldest first.
pub fn beyond_history(cronjob: &CronJob, jobs: &[Arc<Job>]) -> Vec<Arc<Job>> {
    let spec = &cronjob.spec;
    let mut out = Vec::new();
    for (kind, limit) in [
        (COMPLETE, spec.successful_jobs_history_limit.unwrap_or(3)),
        (FAILED, spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&Arc<Job>> = jobs.iter().filter(|j| outcome(j) == Some(kind)).collect();
        done.sort_by_key(|j| (started(j), j.metadata.name.clone()));
        let surplus = done.len().saturating_sub(limit.max(0) as usize);
        out.extend(done.into_iter().take(surplus).cloned());
    }
    out
}

fn started(job: &Job) -> Option<Time> {
    job.status
        .as_ref()
        .and_then(|s| s.start_time)
        .or(job.metadata.creation_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use skiff_api::batch::{CronJobSpec, JobCondition, JobStatus};

    fn finished_job(name: &str, minute: u32, outcome: &str) -> Arc<Job> {
        let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, minute, 0).unwrap();
        Arc::new(Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(JobStatus {
                start_time: Some(Time::from(t)),
                conditions: vec![JobCondition {
                    type_: outcome.into(),
                    status: "True".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn names_and_templates() {
        let cj = CronJob {
            metadata: ObjectMeta {
                name: Some("report".into()),
                namespace: Some("default".into()),
                uid: Some("cj-uid".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, 5, 0).unwrap();
        let job = job_for(&cj, t);
        assert_eq!(
            job.metadata.name.as_deref(),
            Some(format!("report-{}", t.timestamp() / 60).as_str())
        );
        assert_eq!(
            job.metadata.annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
            "2030-01-01T00:05:00Z"
        );
        let owner = &job.metadata.owner_references[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "cj-uid", Some(true))
        );
    }

    #[test]
    fn history_limits_keep_the_newest() {
        let cj = CronJob {
            spec: CronJobSpec {
                successful_jobs_history_limit: Some(1),
                failed_jobs_history_limit: Some(0),
                ..Default::default()
            },
            ..Default::default()
        };
        let jobs = vec![
            finished_job("c", 3, COMPLETE),
            finished_job("a", 1, COMPLETE),
            finished_job("b", 2, COMPLETE),
            finished_job("f", 4, FAILED),
        ];
        let names: Vec<_> = beyond_history(&cj, &jobs)
            .iter()
            .map(|j| j.metadata.name_str().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "f"]);
    }
}
