//! Deployment: declarative rollouts of a pod template through ReplicaSets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::workload_validation::{validate_template_for_replica_set, validate_workload_selector};
use crate::core::PodTemplateSpec;
use crate::core::pod_defaults::default_pod_spec;
use crate::intstr::IntOrString;
use crate::meta::{LabelSelector, ObjectMeta, Time};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{
    FIELD_IMMUTABLE, FieldError, GoValue, Rendered, child, go_label_selector, nonnegative,
    nonnegative_opt,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DeploymentSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub const DEFAULT_MAX_SURGE: &str = "25%";
pub const DEFAULT_MAX_UNAVAILABLE: &str = "25%";

impl DeploymentSpec {
    pub fn replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// apps/v1 `SetDefaults_Deployment`. The selector is not defaulted from the
/// template labels (extensions/v1beta1 did that; apps/v1 requires it).
pub fn default_deployment(d: &mut Deployment) {
    let spec = &mut d.spec;
    spec.replicas.get_or_insert(1);
    let strategy = &mut spec.strategy;
    if strategy.type_.as_deref().unwrap_or_default().is_empty() {
        strategy.type_ = Some("RollingUpdate".into());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy.rolling_update.get_or_insert_with(Default::default);
        ru.max_unavailable
            .get_or_insert_with(|| DEFAULT_MAX_UNAVAILABLE.into());
        ru.max_surge.get_or_insert_with(|| DEFAULT_MAX_SURGE.into());
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    default_pod_spec(&mut spec.template.spec);
}

/// Go's `%#v` of an `intstr.IntOrString`.
fn go_int_or_string(v: &IntOrString) -> Rendered {
    Rendered(match v {
        IntOrString::Int(i) => format!("intstr.IntOrString{{Type:0, IntVal:{i}, StrVal:\"\"}}"),
        IntOrString::String(s) => {
            format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", s.go())
        }
    })
}

/// An int >= 0 or a percentage string `N%`.
fn validate_int_or_percent(v: &IntOrString, path: &str) -> Vec<FieldError> {
    match v {
        IntOrString::Int(i) => nonnegative(path, i64::from(*i)),
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%').unwrap_or_default();
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Vec::new()
            } else {
                vec![FieldError::invalid(
                    path,
                    &go_int_or_string(v),
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )]
            }
        }
    }
}

/// The number a value stands for when checking for zero (percent or int).
fn int_or_percent_value(v: Option<&IntOrString>) -> Option<i64> {
    match v? {
        IntOrString::Int(i) => Some(i64::from(*i)),
        p @ IntOrString::String(_) => p.percent().and_then(Result::ok).map(i64::from),
    }
}

fn validate_strategy(s: &DeploymentStrategy, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ru_path = child(path, "rollingUpdate");
    match s.type_.as_deref().unwrap_or_default() {
        "Recreate" => {
            if s.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    ru_path,
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &s.rolling_update {
            None => errs.push(FieldError::required(
                ru_path,
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let mu_path = child(&ru_path, "maxUnavailable");
                if let Some(mu) = &ru.max_unavailable {
                    errs.extend(validate_int_or_percent(mu, &mu_path));
                }
                if let Some(ms) = &ru.max_surge {
                    errs.extend(validate_int_or_percent(ms, &child(&ru_path, "maxSurge")));
                }
                let mu = int_or_percent_value(ru.max_unavailable.as_ref());
                let ms = int_or_percent_value(ru.max_surge.as_ref());
                if mu == Some(0) && ms == Some(0) {
                    errs.push(FieldError::invalid(
                        &mu_path,
                        &go_int_or_string(
                            ru.max_unavailable.as_ref().unwrap_or(&IntOrString::Int(0)),
                        ),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if let Some(mu @ IntOrString::String(_)) = &ru.max_unavailable
                    && mu.percent().and_then(Result::ok).is_some_and(|p| p > 100)
                {
                    errs.push(FieldError::invalid(
                        &mu_path,
                        &go_int_or_string(mu),
                        "must not be greater than 100%",
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            child(path, "type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

pub fn validate_deployment_spec(spec: &DeploymentSpec, path: &str) -> Vec<FieldError> {
    let mut errs = nonnegative_opt(&child(path, "replicas"), spec.replicas);
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
    errs.extend(validate_strategy(&spec.strategy, &child(path, "strategy")));
    errs.extend(nonnegative_opt(
        &child(path, "minReadySeconds"),
        spec.min_ready_seconds,
    ));
    errs.extend(nonnegative_opt(
        &child(path, "revisionHistoryLimit"),
        spec.revision_history_limit,
    ));
    if let Some(pds) = spec.progress_deadline_seconds {
        let p = child(path, "progressDeadlineSeconds");
        errs.extend(nonnegative(&p, i64::from(pds)));
        if pds <= spec.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &p,
                &pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// `spec.selector` may not change (apps/v1).
pub fn validate_selector_update(
    new: Option<&LabelSelector>,
    old: Option<&LabelSelector>,
) -> Vec<FieldError> {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            "spec.selector",
            &go_label_selector(new),
            FIELD_IMMUTABLE,
        )]
    }
}

impl Object for Deployment {
    const RESOURCE: &'static ResourceType = &super::DEPLOYMENTS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        default_deployment(self);
    }

    fn validate(&self) -> Vec<FieldError> {
        validate_deployment_spec(&self.spec, "spec")
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        validate_selector_update(self.spec.selector.as_ref(), old.spec.selector.as_ref())
    }
}
