//! core/v1 kinds and their rows in the resource table.

mod configmap;
mod container;
mod container_validation;
mod data_validation;
mod endpoints;
mod env_validation;
mod event;
mod namespace;
mod node;
mod pod;
pub mod pod_defaults;
mod pod_status;
mod pod_update;
pub mod pod_validation;
mod probe;
mod probe_validation;
mod reference;
mod secret;
mod service;
mod service_validation;
mod toleration;

#[cfg(test)]
pub(crate) mod tests;

pub use configmap::ConfigMap;
pub use container::{
    Capabilities, Container, ContainerPort, EnvFromSource, EnvSourceRef, EnvVar, EnvVarSource,
    KeySelector, ObjectFieldSelector, ResourceFieldSelector, ResourceRequirements, SeccompProfile,
    SecurityContext, VolumeMount,
};
pub use container_validation::validate_resources;
pub use endpoints::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints};
pub use event::{Event, EventSource};
pub use namespace::{
    NAMESPACE_FINALIZER, NAMESPACE_NAME_LABEL, Namespace, NamespaceSpec, NamespaceStatus,
};
pub use node::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
pub use pod::{
    HostAlias, LocalObjectReference, Pod, PodReadinessGate, PodSecurityContext, PodSpec,
    PodTemplateSpec, Sysctl, Toleration,
};
pub use pod_status::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, IpEntry, PodCondition, PodStatus,
};
pub use pod_update::POD_UPDATE_FORBIDDEN;
pub use probe::{
    ExecAction, GrpcAction, HttpGetAction, HttpHeader, Lifecycle, LifecycleHandler, Probe,
    SleepAction, TcpSocketAction,
};
pub use reference::ObjectReference;
pub use secret::Secret;
pub use service::{
    ClientIpConfig, LoadBalancerIngress, LoadBalancerStatus, Service, ServicePort, ServiceSpec,
    ServiceStatus, SessionAffinityConfig,
};
pub use volume::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, KeyToPath,
    SecretVolumeSource, Volume,
};

mod volume;

use crate::codec::Codec;
use crate::resource::{ResourceType, Subresource};

pub const PODS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    short_names: &["po"],
    namespaced: true,
    categories: &["all"],
    subresources: &[
        Subresource::Status,
        Subresource::Log,
        Subresource::Exec,
        Subresource::Binding,
    ],
    field_selectors: &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ],
    codec: Codec::of::<Pod>(),
};

pub const SERVICES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    short_names: &["svc"],
    namespaced: true,
    categories: &["all"],
    subresources: &[Subresource::Status],
    field_selectors: &[],
    codec: Codec::of::<Service>(),
};

pub const ENDPOINTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Endpoints",
    plural: "endpoints",
    singular: "endpoints",
    short_names: &["ep"],
    namespaced: true,
    categories: &[],
    subresources: &[],
    field_selectors: &[],
    codec: Codec::of::<Endpoints>(),
};

pub const NAMESPACES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    short_names: &["ns"],
    namespaced: false,
    categories: &[],
    subresources: &[Subresource::Status],
    field_selectors: &["status.phase"],
    codec: Codec::of::<Namespace>(),
};

pub const NODES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    short_names: &["no"],
    namespaced: false,
    categories: &[],
    subresources: &[Subresource::Status],
    field_selectors: &["spec.unschedulable"],
    codec: Codec::of::<Node>(),
};

pub const EVENTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    short_names: &["ev"],
    namespaced: true,
    categories: &[],
    subresources: &[],
    field_selectors: &[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "type",
        "reportingComponent",
    ],
    codec: Codec::of::<Event>(),
};

pub const SECRETS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    short_names: &[],
    namespaced: true,
    categories: &[],
    subresources: &[],
    field_selectors: &["type"],
    codec: Codec::of::<Secret>(),
};

pub const CONFIGMAPS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    short_names: &["cm"],
    namespaced: true,
    categories: &[],
    subresources: &[],
    field_selectors: &[],
    codec: Codec::of::<ConfigMap>(),
};
