//! skiff-api: the Kubernetes objects skiff serves, and everything that can be
//! said about them without a server: the resource table, typed kinds,
//! defaulting, validation, label and field selectors, quantities, patches
//! and server-side printing (Tables).

// Errors are Kubernetes `Status` objects, returned whole by design: they travel
// to clients as they are, and are built on the error path only.
#![allow(clippy::result_large_err)]

pub mod codec;
mod codec_path;
pub mod intstr;
pub mod meta;
pub mod object;
pub mod patch;
pub mod quantity;
pub mod resource;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;

/// apps/v1: Deployment, ReplicaSet.
pub mod apps;
/// batch/v1: Job, CronJob.
pub mod batch;
/// coordination.k8s.io/v1: Lease.
pub mod coordination;
/// core/v1: Namespace, Pod, Service, Endpoints, Node, Event, Secret, ConfigMap.
pub mod core;

pub use codec::{Codec, FieldValidation, Normalized};
pub use object::Object;
pub use resource::{RESOURCES, ResourceType, Subresource};
pub use status::{Status, StatusCause};
