//! Job: runs pods until a number of them succeed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::apps::workload_validation::validate_selector_matches;
use crate::core::PodTemplateSpec;
use crate::core::pod_defaults::default_pod_spec_except_restart_policy;
use crate::core::pod_validation::validate_pod_template_spec;
use crate::meta::{LabelSelector, ObjectMeta, Time};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{
    FIELD_IMMUTABLE, FieldError, Rendered, child, go_label_selector, nonnegative_opt,
    validate_label_selector,
};

/// Labels the server puts on a Job's pods and selects them by.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JobSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// `NonIndexed` (default) or `Indexed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<JobCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
    /// Kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// `Complete`, `Failed`, `Suspended`, `FailureTarget`, ...
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

const COMPLETION_MODES: [&str; 2] = ["NonIndexed", "Indexed"];
const JOB_RESTART_POLICIES: [&str; 2] = ["OnFailure", "Never"];

/// `SetDefaults_Job`, and the selector when the uid is known.
pub fn default_job(job: &mut Job) {
    let spec = &mut job.spec;
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    spec.backoff_limit.get_or_insert(6);
    if spec
        .completion_mode
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.completion_mode = Some("NonIndexed".into());
    }
    spec.suspend.get_or_insert(false);
    if spec.pod_failure_policy.is_none() && spec.pod_replacement_policy.is_none() {
        spec.pod_replacement_policy = Some("TerminatingOrFailed".into());
    }
    default_pod_spec_except_restart_policy(&mut spec.template.spec);
    if job.metadata.labels.is_empty() && !spec.template.metadata.labels.is_empty() {
        job.metadata.labels = spec.template.metadata.labels.clone();
    }
    if job.metadata.uid.as_deref().is_some_and(|u| !u.is_empty()) {
        generate_selector(job);
    }
}

/// What the server does to a new Job (unless `manualSelector: true`):
/// labels its template with the job's uid and name and selects on the uid.
/// Needs `metadata.uid` and `metadata.name`.
pub fn generate_selector(job: &mut Job) {
    if job.spec.manual_selector == Some(true) {
        return;
    }
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let labels = &mut job.spec.template.metadata.labels;
    for k in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
        labels.entry(k.to_string()).or_insert_with(|| name.clone());
    }
    for k in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
        labels.entry(k.to_string()).or_insert_with(|| uid.clone());
    }
    let selector = job.spec.selector.get_or_insert_with(LabelSelector::default);
    selector
        .match_labels
        .entry(CONTROLLER_UID_LABEL.to_string())
        .or_insert(uid);
}

/// [`generate_selector`] on a stored-form JSON object (for the API server,
/// which assigns the uid after normalizing).
pub fn generate_selector_value(object: &mut serde_json::Value) -> Result<(), String> {
    let mut job: Job = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    generate_selector(&mut job);
    let spec = serde_json::to_value(&job.spec).map_err(|e| e.to_string())?;
    if let Some(map) = object.as_object_mut() {
        map.insert("spec".into(), spec);
    }
    Ok(())
}

/// Checks of a JobSpec. `require_selector` is false for CronJob templates
/// and new Jobs whose selector the server generates.
pub fn validate_job_spec(spec: &JobSpec, path: &str, require_selector: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(nonnegative_opt(
        &child(path, "parallelism"),
        spec.parallelism,
    ));
    errs.extend(nonnegative_opt(
        &child(path, "completions"),
        spec.completions,
    ));
    errs.extend(nonnegative_opt(
        &child(path, "activeDeadlineSeconds"),
        spec.active_deadline_seconds,
    ));
    errs.extend(nonnegative_opt(
        &child(path, "backoffLimit"),
        spec.backoff_limit,
    ));
    errs.extend(nonnegative_opt(
        &child(path, "ttlSecondsAfterFinished"),
        spec.ttl_seconds_after_finished,
    ));
    if let Some(mode) = spec.completion_mode.as_deref() {
        if !COMPLETION_MODES.contains(&mode) {
            errs.push(FieldError::not_supported(
                child(path, "completionMode"),
                mode,
                &COMPLETION_MODES,
            ));
        } else if mode == "Indexed" && spec.completions.is_none() {
            errs.push(FieldError::required(
                child(path, "completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    match &spec.selector {
        None if require_selector => errs.push(FieldError::required(child(path, "selector"), "")),
        None => {}
        Some(sel) => errs.extend(validate_label_selector(sel, &child(path, "selector"))),
    }
    let template = child(path, "template");
    errs.extend(validate_selector_matches(
        spec.selector.as_ref(),
        &spec.template,
        &template,
    ));
    errs.extend(validate_pod_template_spec(&spec.template, &template));
    let rp_path = child(&child(&template, "spec"), "restartPolicy");
    match spec
        .template
        .spec
        .restart_policy
        .as_deref()
        .unwrap_or_default()
    {
        "" => {}
        p if !JOB_RESTART_POLICIES.contains(&p)
            // Unknown values are already reported by the pod checks.
            && p == "Always" =>
        {
            errs.push(FieldError::not_supported(rp_path, p, &JOB_RESTART_POLICIES));
        }
        _ => {}
    }
    errs
}

impl Object for Job {
    const RESOURCE: &'static ResourceType = &super::JOBS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        default_job(self);
    }

    fn validate(&self) -> Vec<FieldError> {
        let manual = self.spec.manual_selector == Some(true);
        let mut errs = validate_job_spec(&self.spec, "spec", manual);
        let uid = self.metadata.uid.as_deref().unwrap_or_default();
        if !manual
            && !uid.is_empty()
            && let Some(sel) = &self.spec.selector
            && sel
                .match_labels
                .get(CONTROLLER_UID_LABEL)
                .map(String::as_str)
                != Some(uid)
        {
            errs.push(FieldError::invalid(
                "spec.selector",
                &go_label_selector(Some(sel)),
                "`selector` not auto-generated",
            ));
        }
        errs
    }

    /// Selector, template, completion mode are fixed once the Job exists;
    /// completions too.
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let (n, o) = (&self.spec, &old.spec);
        if n.selector != o.selector {
            errs.push(FieldError::invalid(
                "spec.selector",
                &go_label_selector(n.selector.as_ref()),
                FIELD_IMMUTABLE,
            ));
        }
        if n.template != o.template {
            let rendered = serde_json::to_string(&n.template).unwrap_or_default();
            errs.push(FieldError::invalid(
                "spec.template",
                &Rendered(rendered),
                FIELD_IMMUTABLE,
            ));
        }
        if n.completion_mode != o.completion_mode {
            errs.push(FieldError::invalid(
                "spec.completionMode",
                n.completion_mode.as_deref().unwrap_or_default(),
                FIELD_IMMUTABLE,
            ));
        }
        if n.completions != o.completions {
            let rendered = n
                .completions
                .map(|c| c.to_string())
                .unwrap_or_else(|| "null".into());
            errs.push(FieldError::invalid(
                "spec.completions",
                &Rendered(rendered),
                FIELD_IMMUTABLE,
            ));
        }
        errs
    }
}

impl JobStatus {
    /// The condition of type `type_` with status `True`, if any.
    pub fn has_condition(&self, type_: &str) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    }

    /// Finished: `Complete` or `Failed`.
    pub fn is_finished(&self) -> bool {
        self.has_condition("Complete") || self.has_condition("Failed")
    }
}
