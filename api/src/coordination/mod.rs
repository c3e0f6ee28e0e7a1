//! coordination.k8s.io/v1: Lease, and its row in the resource table.

mod lease;

pub use lease::{Lease, LeaseSpec};

use crate::codec::Codec;
use crate::resource::ResourceType;

pub const LEASES: ResourceType = ResourceType {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    short_names: &[],
    namespaced: true,
    categories: &[],
    subresources: &[],
    field_selectors: &[],
    codec: Codec::of::<Lease>(),
};
