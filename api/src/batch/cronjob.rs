//! CronJob: creates Jobs on a cron schedule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;
use super::job::{JobSpec, validate_job_spec};
use crate::core::ObjectReference;
use crate::core::pod_defaults::default_pod_spec_except_restart_policy;
use crate::meta::{ObjectMeta, Time};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{
    FieldError, child, nonnegative_opt, validate_annotations, validate_labels,
};

/// A CronJob's name becomes part of its Jobs' names plus 11 characters.
pub const MAX_CRONJOB_NAME_LENGTH: usize = 52;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CronJobSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CronJobStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    #[serde(default)]
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// `Allow` (default), `Forbid` or `Replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    #[serde(default)]
    pub job_template: JobTemplateSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JobSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
}

const CONCURRENCY_POLICIES: [&str; 3] = ["Allow", "Forbid", "Replace"];

/// `SetDefaults_CronJob`; the job template's pods get pod defaults (not
/// Job defaults, which apply when a Job is created from it).
pub fn default_cron_job(cj: &mut CronJob) {
    let spec = &mut cj.spec;
    if spec
        .concurrency_policy
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.concurrency_policy = Some("Allow".into());
    }
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    default_pod_spec_except_restart_policy(&mut spec.job_template.spec.template.spec);
}

/// An IANA zone name (`Europe/Paris`, `UTC`); skiff carries no zone
/// database, so this checks the form only.
fn validate_time_zone(tz: &str, path: &str) -> Vec<FieldError> {
    if tz.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    let part_ok = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
    };
    if tz.is_empty() || !tz.split('/').all(part_ok) {
        return vec![FieldError::invalid(
            path,
            tz,
            format!("unknown time zone {tz}"),
        )];
    }
    Vec::new()
}

pub fn validate_schedule(schedule: &str, time_zone: Option<&str>, path: &str) -> Vec<FieldError> {
    let p = child(path, "schedule");
    if schedule.is_empty() {
        return vec![FieldError::required(p, "")];
    }
    if schedule.contains("TZ") {
        let detail = if time_zone.is_some() {
            "cannot use both timeZone field and TZ or CRON_TZ in schedule"
        } else {
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        };
        return vec![FieldError::invalid(p, schedule, detail)];
    }
    match CronSchedule::parse(schedule) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::invalid(p, schedule, e)],
    }
}

impl Object for CronJob {
    const RESOURCE: &'static ResourceType = &super::CRONJOBS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        default_cron_job(self);
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if name.len() > MAX_CRONJOB_NAME_LENGTH {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                format!("must be no more than {MAX_CRONJOB_NAME_LENGTH} characters"),
            ));
        }
        let spec = &self.spec;
        errs.extend(validate_schedule(
            &spec.schedule,
            spec.time_zone.as_deref(),
            "spec",
        ));
        if let Some(tz) = spec.time_zone.as_deref() {
            errs.extend(validate_time_zone(tz, "spec.timeZone"));
        }
        if let Some(p) = spec.concurrency_policy.as_deref()
            && !CONCURRENCY_POLICIES.contains(&p)
        {
            errs.push(FieldError::not_supported(
                "spec.concurrencyPolicy",
                p,
                &CONCURRENCY_POLICIES,
            ));
        }
        errs.extend(nonnegative_opt(
            "spec.startingDeadlineSeconds",
            spec.starting_deadline_seconds,
        ));
        errs.extend(nonnegative_opt(
            "spec.successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit,
        ));
        errs.extend(nonnegative_opt(
            "spec.failedJobsHistoryLimit",
            spec.failed_jobs_history_limit,
        ));
        let jt = &spec.job_template;
        let meta = "spec.jobTemplate.metadata";
        errs.extend(validate_labels(&jt.metadata.labels, &child(meta, "labels")));
        errs.extend(validate_annotations(
            &jt.metadata.annotations,
            &child(meta, "annotations"),
        ));
        errs.extend(validate_job_spec(&jt.spec, "spec.jobTemplate.spec", false));
        errs
    }
}

impl CronJobSpec {
    /// The parsed schedule (already validated when stored).
    pub fn parsed_schedule(&self) -> Result<CronSchedule, String> {
        CronSchedule::parse(&self.schedule)
    }
}
