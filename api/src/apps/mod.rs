//! apps/v1 kinds and their rows in the resource table.

mod deployment;
mod replicaset;
pub(crate) mod workload_validation;

#[cfg(test)]
mod tests;

pub use deployment::{
    DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE, Deployment, DeploymentCondition, DeploymentSpec,
    DeploymentStatus, DeploymentStrategy, RollingUpdateDeployment, default_deployment,
};
pub use replicaset::{ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};

use crate::codec::Codec;
use crate::resource::{ResourceType, Subresource};

pub const DEPLOYMENTS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    short_names: &["deploy"],
    namespaced: true,
    categories: &["all"],
    subresources: &[Subresource::Status, Subresource::Scale],
    field_selectors: &[],
    codec: Codec::of::<Deployment>(),
};

pub const REPLICASETS: ResourceType = ResourceType {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    short_names: &["rs"],
    namespaced: true,
    categories: &["all"],
    subresources: &[Subresource::Status, Subresource::Scale],
    field_selectors: &[],
    codec: Codec::of::<ReplicaSet>(),
};
