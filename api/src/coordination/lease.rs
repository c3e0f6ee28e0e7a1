//! Lease: a heartbeat (node leases) or a lock (leader election).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{MicroTime, ObjectMeta};
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{FieldError, nonnegative_opt, positive};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<LeaseSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<MicroTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<MicroTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
}

impl Object for Lease {
    const RESOURCE: &'static ResourceType = &super::LEASES;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn validate(&self) -> Vec<FieldError> {
        let Some(spec) = &self.spec else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        if let Some(d) = spec.lease_duration_seconds {
            errs.extend(positive("spec.leaseDurationSeconds", i64::from(d)));
        }
        errs.extend(nonnegative_opt(
            "spec.leaseTransitions",
            spec.lease_transitions,
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{FieldValidation, normalize};
    use serde_json::json;

    #[test]
    fn durations_must_be_positive() {
        let lease = json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                     "renewTime": "2026-11-27T06:35:16.123456Z"}});
        let n = normalize::<Lease>(lease.clone(), FieldValidation::Strict).unwrap();
        assert_eq!(n.object["spec"]["renewTime"], "2026-11-27T06:35:16.123456Z");
        assert_eq!(n.object["apiVersion"], "coordination.k8s.io/v1");
        let mut bad = lease;
        bad["spec"]["leaseDurationSeconds"] = json!(0);
        bad["spec"]["leaseTransitions"] = json!(-1);
        let s = normalize::<Lease>(bad, FieldValidation::Strict).unwrap_err();
        assert_eq!(
            s.message,
            "Lease.coordination.k8s.io \"node-1\" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]"
        );
    }
}
