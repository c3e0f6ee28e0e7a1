//! The trait every typed kind implements; the resource table reaches each
//! kind's decoding, defaulting and validation through it.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::meta::ObjectMeta;
use crate::resource::ResourceType;
use crate::validation::FieldError;

pub trait Object:
    Serialize + DeserializeOwned + JsonSchema + Clone + Default + Send + Sync + 'static
{
    /// This kind's row in the resource table.
    const RESOURCE: &'static ResourceType;

    fn metadata(&self) -> &ObjectMeta;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// Fills in what the real API server defaults (protocol TCP,
    /// imagePullPolicy, strategy, ...). Allocations that need cluster state
    /// (clusterIP, nodePort) are the API server's job, not this.
    fn set_defaults(&mut self) {}

    /// Checks the object on its own (metadata is checked by the codec).
    /// Field paths are full: `spec.template.spec.containers[0].image`.
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// Checks an update against the stored object (immutable fields).
    fn validate_update(&self, _old: &Self) -> Vec<FieldError> {
        Vec::new()
    }
}
