//! Node: a machine the agent runs pods on, with its capacity, conditions
//! and taints.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, Time};
use crate::object::Object;
use crate::quantity::Quantity;
use crate::resource::ResourceType;
use crate::validation::{FieldError, child, index, is_label_value, is_qualified_name, key};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NodeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(rename = "podCIDR", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "podCIDRs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// Repels pods that do not tolerate it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_endpoints: Option<NodeDaemonEndpoints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ContainerImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, ...
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeDaemonEndpoints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_endpoint: Option<DaemonEndpoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonEndpoint {
    #[serde(rename = "Port", default)]
    pub port: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    #[serde(rename = "machineID", default)]
    pub machine_id: String,
    #[serde(rename = "systemUUID", default)]
    pub system_uuid: String,
    #[serde(rename = "bootID", default)]
    pub boot_id: String,
    #[serde(default)]
    pub kernel_version: String,
    #[serde(default)]
    pub os_image: String,
    #[serde(default)]
    pub container_runtime_version: String,
    #[serde(default)]
    pub kubelet_version: String,
    #[serde(default)]
    pub kube_proxy_version: String,
    #[serde(default)]
    pub operating_system: String,
    #[serde(default)]
    pub architecture: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

impl NodeStatus {
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Is the `Ready` condition `True`?
    pub fn is_ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == "True")
    }

    /// The addresses of type `InternalIP`, in the order reported.
    pub fn internal_ips(&self) -> impl Iterator<Item = &str> {
        self.addresses
            .iter()
            .filter(|a| a.type_ == "InternalIP")
            .map(|a| a.address.as_str())
    }
}

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn validate_taints(taints: &[Taint], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let ip = index(path, i);
        for msg in is_qualified_name(&t.key) {
            errs.push(FieldError::invalid(child(&ip, "key"), &t.key, msg));
        }
        let value = t.value.as_deref().unwrap_or_default();
        for msg in is_label_value(value) {
            errs.push(FieldError::invalid(child(&ip, "value"), value, msg));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(child(&ip, "effect"), ""));
        } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            errs.push(FieldError::not_supported(
                child(&ip, "effect"),
                &t.effect,
                &TAINT_EFFECTS,
            ));
        }
        if !seen.insert((t.key.as_str(), t.effect.as_str())) {
            errs.push(FieldError::duplicate(
                &ip,
                &crate::validation::Rendered(format!("{}:{}", t.key, t.effect)),
            ));
        }
    }
    errs
}

impl Object for Node {
    const RESOURCE: &'static ResourceType = &super::NODES;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    /// Allocatable defaults to capacity, as `SetDefaults_NodeStatus` does.
    fn set_defaults(&mut self) {
        if let Some(status) = self.status.as_mut()
            && status.allocatable.is_empty()
        {
            status.allocatable = status.capacity.clone();
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(spec) = &self.spec {
            errs.extend(validate_taints(&spec.taints, "spec.taints"));
        }
        if let Some(status) = &self.status {
            for (field, map) in [
                ("capacity", &status.capacity),
                ("allocatable", &status.allocatable),
            ] {
                for (name, q) in map {
                    let p = key(&child("status", field), name);
                    match q.parsed() {
                        Err(msg) => errs.push(FieldError::invalid(p, q.as_str(), msg)),
                        Ok(v) if v.is_negative() => errs.push(FieldError::invalid(
                            p,
                            q.as_str(),
                            crate::validation::IS_NEGATIVE,
                        )),
                        Ok(_) => {}
                    }
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ready: &str, addresses: &[(&str, &str)]) -> NodeStatus {
        NodeStatus {
            conditions: vec![NodeCondition {
                type_: "Ready".into(),
                status: ready.into(),
                ..Default::default()
            }],
            addresses: addresses
                .iter()
                .map(|(t, a)| NodeAddress {
                    type_: t.to_string(),
                    address: a.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ready_only_when_the_condition_is_true() {
        assert!(status("True", &[]).is_ready());
        assert!(!status("Unknown", &[]).is_ready());
        assert!(!status("False", &[]).is_ready());
        assert!(!NodeStatus::default().is_ready());
    }

    #[test]
    fn internal_ips_skip_other_address_types() {
        let s = status(
            "True",
            &[
                ("Hostname", "n1"),
                ("InternalIP", "10.0.0.1"),
                ("ExternalIP", "1.2.3.4"),
                ("InternalIP", "fd00::1"),
            ],
        );
        assert_eq!(
            s.internal_ips().collect::<Vec<_>>(),
            ["10.0.0.1", "fd00::1"]
        );
        assert_eq!(NodeStatus::default().internal_ips().count(), 0);
    }
}
