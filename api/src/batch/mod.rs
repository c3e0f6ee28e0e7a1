//! batch/v1 kinds and their rows in the resource table.

pub mod cron;
mod cronjob;
mod job;

#[cfg(test)]
mod tests;

pub use cron::CronSchedule;
pub use cronjob::{
    CronJob, CronJobSpec, CronJobStatus, JobTemplateSpec, MAX_CRONJOB_NAME_LENGTH, default_cron_job,
};
pub use job::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, Job, JobCondition, JobSpec, JobStatus,
    LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL, default_job, generate_selector,
    generate_selector_value,
};

use crate::codec::Codec;
use crate::resource::{ResourceType, Subresource};

pub const JOBS: ResourceType = ResourceType {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    singular: "job",
    short_names: &[],
    namespaced: true,
    categories: &["all"],
    subresources: &[Subresource::Status],
    field_selectors: &["status.successful"],
    codec: Codec::of::<Job>(),
};

pub const CRONJOBS: ResourceType = ResourceType {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    short_names: &["cj"],
    namespaced: true,
    categories: &["all"],
    subresources: &[Subresource::Status],
    field_selectors: &[],
    codec: Codec::of::<CronJob>(),
};
