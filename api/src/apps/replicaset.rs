//! ReplicaSet: keeps N copies of a pod template running.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployment::validate_selector_update;
use super::workload_validation::{validate_template_for_replica_set, validate_workload_selector};
use crate::core::PodTemplateSpec;
use crate::core::pod_defaults::default_pod_spec;
use crate::meta::{LabelSelector, ObjectMeta, Time};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FieldError, child, nonnegative_opt};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicaSetStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// Always written, as Kubernetes does.
    #[serde(default)]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ReplicaSetCondition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetCondition {
    /// `ReplicaFailure`.
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ReplicaSetSpec {
    pub fn replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

pub fn validate_replica_set_spec(spec: &ReplicaSetSpec, path: &str) -> Vec<FieldError> {
    let mut errs = nonnegative_opt(&child(path, "replicas"), spec.replicas);
    errs.extend(nonnegative_opt(
        &child(path, "minReadySeconds"),
        spec.min_ready_seconds,
    ));
    errs.extend(validate_workload_selector(
        spec.selector.as_ref(),
        path,
        "deployment",
    ));
    errs.extend(validate_template_for_replica_set(
        spec.selector.as_ref(),
        &spec.template,
        &child(path, "template"),
    ));
    errs
}

impl Object for ReplicaSet {
    const RESOURCE: &'static ResourceType = &super::REPLICASETS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        self.spec.replicas.get_or_insert(1);
        default_pod_spec(&mut self.spec.template.spec);
    }

    fn validate(&self) -> Vec<FieldError> {
        validate_replica_set_spec(&self.spec, "spec")
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        validate_selector_update(self.spec.selector.as_ref(), old.spec.selector.as_ref())
    }
}
